//! Double-points windows: `aftersale points campaign create --multiplier 2 --from --to`. The
//! window is given in the shop's local time and stored as UTC instants, so "Saturday and
//! Sunday" means the shop's weekend wherever the customer is.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One window in which paid orders earn `multiplier` times the points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    pub id: String,
    pub multiplier: Decimal,
    /// Inclusive start.
    pub from: DateTime<Utc>,
    /// Exclusive end.
    pub to: DateTime<Utc>,
}

/// A campaign the shop cannot have, naming the flag at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{flag}: {problem}")]
pub struct CampaignError {
    pub flag: &'static str,
    pub problem: String,
}

fn error(flag: &'static str, problem: impl Into<String>) -> CampaignError {
    CampaignError {
        flag,
        problem: problem.into(),
    }
}

impl Campaign {
    /// Builds a campaign from the CLI's text. `from` and `to` are local dates (`2026-12-05`,
    /// `to` inclusive: the whole day) or local times (`2026-12-05T18:00`, `to` exclusive) in
    /// the shop's zone `tz`.
    pub fn parse(multiplier: &str, from: &str, to: &str, tz: Tz) -> Result<Campaign, CampaignError> {
        let multiplier: Decimal = multiplier.trim().parse().map_err(|_| {
            error(
                "--multiplier",
                format!("'{multiplier}' is not a number such as 2 or 1.5"),
            )
        })?;
        if multiplier <= Decimal::ONE || multiplier > Decimal::TEN {
            return Err(error("--multiplier", "must be more than 1 and at most 10"));
        }
        let start = local_instant("--from", from, tz, false)?;
        let end = local_instant("--to", to, tz, true)?;
        if end <= start {
            return Err(error(
                "--to",
                format!("the window ends ({to}) before it starts ({from})"),
            ));
        }
        if end - start > Duration::days(92) {
            return Err(error("--to", "a campaign lasts at most 92 days"));
        }
        Ok(Campaign {
            id: format!("x{}-{}", multiplier.normalize(), start.format("%Y%m%dT%H%M%SZ")),
            multiplier: multiplier.normalize(),
            from: start,
            to: end,
        })
    }

    /// Whether an order placed at `at` falls in the window.
    pub fn covers(&self, at: DateTime<Utc>) -> bool {
        self.from <= at && at < self.to
    }
}

/// The best multiplier of the campaigns covering `at` (windows do not stack), or 1.
pub fn multiplier_at(campaigns: &[Campaign], at: DateTime<Utc>) -> Decimal {
    campaigns
        .iter()
        .filter(|c| c.covers(at))
        .map(|c| c.multiplier)
        .max()
        .unwrap_or(Decimal::ONE)
}

/// A local date or date-time in `tz` as an instant: a date means its midnight, or for an end
/// (`end_of_day`) the next midnight. A time skipped by a daylight-saving change is refused;
/// an ambiguous one takes the earlier instant.
fn local_instant(
    flag: &'static str,
    text: &str,
    tz: Tz,
    end_of_day: bool,
) -> Result<DateTime<Utc>, CampaignError> {
    let text = text.trim();
    let local: NaiveDateTime = if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let date = if end_of_day {
            date.succ_opt().unwrap_or(date)
        } else {
            date
        };
        date.and_hms_opt(0, 0, 0).unwrap_or_default()
    } else {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
            .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
            .map_err(|_| {
                error(
                    flag,
                    format!("'{text}' is not a local date (2026-12-05) or time (2026-12-05T18:00)"),
                )
            })?
    };
    tz.from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            error(
                flag,
                format!("{text} does not exist in {tz} (a clock change skips it)"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_weekend_in_rome_is_from_saturday_midnight_to_monday_midnight_local() {
        let weekend = Campaign::parse("2", "2026-12-05", "2026-12-06", chrono_tz::Europe::Rome).unwrap();
        assert_eq!(weekend.from, utc("2026-12-04T23:00:00Z"));
        assert_eq!(weekend.to, utc("2026-12-06T23:00:00Z"));
        assert!(
            !weekend.covers(utc("2026-12-04T22:59:59Z")),
            "Friday 23:59 in Rome"
        );
        assert!(
            weekend.covers(utc("2026-12-04T23:00:00Z")),
            "Saturday 00:00 in Rome"
        );
        assert!(
            weekend.covers(utc("2026-12-06T22:59:59Z")),
            "Sunday 23:59:59 in Rome"
        );
        assert!(
            !weekend.covers(utc("2026-12-06T23:00:00Z")),
            "Monday 00:00 in Rome"
        );
    }

    #[test]
    fn windows_do_not_stack_the_best_one_counts() {
        let tz = chrono_tz::UTC;
        let campaigns = [
            Campaign::parse("2", "2026-12-05", "2026-12-06", tz).unwrap(),
            Campaign::parse("1.5", "2026-12-01T00:00", "2026-12-31T00:00", tz).unwrap(),
        ];
        assert_eq!(
            multiplier_at(&campaigns, utc("2026-12-05T12:00:00Z")),
            Decimal::TWO
        );
        assert_eq!(
            multiplier_at(&campaigns, utc("2026-12-10T12:00:00Z")).to_string(),
            "1.5"
        );
        assert_eq!(
            multiplier_at(&campaigns, utc("2027-01-10T12:00:00Z")),
            Decimal::ONE
        );
    }

    #[test]
    fn bad_campaigns_name_the_flag() {
        let tz = chrono_tz::Europe::Rome;
        let flag = |m: &str, f: &str, t: &str| Campaign::parse(m, f, t, tz).unwrap_err().to_string();
        assert!(
            flag("double", "2026-12-05", "2026-12-06").starts_with("--multiplier: 'double' is not a number")
        );
        assert!(flag("1", "2026-12-05", "2026-12-06").starts_with("--multiplier: must be more than 1"));
        assert!(
            flag("2", "05/12/2026", "2026-12-06").starts_with("--from: '05/12/2026' is not a local date")
        );
        assert!(flag("2", "2026-12-06", "2026-12-05").starts_with("--to: the window ends"));
        assert!(flag("2", "2026-03-29T02:30", "2026-03-30").contains("does not exist in Europe/Rome"));
    }
}
