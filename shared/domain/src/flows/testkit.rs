//! Order histories for the lifecycle tests: terse builders and a seeded generator, so a test
//! states only what matters to it and generated histories are the same on every run.

use crate::{
    Currency, Customer, CustomerId, FulfillmentStatus, LineItem, Money, Order, OrderId, OrderRecord,
    OrderStatus, Refund,
};
use chrono::{DateTime, Duration, TimeZone, Utc};

pub fn eur() -> Currency {
    Currency::new("EUR").unwrap()
}

pub fn money(amount: &str) -> Money {
    Money::parse(amount, eur()).unwrap()
}

pub fn customer(id: &str) -> CustomerId {
    CustomerId::new(id).unwrap()
}

/// Noon UTC on a day of 2026 counted from Jan 1 (day 0); negative or large days are fine.
pub fn day(n: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap() + Duration::days(n)
}

/// One of `product` (SKU `sku`) at `price` euros.
pub fn line(id: &str, product: &str, sku: &str, price: &str) -> LineItem {
    LineItem {
        id: id.into(),
        product_id: Some(product.into()),
        variant_id: None,
        sku: Some(sku.into()),
        title: format!("Product {product}"),
        quantity: 1,
        price: money(price),
    }
}

/// Order #1001 of customer 7, placed at `at` with these lines and this fulfilment, totalling 10.
pub fn order_with_lines(
    items: Vec<LineItem>,
    fulfillment: FulfillmentStatus,
    at: DateTime<Utc>,
) -> OrderRecord {
    let mut record = OrderRecord::new(OrderId::new("1001").unwrap());
    record.snapshot = Some(Order {
        id: OrderId::new("1001").unwrap(),
        name: Some("#1001".into()),
        customer: Customer::bare(customer("7")),
        created_at: at,
        updated_at: at,
        status: OrderStatus::Processing,
        fulfillment,
        line_items: items,
        subtotal: money("0"),
        total: money("10"),
        total_discounts: money("0"),
        discount_codes: vec![],
        refunds: vec![],
        shipping_country: None,
        shipping_address: None,
        client_ip: None,
        checkout_token: None,
        cart_token: None,
    });
    record
}

/// A paid order of `customer` placed at `at`, one line per `(product, quantity)`.
pub fn paid(
    id: &str,
    customer_id: &str,
    at: DateTime<Utc>,
    total: &str,
    items: &[(&str, u32)],
) -> OrderRecord {
    let line_items = items
        .iter()
        .enumerate()
        .map(|(i, (product, quantity))| LineItem {
            id: format!("{id}-{i}"),
            product_id: Some((*product).into()),
            variant_id: None,
            sku: None,
            title: format!("Product {product}"),
            quantity: *quantity,
            price: money("10"),
        })
        .collect();
    let mut record = OrderRecord::new(OrderId::new(id).unwrap());
    record.snapshot = Some(Order {
        id: OrderId::new(id).unwrap(),
        name: Some(format!("#{id}")),
        customer: Customer::bare(customer(customer_id)),
        created_at: at,
        updated_at: at,
        status: OrderStatus::Processing,
        fulfillment: FulfillmentStatus::Unfulfilled,
        line_items,
        subtotal: money(total),
        total: money(total),
        total_discounts: money("0"),
        discount_codes: vec![],
        refunds: vec![],
        shipping_country: None,
        shipping_address: None,
        client_ip: None,
        checkout_token: None,
        cart_token: None,
    });
    record
}

/// Adds a refund of `amount` to the record, as a refund webhook would.
pub fn refund(mut record: OrderRecord, id: &str, amount: &str) -> OrderRecord {
    let at = record.snapshot.as_ref().map_or(day(0), |o| o.created_at) + Duration::days(1);
    record.refunds.push(Refund {
        id: id.into(),
        created_at: at,
        amount: money(amount),
        reason: None,
    });
    record
}

/// Sets the snapshot's status (pending, cancelled...).
pub fn with_status(mut record: OrderRecord, status: OrderStatus) -> OrderRecord {
    if let Some(order) = record.snapshot.as_mut() {
        order.status = status;
    }
    record
}

/// A small deterministic generator (SplitMix64), so generated histories need no extra crate
/// and are identical on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `low..=high`.
    pub fn between(&mut self, low: i64, high: i64) -> i64 {
        let span = (high - low + 1) as u64;
        low + (self.next() % span) as i64
    }
}
