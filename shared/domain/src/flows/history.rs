//! A customer's purchase history: their paid orders net of refunds, the one input every
//! lifecycle flow plans from.
//!
//! Built from the stored [`OrderRecord`]s rather than from events, so it is the same whatever
//! order the webhooks arrived in, and rebuilding it when a message falls due shows what changed
//! since planning (a reorder, a refund).

use crate::{Currency, CustomerId, Money, OrderId, OrderRecord, VoidReason};
use chrono::{DateTime, Datelike, Duration, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// One product line of a paid order. Lines without a product (custom items, tips) count
/// towards spend through the order total but are not purchases of anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchasedItem {
    pub product_id: String,
    pub variant_id: Option<String>,
    pub quantity: u32,
}

/// A paid, non-void order as the lifecycle flows see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidOrder {
    pub id: OrderId,
    /// When the customer ordered: what "since their last order" is measured from.
    pub placed_at: DateTime<Utc>,
    /// What the shop kept: total minus every refund seen, never below zero.
    pub net: Money,
    pub items: Vec<PurchasedItem>,
}

impl PaidOrder {
    /// Units of `product_id` in this order, across its variants and lines.
    pub fn quantity_of(&self, product_id: &str) -> u32 {
        self.items
            .iter()
            .filter(|item| item.product_id == product_id)
            .fold(0u32, |units, item| units.saturating_add(item.quantity))
    }
}

/// A customer's paid orders, oldest first, with spend in the shop's currency and calendar
/// years in the shop's time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchaseHistory {
    pub customer: CustomerId,
    currency: Currency,
    tz: Tz,
    orders: Vec<PaidOrder>,
    /// Orders that were once placed but no longer count, with why (`refunded`,
    /// `cancelled`...), so a re-check can say what happened to the order a plan was for.
    voided: BTreeMap<OrderId, VoidReason>,
}

