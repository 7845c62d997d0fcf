//! Make-it-right: when a customer answers the delivery check-in with "something went wrong",
//! a signed page asks what happened (damaged, missing item, wrong item, late, other, and their
//! own words). The shop's menu decides what each kind gets: a minor problem an automatic
//! single-use code of a set value, shown on the page and emailed at once; a major one a person,
//! with support alerted and a reply promised within the shop's response time.
//!
//! Each answer is a [`Case`], one per order (a second submit shows the first case again and
//! creates nothing). Support marks it answered and resolved with `aftersale cases`; the review
//! request for that order waits until it is resolved.

use super::FlowRules;
use super::payload::{DiscountProgress, instant, text};
use super::step::steps;
use crate::{ConfigError, CustomerId, Money, OrderId, ShopConfig};
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;

steps! {
    /// "Here is your code", after a minor problem.
    Credit => "credit",
}

/// What the email with the code carries (templates read it as `details.*`), and how creating
/// the code is going when the page could not create it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Payload {
    pub case_kind: Option<ProblemKind>,
    pub offer_code: Option<String>,
    /// As the customer reads it: "10%", "15.00 EUR".
    pub code_value: Option<String>,
    #[serde(with = "instant::option")]
    pub offer_expires_at: Option<DateTime<Utc>>,
    #[serde(with = "text::option")]
    pub discount_percent: Option<Decimal>,
    #[serde(with = "text::option")]
    pub credit_amount: Option<Decimal>,
    pub credit_currency: Option<String>,
    #[serde(flatten)]
    pub discount: DiscountProgress,
}

/// The longest comment a customer may leave (characters).
pub const MAX_COMMENT_CHARS: usize = 2000;

/// What went wrong, as the page offers it (the form values are these names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    Damaged,
    MissingItem,
    WrongItem,
    Late,
    Other,
}

impl ProblemKind {
    pub const ALL: [ProblemKind; 5] = [
        ProblemKind::Damaged,
        ProblemKind::MissingItem,
        ProblemKind::WrongItem,
        ProblemKind::Late,
        ProblemKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Damaged => "damaged",
            ProblemKind::MissingItem => "missing_item",
            ProblemKind::WrongItem => "wrong_item",
            ProblemKind::Late => "late",
            ProblemKind::Other => "other",
        }
    }

    pub fn parse(value: &str) -> Option<ProblemKind> {
        ProblemKind::ALL.into_iter().find(|k| k.as_str() == value)
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the shop's menu gives one kind of problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Remedy {
    /// A person: support is alerted and a reply promised within `response_hours`.
    Support,
    /// A single-use code for this percentage off (1 to 100).
    DiscountPercent(u8),
    /// A single-use code for this amount off, in the order's currency (a store credit).
    Credit(Decimal),
}

/// The menu: a remedy per kind of problem. Unnamed kinds get a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Menu {
    pub damaged: Remedy,
    pub missing_item: Remedy,
    pub wrong_item: Remedy,
    pub late: Remedy,
    pub other: Remedy,
}

impl Default for Menu {
    fn default() -> Self {
        Self {
            damaged: Remedy::Support,
            missing_item: Remedy::Support,
            wrong_item: Remedy::Support,
            late: Remedy::Support,
            other: Remedy::Support,
        }
    }
}

impl Menu {
    pub fn remedy(&self, kind: ProblemKind) -> &Remedy {
        match kind {
            ProblemKind::Damaged => &self.damaged,
            ProblemKind::MissingItem => &self.missing_item,
            ProblemKind::WrongItem => &self.wrong_item,
            ProblemKind::Late => &self.late,
            ProblemKind::Other => &self.other,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MakeItRightConfig {
    /// On: the check-in's "something went wrong" page asks what happened. Off: it only tells
    /// support, as before.
    pub enabled: bool,
    /// The reply a customer with a major problem is promised, in hours (1 to 168).
    pub response_hours: u32,
    /// How long an automatic code stays valid, in days (1 to 365).
    pub code_valid_days: u32,
    pub menu: Menu,
}

impl Default for MakeItRightConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            response_hours: 24,
            code_valid_days: 90,
            menu: Menu::default(),
        }
    }
}

impl MakeItRightConfig {
    /// The checks TOML types cannot express, naming the field at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, problem: String| ConfigError::Invalid { field, problem };
        if !(1..=168).contains(&self.response_hours) {
            return Err(invalid(
                "flows.make_it_right.response_hours",
                "must be between 1 and 168 (a week)".into(),
            ));
        }
        if !(1..=365).contains(&self.code_valid_days) {
            return Err(invalid(
                "flows.make_it_right.code_valid_days",
                "must be between 1 and 365".into(),
            ));
        }
        for kind in ProblemKind::ALL {
            let bad = match self.menu.remedy(kind) {
                Remedy::Support => None,
                Remedy::DiscountPercent(p) if !(1..=100).contains(p) => Some("a percentage from 1 to 100"),
                Remedy::Credit(amount) if *amount <= Decimal::ZERO || *amount > Decimal::from(1000) => {
                    Some("an amount above 0 and at most 1000")
                }
                _ => None,
            };
            if let Some(expected) = bad {
                return Err(invalid(
                    "flows.make_it_right.menu",
                    format!("{kind}: must be \"support\" or {expected}"),
                ));
            }
        }
        Ok(())
    }
}

