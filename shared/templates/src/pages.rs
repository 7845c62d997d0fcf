//! The web pages a customer sees when they follow a link in a message: the confirmations a
//! GET shows, the results of a POST, and the pages for links that cannot be answered.
//!
//! Every page is a built-in minijinja file, `builtin/pages/{page}.{locale}.html.j2`, in every
//! built-in locale, extending `builtin/pages/layout.html.j2`. They share the message
//! templates' environment: HTML auto-escaping and undefined variables as errors, so a page
//! that cannot be rendered is an error its caller reports, never a silent fallback. Example
//! contexts are in `builtin/pages/sample-context.json`.

use crate::error::{self, TemplateError};
use crate::{Templates, locale_candidates};
use minijinja::Environment;
use serde_json::Value;
use std::collections::HashSet;

/// A page a link can open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Page {
    /// GET of a rating link: the stars chosen and a button that sends them.
    ConfirmRating,
    /// GET of a CSAT link: the score chosen and a button.
    ConfirmCsat,
    /// GET of an NPS link: the score chosen and a button.
    ConfirmNps,
    /// GET of a delivery link: "all good" or "something went wrong", and a button.
    ConfirmDelivery,
    /// GET of an unsubscribe link: what stops, what does not, and a button.
    ConfirmUnsubscribe,
    /// A survey or delivery answer was recorded (and, if it was bad, the team told).
    Answered,
    /// A delivery problem was recorded and the team told; with make-it-right on, the form
    /// that asks what happened.
    DeliveryProblem,
    /// A make-it-right case was opened: the code handed out, or the reply promised.
    CaseRecorded,
    /// A low rating was recorded: the team told, and the review page still offered.
    RatingLow,
    /// The address that received the link is unsubscribed.
    Unsubscribed,
    /// A damaged or forged link.
    Invalid,
    /// A genuine link past its expiry.
    Expired,
    /// A genuine link with nothing behind it any more (the customer's data was erased).
    Unavailable,
    /// Storage failed; nothing was recorded.
    TryAgain,
    /// A points link: the balance and the rewards, the affordable ones as buttons.
    Points,
    /// What choosing a reward did: the code, "on its way", not enough points, or unavailable.
    PointsReward,
}

impl Page {
    pub const ALL: [Page; 16] = [
        Page::ConfirmRating,
        Page::ConfirmCsat,
        Page::ConfirmNps,
        Page::ConfirmDelivery,
        Page::ConfirmUnsubscribe,
        Page::Answered,
        Page::DeliveryProblem,
        Page::CaseRecorded,
        Page::RatingLow,
        Page::Unsubscribed,
        Page::Invalid,
        Page::Expired,
        Page::Unavailable,
        Page::TryAgain,
        Page::Points,
        Page::PointsReward,
    ];

    /// The file name stem: `builtin/pages/{name}.{locale}.html.j2`.
    pub fn name(self) -> &'static str {
        match self {
            Page::ConfirmRating => "confirm-rating",
            Page::ConfirmCsat => "confirm-csat",
            Page::ConfirmNps => "confirm-nps",
            Page::ConfirmDelivery => "confirm-delivery",
            Page::ConfirmUnsubscribe => "confirm-unsubscribe",
            Page::Answered => "answered",
            Page::DeliveryProblem => "delivery-problem",
            Page::CaseRecorded => "case-recorded",
            Page::RatingLow => "rating-low",
            Page::Unsubscribed => "unsubscribed",
            Page::Invalid => "invalid",
            Page::Expired => "expired",
            Page::Unavailable => "unavailable",
            Page::TryAgain => "try-again",
            Page::Points => "points",
            Page::PointsReward => "points-reward",
        }
    }
}

const LAYOUT_NAME: &str = "pages/layout.html.j2";
pub(crate) const SAMPLE_CONTEXT: &str = include_str!("../builtin/pages/sample-context.json");

macro_rules! page {
    ($name:literal) => {
        [
            (
                $name,
                "en",
                include_str!(concat!("../builtin/pages/", $name, ".en.html.j2")),
            ),
            (
                $name,
                "it",
                include_str!(concat!("../builtin/pages/", $name, ".it.html.j2")),
            ),
        ]
    };
}

