//! Cross-sell, learned: "Customers who loved X often add Y", from what this shop's own
//! customers buy together (the same order) or in sequence (a later order of the same
//! customer), never from a generic catalogue.
//!
//! Learning is a pure fold over the shop's counted orders ([`Learner`]): every customer's
//! orders are added once, and [`Learner::finish`] gives, per product, the complements whose
//! association clears the shop's minimums. The engine runs it on a schedule (at most daily per
//! shop) and stores the result; a message picks its complement from that result when it falls
//! due ([`choose`]). Nothing here sees a customer id: the counts are all that is kept.
//!
//! The measures, for a product X and a complement Y:
//! - **together**: over counted orders. `support = orders with X and Y / orders`,
//!   `confidence = orders with X and Y / orders with X`, `lift = confidence / (orders with Y /
//!   orders)`. Lift is symmetric: X with Y is as surprising as Y with X.
//! - **in sequence**: over customers with a counted order. A customer counts for X → Y when
//!   they bought Y in an order placed after one with X. `support = such customers /
//!   customers`, `confidence = such customers / customers who bought X`, `lift = confidence /
//!   (customers who bought Y / customers)`. Not symmetric: film then camera is not camera then
//!   film.
//!
//! A pair is kept only when at least `min_orders` orders (together) or customers (in
//! sequence) show it, and its confidence and lift reach the shop's minimums: two orders prove
//! nothing, and a lift at or below 1 is no association at all.

use super::payload::{DiscountProgress, instant, text};
use super::schedule::{SEND_TIME, at_local};
use super::step::steps;
use super::{FlowRules, FlowStep};
use crate::{ConfigError, LocalisedText, OrderId, OrderRecord, ShopConfig};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Fewer orders than this never make a pair, whatever the config says.
pub const MIN_ORDERS_FLOOR: u32 = 3;
/// Complements kept per product and kind: a message names one, the CLI shows the best few.
pub const MAX_COMPLEMENTS_PER_PRODUCT: usize = 10;

/// A complement the merchant chose: it wins over anything learned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfiguredComplement {
    pub product_id: String,
    pub suggest: String,
    /// What the message calls it, in one language or per locale.
    pub title: LocalisedText,
    /// Where it links; unset: `product_url` with the suggested product.
    #[serde(default)]
    pub url: Option<String>,
}

/// `[flows.cross_sell]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrossSellConfig {
    /// Off until the merchant turns it on: it is a new marketing message to every buyer.
    pub enabled: bool,
    /// Days after a counted order the suggestion goes (1 to 365).
    pub delay_days: u32,
    /// Orders (bought together) or customers (bought in sequence) that must show a pair
    /// before it is learned; at least 3.
    pub min_orders: u32,
    /// Smallest confidence (0 to 1) a learned pair needs.
    pub min_confidence: Decimal,
    /// Smallest lift a learned pair needs (above 1: more often than chance).
    pub min_lift: Decimal,
    /// The merchant's own pairs, which win over learned ones.
    pub complements: Vec<ConfiguredComplement>,
    /// The link to a suggested product. Placeholders: `{shop}`, `{product_id}`,
    /// `{variant_id}`. The default is Shopify's cart permalink; WooCommerce shops use
    /// `https://example.com/?add-to-cart={product_id}`.
    pub product_url: String,
    /// Percent off with a real single-use code in the message ("add it with 10% off"); none
    /// by default.
    pub discount_percent: Option<Decimal>,
    /// Percent of customers held out as the control group (0 to 100); unset: 0.
    pub holdout_percent: Option<u8>,
    /// Days after a send in which a counted order is its conversion (1 to 365); unset: 14.
    pub attribution_days: Option<u32>,
}

impl Default for CrossSellConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            delay_days: 30,
            min_orders: 5,
            min_confidence: Decimal::new(5, 2),
            min_lift: Decimal::new(12, 1),
            complements: Vec::new(),
            product_url: "https://{shop}/cart/{variant_id}:1".into(),
            discount_percent: None,
            holdout_percent: None,
            attribution_days: None,
        }
    }
}