/// What the customer wrote on the page, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub kind: ProblemKind,
    pub comment: Option<String>,
}

/// Why the page's form was refused; nothing is recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("choose what happened")]
    NoKind,
    #[error("'{0}' is not one of the choices")]
    UnknownKind(String),
    #[error("the comment is longer than {MAX_COMMENT_CHARS} characters")]
    CommentTooLong,
}

impl Report {
    /// The form's `kind` and `comment`: the kind must be one of the page's choices; the
    /// comment is optional, trimmed, and at most [`MAX_COMMENT_CHARS`].
    pub fn parse(kind: Option<&str>, comment: Option<&str>) -> Result<Report, ReportError> {
        let kind = match kind.map(str::trim) {
            None | Some("") => return Err(ReportError::NoKind),
            Some(raw) => ProblemKind::parse(raw)
                .ok_or_else(|| ReportError::UnknownKind(raw.chars().take(40).collect()))?,
        };
        let comment = comment.map(str::trim).filter(|c| !c.is_empty());
        if comment.is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS) {
            return Err(ReportError::CommentTooLong);
        }
        Ok(Report {
            kind,
            comment: comment.map(String::from),
        })
    }
}

/// How a case was settled when it was opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Resolution {
    /// A code was handed out at once: `value` as the customer reads it ("10%", "10.00 EUR").
    Code {
        code: String,
        value: String,
        expires_at: DateTime<Utc>,
    },
    /// A person replies; the customer was promised an answer by `reply_by`.
    Support { reply_by: DateTime<Utc> },
}

/// One customer's report about one order, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub kind: ProblemKind,
    /// The customer's own words, as they wrote them.
    pub comment: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub resolution: Resolution,
    /// When support first answered (`aftersale cases answer`).
    pub answered_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// What a code remedy is worth, with the order's currency for a credit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeValue {
    Percent(Decimal),
    Amount(Money),
}

impl Case {
    /// Opens the case for `report` under the shop's menu. `code` is the code to hand out
    /// when the remedy is one (and the shop can create codes: `None` gives a person instead).
    pub fn open(
        order_id: OrderId,
        customer_id: CustomerId,
        report: Report,
        config: &MakeItRightConfig,
        code: Option<(String, CodeValue)>,
        now: DateTime<Utc>,
    ) -> Case {
        let resolution = match code {
            Some((code, value)) => Resolution::Code {
                code,
                value: match value {
                    CodeValue::Percent(p) => format!("{}%", p.normalize()),
                    CodeValue::Amount(m) => m.to_string(),
                },
                expires_at: now + Duration::days(config.code_valid_days.into()),
            },
            None => Resolution::Support {
                reply_by: now + Duration::hours(config.response_hours.into()),
            },
        };
        // A code settles it at once; a person settles it when support says so.
        let resolved_at = matches!(resolution, Resolution::Code { .. }).then_some(now);
        Case {
            order_id,
            customer_id,
            kind: report.kind,
            comment: report.comment,
            opened_at: now,
            resolution,
            answered_at: None,
            resolved_at,
        }
    }

    /// The value of the code `remedy` hands out, in `currency` for a credit; `None` for a
    /// person.
    pub fn code_value(remedy: &Remedy, currency: crate::Currency) -> Option<CodeValue> {
        match remedy {
            Remedy::Support => None,
            Remedy::DiscountPercent(p) => Some(CodeValue::Percent(Decimal::from(*p))),
            Remedy::Credit(amount) => Some(CodeValue::Amount(Money::new(*amount, currency))),
        }
    }

    pub fn is_resolved(&self) -> bool {
        self.resolved_at.is_some()
    }

    /// How long support took to answer first, once it has.
    pub fn time_to_first_response(&self) -> Option<Duration> {
        Some(self.answered_at? - self.opened_at)
    }

    /// Support's first answer. A second is not a first response: refused.
    pub fn mark_answered(&mut self, now: DateTime<Utc>) -> Result<(), CaseError> {
        if let Some(at) = self.answered_at {
            return Err(CaseError::AlreadyAnswered(at));
        }
        self.answered_at = Some(now.max(self.opened_at));
        Ok(())
    }