impl PurchaseHistory {
    /// Folds `customer`'s order records into a history. Records of other customers, unpaid
    /// orders (pending, on hold) and records without a snapshot are left out; void ones
    /// (cancelled, fully refunded, deleted) are remembered only as void. Spend counts orders in
    /// `currency` (the shop's); an order in another currency still counts as an order.
    pub fn from_orders<'a>(
        customer: &CustomerId,
        records: impl IntoIterator<Item = &'a OrderRecord>,
        currency: Currency,
        tz: Tz,
    ) -> Self {
        let mut orders = Vec::new();
        let mut voided = BTreeMap::new();
        for record in records {
            if record.customer_id() != Some(customer) {
                continue;
            }
            if let Some(reason) = record.void_reason() {
                voided.insert(record.order_id.clone(), reason);
                continue;
            }
            let Some(order) = record.snapshot.as_ref().filter(|o| o.status.is_paid()) else {
                continue;
            };
            let refunded = record.refunded().map_or(Decimal::ZERO, |r| r.amount);
            let items = order
                .line_items
                .iter()
                .filter_map(|line| {
                    Some(PurchasedItem {
                        product_id: line.product_id.clone()?,
                        variant_id: line.variant_id.clone(),
                        quantity: line.quantity,
                    })
                })
                .collect();
            orders.push(PaidOrder {
                id: order.id.clone(),
                placed_at: order.created_at,
                net: Money::new(
                    order.total.amount.saturating_sub(refunded).max(Decimal::ZERO),
                    order.total.currency,
                ),
                items,
            });
        }
        orders.sort_by(|a, b| a.placed_at.cmp(&b.placed_at).then_with(|| a.id.cmp(&b.id)));
        Self {
            customer: customer.clone(),
            currency,
            tz,
            orders,
            voided,
        }
    }

    /// Paid orders, oldest first.
    pub fn orders(&self) -> &[PaidOrder] {
        &self.orders
    }

    pub fn order(&self, id: &OrderId) -> Option<&PaidOrder> {
        self.orders.iter().find(|o| &o.id == id)
    }

    /// Why an order the customer once placed no longer counts, if it does not.
    pub fn void_reason(&self, id: &OrderId) -> Option<VoidReason> {
        self.voided.get(id).copied()
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The shop's time zone, which calendar years are counted in.
    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    pub fn order_count(&self) -> usize {
        self.orders.len()
    }

    pub fn first_order_at(&self) -> Option<DateTime<Utc>> {
        self.orders.first().map(|o| o.placed_at)
    }

    pub fn last_order(&self) -> Option<&PaidOrder> {
        self.orders.last()
    }

    pub fn last_order_at(&self) -> Option<DateTime<Utc>> {
        self.last_order().map(|o| o.placed_at)
    }

    /// Net lifetime spend in the shop's currency.
    pub fn net_spend(&self) -> Money {
        self.spend(self.orders.iter())
    }

    /// Net spend on orders placed in calendar `year` in the shop's zone. A later refund
    /// reduces the year of the order it refunds, not the year it happened in.
    pub fn spend_in_year(&self, year: i32) -> Money {
        self.spend(self.orders.iter().filter(|o| self.year_of(o.placed_at) == year))
    }

    /// Paid orders placed in calendar `year` in the shop's zone.
    pub fn orders_in_year(&self, year: i32) -> usize {
        self.orders
            .iter()
            .filter(|o| self.year_of(o.placed_at) == year)
            .count()
    }

    /// The calendar year an instant falls in, in the shop's zone.
    pub fn year_of(&self, at: DateTime<Utc>) -> i32 {
        at.with_timezone(&self.tz).year()
    }

    /// How long the customer took to come back the first time.
    pub fn time_to_second_order(&self) -> Option<Duration> {
        match self.orders.as_slice() {
            [first, second, ..] => Some(second.placed_at - first.placed_at),
            _ => None,
        }
    }

    /// Mean net value of the repeat orders (every order after the first), to the cent; the
    /// first order is left out because welcome offers and gift purchases skew it.
    pub fn average_order_value_after_first(&self) -> Option<Money> {
        let repeats = self.orders.get(1..).filter(|r| !r.is_empty())?;
        let total = self.spend(repeats.iter());
        let count = Decimal::from(repeats.len());
        Some(Money::new((total.amount / count).round_dp(2), total.currency))
    }

    /// Gaps between consecutive paid orders, the raw material of a shop's lapse window.
    pub fn intervals(&self) -> impl Iterator<Item = Duration> + '_ {
        self.orders.windows(2).map(|w| w[1].placed_at - w[0].placed_at)
    }

    /// Each order containing `product_id`, as (when, units), oldest first.
    pub fn purchases_of<'a>(
        &'a self,
        product_id: &'a str,
    ) -> impl Iterator<Item = (&'a PaidOrder, u32)> + 'a {
        self.orders.iter().filter_map(move |o| {
            let units = o.quantity_of(product_id);
            (units > 0).then_some((o, units))
        })
    }

    fn spend<'a>(&self, orders: impl Iterator<Item = &'a PaidOrder>) -> Money {
        let amounts = orders
            .filter(|o| o.net.currency == self.currency)
            .map(|o| o.net.amount);
        Money::new(Money::saturating_sum(amounts), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OrderStatus;
    use crate::flows::testkit::{Rng, customer, day, eur, money, paid, refund, with_status};
    use chrono::TimeZone;

    fn history(records: &[OrderRecord]) -> PurchaseHistory {
        PurchaseHistory::from_orders(&customer("7"), records, eur(), chrono_tz::Europe::Rome)
    }

    #[test]
    fn only_the_customers_paid_non_void_orders_count() {
        let records = [
            paid("3", "7", day(20), "30", &[("beans", 1)]),
            paid("1", "7", day(0), "10", &[("beans", 2)]),
            paid("x", "8", day(5), "99", &[("beans", 1)]),
            with_status(paid("p", "7", day(6), "50", &[]), OrderStatus::Pending),
            with_status(paid("c", "7", day(7), "50", &[]), OrderStatus::Cancelled),
            refund(paid("r", "7", day(8), "40", &[("mug", 1)]), "r1", "40"),
            with_status(paid("2", "7", day(10), "20", &[]), OrderStatus::Completed),
        ];
        let h = history(&records);
        let ids: Vec<&str> = h.orders().iter().map(|o| o.id.as_str()).collect();
        assert_eq!(ids, ["1", "2", "3"], "oldest first, others' and unpaid left out");
        assert_eq!(h.order_count(), 3);
        assert_eq!(h.first_order_at(), Some(day(0)));
        assert_eq!(h.last_order_at(), Some(day(20)));
        assert_eq!(h.net_spend(), money("60"));
        assert_eq!(
            h.void_reason(&OrderId::new("c").unwrap()),
            Some(VoidReason::Cancelled)
        );
        assert_eq!(
            h.void_reason(&OrderId::new("r").unwrap()),
            Some(VoidReason::Refunded)
        );
        assert_eq!(h.void_reason(&OrderId::new("p").unwrap()), None);
        assert_eq!(h.orders()[0].items[0].quantity, 2);
    }

    #[test]
    fn partial_refunds_reduce_net_spend() {
        let h = history(&[
            refund(paid("1", "7", day(0), "100", &[]), "r1", "30.50"),
            refund(refund(paid("2", "7", day(1), "20", &[]), "r2", "5"), "r3", "5"),
        ]);
        assert_eq!(h.orders()[0].net, money("69.50"));
        assert_eq!(h.net_spend(), money("79.50"));
    }

    #[test]
    fn calendar_years_follow_the_shops_zone() {
        // 23:30 UTC on Dec 31 is already New Year's Day in Rome.
        let new_year_eve_utc = Utc.with_ymd_and_hms(2026, 12, 31, 23, 30, 0).unwrap();
        let h = history(&[
            paid("1", "7", day(100), "10", &[]),
            paid("2", "7", new_year_eve_utc, "25", &[]),
            paid("3", "7", new_year_eve_utc - Duration::hours(2), "7", &[]),
        ]);
        assert_eq!(h.spend_in_year(2026), money("17"));
        assert_eq!(h.spend_in_year(2027), money("25"));
        assert_eq!(h.orders_in_year(2027), 1);
        assert_eq!(h.spend_in_year(2025), money("0"));
        let utc = PurchaseHistory::from_orders(
            &customer("7"),
            &[paid("2", "7", new_year_eve_utc, "25", &[])],
            eur(),
            Tz::UTC,
        );
        assert_eq!(utc.spend_in_year(2026), money("25"));
    }

    #[test]
    fn second_order_and_repeat_value() {
        let one = history(&[paid("1", "7", day(0), "80", &[])]);
        assert_eq!(one.time_to_second_order(), None);
        assert_eq!(one.average_order_value_after_first(), None);
        assert_eq!(one.intervals().count(), 0);
        let three = history(&[
            paid("1", "7", day(0), "80", &[]),
            paid("2", "7", day(45), "10", &[]),
            paid("3", "7", day(50), "10.01", &[]),
            paid("4", "7", day(51), "10", &[]),
        ]);
        assert_eq!(three.time_to_second_order(), Some(Duration::days(45)));
        assert_eq!(
            three.average_order_value_after_first(),
            Some(money("10.00")),
            "30.01 / 3 to the cent"
        );
        let gaps: Vec<i64> = three.intervals().map(|d| d.num_days()).collect();
        assert_eq!(gaps, [45, 5, 1]);
        assert!(history(&[]).average_order_value_after_first().is_none());
    }

    #[test]
    fn orders_in_another_currency_count_but_do_not_spend() {
        let mut usd = paid("2", "7", day(3), "50", &[]);
        if let Some(order) = usd.snapshot.as_mut() {
            order.total = Money::parse("50", Currency::new("USD").unwrap()).unwrap();
        }
        let h = history(&[paid("1", "7", day(0), "10", &[]), usd]);
        assert_eq!(h.order_count(), 2);
        assert_eq!(h.net_spend(), money("10"));
    }

    #[test]
    fn purchases_of_a_product_sum_its_lines() {
        let h = history(&[
            paid("1", "7", day(0), "10", &[("beans", 1), ("mug", 1), ("beans", 2)]),
            paid("2", "7", day(9), "10", &[("mug", 1)]),
        ]);
        let beans: Vec<(&str, u32)> = h.purchases_of("beans").map(|(o, q)| (o.id.as_str(), q)).collect();
        assert_eq!(beans, [("1", 3)]);
        assert_eq!(h.purchases_of("mug").count(), 2);
    }

    #[test]
    fn generated_histories_add_up() {
        let mut rng = Rng::new(7);
        for _ in 0..50 {
            let n = rng.between(0, 12);
            let mut at = day(rng.between(-400, 0));
            let mut records = Vec::new();
            let mut expected_cents = 0i64;
            let mut expected_times = Vec::new();
            for i in 0..n {
                at += Duration::hours(rng.between(1, 24 * 120));
                let cents = rng.between(0, 50_000);
                let refunded = if rng.between(0, 3) == 0 {
                    rng.between(0, cents)
                } else {
                    0
                };
                let total = Decimal::new(cents, 2).to_string();
                let mut record = paid(&format!("o{i}"), "7", at, &total, &[]);
                if refunded > 0 {
                    record = refund(record, "r", &Decimal::new(refunded, 2).to_string());
                }
                if refunded == cents && cents > 0 {
                    continue; // fully refunded: void
                }
                expected_cents += cents - refunded;
                expected_times.push(at);
                records.push(record);
            }
            records.reverse();
            let h = history(&records);
            assert_eq!(h.order_count(), expected_times.len());
            assert_eq!(h.net_spend(), Money::new(Decimal::new(expected_cents, 2), eur()));
            let by_year: Decimal = (2024..=2028).map(|y| h.spend_in_year(y).amount).sum();
            assert_eq!(by_year, h.net_spend().amount, "the years partition the lifetime");
            assert_eq!(h.first_order_at(), expected_times.first().copied());
            assert_eq!(h.last_order_at(), expected_times.last().copied());
            let gaps: Duration = h.intervals().sum();
            if let (Some(first), Some(last)) = (expected_times.first(), expected_times.last()) {
                assert_eq!(gaps, *last - *first);
            }
        }
    }
}