impl CrossSellConfig {
    /// The checks TOML types cannot express, naming the field at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, problem: String| ConfigError::Invalid { field, problem };
        if !(1..=365).contains(&self.delay_days) {
            return Err(invalid(
                "flows.cross_sell.delay_days",
                "must be between 1 and 365".into(),
            ));
        }
        if self.min_orders < MIN_ORDERS_FLOOR {
            return Err(invalid(
                "flows.cross_sell.min_orders",
                format!("must be at least {MIN_ORDERS_FLOOR}: two orders prove nothing"),
            ));
        }
        if self.min_confidence < Decimal::ZERO || self.min_confidence > Decimal::ONE {
            return Err(invalid(
                "flows.cross_sell.min_confidence",
                "must be between 0 and 1 (e.g. \"0.05\")".into(),
            ));
        }
        if self.min_lift <= Decimal::ONE || self.min_lift > Decimal::ONE_HUNDRED {
            return Err(invalid(
                "flows.cross_sell.min_lift",
                "must be above 1 (no more often than chance is no association) and at most 100".into(),
            ));
        }
        if !(self.product_url.starts_with("https://") || self.product_url.starts_with("http://")) {
            return Err(invalid(
                "flows.cross_sell.product_url",
                "must start with https:// or http://".into(),
            ));
        }
        if let Some(p) = self.discount_percent
            && (p <= Decimal::ZERO || p > Decimal::ONE_HUNDRED)
        {
            return Err(invalid(
                "flows.cross_sell.discount_percent",
                "must be above 0 and at most 100".into(),
            ));
        }
        for (i, c) in self.complements.iter().enumerate() {
            if c.product_id.trim().is_empty() || c.suggest.trim().is_empty() {
                return Err(invalid(
                    "flows.cross_sell.complements",
                    format!("entry {}: product_id and suggest must not be empty", i + 1),
                ));
            }
            if c.product_id == c.suggest {
                return Err(invalid(
                    "flows.cross_sell.complements",
                    format!("product '{}' cannot complement itself", c.product_id),
                ));
            }
            c.title.validate("flows.cross_sell.complements.title")?;
            if let Some(url) = &c.url
                && !(url.starts_with("https://") || url.starts_with("http://"))
            {
                return Err(invalid(
                    "flows.cross_sell.complements.url",
                    format!("product '{}': must start with https:// or http://", c.suggest),
                ));
            }
        }
        Ok(())
    }

    /// What a learned pair must reach.
    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            min_orders: self.min_orders.max(MIN_ORDERS_FLOOR),
            min_confidence: self.min_confidence,
            min_lift: self.min_lift,
        }
    }

    /// The link to a product, placeholders filled.
    pub fn product_url_for(&self, shop: &str, product_id: &str, variant_id: Option<&str>) -> String {
        self.product_url
            .replace("{shop}", shop)
            .replace("{product_id}", product_id)
            .replace("{variant_id}", variant_id.unwrap_or(product_id))
    }
}

/// What a learned pair must reach (from [`CrossSellConfig::thresholds`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thresholds {
    pub min_orders: u32,
    pub min_confidence: Decimal,
    pub min_lift: Decimal,
}

/// Whether an order counts, as the metrics define it (README, "Definitions"): paid (the
/// platform says paid, or it was refunded), and not cancelled, deleted, failed or refunded in
/// full.
pub fn counts(record: &OrderRecord) -> bool {
    let Some(order) = record.snapshot.as_ref() else {
        return false;
    };
    let any_refund = record.refunded().is_some_and(|m| m.amount > Decimal::ZERO);
    !record.is_void() && (order.status.is_paid() || any_refund)
}

/// How a pair was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairKind {
    /// In the same order.
    Together,
    /// The complement in a later order of the same customer.
    InSequence,
}

impl PairKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PairKind::Together => "together",
            PairKind::InSequence => "in_sequence",
        }
    }
}

/// A product as the shop's latest order line names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductInfo {
    pub title: String,
    pub variant_id: Option<String>,
}

/// One learned association X → Y, as counts; the measures are computed from them, exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pair {
    pub complement_id: String,
    pub complement: ProductInfo,
    pub kind: PairKind,
    /// Orders with both (together), or customers with X then Y (in sequence).
    pub both: u64,
    /// Orders (or customers) with X.
    pub with_product: u64,
    /// Orders (or customers) with Y.
    pub with_complement: u64,
    /// Every counted order (together) or customer with one (in sequence).
    pub base: u64,
}

impl Pair {
    /// Share of all orders (or customers) that show the pair.
    pub fn support(&self) -> Decimal {
        ratio(self.both, self.base)
    }

    /// Share of those with X that also show Y: from 0 to 1.
    pub fn confidence(&self) -> Decimal {
        ratio(self.both, self.with_product)
    }

    /// How much more often than chance: `both × base / (with X × with Y)`. Above 1 is an
    /// association.
    pub fn lift(&self) -> Decimal {
        let numerator = Decimal::from(self.both).checked_mul(Decimal::from(self.base));
        let denominator = Decimal::from(self.with_product).checked_mul(Decimal::from(self.with_complement));
        match (numerator, denominator) {
            (Some(n), Some(d)) if !d.is_zero() => n.checked_div(d).unwrap_or(Decimal::MAX),
            _ => Decimal::ZERO,
        }
    }