    /// Settled: the review request for the order may go. An answer is implied.
    pub fn mark_resolved(&mut self, now: DateTime<Utc>) -> Result<(), CaseError> {
        if let Some(at) = self.resolved_at {
            return Err(CaseError::AlreadyResolved(at));
        }
        let now = now.max(self.opened_at);
        self.answered_at.get_or_insert(now);
        self.resolved_at = Some(now);
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseError {
    #[error("it was already answered at {0}")]
    AlreadyAnswered(DateTime<Utc>),
    #[error("it was already resolved at {0}")]
    AlreadyResolved(DateTime<Utc>),
}

pub(super) struct Rules;

impl FlowRules for Rules {
    /// A code owed for a problem is never held out, and converts like a thank-you.
    fn measurement(&self, _flows: &crate::flows::FlowsConfig) -> crate::flows::Measurement {
        crate::flows::Measurement {
            holdout_percent: Some(0),
            attribution_days: None,
            keys: Some((
                "flows.make_it_right.holdout_percent",
                "flows.make_it_right.attribution_days",
            )),
        }
    }

    fn enabled(&self, config: &ShopConfig) -> bool {
        config.flows.make_it_right.enabled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Currency;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap()
    }

    fn ids() -> (OrderId, CustomerId) {
        (OrderId::new("1001").unwrap(), CustomerId::new("7").unwrap())
    }

    #[test]
    fn the_form_needs_a_known_kind_and_a_comment_of_reasonable_length() {
        assert_eq!(Report::parse(None, None), Err(ReportError::NoKind));
        assert_eq!(Report::parse(Some("  "), Some("x")), Err(ReportError::NoKind));
        assert_eq!(
            Report::parse(Some("stolen"), None),
            Err(ReportError::UnknownKind("stolen".into()))
        );
        let long = "a".repeat(MAX_COMMENT_CHARS + 1);
        assert_eq!(
            Report::parse(Some("late"), Some(&long)),
            Err(ReportError::CommentTooLong)
        );
        let report = Report::parse(Some("damaged"), Some("  The lid is cracked.  ")).unwrap();
        assert_eq!(report.kind, ProblemKind::Damaged);
        assert_eq!(report.comment.as_deref(), Some("The lid is cracked."));
        assert_eq!(Report::parse(Some("other"), Some("   ")).unwrap().comment, None);
    }

    #[test]
    fn a_code_settles_a_case_at_once_and_a_person_settles_it_when_support_says_so() {
        let config = MakeItRightConfig::default();
        let (order, customer) = ids();
        let eur = Currency::new("EUR").unwrap();
        let report = Report::parse(Some("late"), None).unwrap();
        let credit = Case::code_value(&Remedy::Credit(Decimal::new(1000, 2)), eur).unwrap();
        let minor = Case::open(
            order.clone(),
            customer.clone(),
            report.clone(),
            &config,
            Some(("SORRY-1".into(), credit)),
            now(),
        );
        assert!(minor.is_resolved());
        assert!(matches!(&minor.resolution, Resolution::Code { value, .. } if value == "10.00 EUR"));

        let mut major = Case::open(order, customer, report, &config, None, now());
        assert_eq!(
            major.resolution,
            Resolution::Support {
                reply_by: now() + Duration::hours(24)
            }
        );
        assert!(!major.is_resolved());
        major.mark_answered(now() + Duration::hours(3)).unwrap();
        assert_eq!(major.time_to_first_response(), Some(Duration::hours(3)));
        assert!(matches!(
            major.mark_answered(now() + Duration::hours(4)),
            Err(CaseError::AlreadyAnswered(_))
        ));
        major.mark_resolved(now() + Duration::hours(5)).unwrap();
        assert_eq!(
            major.time_to_first_response(),
            Some(Duration::hours(3)),
            "the first answer stays"
        );
        assert!(matches!(
            major.mark_resolved(now()),
            Err(CaseError::AlreadyResolved(_))
        ));
    }

    #[test]
    fn menu_values_out_of_range_name_the_field_and_the_kind() {
        let mut config = MakeItRightConfig::default();
        assert!(config.validate().is_ok());
        config.menu.damaged = Remedy::DiscountPercent(0);
        let err = config.validate().unwrap_err().to_string();
        assert!(
            err.contains("flows.make_it_right.menu") && err.contains("damaged"),
            "{err}"
        );
        config.menu.damaged = Remedy::Credit(Decimal::from(-5));
        assert!(config.validate().is_err());
        config.menu.damaged = Remedy::Support;
        config.response_hours = 0;
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("response_hours")
        );
    }

    #[test]
    fn the_menu_reads_from_toml_as_a_merchant_writes_it() {
        let config: MakeItRightConfig = toml::from_str(
            "response_hours = 12\n[menu]\nlate = { discount_percent = 10 }\ndamaged = { credit = \"15.00\" }\nmissing_item = \"support\"\n",
        )
        .unwrap();
        assert_eq!(config.menu.late, Remedy::DiscountPercent(10));
        assert_eq!(config.menu.damaged, Remedy::Credit(Decimal::new(1500, 2)));
        assert_eq!(
            config.menu.wrong_item,
            Remedy::Support,
            "unnamed kinds get a person"
        );
    }
}
