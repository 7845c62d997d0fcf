//! What is known about one order, folded from its events whatever order they arrive in, and
//! whether it still counts (a void order is never messaged about again).

use crate::{CustomerId, EventKind, Money, Order, OrderId, OrderStatus, Refund, ShipmentStatus, StoreEvent};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an order no longer counts: nothing more is sent about it and it is no purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoidReason {
    Deleted,
    Cancelled,
    Refunded,
    PaymentFailed,
}

impl VoidReason {
    pub const ALL: [VoidReason; 4] = [
        VoidReason::Deleted,
        VoidReason::Cancelled,
        VoidReason::Refunded,
        VoidReason::PaymentFailed,
    ];
}

/// In the words the outbox shows (`skipped: refunded`).
impl fmt::Display for VoidReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VoidReason::Deleted => "order deleted",
            VoidReason::Cancelled => "cancelled",
            VoidReason::Refunded => "refunded",
            VoidReason::PaymentFailed => "payment failed",
        })
    }
}

/// The stored view of one order, folded from its events in whatever order they arrive.
///
/// Webhooks are delivered at least once and out of order: a refund can land before the order
/// it refunds, and an old `orders/updated` can land after a newer one. Folding is therefore
/// commutative where it matters: the newest snapshot wins, refunds are a set keyed by id, and
/// the first delivery time is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    pub order_id: OrderId,
    /// The newest full snapshot seen; `None` while only refunds or shipments have arrived.
    pub snapshot: Option<Order>,
    pub refunds: Vec<Refund>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// When the parcel left (first fulfilment or shipment event); delivery is estimated from
    /// it when the carrier never reports one.
    #[serde(default)]
    pub fulfilled_at: Option<DateTime<Utc>>,
    pub last_shipment_status: Option<ShipmentStatus>,
    pub deleted: bool,
}

impl OrderRecord {
    pub fn new(order_id: OrderId) -> Self {
        Self {
            order_id,
            snapshot: None,
            refunds: Vec::new(),
            delivered_at: None,
            fulfilled_at: None,
            last_shipment_status: None,
            deleted: false,
        }
    }

    pub fn customer_id(&self) -> Option<&CustomerId> {
        self.snapshot.as_ref().map(|o| o.customer_id())
    }

    /// Folds one event in. Returns whether anything changed, so callers can skip a write.
    pub fn apply(&mut self, event: &StoreEvent) -> bool {
        let before = self.clone();
        if let Some(order) = event.order()
            && order.id == self.order_id
        {
            let newer = self
                .snapshot
                .as_ref()
                .is_none_or(|current| order.updated_at >= current.updated_at);
            if newer {
                self.snapshot = Some(order.clone());
            }
            for refund in &order.refunds {
                self.add_refund(refund);
            }
            if matches!(event.kind, EventKind::OrderRestored(_)) {
                self.deleted = false;
            }
        }
        match &event.kind {
            EventKind::OrderFulfilled(o) | EventKind::OrderPartiallyFulfilled(o) if o.id == self.order_id => {
                self.mark_fulfilled(o.updated_at)
            }
            EventKind::OrderRefunded(r) if r.order_id == self.order_id => self.add_refund(&r.refund),
            EventKind::OrderDeleted { order_id } if *order_id == self.order_id => self.deleted = true,
            EventKind::ShipmentUpdated(s) | EventKind::OrderDelivered(s) if s.order_id == self.order_id => {
                self.last_shipment_status = Some(s.status);
                self.mark_fulfilled(s.happened_at);
                if s.status == ShipmentStatus::Delivered {
                    self.delivered_at = Some(match self.delivered_at {
                        Some(at) => at.min(s.happened_at),
                        None => s.happened_at,
                    });
                }
            }
            _ => {}
        }
        *self != before
    }

    fn mark_fulfilled(&mut self, at: DateTime<Utc>) {
        self.fulfilled_at = Some(self.fulfilled_at.map_or(at, |known| known.min(at)));
    }

    fn add_refund(&mut self, refund: &Refund) {
        if !self.refunds.iter().any(|r| r.id == refund.id) {
            self.refunds.push(refund.clone());
            self.refunds
                .sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        }
    }

    /// Sum of every refund seen, in the order's currency once the order is known.
    pub fn refunded(&self) -> Option<Money> {
        let currency = self
            .snapshot
            .as_ref()
            .map(|o| o.total.currency)
            .or_else(|| self.refunds.first().map(|r| r.amount.currency))?;
        let amounts = self
            .refunds
            .iter()
            .filter(|r| r.amount.currency == currency)
            .map(|r| r.amount.amount);
        Some(Money::new(Money::saturating_sum(amounts), currency))
    }

    /// Cancelled, deleted or refunded in full: nothing should be sent about it any more.
    pub fn is_void(&self) -> bool {
        self.void_reason().is_some()
    }

    /// Why nothing should be sent about this order any more.
    pub fn void_reason(&self) -> Option<VoidReason> {
        if self.deleted {
            return Some(VoidReason::Deleted);
        }
        let order = self.snapshot.as_ref()?;
        match order.status {
            OrderStatus::Cancelled => return Some(VoidReason::Cancelled),
            OrderStatus::Refunded => return Some(VoidReason::Refunded),
            OrderStatus::Failed => return Some(VoidReason::PaymentFailed),
            _ => {}
        }
        let refunded = self.refunded()?;
        (refunded.amount > rust_decimal::Decimal::ZERO && refunded.amount >= order.total.amount)
            .then_some(VoidReason::Refunded)
    }