/// `(page, locale, source)` of every built-in page, in every built-in locale.
const BUILTIN: &[[(&str, &str, &str); 2]] = &[
    page!("confirm-rating"),
    page!("confirm-csat"),
    page!("confirm-nps"),
    page!("confirm-delivery"),
    page!("confirm-unsubscribe"),
    page!("answered"),
    page!("delivery-problem"),
    page!("case-recorded"),
    page!("rating-low"),
    page!("unsubscribed"),
    page!("invalid"),
    page!("expired"),
    page!("unavailable"),
    page!("try-again"),
    page!("points"),
    page!("points-reward"),
];

fn template_name(page: &str, locale: &str) -> String {
    format!("pages/{page}.{locale}.html.j2")
}

/// Adds the layout and every page to `env`, and their names to `names`.
pub(crate) fn register(env: &mut Environment<'static>, names: &mut HashSet<String>) {
    env.add_template(LAYOUT_NAME, include_str!("../builtin/pages/layout.html.j2"))
        .expect("the built-in page layout compiles (covered by tests)");
    for (page, locale, source) in BUILTIN.iter().flatten() {
        let name = template_name(page, locale);
        env.add_template_owned(name.clone(), *source)
            .unwrap_or_else(|err| panic!("built-in page {name} does not compile: {err:#}"));
        names.insert(name);
    }
}

impl Templates {
    /// Renders a page in `locale` (exact, then its language, then English).
    pub fn render_page(&self, page: Page, locale: &str, ctx: &Value) -> Result<String, TemplateError> {
        let name = locale_candidates(locale)
            .iter()
            .map(|locale| template_name(page.name(), locale))
            .find(|name| self.names.contains(name))
            .ok_or_else(|| TemplateError::UnknownMessage {
                flow: "pages".into(),
                step: page.name().into(),
            })?;
        self.env
            .get_template(&name)
            .and_then(|template| template.render(ctx))
            .map(|html| html.trim().to_owned())
            .map_err(|err| TemplateError::Render {
                line: err.line(),
                message: error::describe(&err),
                template: name,
            })
    }

    /// The example context of a page: for previews and tests.
    pub fn page_sample(&self, page: Page) -> Option<&Value> {
        self.page_samples.get(page.name())
    }

    /// The locale a visitor's `Accept-Language` header asks for among the built-in ones
    /// (highest `q` first, then order), or English. Used for the pages of links that name no
    /// customer we still know, so that an Italian visitor still reads Italian.
    pub fn page_locale(&self, accept_language: Option<&str>) -> String {
        let mut best: Option<(f32, String)> = None;
        for range in accept_language.unwrap_or_default().split(',') {
            let mut parts = range.split(';');
            let tag = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())
                .filter(|q| (0.0..=1.0).contains(q) && *q > 0.0);
            let language = tag.split('-').next().unwrap_or_default();
            let (Some(q), true) = (q, self.builtin_locales.contains(language)) else {
                continue;
            };
            if best.as_ref().is_none_or(|(best_q, _)| q > *best_q) {
                best = Some((q, language.to_owned()));
            }
        }
        best.map_or_else(|| crate::DEFAULT_LOCALE.to_owned(), |(_, locale)| locale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_built_in_locale() {
        let t = Templates::builtin();
        for (header, expected) in [
            (None, "en"),
            (Some(""), "en"),
            (Some("it-IT,it;q=0.9,en-US;q=0.8,en;q=0.7"), "it"),
            (Some("de-DE,de;q=0.9,it;q=0.5,en;q=0.4"), "it"),
            (Some("en-GB,it;q=0.9"), "en"),
            (Some("fr"), "en"),
            (Some("it;q=0,en;q=0.1"), "en"),
            (Some("it;q=abc"), "en"),
            (Some("IT"), "it"),
        ] {
            assert_eq!(t.page_locale(header), expected, "{header:?}");
        }
    }
}
