//! The entries that do not come from an order: bonuses, manual adjustments, redemptions and
//! expiry. Each is a pure function of the ledger, the config and the clock.

use super::config::{PointsConfig, RewardOption};
use super::ledger::{BonusKind, Bucket, Entry, EntryKind, Ledger, Source, ids};
use crate::OrderId;
use crate::flows::schedule::date_in_year;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

/// The welcome (or launch) bonus, once per customer, when the shop gives one.
pub fn welcome_bonus(ledger: &Ledger, config: &PointsConfig, now: DateTime<Utc>) -> Option<Entry> {
    bonus(
        ledger,
        config.welcome_bonus,
        ids::welcome(),
        BonusKind::Welcome,
        now,
    )
}

/// The day a birthday (`month`, `day`) falls on in `year`: 29 February on 28 February in
/// common years. `None` for a day no year has (31 April).
pub fn birthday_in(year: i32, (month, day): (u32, u32)) -> Option<NaiveDate> {
    date_in_year(year, month, day)
}

/// The birthday bonus for the birthday that falls on the local day `on`, once a year: `None`
/// when the bonus is off, the customer's birthday (`month`, `day`) is not that day (they
/// changed it since), the day has not come yet in `tz`, or this year's bonus is already
/// credited. The id is the year's (`birthday#2027`), not the day's, so changing one's
/// birthday, or a tick delivered twice, cannot earn twice in a year.
pub fn birthday_bonus(
    ledger: &Ledger,
    config: &PointsConfig,
    birthday: (u32, u32),
    on: NaiveDate,
    tz: Tz,
    now: DateTime<Utc>,
) -> Option<Entry> {
    if birthday_in(on.year(), birthday) != Some(on) || now.with_timezone(&tz).date_naive() < on {
        return None;
    }
    bonus(
        ledger,
        config.birthday_bonus,
        ids::birthday(on.year()),
        BonusKind::Birthday,
        now,
    )
}

/// The review bonus for rating `product` of `order` (through the review request's links),
/// once per product of an order, when the shop gives one. The stars do not matter: points
/// for good reviews only would buy praise.
pub fn review_bonus(
    ledger: &Ledger,
    config: &PointsConfig,
    order: &OrderId,
    product: &str,
    now: DateTime<Utc>,
) -> Option<Entry> {
    let id = ids::review(order, product);
    (config.review_bonus > 0 && !product.is_empty() && !ledger.contains(&id)).then(|| Entry {
        id,
        kind: EntryKind::Bonus,
        points: config.review_bonus.into(),
        bucket: Bucket::Available,
        source: Source::Review {
            order: order.clone(),
            product: product.to_string(),
        },
        at: now,
    })
}

fn bonus(ledger: &Ledger, points: u32, id: String, kind: BonusKind, now: DateTime<Utc>) -> Option<Entry> {
    (points > 0 && !ledger.contains(&id)).then(|| Entry {
        id,
        kind: EntryKind::Bonus,
        points: points.into(),
        bucket: Bucket::Available,
        source: Source::Bonus { bonus: kind },
        at: now,
    })
}

/// A manual entry the shop cannot make.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdjustError {
    #[error("--points: must not be 0")]
    Zero,
    #[error("--points: at most 1000000 either way")]
    TooLarge,
    #[error("--reason: say why (the customer's ledger shows it)")]
    NoReason,
    #[error("--reason: at most 200 characters")]
    LongReason,
}

/// A manual adjustment by `by`, for `reason`. `nonce` makes two identical adjustments in the
/// same millisecond two entries, and one request retried one.
pub fn adjustment(
    points: i64,
    by: &str,
    reason: &str,
    at: DateTime<Utc>,
    nonce: &str,
) -> Result<Entry, AdjustError> {
    if points == 0 {
        return Err(AdjustError::Zero);
    }
    if points.abs() > 1_000_000 {
        return Err(AdjustError::TooLarge);
    }
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AdjustError::NoReason);
    }
    if reason.chars().count() > 200 {
        return Err(AdjustError::LongReason);
    }
    Ok(Entry {
        id: ids::adjustment(at, nonce),
        kind: EntryKind::Adjustment,
        points,
        bucket: Bucket::Available,
        source: Source::Manual {
            by: by.to_string(),
            reason: reason.to_string(),
        },
        at,
    })
}

/// Why points cannot be redeemed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedeemError {
    #[error("this reward costs {needed} points and {available} are available")]
    NotEnough { needed: i64, available: i64 },
    #[error("this link was already used for a reward")]
    AlreadyRedeemed,
}

/// Debits `option`'s points for the redemption `redemption` (one per signed link, so a second
/// tap finds it already there), naming the `code` it will be given as, once chosen.
pub fn redeem(
    ledger: &Ledger,
    option: &RewardOption,
    redemption: &str,
    code: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Entry, RedeemError> {
    let id = ids::redeem(redemption);
    if ledger.contains(&id) {
        return Err(RedeemError::AlreadyRedeemed);
    }
    let needed = i64::from(option.points);
    let available = ledger.balance().available;
    if available < needed {
        return Err(RedeemError::NotEnough { needed, available });
    }
    Ok(Entry {
        id,
        kind: EntryKind::Redeem,
        points: -needed,
        bucket: Bucket::Available,
        source: Source::Reward {
            redemption: redemption.to_string(),
            code: code.map(str::to_owned),
        },
        at: now,
    })
}

/// Gives a redemption's points back (its code could not be created); `None` if it was never
/// debited or is already returned.
pub fn return_redeemed(ledger: &Ledger, redemption: &str, now: DateTime<Utc>) -> Option<Entry> {
    let debit = ledger.entry(&ids::redeem(redemption))?;
    let id = ids::redeem_returned(redemption);
    (!ledger.contains(&id)).then(|| Entry {
        id,
        kind: EntryKind::RedeemReturned,
        points: -debit.points,
        bucket: Bucket::Available,
        source: debit.source.clone(),
        at: now,
    })
}

/// When the available points lapse, if the shop expires points and the customer ever acted.
pub fn expires_at(ledger: &Ledger, config: &PointsConfig) -> Option<DateTime<Utc>> {
    let days = config.expire_after_days?;
    Some(ledger.last_activity()? + Duration::days(days.into()))
}

/// When the expiry warning is due.
pub fn expiry_warning_at(ledger: &Ledger, config: &PointsConfig) -> Option<DateTime<Utc>> {
    Some(expires_at(ledger, config)? - Duration::days(config.expiry_warning_days.into()))
}

/// The expiry of every available point, once the inactivity period has run out. Pending points
/// stay: an order in its return window is recent activity.
pub fn expiry(ledger: &Ledger, config: &PointsConfig, now: DateTime<Utc>) -> Option<Entry> {
    let at = expires_at(ledger, config)?;
    let since = ledger.last_activity()?;
    let available = ledger.balance().available;
    let id = ids::expiry(since);
    (now >= at && available > 0 && !ledger.contains(&id)).then(|| Entry {
        id,
        kind: EntryKind::Expiry,
        points: -available,
        bucket: Bucket::Available,
        source: Source::Inactivity { since },
        at,
    })
}
