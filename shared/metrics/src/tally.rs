//! A tally is a bag of named exact numbers (`orders`, `revenue#EUR`, `flow#win-back#sent`).
//! Every rollup is a sum of per-customer tallies, one per UTC day, so a customer's change is
//! applied as the difference between their new and their old tally: adding and subtracting
//! is all the counters ever do, which is why a rebuild from scratch gives the same numbers.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Named exact numbers; a name that is absent is zero.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Tally(pub BTreeMap<String, Decimal>);

impl Tally {
    pub fn add(&mut self, name: impl Into<String>, amount: Decimal) {
        if amount.is_zero() {
            return;
        }
        let name = name.into();
        let slot = self.0.entry(name.clone()).or_default();
        *slot += amount;
        if slot.is_zero() {
            self.0.remove(&name);
        }
    }

    pub fn count(&mut self, name: impl Into<String>) {
        self.add(name, Decimal::ONE);
    }

    pub fn get(&self, name: &str) -> Decimal {
        self.0.get(name).copied().unwrap_or_default()
    }

    /// The counts under `prefix`, by the rest of their name.
    pub fn under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, Decimal)> + 'a {
        self.0
            .range(prefix.to_string()..)
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(move |(k, v)| (&k[prefix.len()..], *v))
    }

    pub fn merge(&mut self, other: &Tally) {
        for (name, amount) in &other.0 {
            self.add(name.clone(), *amount);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What one customer adds to the rollups: a tally per UTC day.
pub type Contribution = BTreeMap<NaiveDate, Tally>;

/// `new - old`, day by day, without the days that did not change.
pub fn difference(old: &Contribution, new: &Contribution) -> Contribution {
    let mut diff = Contribution::new();
    for (day, tally) in new {
        diff.entry(*day).or_default().merge(tally);
    }
    for (day, tally) in old {
        let slot = diff.entry(*day).or_default();
        for (name, amount) in &tally.0 {
            slot.add(name.clone(), -*amount);
        }
    }
    diff.retain(|_, t| !t.is_empty());
    diff
}

/// Adds `more` into `into`, day by day.
pub fn accumulate(into: &mut Contribution, more: &Contribution) {
    for (day, tally) in more {
        into.entry(*day).or_default().merge(tally);
    }
    into.retain(|_, t| !t.is_empty());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
    }

    #[test]
    fn applying_the_difference_turns_old_into_new() {
        let mut old = Contribution::new();
        old.entry(day(1)).or_default().count("orders");
        old.entry(day(2))
            .or_default()
            .add("revenue#EUR", Decimal::new(1250, 2));
        let mut new = Contribution::new();
        new.entry(day(1)).or_default().count("orders");
        new.entry(day(3))
            .or_default()
            .add("revenue#EUR", Decimal::new(990, 2));
        let diff = difference(&old, &new);
        assert!(!diff.contains_key(&day(1)), "unchanged days are not rewritten");
        let mut rolled = old.clone();
        accumulate(&mut rolled, &diff);
        assert_eq!(rolled, new);
    }

    #[test]
    fn names_under_a_prefix_come_back_without_it() {
        let mut t = Tally::default();
        t.count("flow#vip#skipped#refunded");
        t.count("flow#vip#skipped#unsubscribed");
        t.count("flow#vip#sent");
        let reasons: Vec<_> = t.under("flow#vip#skipped#").map(|(k, _)| k).collect();
        assert_eq!(reasons, ["refunded", "unsubscribed"]);
    }
}
