//! The flows that bring the second, third and tenth order: replenishment, win-back, VIP tiers
//! and early access. Everything is planned from a customer's purchase history
//! ([`history::PurchaseHistory`]: paid orders, net of refunds) and the clock, so the same
//! history always yields the same plans and a plan can be re-checked against the newer history
//! when it falls due. Each flow has its own module (`plan_*`, `still_due`, its config), used by
//! path: `lifecycle::winback::still_due`.

mod calendar;
pub mod early_access;
pub mod history;
pub mod referral;
pub mod replenishment;
mod stats;
#[cfg(test)]
mod testkit;
pub mod vip;
pub mod winback;

pub use calendar::SEND_TIME;
