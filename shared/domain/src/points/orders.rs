//! What an order is worth in points, derived from its folded state: the earn when it is paid,
//! the clawbacks of its refunds, the cancellation that takes back the rest, and the move from
//! pending to available once its return window has passed.
//!
//! [`order_entries`] looks at the order as it is now and at what the ledger already holds, and
//! returns only the entries still missing. Whatever order the webhooks arrive in, and however
//! often, the ledger converges on the same entries; ids make a second append a no-op.

use super::campaign::{Campaign, multiplier_at};
use super::config::{NegativeBalance, PendingFrom, PointsConfig};
use super::ledger::{Bucket, Entry, EntryKind, Ledger, Source, ids};
use crate::{Order, OrderRecord};
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

/// What earning depends on besides the order: the shop's campaigns and the customer's tier.
#[derive(Debug, Clone, Copy)]
pub struct Earning<'a> {
    pub config: &'a PointsConfig,
    pub campaigns: &'a [Campaign],
    /// The customer's VIP tier now, if any.
    pub tier: Option<&'a str>,
}

impl Earning<'_> {
    /// Campaign (the best one covering the order's time) times tier.
    pub fn multiplier(&self, at: DateTime<Utc>) -> Decimal {
        let tier = self
            .tier
            .and_then(|t| self.config.tier_multipliers.get(t))
            .copied()
            .unwrap_or(Decimal::ONE);
        multiplier_at(self.campaigns, at) * tier
    }

    /// The points an order earns: its subtotal net of discounts (or its total, with
    /// `include_shipping_and_tax`) times the rate and the multiplier, rounded down.
    pub fn points_for(&self, order: &Order) -> i64 {
        let basis = if self.config.include_shipping_and_tax {
            order.total.amount
        } else {
            order.subtotal.amount
        };
        basis
            .max(Decimal::ZERO)
            .checked_mul(self.config.per_currency_unit)
            .and_then(|p| p.checked_mul(self.multiplier(order.created_at)))
            .and_then(|p| p.floor().to_i64())
            .unwrap_or(0)
    }
}

/// When an order's pending points become available: `pending_days` after delivery, or after
/// the shipment (then the payment) when no delivery is reported; or after payment with
/// `pending_from = "paid"`. Orders carry no separate payment time: placing stands for it.
pub fn available_at(record: &OrderRecord, config: &PointsConfig) -> Option<DateTime<Utc>> {
    let order = record.snapshot.as_ref()?;
    let start = match config.pending_from {
        PendingFrom::Paid => order.created_at,
        PendingFrom::Delivery => record
            .delivered_at
            .or(record.fulfilled_at)
            .unwrap_or(order.created_at),
    };
    Some(start + Duration::days(config.pending_days.into()))
}