    /// The better suggestion first: higher lift, then confidence, then more evidence, then
    /// the complement's id, so the order never depends on the input's.
    pub fn rank(&self, other: &Pair) -> Ordering {
        other
            .lift()
            .cmp(&self.lift())
            .then_with(|| other.confidence().cmp(&self.confidence()))
            .then_with(|| other.both.cmp(&self.both))
            .then_with(|| self.complement_id.cmp(&other.complement_id))
            .then_with(|| self.kind.cmp(&other.kind))
    }

    fn clears(&self, t: &Thresholds) -> bool {
        self.both >= u64::from(t.min_orders)
            && self.confidence() >= t.min_confidence
            && self.lift() >= t.min_lift
    }
}

fn ratio(part: u64, whole: u64) -> Decimal {
    if whole == 0 {
        return Decimal::ZERO;
    }
    Decimal::from(part) / Decimal::from(whole)
}

/// One product's learned complements, best first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductPairs {
    pub product_id: String,
    pub product: ProductInfo,
    pub pairs: Vec<Pair>,
}

/// What a learning run found, product by product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Learned {
    /// Counted orders seen.
    pub orders: u64,
    /// Customers with at least one counted order.
    pub customers: u64,
    pub thresholds: Thresholds,
    /// Products with at least one complement, by product id.
    pub products: Vec<ProductPairs>,
}

/// The fold behind [`Learned`]: add each customer's order records once, then
/// [`Learner::finish`]. Products are interned, so memory grows with the catalogue and the
/// pairs seen, not with the orders.
#[derive(Debug, Default)]
pub struct Learner {
    ids: Vec<String>,
    index: HashMap<String, u32>,
    info: Vec<(DateTime<Utc>, ProductInfo)>,
    orders: u64,
    customers: u64,
    orders_with: Vec<u64>,
    customers_with: Vec<u64>,
    together: HashMap<(u32, u32), u64>,
    in_sequence: HashMap<(u32, u32), u64>,
}

impl Learner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one customer's order records (all of theirs, exactly once; uncounted ones are
    /// left out here). Records of several customers would blur "in sequence".
    pub fn add_customer<'a>(&mut self, records: impl IntoIterator<Item = &'a OrderRecord>) {
        // Each counted order as (placed at, its products).
        let mut baskets: Vec<(DateTime<Utc>, BTreeSet<u32>)> = Vec::new();
        for record in records {
            if !counts(record) {
                continue;
            }
            let Some(order) = record.snapshot.as_ref() else {
                continue;
            };
            let mut products = BTreeSet::new();
            for line in &order.line_items {
                let Some(product) = line.product_id.as_deref().filter(|p| !p.is_empty()) else {
                    continue;
                };
                let id = self.intern(product);
                products.insert(id);
                let seen = &mut self.info[id as usize];
                // The newest line names the product; a tie goes to the greater title, so the
                // result never depends on the order records come in.
                if (order.created_at, line.title.as_str()) >= (seen.0, seen.1.title.as_str()) {
                    *seen = (
                        order.created_at,
                        ProductInfo {
                            title: line.title.clone(),
                            variant_id: line.variant_id.clone(),
                        },
                    );
                }
            }
            self.orders += 1;
            for &a in &products {
                self.orders_with[a as usize] += 1;
                for &b in &products {
                    if a != b {
                        *self.together.entry((a, b)).or_default() += 1;
                    }
                }
            }
            baskets.push((order.created_at, products));
        }
        if baskets.is_empty() {
            return;
        }
        self.customers += 1;
        // X → Y when some order with Y is placed after some order with X: the first time X
        // was bought is before the last time Y was.
        let mut first: BTreeMap<u32, DateTime<Utc>> = BTreeMap::new();
        let mut last: BTreeMap<u32, DateTime<Utc>> = BTreeMap::new();
        for (at, products) in &baskets {
            for &p in products {
                first.entry(p).and_modify(|t| *t = (*t).min(*at)).or_insert(*at);
                last.entry(p).and_modify(|t| *t = (*t).max(*at)).or_insert(*at);
            }
        }
        for (&a, first_a) in &first {
            self.customers_with[a as usize] += 1;
            for (&b, last_b) in &last {
                if a != b && first_a < last_b {
                    *self.in_sequence.entry((a, b)).or_default() += 1;
                }
            }
        }
    }

    fn intern(&mut self, product: &str) -> u32 {
        if let Some(&id) = self.index.get(product) {
            return id;
        }
        let id = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        self.ids.push(product.to_owned());
        self.index.insert(product.to_owned(), id);
        self.info.push((
            DateTime::<Utc>::MIN_UTC,
            ProductInfo {
                title: product.to_owned(),
                variant_id: None,
            },
        ));
        self.orders_with.push(0);
        self.customers_with.push(0);
        id
    }

    /// The pairs that clear `thresholds`, the best [`MAX_COMPLEMENTS_PER_PRODUCT`] of each kind
    /// per product, best first.
    pub fn finish(self, thresholds: Thresholds) -> Learned {
        let mut by_product: BTreeMap<u32, Vec<Pair>> = BTreeMap::new();
        let kinds = [
            (PairKind::Together, &self.together, &self.orders_with, self.orders),
            (
                PairKind::InSequence,
                &self.in_sequence,
                &self.customers_with,
                self.customers,
            ),
        ];
        for (kind, counts, with, base) in kinds {
            let mut per_product: BTreeMap<u32, Vec<Pair>> = BTreeMap::new();
            for (&(a, b), &both) in counts {
                if both < u64::from(thresholds.min_orders) {
                    continue;
                }
                let pair = Pair {
                    complement_id: self.ids[b as usize].clone(),
                    complement: self.info[b as usize].1.clone(),
                    kind,
                    both,
                    with_product: with[a as usize],
                    with_complement: with[b as usize],
                    base,
                };
                if pair.clears(&thresholds) {
                    per_product.entry(a).or_default().push(pair);
                }
            }
            for (a, mut pairs) in per_product {
                pairs.sort_by(Pair::rank);
                pairs.truncate(MAX_COMPLEMENTS_PER_PRODUCT);
                by_product.entry(a).or_default().extend(pairs);
            }
        }
        let mut products: Vec<ProductPairs> = by_product
            .into_iter()
            .map(|(a, mut pairs)| {
                pairs.sort_by(Pair::rank);
                ProductPairs {
                    product_id: self.ids[a as usize].clone(),
                    product: self.info[a as usize].1.clone(),
                    pairs,
                }
            })
            .collect();
        products.sort_by(|x, y| x.product_id.cmp(&y.product_id));
        Learned {
            orders: self.orders,
            customers: self.customers,
            thresholds,
            products,
        }
    }
}

