//! Customer messages as minijinja templates: built-in English and Italian texts for every flow
//! step, overridable for all shops or for one shop by dropping files in a directory.
//!
//! A template is one part of one message: `{flow}/{step}.{locale}.{part}.j2`, with part
//! `subject`, `html`, `text` or `sms`. HTML parts are auto-escaped (customer names and product
//! titles come from the store and are untrusted); the others are plain text. The variables each
//! step receives are documented in `CONTEXT.md` and given by example in
//! `builtin/sample-context.json`.
//!
//! Undefined variables follow [`UndefinedBehavior::SemiStrict`]: printing or looping over a
//! missing value is an error (a typo never sends "Hi ,"), while `{% if order.expected_delivery_at %}`
//! is allowed, so optional fields stay optional. Every override is rendered once against the
//! sample context at load, so a typo in an override stops start-up instead of a send.
//!
//! Dates reach templates as RFC 3339 instants and are written with the `date` and `datetime`
//! filters (see `dates.rs`), in the language of the template and the context's `time_zone`.

mod dates;
mod error;
mod overrides;
mod pages;

pub use error::TemplateError;
pub use pages::Page;

use minijinja::{AutoEscape, Environment, Output, State, UndefinedBehavior};
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;

/// The locale every message falls back to; every built-in step has it.
const DEFAULT_LOCALE: &str = "en";

/// The shared HTML frame, registered under the name templates extend.
const LAYOUT_NAME: &str = "layout.html.j2";
const LAYOUT_SOURCE: &str = include_str!("../builtin/layout.html.j2");

/// The points balance line any message may include (`{% include "points-balance.text.j2" %}`),
/// in both built-in languages; it renders nothing unless the context has `points`.
const PARTIALS: [(&str, &str); 2] = [
    (
        "points-balance.html.j2",
        include_str!("../builtin/points-balance.html.j2"),
    ),
    (
        "points-balance.text.j2",
        include_str!("../builtin/points-balance.text.j2"),
    ),
];

/// Example contexts for every step, keyed `flow/step`: documentation and the load-time check.
const SAMPLE_CONTEXT: &str = include_str!("../builtin/sample-context.json");

macro_rules! builtin_part {
    ($step:literal, $locale:literal, $part:literal) => {
        (
            $step,
            $locale,
            $part,
            include_str!(concat!("../builtin/", $step, ".", $locale, ".", $part, ".j2")),
        )
    };
}

/// Every part of a step in every built-in locale, so a step can never lack a fallback.
macro_rules! builtin_step {
    ($step:literal) => {
        [
            builtin_part!($step, "en", "subject"),
            builtin_part!($step, "en", "html"),
            builtin_part!($step, "en", "text"),
            builtin_part!($step, "en", "sms"),
            builtin_part!($step, "it", "subject"),
            builtin_part!($step, "it", "html"),
            builtin_part!($step, "it", "text"),
            builtin_part!($step, "it", "sms"),
        ]
    };
}

/// `(flow/step, locale, part, source)` of every built-in template.
type BuiltinPart = (&'static str, &'static str, &'static str, &'static str);

const BUILTIN: &[[BuiltinPart; 8]] = &[
    builtin_step!("thank-you/thank-you"),
    builtin_step!("thank-you/feedback"),
    builtin_step!("delivery-check-in/check-in"),
    builtin_step!("review-request/request"),
    builtin_step!("review-request/reminder"),
    builtin_step!("replenishment/reminder"),
    builtin_step!("replenishment/follow-up"),
    builtin_step!("win-back/value"),
    builtin_step!("win-back/offer"),
    builtin_step!("win-back/social-proof"),
    builtin_step!("win-back/last-call"),
    builtin_step!("vip/tier-entered"),
    builtin_step!("vip/birthday"),
    builtin_step!("vip/anniversary"),
    builtin_step!("early-access/you-first"),
    builtin_step!("referral/share"),
    builtin_step!("referral/reward"),
    builtin_step!("points/welcome"),
    builtin_step!("points/available"),
    builtin_step!("points/reward-code"),
    builtin_step!("points/expiry-warning"),
    builtin_step!("checkout-recovery/reminder"),
    builtin_step!("checkout-recovery/second-reminder"),
    builtin_step!("care-guide/guide"),
    builtin_step!("make-it-right/credit"),
    builtin_step!("points/birthday"),
    builtin_step!("cross-sell/suggest"),
];

/// One part of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Subject,
    Html,
    Text,
    Sms,
}

impl Part {
    const EMAIL: [Part; 3] = [Part::Subject, Part::Html, Part::Text];

