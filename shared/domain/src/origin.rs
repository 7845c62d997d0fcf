//! Where an event came from: a live webhook, or the shop's history brought in by an import
//! (or a reconcile that found what no webhook had delivered).
//!
//! The difference matters for one thing only, and it is decided here: **the past is not
//! messaged**. An imported event is folded into the same state as a live one (orders, profiles,
//! statistics, tiers, referral attribution), but it plans only messages whose moment is still
//! ahead: a win-back whose lapse date is to come, a replenishment whose run-out is ahead, next
//! year's anniversary. Anything due now or earlier (last year's review request, a thank-you for
//! an order of 2021, the "welcome to Gold" of a customer who has been Gold for years) is
//! dropped at planning time, never stored, so it cannot be sent by any later tick.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A platform's webhook, as it happened.
    #[default]
    Live,
    /// History from `aftersale import` or a reconcile sweep.
    Imported,
}

impl Origin {
    pub fn is_live(&self) -> bool {
        *self == Origin::Live
    }

    /// Whether an event of this origin, planned at `now`, may plan a message due at `due_at`.
    /// A live event may plan anything (a message whose moment passed while a webhook was late
    /// still goes, as the flows decide). An imported one only what is strictly ahead: a
    /// message due "now" is a reaction to the event itself (a tier just entered, an order just
    /// placed), and imported events are not news.
    pub fn may_plan(self, due_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        match self {
            Origin::Live => true,
            Origin::Imported => due_at > now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn imported_history_plans_only_what_is_still_ahead() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
        let last_year = now - Duration::days(365);
        let next_month = now + Duration::days(30);
        assert!(Origin::Live.may_plan(last_year, now));
        assert!(Origin::Live.may_plan(now, now));
        assert!(!Origin::Imported.may_plan(last_year, now));
        assert!(
            !Origin::Imported.may_plan(now, now),
            "due now is a reaction to the event"
        );
        assert!(Origin::Imported.may_plan(next_month, now));
    }

    #[test]
    fn a_live_event_serialises_as_before() {
        assert_eq!(Origin::default(), Origin::Live);
        assert_eq!(serde_json::to_string(&Origin::Imported).unwrap(), "\"imported\"");
    }
}
