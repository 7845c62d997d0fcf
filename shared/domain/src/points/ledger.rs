//! A customer's points ledger: append-only entries, each with an id derived from its source,
//! and a balance that is only ever the sum of them.
//!
//! Why the ids matter: webhooks arrive twice, late and out of order, and a history import
//! replays them all. Every entry's id names what caused it (`earn#1001`, `clawback#1001#r7`),
//! so appending it again is refused and no replay can credit twice.

use crate::OrderId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Points for a paid order; pending until the order's return window has passed.
    Earn,
    /// An order's remaining pending points becoming spendable (pending → available).
    Available,
    /// Points turned into a reward code.
    Redeem,
    /// Redeemed points given back: the code could not be created, or the order it was used on
    /// was refunded in full.
    RedeemReturned,
    /// Points taken back by a refund or a cancellation.
    Clawback,
    /// Available points that lapsed after a period without activity.
    Expiry,
    /// A welcome, launch, birthday or review bonus.
    Bonus,
    /// A manual entry by the shop, with its reason.
    Adjustment,
}

impl EntryKind {
    /// Whether the customer did something (earned, spent, was given points): resets the
    /// inactivity clock that expiry counts from.
    pub fn is_activity(self) -> bool {
        matches!(
            self,
            EntryKind::Earn | EntryKind::Redeem | EntryKind::Bonus | EntryKind::Adjustment
        )
    }
}

/// Which part of the balance an entry moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    Pending,
    Available,
}

/// Which bonus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BonusKind {
    Welcome,
    Birthday,
}

/// Where an entry came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Source {
    /// A paid order; `multiplier` is what campaigns and tiers made of the base rate ("2").
    Order {
        order: OrderId,
        multiplier: String,
    },
    /// One refund of an order.
    Refund {
        order: OrderId,
        refund: String,
    },
    /// The order was cancelled, deleted or refunded in full.
    Cancellation {
        order: OrderId,
    },
    Bonus {
        bonus: BonusKind,
    },
    /// A product of an order rated through the review request's links.
    Review {
        order: OrderId,
        product: String,
    },
    /// A person's manual adjustment.
    Manual {
        by: String,
        reason: String,
    },
    /// A reward: the redemption's id and the code it produced, once known.
    Reward {
        redemption: String,
        code: Option<String>,
    },
    /// No activity since `since`.
    Inactivity {
        since: DateTime<Utc>,
    },
}

/// One line of the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Derived from the source, unique in the ledger.
    pub id: String,
    pub kind: EntryKind,
    /// Signed: credits positive, debits negative.
    pub points: i64,
    pub bucket: Bucket,
    pub source: Source,
    pub at: DateTime<Utc>,
}

/// The ids, in one place.
pub mod ids {
    use crate::OrderId;
    use chrono::{DateTime, SecondsFormat, Utc};

    pub fn earn(order: &OrderId) -> String {
        format!("earn#{order}")
    }
    pub fn available(order: &OrderId) -> String {
        format!("available#{order}")
    }
    pub fn clawback(order: &OrderId, refund: &str) -> String {
        format!("clawback#{order}#{refund}")
    }
    pub fn cancellation(order: &OrderId) -> String {
        format!("cancel#{order}")
    }
    pub fn welcome() -> String {
        "bonus#welcome".into()
    }
    /// One a year, whichever day it was credited on.
    pub fn birthday(year: i32) -> String {
        format!("birthday#{year}")
    }
    /// One per product of an order.
    pub fn review(order: &OrderId, product: &str) -> String {
        format!("review#{order}#{product}")
    }
    pub fn redeem(redemption: &str) -> String {
        format!("redeem#{redemption}")
    }
    pub fn redeem_returned(redemption: &str) -> String {
        format!("returned#{redemption}")
    }
    pub fn expiry(since: DateTime<Utc>) -> String {
        format!("expiry#{}", since.to_rfc3339_opts(SecondsFormat::Secs, true))
    }
    /// A manual entry is its own source: who, when, and the request's nonce.
    pub fn adjustment(at: DateTime<Utc>, nonce: &str) -> String {
        format!(
            "adjust#{}#{nonce}",
            at.to_rfc3339_opts(SecondsFormat::Millis, true)
        )
    }
}

/// Available, pending, and their sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    pub available: i64,
    pub pending: i64,
    pub balance: i64,
}

impl Balance {
    /// The balance the entries add up to. An `available` entry moves points out of pending.
    pub fn of(entries: &[Entry]) -> Balance {
        let mut pending: i64 = 0;
        let mut available: i64 = 0;
        for entry in entries {
            match entry.bucket {
                Bucket::Pending => pending = pending.saturating_add(entry.points),
                Bucket::Available => available = available.saturating_add(entry.points),
            }
            if entry.kind == EntryKind::Available {
                pending = pending.saturating_sub(entry.points);
            }
        }
        Balance {
            available,
            pending,
            balance: available.saturating_add(pending),
        }
    }
}