/// Where a suggestion came from, for the outbox and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuggestionSource {
    Configured,
    Learned(Pair),
}

/// The complement a message names, and the product it follows from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    pub product_id: String,
    pub complement_id: String,
    pub source: SuggestionSource,
}

/// The best complement for an order's products that the customer does not own yet: the
/// merchant's configured pairs first (in the order written), then the learned ones, best
/// [`Pair::rank`] first over all the order's products. `owned`: every product the customer
/// has ever ordered, so a returned or pending one is not suggested either. `None`: nothing
/// left to suggest.
pub fn choose(
    order_products: &[String],
    owned: &BTreeSet<String>,
    config: &CrossSellConfig,
    learned: &[ProductPairs],
) -> Option<Suggestion> {
    let configured = config
        .complements
        .iter()
        .find(|c| order_products.contains(&c.product_id) && !owned.contains(&c.suggest));
    if let Some(c) = configured {
        return Some(Suggestion {
            product_id: c.product_id.clone(),
            complement_id: c.suggest.clone(),
            source: SuggestionSource::Configured,
        });
    }
    learned
        .iter()
        .filter(|p| order_products.contains(&p.product_id))
        .flat_map(|p| p.pairs.iter().map(move |pair| (p, pair)))
        .filter(|(_, pair)| !owned.contains(&pair.complement_id))
        .min_by(|(x, a), (y, b)| a.rank(b).then_with(|| x.product_id.cmp(&y.product_id)))
        .map(|(p, pair)| Suggestion {
            product_id: p.product_id.clone(),
            complement_id: pair.complement_id.clone(),
            source: SuggestionSource::Learned(pair.clone()),
        })
}

steps! {
    /// "Customers who loved X often add Y", `delay_days` after a counted order.
    Suggest => "suggest",
}

/// When the suggestion for an order placed at `placed_at` goes: `delay_days` later, at the
/// morning send time in the shop's zone (quiet hours and caps still apply when it falls due).
pub fn due_at(placed_at: DateTime<Utc>, config: &CrossSellConfig, tz: Tz) -> DateTime<Utc> {
    let day = (placed_at + Duration::days(config.delay_days.into()))
        .with_timezone(&tz)
        .date_naive();
    at_local(day, SEND_TIME, tz)
}

/// What a suggestion carries. Planned with the order it follows (and its code, if the shop
/// gives one); the product, the complement and why it was chosen are filled in when it falls
/// due, from the pairs learned by then.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Payload {
    pub order_id: Option<OrderId>,
    pub product_id: Option<String>,
    pub product_title: Option<String>,
    pub complement_id: Option<String>,
    pub complement_title: Option<String>,
    pub complement_url: Option<String>,
    /// `configured`, or what was learned (`bought together: lift 2.6, confidence 1, 10 of 10
    /// orders`), for the outbox.
    pub chosen_by: Option<String>,
    #[serde(with = "text::option")]
    pub discount_percent: Option<Decimal>,
    pub offer_code: Option<String>,
    #[serde(with = "instant::option")]
    pub offer_expires_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub discount: DiscountProgress,
}

