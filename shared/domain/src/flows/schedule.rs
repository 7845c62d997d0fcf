//! Local dates and times turned into instants, so messages meant for "the morning of" a day
//! arrive then in the recipient's own zone.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// When date-anchored messages (early access, birthdays, anniversaries) go out, local time:
/// late enough not to wake anyone, early enough to be read the same day.
pub const SEND_TIME: NaiveTime = match NaiveTime::from_hms_opt(10, 0, 0) {
    Some(time) => time,
    None => NaiveTime::MIN,
};

/// The instant a local wall-clock time happens in `tz`. In an autumn overlap the earlier of
/// the two is taken; in a spring gap, where the time does not exist, an hour later is.
pub(crate) fn at_local(date: NaiveDate, time: NaiveTime, tz: Tz) -> DateTime<Utc> {
    let local = date.and_time(time);
    tz.from_local_datetime(&local)
        .earliest()
        .or_else(|| tz.from_local_datetime(&(local + Duration::hours(1))).earliest())
        .map_or_else(|| local.and_utc(), |at| at.with_timezone(&Utc))
}

/// `month`/`day` in `year`, with Feb 29 falling on Feb 28 when the year has none.
pub(crate) fn date_in_year(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, day).or_else(|| {
        (month == 2 && day == 29)
            .then(|| NaiveDate::from_ymd_opt(year, 2, 28))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Rome;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn local_times_become_utc_instants_across_dst() {
        let winter = at_local(date(2026, 1, 15), SEND_TIME, Rome);
        assert_eq!(winter, Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0).unwrap());
        let summer = at_local(date(2026, 7, 15), SEND_TIME, Rome);
        assert_eq!(summer, Utc.with_ymd_and_hms(2026, 7, 15, 8, 0, 0).unwrap());
        // 02:30 does not exist in Rome on 2026-03-29: an hour later does.
        let gap = at_local(
            date(2026, 3, 29),
            NaiveTime::from_hms_opt(2, 30, 0).unwrap(),
            Rome,
        );
        assert_eq!(gap, Utc.with_ymd_and_hms(2026, 3, 29, 1, 30, 0).unwrap());
        // 02:30 happens twice on 2026-10-25: the first one is taken.
        let overlap = at_local(
            date(2026, 10, 25),
            NaiveTime::from_hms_opt(2, 30, 0).unwrap(),
            Rome,
        );
        assert_eq!(overlap, Utc.with_ymd_and_hms(2026, 10, 25, 0, 30, 0).unwrap());
    }

    #[test]
    fn feb_29_falls_on_feb_28_in_common_years_only() {
        assert_eq!(date_in_year(2027, 2, 29), Some(date(2027, 2, 28)));
        assert_eq!(date_in_year(2028, 2, 29), Some(date(2028, 2, 29)));
        assert_eq!(date_in_year(2027, 4, 31), None);
        assert_eq!(date_in_year(2027, 13, 1), None);
    }
}