    fn parse(s: &str) -> Option<Part> {
        match s {
            "subject" => Some(Part::Subject),
            "html" => Some(Part::Html),
            "text" => Some(Part::Text),
            "sms" => Some(Part::Sms),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Part::Subject => "subject",
            Part::Html => "html",
            Part::Text => "text",
            Part::Sms => "sms",
        }
    }
}

/// Where a template comes from, most specific first.
#[derive(Debug, Clone, Copy)]
enum Scope<'a> {
    Shop(&'a str),
    Global,
    Builtin,
}

/// The name a template is registered under; also what render errors show.
fn template_name(scope: Scope<'_>, flow: &str, step: &str, locale: &str, part: Part) -> String {
    let file = format!("{flow}/{step}.{locale}.{}.j2", part.as_str());
    match scope {
        Scope::Shop(shop) => format!("shops/{shop}/{file}"),
        Scope::Global => format!("global/{file}"),
        Scope::Builtin => format!("builtin/{file}"),
    }
}

/// `it_IT` and `it-IT` are the same locale; names and lookups use the lowercase dash form.
fn normalise_locale(locale: &str) -> Option<String> {
    let locale = locale.trim().replace('_', "-").to_ascii_lowercase();
    let valid = !locale.is_empty()
        && locale
            .split('-')
            .all(|piece| !piece.is_empty() && piece.bytes().all(|b| b.is_ascii_alphanumeric()));
    valid.then_some(locale)
}

/// Exact locale, then its language, then English.
fn locale_candidates(locale: &str) -> Vec<String> {
    let mut candidates = Vec::with_capacity(3);
    if let Some(exact) = normalise_locale(locale) {
        if let Some((language, _)) = exact.split_once('-') {
            let language = language.to_owned();
            candidates.push(exact);
            candidates.push(language);
        } else {
            candidates.push(exact);
        }
    }
    if !candidates.iter().any(|c| c == DEFAULT_LOCALE) {
        candidates.push(DEFAULT_LOCALE.to_owned());
    }
    candidates
}

/// One email, rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    /// A single line, whitespace collapsed.
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// Every message template of the process: built-ins plus optional overrides. Build once at
/// start-up and share (it is `Send + Sync`); rendering does not touch the disk.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
    /// Names of the templates in `env` a message can resolve to.
    names: HashSet<String>,
    /// `flow/step` of every built-in step: overrides for anything else are refused.
    steps: BTreeSet<String>,
    builtin_locales: BTreeSet<String>,
    samples: serde_json::Map<String, Value>,
    /// Example contexts of the link pages, keyed by page name.
    page_samples: serde_json::Map<String, Value>,
}

impl Templates {
    /// The built-in templates, compiled.
    pub fn builtin() -> Templates {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html.j2") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.set_formatter(html_formatter);
        env.add_filter("date", dates::date);
        env.add_filter("datetime", dates::datetime);
        env.add_template(LAYOUT_NAME, LAYOUT_SOURCE)
            .expect("the built-in layout compiles (covered by tests)");
        for (name, source) in PARTIALS {
            env.add_template(name, source)
                .expect("the built-in partials compile (covered by tests)");
        }

        let mut names = HashSet::new();
        let mut steps = BTreeSet::new();
        let mut builtin_locales = BTreeSet::new();
        for (flow_step, locale, part, source) in BUILTIN.iter().flatten() {
            let (flow, step) = flow_step
                .split_once('/')
                .expect("built-in steps are named flow/step");
            let part = Part::parse(part).expect("built-in parts are valid");
            let name = template_name(Scope::Builtin, flow, step, locale, part);
            env.add_template_owned(name.clone(), *source)
                .unwrap_or_else(|err| panic!("built-in template {name} does not compile: {err:#}"));
            names.insert(name);
            steps.insert((*flow_step).to_owned());
            builtin_locales.insert((*locale).to_owned());
        }
        pages::register(&mut env, &mut names);
        let [samples, page_samples] =
            [SAMPLE_CONTEXT, pages::SAMPLE_CONTEXT].map(|json| match serde_json::from_str(json) {
                Ok(Value::Object(samples)) => samples,
                _ => panic!("the built-in sample contexts are JSON objects (covered by tests)"),
            });
        Templates {
            env,
            names,
            steps,
            builtin_locales,
            samples,
            page_samples,
        }
    }

    /// Adds overrides from a directory: `<dir>/<flow>/<step>.<locale>.<part>.j2` apply to every shop,
    /// `<dir>/shops/<shop>/<flow>/<step>.<locale>.<part>.j2` to one shop. Every file is compiled and
    /// rendered against the step's sample context at load; errors name the file and line. Files not
    /// ending in `.j2` (a README) and hidden files are ignored.
    pub fn with_overrides(self, dir: &std::path::Path) -> Result<Templates, TemplateError> {
        overrides::load(self, dir)
    }

