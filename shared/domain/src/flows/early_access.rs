//! Early access: a launch announced to the chosen tiers some days before everyone else, in
//! their morning, so "you first" is read before the public hears of it.

use super::FlowRules;
use super::payload::instant;
use super::schedule::{SEND_TIME, at_local};
use super::step::steps;
use super::vip::{TierName, TierRule};
use crate::{ConfigError, Message, ShopConfig, SkipReason};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

steps! {
    /// "You first": the launch, before it opens to everyone.
    YouFirst => "you-first",
}

/// A launch the chosen tiers hear about first. Built through [`EarlyAccessCampaign::create`],
/// which checks it makes sense; stored as is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarlyAccessCampaign {
    pub name: String,
    pub public_start: DateTime<Utc>,
    /// Days before the public start the tiers hear of it.
    pub lead_days: u32,
    pub tiers: Vec<TierName>,
    pub message: String,
}

impl EarlyAccessCampaign {
    /// A new campaign, refused with the offending field named when the launch is not in the
    /// future, the lead is outside 1-30 days, or a tier is missing or not configured (a typo
    /// there would silently reach nobody).
    pub fn create(
        name: &str,
        public_start: DateTime<Utc>,
        lead_days: u32,
        tiers: Vec<TierName>,
        message: &str,
        configured: &[TierRule],
        now: DateTime<Utc>,
    ) -> Result<Self, ConfigError> {
        let invalid = |field: &'static str, problem: String| ConfigError::Invalid { field, problem };
        let name = name.trim();
        if name.is_empty() || name.contains('#') || name.chars().count() > 100 {
            return Err(invalid("name", "must be 1 to 100 characters without '#'".into()));
        }
        if public_start <= now {
            return Err(invalid(
                "public_start",
                format!("{public_start} is not in the future"),
            ));
        }
        if !(1..=30).contains(&lead_days) {
            return Err(invalid("lead_days", "must be between 1 and 30".into()));
        }
        if tiers.is_empty() {
            return Err(invalid("tiers", "name at least one tier".into()));
        }
        if let Some(unknown) = tiers.iter().find(|t| !configured.iter().any(|r| &r.name == *t)) {
            let known: Vec<&str> = configured.iter().map(|r| r.name.as_str()).collect();
            return Err(invalid(
                "tiers",
                format!(
                    "'{unknown}' is not a configured tier (known: {})",
                    known.join(", ")
                ),
            ));
        }
        if message.trim().is_empty() {
            return Err(invalid("message", "must not be empty".into()));
        }
        Ok(Self {
            name: name.into(),
            public_start,
            lead_days,
            tiers,
            message: message.into(),
        })
    }

    /// Whether a customer in `tier` is invited.
    pub fn is_for(&self, tier: Option<&TierName>) -> bool {
        tier.is_some_and(|t| self.tiers.contains(t))
    }
}

/// How long a win-back's early access lasts: every launch in the following year.
pub const PASS_DAYS: i64 = 365;

/// A win-back's promise of early access, kept: its holder is invited to every campaign whose
/// public start falls while the pass is valid, whatever their tier. Without it, "you'll hear
/// about our launches first" would add the customer to nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarlyAccessPass {
    pub granted_at: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl EarlyAccessPass {
    pub fn granted(at: DateTime<Utc>) -> Self {
        Self {
            granted_at: at,
            until: at + Duration::days(PASS_DAYS),
        }
    }

    /// Whether the campaign's launch falls while the pass is valid.
    pub fn covers(&self, campaign: &EarlyAccessCampaign) -> bool {
        (self.granted_at..self.until).contains(&campaign.public_start)
    }
}

/// When a customer in `customer_tz` hears of the campaign: [`SEND_TIME`] on the local day
/// `lead_days` before the local day of the public start, which is always before the launch.
pub fn send_at(campaign: &EarlyAccessCampaign, customer_tz: Tz) -> DateTime<Utc> {
    let launch_day = campaign.public_start.with_timezone(&customer_tz).date_naive();
    let day = launch_day
        .checked_sub_signed(Duration::days(campaign.lead_days.into()))
        .unwrap_or(launch_day);
    at_local(day, SEND_TIME, customer_tz)
}

/// The send-time re-check: once the launch is public, "you first" is no longer true.
pub fn still_due(campaign: &EarlyAccessCampaign, now: DateTime<Utc>) -> Option<SkipReason> {
    (now >= campaign.public_start).then_some(SkipReason::AlreadyPublic)
}

pub(super) struct Rules;

/// What an invitation says: the campaign, its message, when it opens to everyone (the
/// deadline), and the reader's tier at send time.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Payload {
    pub campaign: Option<String>,
    pub campaign_key: Option<String>,
    pub message: Option<String>,
    #[serde(with = "instant::option")]
    pub public_start_at: Option<DateTime<Utc>>,
    pub tier: Option<TierName>,
}

impl FlowRules for Rules {
    fn measurement(&self, flows: &crate::flows::FlowsConfig) -> crate::flows::Measurement {
        crate::flows::measured!(flows, vip)
    }