    /// Refunded in part: the customer kept something, so flows go on.
    pub fn is_partially_refunded(&self) -> bool {
        !self.is_void()
            && self
                .refunded()
                .is_some_and(|r| r.amount > rust_decimal::Decimal::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Consent, Currency, Customer, EventId, FulfillmentStatus, Platform, RefundEvent, ShopId};
    use chrono::TimeZone;

    fn eur(amount: &str) -> Money {
        Money::parse(amount, Currency::new("EUR").unwrap()).unwrap()
    }

    fn order(updated_minute: u32, status: OrderStatus) -> Order {
        let at = Utc.with_ymd_and_hms(2026, 11, 1, 10, updated_minute, 0).unwrap();
        let mut customer = Customer::bare(CustomerId::new("7").unwrap());
        customer.email_marketing = Consent::Granted;
        Order {
            id: OrderId::new("1001").unwrap(),
            name: Some("#1001".into()),
            customer,
            created_at: Utc.with_ymd_and_hms(2026, 11, 1, 10, 0, 0).unwrap(),
            updated_at: at,
            status,
            fulfillment: FulfillmentStatus::Unfulfilled,
            line_items: vec![],
            subtotal: eur("40.00"),
            total: eur("40.00"),
            total_discounts: eur("0"),
            discount_codes: vec![],
            refunds: vec![],
            shipping_country: None,
            shipping_address: None,
            client_ip: None,
            checkout_token: None,
            cart_token: None,
        }
    }

    fn event(id: &str, kind: EventKind) -> StoreEvent {
        StoreEvent {
            origin: Default::default(),
            shop: ShopId::new("demo.myshopify.com").unwrap(),
            platform: Platform::Shopify,
            event_id: EventId::new(id).unwrap(),
            occurred_at: Utc.with_ymd_and_hms(2026, 11, 1, 10, 0, 0).unwrap(),
            kind,
        }
    }

    fn refund(id: &str, amount: &str) -> EventKind {
        EventKind::OrderRefunded(RefundEvent {
            order_id: OrderId::new("1001").unwrap(),
            refund: Refund {
                id: id.into(),
                created_at: Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap(),
                amount: eur(amount),
                reason: None,
            },
        })
    }

    #[test]
    fn a_refund_before_its_order_is_kept_and_merged() {
        let mut record = OrderRecord::new(OrderId::new("1001").unwrap());
        assert!(record.apply(&event("r", refund("r1", "40.00"))));
        assert!(record.snapshot.is_none());
        assert!(record.apply(&event(
            "p",
            EventKind::OrderPlaced(order(0, OrderStatus::Processing))
        )));
        assert_eq!(record.refunded(), Some(eur("40.00")));
        assert!(record.is_void(), "fully refunded order is void");
    }

    #[test]
    fn an_older_snapshot_does_not_overwrite_a_newer_one() {
        let mut record = OrderRecord::new(OrderId::new("1001").unwrap());
        record.apply(&event(
            "b",
            EventKind::OrderCancelled(order(5, OrderStatus::Cancelled)),
        ));
        record.apply(&event(
            "a",
            EventKind::OrderPaid(order(1, OrderStatus::Processing)),
        ));
        assert_eq!(record.snapshot.unwrap().status, OrderStatus::Cancelled);
    }

    #[test]
    fn the_same_refund_twice_counts_once_and_reports_no_change() {
        let mut record = OrderRecord::new(OrderId::new("1001").unwrap());
        record.apply(&event(
            "p",
            EventKind::OrderPaid(order(0, OrderStatus::Processing)),
        ));
        assert!(record.apply(&event("r", refund("r1", "10.00"))));
        assert!(!record.apply(&event("r", refund("r1", "10.00"))));
        assert_eq!(record.refunded(), Some(eur("10.00")));
        assert!(!record.is_void(), "partial refund keeps the order alive");
    }

    #[test]
    fn folding_is_order_independent_for_refunds_and_snapshots() {
        let events = [
            event("p", EventKind::OrderPlaced(order(0, OrderStatus::Pending))),
            event("q", EventKind::OrderPaid(order(2, OrderStatus::Processing))),
            event("r1", refund("r1", "5.00")),
            event("r2", refund("r2", "7.50")),
        ];
        let mut forward = OrderRecord::new(OrderId::new("1001").unwrap());
        events.iter().for_each(|e| {
            forward.apply(e);
        });
        let mut backward = OrderRecord::new(OrderId::new("1001").unwrap());
        events.iter().rev().for_each(|e| {
            backward.apply(e);
        });
        assert_eq!(forward, backward);
        assert_eq!(forward.refunded(), Some(eur("12.50")));
    }

    #[test]
    fn refunds_stored_before_amounts_were_bounded_add_up_without_a_panic() {
        let huge = Money::new(rust_decimal::Decimal::MAX, Currency::new("EUR").unwrap());
        let mut record = OrderRecord::new(OrderId::new("1001").unwrap());
        record.apply(&event(
            "p",
            EventKind::OrderPaid(order(0, OrderStatus::Processing)),
        ));
        for id in ["r1", "r2"] {
            let mut kind = refund(id, "1");
            if let EventKind::OrderRefunded(r) = &mut kind {
                r.refund.amount = huge;
            }
            record.apply(&event(id, kind));
        }
        assert_eq!(record.refunded(), Some(huge), "saturates at the largest decimal");
        assert_eq!(record.void_reason(), Some(VoidReason::Refunded));
        let snapshot = record.snapshot.clone().unwrap();
        let order = Order {
            refunds: record.refunds.clone(),
            ..snapshot
        };
        assert_eq!(order.net_total(), eur("0"));
    }
}
