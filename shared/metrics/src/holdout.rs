//! Who is held out: a pure hash of shop, flow and customer, so a customer's group never
//! changes across redeliveries, restarts or machines, and nothing but the message's
//! `held_out` status is stored.

use aftersale_domain::{CustomerId, Flow, ShopId};
use sha2::{Digest, Sha256};

/// The default share held out: 5% where a flow sells (replenishment, win-back, checkout
/// recovery) and lift is the question; none on the messages about an order.
pub fn default_holdout_percent(flow: Flow) -> u8 {
    match flow {
        Flow::Replenishment | Flow::WinBack | Flow::CheckoutRecovery => 5,
        _ => 0,
    }
}

/// Whether `customer` is in `flow`'s control group at `percent`% (0 to 100).
pub fn is_held_out(shop: &ShopId, flow: Flow, customer: &CustomerId, percent: u8) -> bool {
    if percent == 0 {
        return false;
    }
    let digest = Sha256::digest(format!("{shop}\n{flow}\n{customer}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    // 10 000 buckets, so the split is exact to a hundredth of a percent.
    u64::from_be_bytes(first) % 10_000 < u64::from(percent.min(100)) * 100
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_five_percent_of_ten_thousand_customers_are_held_out_and_always_the_same_ones() {
        let shop = ShopId::new("demo.myshopify.com").unwrap();
        let ids: Vec<CustomerId> = (0..10_000)
            .map(|i| CustomerId::new(format!("c{i}")).unwrap())
            .collect();
        let held: Vec<&CustomerId> = ids
            .iter()
            .filter(|c| is_held_out(&shop, Flow::WinBack, c, 5))
            .collect();
        // Binomial(10 000, 0.05): sd ≈ 21.8, so ±100 is over four sigma.
        assert!((400..=600).contains(&held.len()), "{} held out", held.len());
        let again: Vec<&CustomerId> = ids
            .iter()
            .filter(|c| is_held_out(&shop, Flow::WinBack, c, 5))
            .collect();
        assert_eq!(held, again, "stable");
        let other_flow = ids
            .iter()
            .filter(|c| is_held_out(&shop, Flow::Replenishment, c, 5))
            .collect::<Vec<_>>();
        assert_ne!(held, other_flow, "each flow has its own control group");
        assert!(!ids.iter().any(|c| is_held_out(&shop, Flow::WinBack, c, 0)));
        assert!(ids.iter().all(|c| is_held_out(&shop, Flow::WinBack, c, 100)));
    }

    #[test]
    fn defaults_hold_out_only_the_selling_schedules() {
        assert_eq!(default_holdout_percent(Flow::WinBack), 5);
        assert_eq!(default_holdout_percent(Flow::Replenishment), 5);
        assert_eq!(default_holdout_percent(Flow::ThankYou), 0);
        assert_eq!(default_holdout_percent(Flow::Vip), 0);
    }
}
