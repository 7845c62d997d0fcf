//! The `date` and `datetime` filters: an RFC 3339 instant, written the way the customer reads
//! dates, in their language and their time zone.
//!
//! The engine stores instants in UTC (`details.offer_expires_at`, `order.expected_delivery_at`);
//! only the message knows who reads it. So templates format at the edge:
//! `{{ details.offer_expires_at | date }}` gives "Sunday, 14 December" in English and
//! "domenica 14 dicembre" in Italian, the day being the one on the customer's calendar (an
//! offer ending at 23:30 UTC ends the next day in Rome). `datetime` adds the time and the zone,
//! for moments that matter to the minute: "Friday, 5 December at 09:00 CET".
//!
//! The language is the locale of the template being rendered (the renderer sets `locale`), so
//! a customer whose `fr` falls back to English templates reads English dates. The zone is the
//! context's `time_zone` (an IANA name such as `Europe/Rome`), which the caller must give:
//! there is no silent UTC default. Languages without built-in names (a shop's own `de`
//! templates) get the unambiguous ISO form, `2026-12-14` and `2026-12-14 09:00 CET`.
//!
//! The names are written out here rather than taken from a locale database: two languages
//! need 38 words, and a CLDR crate would outweigh the whole template crate.

use chrono::{DateTime, Datelike, Timelike, Weekday};
use chrono_tz::Tz;
use minijinja::value::Value;
use minijinja::{Error, ErrorKind, State};

/// The context variable holding the reader's IANA time zone.
pub(crate) const TIME_ZONE_VAR: &str = "time_zone";
/// The context variable the renderer sets to the locale of the template in use.
pub(crate) const LOCALE_VAR: &str = "locale";

/// `{{ instant | date }}`: weekday, day and month in the reader's language and zone.
pub(crate) fn date(state: &State, value: &Value) -> Result<String, Error> {
    let local = local_instant(state, "date", value)?;
    Ok(match language(state) {
        Language::English => english_date(&local),
        Language::Italian => italian_date(&local),
        Language::Other => local.format("%Y-%m-%d").to_string(),
    })
}

/// `{{ instant | datetime }}`: the date, the time (24-hour) and the zone's abbreviation.
pub(crate) fn datetime(state: &State, value: &Value) -> Result<String, Error> {
    let local = local_instant(state, "datetime", value)?;
    let time = format!("{:02}:{:02} {}", local.hour(), local.minute(), zone_name(&local));
    Ok(match language(state) {
        Language::English => format!("{} at {time}", english_date(&local)),
        // "alle" would need elision before 1:00 and 8:00 ("all'una"); "ore" never does.
        Language::Italian => format!("{}, ore {time}", italian_date(&local)),
        Language::Other => format!("{} {time}", local.format("%Y-%m-%d")),
    })
}

enum Language {
    English,
    Italian,
    Other,
}

/// The language of the template being rendered: `it`, `it-ch` and `it-IT` are Italian.
fn language(state: &State) -> Language {
    let locale = state.lookup(LOCALE_VAR);
    let locale = locale.as_ref().and_then(Value::as_str).unwrap_or_default();
    let language = locale.split(['-', '_']).next().unwrap_or_default();
    match language.to_ascii_lowercase().as_str() {
        "en" => Language::English,
        "it" => Language::Italian,
        _ => Language::Other,
    }
}

/// Parses the filter's input and moves it to the reader's zone. Errors name the filter and
/// what was wrong, and never quote the value (it could be anything the context holds).
fn local_instant(state: &State, filter: &str, value: &Value) -> Result<DateTime<Tz>, Error> {
    if value.is_undefined() {
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    let text = value.as_str().ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "the {filter} filter takes an RFC 3339 instant as a string, not {}",
                value.kind()
            ),
        )
    })?;
    let instant = DateTime::parse_from_rfc3339(text).map_err(|_| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("the {filter} filter takes an RFC 3339 instant such as 2026-12-14T23:00:00Z"),
        )
    })?;
    Ok(instant.with_timezone(&time_zone(state, filter)?))
}

fn time_zone(state: &State, filter: &str) -> Result<Tz, Error> {
    let zone = state.lookup(TIME_ZONE_VAR);
    let Some(zone) = zone.as_ref().and_then(Value::as_str) else {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            format!("the {filter} filter needs `{TIME_ZONE_VAR}` in the context, e.g. \"Europe/Rome\""),
        ));
    };
    zone.parse().map_err(|_| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("`{TIME_ZONE_VAR}` is not an IANA time zone such as Europe/Rome"),
        )
    })
}

/// The zone as people write it: "CET", "EST"; zones with no letters ("+04") read "UTC+04".
fn zone_name(local: &DateTime<Tz>) -> String {
    let abbreviation = local.format("%Z").to_string();
    if abbreviation.starts_with(['+', '-']) {
        format!("UTC{abbreviation}")
    } else {
        abbreviation
    }
}

/// "Thursday, 9 January".
fn english_date(local: &DateTime<Tz>) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let weekday = match local.weekday() {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    };
    format!("{weekday}, {} {}", local.day(), MONTHS[local.month0() as usize])
}

/// "giovedì 9 gennaio", and "1° marzo" for the first of the month, as Italian writes it.
fn italian_date(local: &DateTime<Tz>) -> String {
    const MONTHS: [&str; 12] = [
        "gennaio",
        "febbraio",
        "marzo",
        "aprile",
        "maggio",
        "giugno",
        "luglio",
        "agosto",
        "settembre",
        "ottobre",
        "novembre",
        "dicembre",
    ];
    let weekday = match local.weekday() {
        Weekday::Mon => "lunedì",
        Weekday::Tue => "martedì",
        Weekday::Wed => "mercoledì",
        Weekday::Thu => "giovedì",
        Weekday::Fri => "venerdì",
        Weekday::Sat => "sabato",
        Weekday::Sun => "domenica",
    };
    let day = match local.day() {
        1 => "1°".to_owned(),
        day => day.to_string(),
    };
    format!("{weekday} {day} {}", MONTHS[local.month0() as usize])
}