/// The entries the order's state calls for that `ledger` does not hold yet, in the order to
/// append them.
pub fn order_entries(
    ledger: &Ledger,
    record: &OrderRecord,
    earning: Earning<'_>,
    now: DateTime<Utc>,
) -> Vec<Entry> {
    let Some(order) = record.snapshot.as_ref() else {
        return Vec::new();
    };
    let mut scratch = ledger.clone();
    let mut new = Vec::new();
    let mut push = |scratch: &mut Ledger, entry: Entry| {
        if scratch.append(entry.clone()) {
            new.push(entry);
        }
    };
    let void = record.is_void();
    let earn_id = ids::earn(&order.id);
    if !void && order.status.is_paid() && !scratch.contains(&earn_id) {
        let points = earning.points_for(order);
        if points > 0 {
            let entry = Entry {
                id: earn_id.clone(),
                kind: EntryKind::Earn,
                points,
                bucket: Bucket::Pending,
                source: Source::Order {
                    order: order.id.clone(),
                    multiplier: earning.multiplier(order.created_at).normalize().to_string(),
                },
                at: order.created_at,
            };
            push(&mut scratch, entry);
        }
    }
    if void {
        for entry in returned_rewards(&scratch, order, now) {
            push(&mut scratch, entry);
        }
    }
    let Some(earned) = scratch.entry(&earn_id).map(|e| e.points) else {
        return new;
    };
    let matured = scratch.contains(&ids::available(&order.id));
    let bucket = if matured {
        Bucket::Available
    } else {
        Bucket::Pending
    };
    let taken = |scratch: &Ledger| {
        -(scratch.sum_with_prefix(&format!("clawback#{}#", order.id))
            + scratch.sum_with_prefix(&ids::cancellation(&order.id)))
    };
    let policy = earning.config.negative_balance;
    if void {
        let remaining = earned - taken(&scratch);
        let id = ids::cancellation(&order.id);
        if remaining > 0 && !scratch.contains(&id) {
            let points = -debit(&scratch, remaining, bucket, policy);
            let entry = Entry {
                id,
                kind: EntryKind::Clawback,
                points,
                bucket,
                source: Source::Cancellation {
                    order: order.id.clone(),
                },
                at: now,
            };
            push(&mut scratch, entry);
        }
        return new;
    }
    // Refunds take back points in proportion to what was refunded of the total, rounded up,
    // so a customer never keeps a point the refunds did not leave them. Each new refund takes
    // what the cumulative share calls for beyond what earlier ones took, so the refunds'
    // arrival order does not change the sum.
    let target = clawback_target(record, order, earned);
    for refund in &record.refunds {
        let id = ids::clawback(&order.id, &refund.id);
        if scratch.contains(&id) {
            continue;
        }
        let due = target - taken(&scratch);
        if due <= 0 {
            break;
        }
        let entry = Entry {
            id,
            kind: EntryKind::Clawback,
            points: -debit(&scratch, due, bucket, policy),
            bucket,
            source: Source::Refund {
                order: order.id.clone(),
                refund: refund.id.clone(),
            },
            at: refund.created_at.max(order.created_at),
        };
        push(&mut scratch, entry);
    }
    if !matured
        && let Some(at) = available_at(record, earning.config)
        && now >= at
    {
        let remaining = earned - taken(&scratch);
        if remaining > 0 {
            let entry = Entry {
                id: ids::available(&order.id),
                kind: EntryKind::Available,
                points: remaining,
                bucket: Bucket::Available,
                source: Source::Order {
                    order: order.id.clone(),
                    multiplier: earning.multiplier(order.created_at).normalize().to_string(),
                },
                at,
            };
            push(&mut scratch, entry);
        }
    }
    new
}

/// The points all refunds so far should have taken back: `earned × refunded / total`, rounded
/// up, at most `earned`.
fn clawback_target(record: &OrderRecord, order: &Order, earned: i64) -> i64 {
    let refunded = record.refunded().map_or(Decimal::ZERO, |m| m.amount);
    if refunded <= Decimal::ZERO {
        return 0;
    }
    if order.total.amount <= Decimal::ZERO || refunded >= order.total.amount {
        return earned;
    }
    (Decimal::from(earned) * refunded / order.total.amount)
        .ceil()
        .to_i64()
        .unwrap_or(earned)
        .clamp(0, earned)
}

/// How much of `wanted` to take: all of it, unless the shop writes off what would take the
/// available balance below zero.
fn debit(ledger: &Ledger, wanted: i64, bucket: Bucket, policy: NegativeBalance) -> i64 {
    match (bucket, policy) {
        (Bucket::Available, NegativeBalance::WriteOff) => wanted.min(ledger.balance().available.max(0)),
        _ => wanted,
    }
}

/// A reward code used on an order refunded in full or cancelled: the points it cost come back.
fn returned_rewards(ledger: &Ledger, order: &Order, now: DateTime<Utc>) -> Vec<Entry> {
    ledger
        .entries()
        .iter()
        .filter(|e| e.kind == EntryKind::Redeem)
        .filter_map(|e| match &e.source {
            Source::Reward {
                redemption,
                code: Some(code),
            } if order
                .discount_codes
                .iter()
                .any(|used| used.eq_ignore_ascii_case(code)) =>
            {
                Some(Entry {
                    id: ids::redeem_returned(redemption),
                    kind: EntryKind::RedeemReturned,
                    points: -e.points,
                    bucket: Bucket::Available,
                    source: e.source.clone(),
                    at: now,
                })
            }
            _ => None,
        })
        .filter(|e| !ledger.contains(&e.id))
        .collect()
}