    /// Renders the subject, HTML and text of a message. Locale fallback: exact (`it-IT`) →
    /// language (`it`) → `en`; within a locale: shop override → global override → built-in.
    pub fn render_email(
        &self,
        shop: &str,
        flow: &str,
        step: &str,
        locale: &str,
        ctx: &Value,
    ) -> Result<RenderedEmail, TemplateError> {
        let [subject, html, text] =
            Part::EMAIL.map(|part| self.render_part(shop, flow, step, locale, part, ctx));
        Ok(RenderedEmail {
            subject: one_line(&subject?),
            html: html?.trim().to_owned(),
            text: text?.trim().to_owned(),
        })
    }

    /// Renders the SMS text of a message (one line, whitespace collapsed); same fallbacks as email.
    pub fn render_sms(
        &self,
        shop: &str,
        flow: &str,
        step: &str,
        locale: &str,
        ctx: &Value,
    ) -> Result<String, TemplateError> {
        self.render_part(shop, flow, step, locale, Part::Sms, ctx)
            .map(|sms| one_line(&sms))
    }

    /// Locales with built-in templates.
    pub fn locales(&self) -> Vec<String> {
        self.builtin_locales.iter().cloned().collect()
    }

    /// The example context of a step (see `CONTEXT.md`): for previews and tests.
    pub fn sample_context(&self, flow: &str, step: &str) -> Option<&Value> {
        self.samples.get(&format!("{flow}/{step}"))
    }

    fn render_part(
        &self,
        shop: &str,
        flow: &str,
        step: &str,
        locale: &str,
        part: Part,
        ctx: &Value,
    ) -> Result<String, TemplateError> {
        let (name, template_locale) =
            self.resolve(shop, flow, step, locale, part)
                .ok_or_else(|| TemplateError::UnknownMessage {
                    flow: flow.to_owned(),
                    step: step.to_owned(),
                })?;
        self.env
            .get_template(&name)
            .and_then(|template| template.render(with_locale(ctx, &template_locale)))
            .map_err(|err| TemplateError::Render {
                line: err.line(),
                message: error::describe(&err),
                template: name,
            })
    }

    /// The template a message part renders with, and that template's locale.
    fn resolve(
        &self,
        shop: &str,
        flow: &str,
        step: &str,
        locale: &str,
        part: Part,
    ) -> Option<(String, String)> {
        locale_candidates(locale).into_iter().find_map(|locale| {
            [Scope::Shop(shop), Scope::Global, Scope::Builtin]
                .into_iter()
                .map(|scope| template_name(scope, flow, step, &locale, part))
                .find(|name| self.names.contains(name))
                .map(|name| (name, locale.clone()))
        })
    }
}

/// What a template sees: the caller's context plus `locale`, the locale of the template itself
/// (after fallback), so that dates are written in the language of the words around them. The
/// renderer's `locale` wins over one the caller might pass.
pub(crate) fn with_locale(ctx: &Value, locale: &str) -> minijinja::Value {
    // The last map with a key wins.
    minijinja::value::merge_maps([
        minijinja::Value::from_serialize(ctx),
        minijinja::context! { locale => locale },
    ])
}

/// minijinja's HTML escaping, except that `/` is left alone: `&#x2f;` is valid in an `href`, but
/// it makes every link in the message unreadable to people reading the source and to some link
/// scanners. Escaping `& < > " '` is what element content and quoted attributes need.
fn html_formatter(out: &mut Output, state: &State, value: &minijinja::Value) -> Result<(), minijinja::Error> {
    match value.as_str() {
        Some(s) if state.auto_escape() == AutoEscape::Html && !value.is_safe() => {
            for c in s.chars() {
                match c {
                    '&' => out.write_str("&amp;")?,
                    '<' => out.write_str("&lt;")?,
                    '>' => out.write_str("&gt;")?,
                    '"' => out.write_str("&quot;")?,
                    '\'' => out.write_str("&#x27;")?,
                    c => out.write_char(c)?,
                }
            }
            Ok(())
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

/// Subjects and SMS are single lines whatever the template's layout.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locale_fallback_order() {
        assert_eq!(locale_candidates("it-IT"), ["it-it", "it", "en"]);
        assert_eq!(locale_candidates("it_IT"), ["it-it", "it", "en"]);
        assert_eq!(locale_candidates("IT"), ["it", "en"]);
        assert_eq!(locale_candidates("en-GB"), ["en-gb", "en"]);
        assert_eq!(locale_candidates(""), ["en"]);
        assert_eq!(locale_candidates("../x"), ["en"]);
    }

    #[test]
    fn templates_are_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Templates>();
    }
}
