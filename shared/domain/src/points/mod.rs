//! Loyalty points: `[points]` config, the customer's append-only ledger, and the pure rules
//! that decide its entries. No I/O: the engine loads a ledger, asks these functions what is
//! missing, and appends it in one conditional write.
//!
//! - `config`: `[points]` and its checks;
//! - `ledger`: entries, their ids, the balance derived from them;
//! - `orders`: earning, clawback and pending → available, from an order's folded state;
//! - `campaign`: double-points windows in the shop's zone;
//! - `activity`: bonuses, manual adjustments, redemption, expiry.

mod activity;
mod campaign;
mod config;
mod ledger;
mod orders;
#[cfg(test)]
mod tests;

pub use activity::{
    AdjustError, RedeemError, adjustment, birthday_bonus, birthday_in, expires_at, expiry, expiry_warning_at,
    redeem, return_redeemed, review_bonus, welcome_bonus,
};
pub use campaign::{Campaign, CampaignError, multiplier_at};
pub use config::{NegativeBalance, PendingFrom, PointsConfig, RewardOption};
pub use ledger::{Balance, BonusKind, Bucket, CacheMismatch, Entry, EntryKind, Ledger, Source, ids};
pub use orders::{Earning, available_at, order_entries};
