//! The names counted in the rollups, in one place so the folding side and the reading side
//! agree. Money names end in `#{currency}`: figures in different currencies are never added.

use aftersale_domain::{Currency, Flow};

pub const CUSTOMERS: &str = "customers";
pub const REPEAT_CUSTOMERS: &str = "repeat_customers";
pub const ORDERS: &str = "orders";
pub const PAID_ORDERS: &str = "paid_orders";
pub const REFUNDED_ORDERS: &str = "refunded_orders";
/// Seconds between a customer's first and second order, as a multiset: `gap_s#{seconds}`.
pub const GAP_PREFIX: &str = "gap_s#";
/// Month of the second order counted from the first's month (0 = same month): `reorder_m#{k}`.
pub const REORDER_PREFIX: &str = "reorder_m#";
pub const RATINGS: &str = "ratings";
pub const NPS_ANSWERS: &str = "nps_answers";
pub const NPS_PROMOTERS: &str = "nps_promoters";
pub const NPS_DETRACTORS: &str = "nps_detractors";
pub const CSAT_ANSWERS: &str = "csat_answers";
pub const CSAT_SATISFIED: &str = "csat_satisfied";

/// Loyalty points, signed: what was credited (`earn`, `bonus`), spent net of what was given
/// back, lapsed, taken back by refunds, and adjusted by hand.
pub const POINTS_ISSUED: &str = "points#issued";
pub const POINTS_REDEEMED: &str = "points#redeemed";
pub const POINTS_EXPIRED: &str = "points#expired";
pub const POINTS_CLAWED_BACK: &str = "points#clawed_back";
pub const POINTS_ADJUSTED: &str = "points#adjusted";
/// How each day moved the customers' balances: summed up to a day, what is outstanding then.
pub const POINTS_AVAILABLE: &str = "points#available";
pub const POINTS_PENDING: &str = "points#pending";

pub fn revenue(c: Currency) -> String {
    format!("revenue#{c}")
}
pub fn first_orders(c: Currency) -> String {
    format!("first_orders#{c}")
}
pub fn first_net(c: Currency) -> String {
    format!("first_net#{c}")
}
pub fn repeat_orders(c: Currency) -> String {
    format!("repeat_orders#{c}")
}
pub fn repeat_net(c: Currency) -> String {
    format!("repeat_net#{c}")
}
/// Customers whose first order was in `c`: the LTV denominators.
pub fn ltv_customers(c: Currency) -> String {
    format!("ltv_customers#{c}")
}
/// Net revenue in `c` within `days` of the customer's first order.
pub fn ltv(days: i64, c: Currency) -> String {
    format!("ltv{days}#{c}")
}
pub fn gap(seconds: i64) -> String {
    format!("{GAP_PREFIX}{seconds}")
}
pub fn reorder_month(k: i64) -> String {
    format!("{REORDER_PREFIX}{k}")
}

/// A flow's counter: `flow#{flow}#{what}`.
pub fn flow(flow: Flow, what: &str) -> String {
    format!("flow#{flow}#{what}")
}
pub fn flow_skipped_prefix(f: Flow) -> String {
    flow(f, "skipped#")
}
pub fn flow_money(f: Flow, what: &str, c: Currency) -> String {
    format!("flow#{f}#{what}#{c}")
}