/// A customer's ledger as stored: the entries, oldest first, and a cached balance that
/// [`Ledger::check`] proves equal to them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    entries: Vec<Entry>,
    cached: Balance,
}

/// The stored cache disagrees with the entries: the document was edited by hand or damaged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the cached balance {cached:?} does not match the entries' {derived:?}")]
pub struct CacheMismatch {
    pub cached: Balance,
    pub derived: Balance,
}

impl Ledger {
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The cached balance (kept equal to [`Balance::of`] the entries by [`Ledger::append`]).
    pub fn balance(&self) -> Balance {
        self.cached
    }

    pub fn contains(&self, id: &str) -> bool {
        self.entries.iter().any(|e| e.id == id)
    }

    pub fn entry(&self, id: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.id == id)
    }

    /// Appends unless an entry with that id is there; returns whether it was appended. Entries
    /// are never changed or removed.
    pub fn append(&mut self, entry: Entry) -> bool {
        if self.contains(&entry.id) {
            return false;
        }
        self.entries.push(entry);
        self.cached = Balance::of(&self.entries);
        true
    }

    /// Appends each; returns how many were new.
    pub fn extend(&mut self, entries: impl IntoIterator<Item = Entry>) -> usize {
        entries.into_iter().map(|e| usize::from(self.append(e))).sum()
    }

    /// Verifies the cache against the entries (on every load).
    pub fn check(&self) -> Result<(), CacheMismatch> {
        let derived = Balance::of(&self.entries);
        if derived == self.cached {
            Ok(())
        } else {
            Err(CacheMismatch {
                cached: self.cached,
                derived,
            })
        }
    }

    /// The sum of the entries whose ids start with `prefix` (an order's clawbacks).
    pub(crate) fn sum_with_prefix(&self, prefix: &str) -> i64 {
        self.entries
            .iter()
            .filter(|e| e.id.starts_with(prefix))
            .map(|e| e.points)
            .sum()
    }

    /// When the customer last earned, spent or was given points.
    pub fn last_activity(&self) -> Option<DateTime<Utc>> {
        self.entries
            .iter()
            .filter(|e| e.kind.is_activity())
            .map(|e| e.at)
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn entry(id: &str, kind: EntryKind, points: i64, bucket: Bucket) -> Entry {
        Entry {
            id: id.into(),
            kind,
            points,
            bucket,
            source: Source::Bonus {
                bonus: BonusKind::Welcome,
            },
            at: Utc.with_ymd_and_hms(2026, 11, 1, 10, 0, 0).unwrap(),
        }
    }

    #[test]
    fn the_balance_is_the_sum_of_the_entries_and_a_move_leaves_it_unchanged() {
        let mut ledger = Ledger::default();
        ledger.append(entry("earn#1", EntryKind::Earn, 40, Bucket::Pending));
        ledger.append(entry("bonus#welcome", EntryKind::Bonus, 100, Bucket::Available));
        assert_eq!(
            ledger.balance(),
            Balance {
                available: 100,
                pending: 40,
                balance: 140
            }
        );
        ledger.append(entry("clawback#1#r", EntryKind::Clawback, -10, Bucket::Pending));
        ledger.append(entry("available#1", EntryKind::Available, 30, Bucket::Available));
        assert_eq!(
            ledger.balance(),
            Balance {
                available: 130,
                pending: 0,
                balance: 130
            }
        );
        assert_eq!(ledger.check(), Ok(()));
    }

    #[test]
    fn an_entry_id_is_appended_once() {
        let mut ledger = Ledger::default();
        assert!(ledger.append(entry("earn#1", EntryKind::Earn, 40, Bucket::Pending)));
        assert!(!ledger.append(entry("earn#1", EntryKind::Earn, 400, Bucket::Pending)));
        assert_eq!(ledger.entries().len(), 1);
        assert_eq!(ledger.balance().pending, 40);
    }

    #[test]
    fn a_tampered_cache_is_caught() {
        let mut ledger = Ledger::default();
        ledger.append(entry("earn#1", EntryKind::Earn, 40, Bucket::Pending));
        let mut stored = serde_json::to_value(&ledger).unwrap();
        stored["cached"]["pending"] = 4000.into();
        let loaded: Ledger = serde_json::from_value(stored).unwrap();
        let mismatch = loaded.check().unwrap_err();
        assert_eq!(mismatch.derived.pending, 40);
        assert_eq!(mismatch.cached.pending, 4000);
    }
}
