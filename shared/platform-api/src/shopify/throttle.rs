//! Shopify's cost-based rate limit on the GraphQL Admin API. Every answer carries
//! `extensions.cost`: the query's `requestedQueryCost` and the shop's bucket,
//! `throttleStatus { maximumAvailable currentlyAvailable restoreRate }`, which refills at
//! `restoreRate` points a second. [`Budget`] remembers the last answer, so the next call
//! waits until the bucket holds what the last one cost instead of being refused, and a
//! `THROTTLED` refusal waits exactly as long as the bucket needs.

use serde_json::Value;
use std::time::{Duration, Instant};

/// What to assume a call costs before any answer said (a small query is 1-10 points).
const FIRST_COST: f64 = 10.0;
/// Never wait longer than this at once; a bucket refills in well under a minute.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// `extensions.cost` of one answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    pub requested: f64,
    pub maximum_available: f64,
    pub currently_available: f64,
    pub restore_rate: f64,
}

impl Cost {
    /// Reads `extensions.cost` of a GraphQL answer, if it has one.
    pub fn of(answer: &Value) -> Option<Cost> {
        let cost = answer.pointer("/extensions/cost")?;
        let status = cost.get("throttleStatus")?;
        let number = |v: Option<&Value>| v.and_then(Value::as_f64);
        Some(Cost {
            requested: number(cost.get("requestedQueryCost")).unwrap_or(FIRST_COST),
            maximum_available: number(status.get("maximumAvailable"))?,
            currently_available: number(status.get("currentlyAvailable"))?,
            restore_rate: number(status.get("restoreRate")).filter(|r| *r > 0.0)?,
        })
    }
}

/// The bucket as last seen, and when.
#[derive(Debug, Default)]
pub struct Budget {
    last: Option<(Cost, Instant)>,
}

impl Budget {
    pub fn record(&mut self, cost: Cost) {
        self.last = Some((cost, Instant::now()));
    }

    /// How long to wait before a call like the last one fits in the bucket.
    pub fn wait_before_call(&self) -> Duration {
        match self.last {
            Some((cost, at)) => wait_for(cost, cost.requested, at.elapsed()),
            None => Duration::ZERO,
        }
    }
}

/// How long until `needed` points are available, `elapsed` after `cost` was reported.
pub fn wait_for(cost: Cost, needed: f64, elapsed: Duration) -> Duration {
    let needed = needed.min(cost.maximum_available);
    let now_available =
        (cost.currently_available + cost.restore_rate * elapsed.as_secs_f64()).min(cost.maximum_available);
    if now_available >= needed {
        return Duration::ZERO;
    }
    Duration::from_secs_f64((needed - now_available) / cost.restore_rate).min(MAX_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(available: f64) -> Value {
        json!({"data": {}, "extensions": {"cost": {"requestedQueryCost": 52, "actualQueryCost": 12,
            "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": available, "restoreRate": 100.0}}}})
    }

    #[test]
    fn a_full_bucket_needs_no_wait_and_an_empty_one_waits_for_the_refill() {
        let full = Cost::of(&answer(1950.0)).unwrap();
        assert_eq!(wait_for(full, full.requested, Duration::ZERO), Duration::ZERO);
        let empty = Cost::of(&answer(2.0)).unwrap();
        // 50 points missing at 100 a second.
        assert_eq!(
            wait_for(empty, empty.requested, Duration::ZERO),
            Duration::from_millis(500)
        );
        // Part of it has refilled already.
        assert_eq!(
            wait_for(empty, empty.requested, Duration::from_millis(300)),
            Duration::from_millis(200)
        );
        let mut budget = Budget::default();
        assert_eq!(budget.wait_before_call(), Duration::ZERO);
        budget.record(empty);
        assert!(budget.wait_before_call() > Duration::from_millis(400));
    }

    #[test]
    fn an_answer_without_cost_is_no_budget() {
        assert_eq!(Cost::of(&json!({"data": {}})), None);
    }
}