impl Suggestion {
    /// Why this complement, as the outbox shows it.
    pub fn chosen_by(&self) -> String {
        match &self.source {
            SuggestionSource::Configured => "configured".into(),
            SuggestionSource::Learned(pair) => {
                let (how, of) = match pair.kind {
                    PairKind::Together => ("bought together", "orders"),
                    PairKind::InSequence => ("bought next", "customers"),
                };
                format!(
                    "learned, {how}: lift {}, confidence {}, {} of {} {of}",
                    pair.lift().round_dp(2).normalize(),
                    pair.confidence().round_dp(2).normalize(),
                    pair.both,
                    pair.with_product
                )
            }
        }
    }
}

/// How long a code handed out with a suggestion works, from the moment it is sent.
pub const OFFER_DAYS: i64 = 14;

pub(super) struct Rules;

impl FlowRules for Rules {
    fn measurement(&self, flows: &crate::flows::FlowsConfig) -> crate::flows::Measurement {
        crate::flows::measured!(flows, cross_sell)
    }

    fn default_attribution_days(&self) -> i64 {
        14
    }

    fn enabled(&self, config: &ShopConfig) -> bool {
        config.flows.cross_sell.enabled
    }

    /// A suggestion weeks late (an outage, imported history) has lost its moment.
    fn stale_after(&self, _step: FlowStep) -> Option<Duration> {
        Some(Duration::days(14))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OrderStatus;
    use crate::flows::testkit::{Rng, day, paid, refund, with_status};
    use proptest::prelude::*;

    fn thresholds(min_orders: u32) -> Thresholds {
        Thresholds {
            min_orders,
            min_confidence: Decimal::ZERO,
            min_lift: Decimal::ZERO,
        }
    }

    fn learn(customers: &[Vec<OrderRecord>], t: Thresholds) -> Learned {
        let mut learner = Learner::new();
        for records in customers {
            learner.add_customer(records);
        }
        learner.finish(t)
    }

    fn pair<'a>(learned: &'a Learned, x: &str, y: &str, kind: PairKind) -> Option<&'a Pair> {
        learned
            .products
            .iter()
            .find(|p| p.product_id == x)?
            .pairs
            .iter()
            .find(|p| p.complement_id == y && p.kind == kind)
    }

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn orders_count_as_the_metrics_count_them() {
        let placed = paid("1", "c", day(0), "10", &[("a", 1)]);
        assert!(counts(&placed));
        assert!(
            counts(&refund(placed.clone(), "r", "4")),
            "a partial refund still counts"
        );
        assert!(!counts(&refund(placed.clone(), "r", "10")), "refunded in full");
        assert!(!counts(&with_status(placed.clone(), OrderStatus::Cancelled)));
        assert!(
            !counts(&with_status(placed.clone(), OrderStatus::Pending)),
            "unpaid"
        );
        assert!(!counts(&with_status(placed.clone(), OrderStatus::Failed)));
        assert!(
            counts(&refund(
                with_status(placed.clone(), OrderStatus::Pending),
                "r",
                "3"
            )),
            "refunded, so it was paid"
        );
        let mut deleted = placed;
        deleted.deleted = true;
        assert!(!counts(&deleted));
    }

    /// 20 customers; 10 buy beans with a grinder, 6 of those come back for filters; others
    /// buy mugs alone. Every figure below is counted by hand from that description.
    #[test]
    fn a_small_shop_gives_the_counts_and_measures_worked_out_by_hand() {
        let mut customers = Vec::new();
        for i in 0..10 {
            let c = format!("g{i}");
            let mut orders = vec![paid(
                &format!("{c}-1"),
                &c,
                day(0),
                "30",
                &[("beans", 1), ("grinder", 1)],
            )];
            if i < 6 {
                orders.push(paid(&format!("{c}-2"), &c, day(20), "8", &[("filters", 1)]));
            }
            customers.push(orders);
        }
        for i in 0..10 {
            let c = format!("m{i}");
            customers.push(vec![paid(&format!("{c}-1"), &c, day(1), "9", &[("mug", 1)])]);
        }
        let learned = learn(&customers, thresholds(5));
        assert_eq!((learned.orders, learned.customers), (26, 20));

        let bg = pair(&learned, "beans", "grinder", PairKind::Together).unwrap();
        assert_eq!(
            (bg.both, bg.with_product, bg.with_complement, bg.base),
            (10, 10, 10, 26)
        );
        assert_eq!(bg.support(), dec("10") / dec("26"));
        assert_eq!(bg.confidence(), Decimal::ONE);
        assert_eq!(bg.lift(), dec("2.6"), "10 × 26 / (10 × 10)");

        let bf = pair(&learned, "beans", "filters", PairKind::InSequence).unwrap();
        assert_eq!(
            (bf.both, bf.with_product, bf.with_complement, bf.base),
            (6, 10, 6, 20)
        );
        assert_eq!(bf.confidence(), dec("0.6"));
        assert_eq!(bf.lift(), dec("2"), "0.6 / (6 / 20)");
        assert!(
            pair(&learned, "filters", "beans", PairKind::InSequence).is_none(),
            "nobody bought beans after filters"
        );
        assert!(
            pair(&learned, "beans", "filters", PairKind::Together).is_none(),
            "never in the same order"
        );
        assert!(
            learned.products.iter().all(|p| p.product_id != "mug"),
            "mugs go alone"
        );

        let beans = learned.products.iter().find(|p| p.product_id == "beans").unwrap();
        let order: Vec<(&str, PairKind)> = beans
            .pairs
            .iter()
            .map(|p| (p.complement_id.as_str(), p.kind))
            .collect();
        assert_eq!(
            order,
            [("grinder", PairKind::Together), ("filters", PairKind::InSequence)],
            "best lift first"
        );
        assert_eq!(beans.product.title, "Product beans");
    }

    #[test]
    fn two_orders_prove_nothing_and_uncounted_orders_teach_nothing() {
        let together = |c: &str| vec![paid(&format!("{c}-1"), c, day(0), "10", &[("a", 1), ("b", 1)])];
        let learned = learn(
            &[together("1"), together("2")],
            CrossSellConfig::default().thresholds(),
        );
        assert!(learned.products.is_empty(), "{learned:?}");

        let mut customers: Vec<Vec<OrderRecord>> = (0..4).map(|i| together(&i.to_string())).collect();
        customers.push(vec![with_status(
            paid("x-1", "x", day(0), "10", &[("a", 1), ("b", 1)]),
            OrderStatus::Cancelled,
        )]);
        customers.push(vec![refund(
            paid("y-1", "y", day(0), "10", &[("a", 1), ("b", 1)]),
            "r",
            "10",
        )]);
        customers.push(vec![paid("z-1", "z", day(0), "10", &[("c", 1)])]);
        let learned = learn(&customers, thresholds(5));
        assert!(
            learned.products.is_empty(),
            "4 counted orders with both, 5 needed"
        );
        assert_eq!(
            learned.orders, 5,
            "the cancelled and the fully refunded order are not purchases"
        );
        let learned = learn(&customers, thresholds(4));
        assert_eq!(pair(&learned, "a", "b", PairKind::Together).unwrap().both, 4);
    }

    #[test]
    fn the_shops_minimum_confidence_and_lift_are_applied() {
        // Everyone buys the bag with the cup; a: 5 of 10 with b, 5 alone.
        let mut customers = Vec::new();
        for i in 0..10 {
            let c = i.to_string();
            let items: &[(&str, u32)] = if i < 5 { &[("a", 1), ("b", 1)] } else { &[("a", 1)] };
            customers.push(vec![paid(&format!("{c}-1"), &c, day(0), "10", items)]);
        }
        for i in 0..10 {
            let c = format!("b{i}");
            customers.push(vec![paid(&format!("{c}-1"), &c, day(0), "10", &[("b", 1)])]);
        }
        let ab = |t| {
            learn(&customers, t)
                .products
                .into_iter()
                .find(|p| p.product_id == "a")
        };
        let pair = ab(thresholds(5)).unwrap().pairs.remove(0);
        assert_eq!(pair.confidence(), dec("0.5"));
        assert_eq!(pair.lift(), dec("5") * dec("20") / (dec("10") * dec("15")));
        let strict = Thresholds {
            min_confidence: dec("0.6"),
            ..thresholds(5)
        };
        assert!(ab(strict).is_none(), "confidence 0.5 under 0.6");
        let lifted = Thresholds {
            min_lift: dec("1.2"),
            ..thresholds(5)
        };
        assert!(ab(lifted).is_none(), "lift 0.67: b is bought as often without a");
    }

    #[test]
    fn orders_at_the_same_instant_are_not_a_sequence() {
        let customers: Vec<Vec<OrderRecord>> = (0..5)
            .map(|i| {
                let c = i.to_string();
                vec![
                    paid(&format!("{c}-1"), &c, day(0), "10", &[("a", 1)]),
                    paid(&format!("{c}-2"), &c, day(0), "10", &[("b", 1)]),
                ]
            })
            .collect();
        assert!(learn(&customers, thresholds(3)).products.is_empty());
    }

    /// A generated shop with planted associations: product `p{k}` is followed by `q{k}` in a
    /// later order for a known share of its buyers, and `p{k}` comes with `r{k}` in the same
    /// order for another. The expected counts are tallied from the generator's own choices.
    #[test]
    fn planted_associations_in_a_generated_history_are_found_with_their_exact_counts() {
        let mut rng = Rng::new(42);
        let mut customers = Vec::new();
        let mut expected_together: BTreeMap<(String, String), u64> = BTreeMap::new();
        let mut expected_sequence: BTreeMap<(String, String), u64> = BTreeMap::new();
        let mut orders = 0u64;
        for c in 0..400 {
            let id = format!("c{c}");
            let k = rng.between(0, 3);
            let (p, q, r) = (format!("p{k}"), format!("q{k}"), format!("r{k}"));
            let noise = format!("n{}", rng.between(0, 40));
            let with_r = rng.between(0, 99) < 40;
            let first: Vec<(&str, u32)> = if with_r {
                vec![(p.as_str(), 1), (r.as_str(), 1), (noise.as_str(), 1)]
            } else {
                vec![(p.as_str(), 1), (noise.as_str(), 1)]
            };
            let mut records = vec![paid(&format!("{id}-1"), &id, day(0), "20", &first)];
            orders += 1;
            if with_r {
                *expected_together.entry((p.clone(), r.clone())).or_default() += 1;
            }
            if rng.between(0, 99) < 30 {
                records.push(paid(&format!("{id}-2"), &id, day(25), "10", &[(q.as_str(), 1)]));
                orders += 1;
                *expected_sequence.entry((p.clone(), q.clone())).or_default() += 1;
            }
            customers.push(records);
        }
        let learned = learn(&customers, CrossSellConfig::default().thresholds());
        assert_eq!(learned.orders, orders);
        assert_eq!(learned.customers, 400);
        for ((p, r), n) in &expected_together {
            let found = pair(&learned, p, r, PairKind::Together).unwrap_or_else(|| panic!("{p} with {r}"));
            assert_eq!(found.both, *n);
            assert_eq!(found.with_complement, *n, "{r} is only ever bought with {p}");
            assert!(found.lift() > dec("1.2"));
        }
        for ((p, q), n) in &expected_sequence {
            let found = pair(&learned, p, q, PairKind::InSequence).unwrap_or_else(|| panic!("{p} then {q}"));
            assert_eq!(found.both, *n);
            let best: Vec<&str> = learned
                .products
                .iter()
                .find(|x| &x.product_id == p)
                .unwrap()
                .pairs[..2]
                .iter()
                .map(|b| b.complement_id.as_str())
                .collect();
            let r = p.replacen('p', "r", 1);
            assert_eq!(
                best,
                [r.as_str(), q.as_str()],
                "the planted pairs rank above noise bought at random"
            );
            assert!(
                pair(&learned, q, p, PairKind::InSequence).is_none(),
                "nobody buys {p} after {q}"
            );
        }
    }

    fn learned_for_choice() -> Vec<ProductPairs> {
        let mut customers = Vec::new();
        for i in 0..10 {
            let c = i.to_string();
            let mut records = vec![paid(
                &format!("{c}-1"),
                &c,
                day(0),
                "10",
                &[("beans", 1), ("grinder", 1)],
            )];
            if i < 6 {
                records.push(paid(&format!("{c}-2"), &c, day(9), "10", &[("filters", 1)]));
            }
            customers.push(records);
        }
        for i in 0..10 {
            let c = format!("m{i}");
            customers.push(vec![paid(&format!("{c}-1"), &c, day(1), "9", &[("mug", 1)])]);
        }
        learn(&customers, thresholds(5)).products
    }

    #[test]
    fn the_best_complement_not_owned_is_chosen_and_configured_ones_win() {
        let learned = learned_for_choice();
        let beans = vec!["beans".to_string()];
        let owned = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        let config = CrossSellConfig::default();

        let best = choose(&beans, &owned(&["beans"]), &config, &learned).unwrap();
        assert_eq!(best.complement_id, "grinder", "lift 2.6 beats 2");
        let next = choose(&beans, &owned(&["beans", "grinder"]), &config, &learned).unwrap();
        assert_eq!(next.complement_id, "filters");
        assert!(matches!(next.source, SuggestionSource::Learned(ref p) if p.kind == PairKind::InSequence));
        assert_eq!(
            choose(
                &beans,
                &owned(&["beans", "grinder", "filters"]),
                &config,
                &learned
            ),
            None
        );
        assert_eq!(
            choose(&["mug".to_string()], &owned(&["mug"]), &config, &learned),
            None
        );

        let configured = CrossSellConfig {
            complements: vec![ConfiguredComplement {
                product_id: "beans".into(),
                suggest: "scale".into(),
                title: LocalisedText::Same("Coffee scale".into()),
                url: None,
            }],
            ..config
        };
        let chosen = choose(&beans, &owned(&["beans"]), &configured, &learned).unwrap();
        assert_eq!(
            (chosen.complement_id.as_str(), &chosen.source),
            ("scale", &SuggestionSource::Configured)
        );
        let has_scale = choose(&beans, &owned(&["beans", "scale"]), &configured, &learned).unwrap();
        assert_eq!(
            has_scale.complement_id, "grinder",
            "an owned configured one gives way"
        );
    }

    #[test]
    fn config_errors_name_the_field() {
        let field = |c: CrossSellConfig| match c.validate() {
            Err(ConfigError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let d = CrossSellConfig::default;
        assert!(d().validate().is_ok());
        assert_eq!(
            field(CrossSellConfig { delay_days: 0, ..d() }),
            "flows.cross_sell.delay_days"
        );
        assert_eq!(
            field(CrossSellConfig { min_orders: 2, ..d() }),
            "flows.cross_sell.min_orders"
        );
        assert_eq!(
            field(CrossSellConfig {
                min_confidence: dec("1.5"),
                ..d()
            }),
            "flows.cross_sell.min_confidence"
        );
        assert_eq!(
            field(CrossSellConfig {
                min_lift: dec("1"),
                ..d()
            }),
            "flows.cross_sell.min_lift"
        );
        assert_eq!(
            field(CrossSellConfig {
                product_url: "shop/{product_id}".into(),
                ..d()
            }),
            "flows.cross_sell.product_url"
        );
        assert_eq!(
            field(CrossSellConfig {
                discount_percent: Some(dec("0")),
                ..d()
            }),
            "flows.cross_sell.discount_percent"
        );
        let complement = |product: &str, suggest: &str, title: &str| ConfiguredComplement {
            product_id: product.into(),
            suggest: suggest.into(),
            title: LocalisedText::Same(title.into()),
            url: None,
        };
        assert_eq!(
            field(CrossSellConfig {
                complements: vec![complement("a", "a", "A")],
                ..d()
            }),
            "flows.cross_sell.complements"
        );
        assert_eq!(
            field(CrossSellConfig {
                complements: vec![complement("a", "b", " ")],
                ..d()
            }),
            "flows.cross_sell.complements.title"
        );
        let toml_error = toml::from_str::<CrossSellConfig>("min_order = 5").unwrap_err();
        assert!(toml_error.to_string().contains("min_order"), "{toml_error}");
    }

    fn arbitrary_shop() -> impl Strategy<Value = Vec<Vec<(i64, Vec<u8>)>>> {
        // Customers, each with orders (day, products from a catalogue of 6).
        let order = (0i64..60, proptest::collection::vec(0u8..6, 1..4));
        proptest::collection::vec(proptest::collection::vec(order, 1..4), 0..40)
    }

    fn records_of(shop: &[Vec<(i64, Vec<u8>)>]) -> Vec<Vec<OrderRecord>> {
        shop.iter()
            .enumerate()
            .map(|(c, orders)| {
                orders
                    .iter()
                    .enumerate()
                    .map(|(o, (at, products))| {
                        let names: Vec<String> = products.iter().map(|p| format!("p{p}")).collect();
                        let items: Vec<(&str, u32)> = names.iter().map(|n| (n.as_str(), 1)).collect();
                        paid(&format!("{c}-{o}"), &format!("c{c}"), day(*at), "10", &items)
                    })
                    .collect()
            })
            .collect()
    }

    proptest! {
        #[test]
        fn measures_hold_on_any_shop(shop in arbitrary_shop(), min_orders in 3u32..6) {
            let learned = learn(&records_of(&shop), thresholds(min_orders));
            for product in &learned.products {
                for p in &product.pairs {
                    prop_assert!(p.both >= u64::from(min_orders), "no pair under the minimum");
                    prop_assert!(p.confidence() >= Decimal::ZERO && p.confidence() <= Decimal::ONE);
                    prop_assert!(p.support() <= p.confidence() || p.base == p.with_product);
                    prop_assert!(p.both <= p.with_product && p.both <= p.with_complement);
                    prop_assert_ne!(&p.complement_id, &product.product_id);
                    if p.kind == PairKind::Together {
                        let back = pair(&learned, &p.complement_id, &product.product_id, PairKind::Together);
                        let back = back.expect("a pair bought together is learned both ways");
                        prop_assert_eq!(back.lift(), p.lift(), "lift is symmetric");
                        prop_assert_eq!(back.support(), p.support());
                    }
                }
            }
        }

        #[test]
        fn learning_does_not_depend_on_the_order_customers_come_in(shop in arbitrary_shop()) {
            let records = records_of(&shop);
            let mut reversed = records.clone();
            reversed.reverse();
            for orders in &mut reversed {
                orders.reverse();
            }
            prop_assert_eq!(learn(&records, thresholds(3)), learn(&reversed, thresholds(3)));
        }
    }
}