    /// Early access is part of the VIP programme and run by its function.
    fn enabled(&self, config: &ShopConfig) -> bool {
        config.flows.vip.enabled
    }

    /// An invitation to be first means nothing once the launch is public.
    fn deadline(&self, message: &Message) -> Option<(DateTime<Utc>, SkipReason)> {
        message
            .payload
            .early_access()
            .and_then(|p| p.public_start_at)
            .map(|at| (at, SkipReason::AlreadyPublic))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_pass_covers_the_launches_of_the_year_after_it_is_granted() {
        let pass = EarlyAccessPass::granted(now());
        let mut c = campaign();
        assert!(pass.covers(&c));
        c.public_start = now() + Duration::days(PASS_DAYS);
        assert!(!pass.covers(&c), "a year later it has run out");
        c.public_start = now() - Duration::days(1);
        assert!(
            !pass.covers(&c),
            "a launch before the promise was made is not covered"
        );
    }

    use super::*;
    use crate::flows::testkit::money;
    use crate::flows::vip::TierPeriod;
    use chrono::TimeZone;

    fn rules() -> Vec<TierRule> {
        ["Silver", "Gold"]
            .into_iter()
            .map(|name| TierRule {
                name: TierName(name.into()),
                min_net_spend: Some(money("100")),
                min_orders: None,
                period: TierPeriod::Lifetime,
            })
            .collect()
    }

    fn gold() -> Vec<TierName> {
        vec![TierName("Gold".into())]
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 9, 1, 12, 0, 0).unwrap()
    }

    fn launch() -> DateTime<Utc> {
        // 09:00 in Rome on Oct 15.
        Utc.with_ymd_and_hms(2026, 10, 15, 7, 0, 0).unwrap()
    }

    fn campaign() -> EarlyAccessCampaign {
        EarlyAccessCampaign::create(
            " Autumn drop ",
            launch(),
            3,
            gold(),
            "You first.",
            &rules(),
            now(),
        )
        .unwrap()
    }

    #[test]
    fn a_valid_campaign_is_created_and_invites_its_tiers_only() {
        let c = campaign();
        assert_eq!(c.name, "Autumn drop");
        assert!(c.is_for(Some(&TierName("Gold".into()))));
        assert!(!c.is_for(Some(&TierName("Silver".into()))));
        assert!(!c.is_for(None));
    }

    #[test]
    fn bad_campaigns_name_the_field() {
        let create = |name: &str, start, lead, tiers, message: &str| {
            EarlyAccessCampaign::create(name, start, lead, tiers, message, &rules(), now())
                .unwrap_err()
                .to_string()
        };
        let cases = [
            (create("", launch(), 3, gold(), "m"), "name"),
            (create("a#b", launch(), 3, gold(), "m"), "name"),
            (create("x", now(), 3, gold(), "m"), "public_start"),
            (create("x", launch(), 0, gold(), "m"), "lead_days"),
            (create("x", launch(), 31, gold(), "m"), "lead_days"),
            (create("x", launch(), 3, vec![], "m"), "tiers: name at least one"),
            (
                create("x", launch(), 3, vec![TierName("gold".into())], "m"),
                "'gold' is not a configured tier (known: Silver, Gold)",
            ),
            (create("x", launch(), 3, gold(), "  "), "message"),
        ];
        for (err, expected) in cases {
            assert!(err.contains(expected), "{err}");
        }
        assert!(EarlyAccessCampaign::create("x", launch(), 30, gold(), "m", &rules(), now()).is_ok());
        assert!(EarlyAccessCampaign::create("x", launch(), 1, gold(), "m", &rules(), now()).is_ok());
    }

    #[test]
    fn the_message_goes_at_ten_in_the_morning_lead_days_before_in_each_zone() {
        let c = campaign();
        assert_eq!(
            send_at(&c, chrono_tz::Europe::Rome),
            Utc.with_ymd_and_hms(2026, 10, 12, 8, 0, 0).unwrap(),
            "Oct 12, 10:00 CEST"
        );
        assert_eq!(
            send_at(&c, chrono_tz::America::New_York),
            Utc.with_ymd_and_hms(2026, 10, 12, 14, 0, 0).unwrap(),
            "launch is 03:00 Oct 15 in New York: Oct 12, 10:00 EDT"
        );
        assert_eq!(
            send_at(&c, chrono_tz::Pacific::Auckland),
            Utc.with_ymd_and_hms(2026, 10, 11, 21, 0, 0).unwrap(),
            "launch is 20:00 Oct 15 in Auckland: Oct 12, 10:00 NZDT"
        );
        for tz in [
            chrono_tz::Pacific::Kiritimati,
            chrono_tz::Pacific::Pago_Pago,
            Tz::UTC,
        ] {
            let at = send_at(&c, tz);
            assert!(at < c.public_start, "{tz}");
            assert!(c.public_start - at >= Duration::days(2), "{tz}");
        }
    }

    #[test]
    fn the_message_is_not_sent_once_the_launch_is_public() {
        let c = campaign();
        assert_eq!(still_due(&c, launch() - Duration::hours(1)), None);
        assert_eq!(still_due(&c, launch()), Some(SkipReason::AlreadyPublic));
    }
}
