//! Care guides: in the first days with a product, a short guide prevents a return ("Since
//! you chose the repair kit, here is how to make it last"). The shop writes a guide per
//! product id, SKU or product type: a setup guide goes 0 to 3 days after the order arrives, a care guide 7
//! to 14 days after. A customer gets at most one guide per order, for the item that most
//! needs it: the guide with the highest `priority`, then the dearest item, then the guide
//! written first. It is a service message (no marketing consent needed; an unsubscribe stops
//! it), and the sending policy skips it when the order was cancelled or refunded by then.
//!
//! Order webhooks carry no product type, so types come from the shop's catalogue (its Admin
//! API) when the message falls due, cached per product; until then the message waits at the
//! earliest day a guide could go ([`plan`]), and [`choose`] decides again with the types.
//!
//! The message stores only which guide and which item; the title, tips and link are read
//! from the shop's config when it is sent, in the reader's language, so a corrected tip
//! reaches the guides still waiting, and a guide taken out of the config sends nothing.

use super::delivery_check_in::Arrival;
use super::payload::instant;
use super::step::steps;
use super::{FlowRules, FlowStep};
use crate::{
    Channel, ConfigError, LineItem, LocalisedText, Message, MessageClass, OrderRecord, ProductRef, ShopConfig,
};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::BTreeMap;

/// The types of products, by the platform's product id, as the shop's catalogue gives them
/// (Shopify's `productType`, WooCommerce's category slugs); a product with none has an empty list.
pub type ProductTypes = BTreeMap<String, Vec<String>>;

steps! {
    /// The guide: a title, a few tips and a link, about one item of the order.
    Guide => "guide",
}

/// What a guide message carries (templates read it as `details.*`): the guide's name in the
/// shop's config. The item is the message's one product.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Payload {
    pub guide: Option<String>,
    /// Since when asking the shop's catalogue for the products' types has been failing (the
    /// guide falls back to one by product id or SKU after a day of it).
    #[serde(with = "instant::option")]
    pub types_failing_since: Option<DateTime<Utc>>,
}

/// The most tips a guide may carry: it is read in a minute, not a manual.
pub const MAX_TIPS: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CareGuideConfig {
    pub enabled: bool,
    pub channel: Channel,
    /// The guides, each for some products or SKUs. None by default: nothing is sent.
    pub guides: Vec<Guide>,
    /// Percent of customers held out as the control group lift is measured against
    /// (0 to 100); unset is the flow's default (0: a guide is service, not a sale).
    pub holdout_percent: Option<u8>,
    /// Days after a send in which a counted order is the message's conversion (1 to 365);
    /// unset is the flow's default (7).
    pub attribution_days: Option<u32>,
}

impl Default for CareGuideConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            channel: Channel::Email,
            guides: Vec::new(),
            holdout_percent: None,
            attribution_days: None,
        }
    }
}

/// Whether a guide helps to start using the product or to keep it well.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuideKind {
    /// "Getting started": 0 to 3 days after arrival (1 by default).
    Setup,
    /// "Make it last": 7 to 14 days after arrival (10 by default).
    Care,
}

impl GuideKind {
    /// The days after arrival a guide of this kind may go (inclusive).
    fn delay_range(self) -> (u32, u32) {
        match self {
            GuideKind::Setup => (0, 3),
            GuideKind::Care => (7, 14),
        }
    }

    fn default_delay(self) -> u32 {
        match self {
            GuideKind::Setup => 1,
            GuideKind::Care => 10,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GuideKind::Setup => "setup",
            GuideKind::Care => "care",
        }
    }
}

/// One guide, as the shop writes it under `[[flows.care_guide.guides]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guide {
    /// The guide's name (unique in the shop): stored in the message, shown in the outbox.
    pub name: String,
    #[serde(default)]
    pub product_ids: Vec<String>,
    #[serde(default)]
    pub skus: Vec<String>,
    /// Product types (Shopify's product type, WooCommerce's category slug), matched without
    /// regard to case. They need the shop's Admin API; see [`ProductTypes`].
    #[serde(default)]
    pub product_types: Vec<String>,
    pub kind: GuideKind,
    /// Days after arrival; unset is the kind's default.
    pub delay_days: Option<u32>,
    pub title: LocalisedText,
    /// One to five short tips, in order.
    pub tips: Vec<LocalisedText>,
    /// Where the full guide or video is (`https://…`).
    pub link: String,
    /// Higher wins when an order holds items of several guides (default 0).
    #[serde(default)]
    pub priority: u8,
}

impl Guide {
    /// Days after arrival this guide goes.
    pub fn delay_days(&self) -> u32 {
        self.delay_days.unwrap_or_else(|| self.kind.default_delay())
    }

    fn covers(&self, item: &LineItem, types: &ProductTypes) -> bool {
        let (product_id, sku) = (item.product_id.as_deref(), item.sku.as_deref());
        let of_type = |id: &str| {
            types.get(id).is_some_and(|kinds| {
                kinds.iter().any(|kind| {
                    self.product_types
                        .iter()
                        .any(|wanted| wanted.trim().eq_ignore_ascii_case(kind.trim()))
                })
            })
        };
        product_id.is_some_and(|id| self.product_ids.iter().any(|p| p == id))
            || sku.is_some_and(|sku| self.skus.iter().any(|s| s == sku))
            || product_id.is_some_and(of_type)
    }
}

impl CareGuideConfig {
    /// The checks TOML types cannot express, naming the field at fault (and the guide, by
    /// name, in the problem).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, problem: String| ConfigError::Invalid { field, problem };
        for (index, guide) in self.guides.iter().enumerate() {
            if guide.name.trim().is_empty() {
                return Err(invalid(
                    "flows.care_guide.guides.name",
                    format!("guide {} has a blank name", index + 1),
                ));
            }
            let name = &guide.name;
            if self.guides[..index].iter().any(|g| &g.name == name) {
                return Err(invalid(
                    "flows.care_guide.guides.name",
                    format!("two guides are named '{name}'"),
                ));
            }
            let blank = |values: &[String]| values.iter().any(|v| v.trim().is_empty());
            if guide.product_ids.is_empty() && guide.skus.is_empty() && guide.product_types.is_empty() {
                return Err(invalid(
                    "flows.care_guide.guides",
                    format!("guide '{name}' names no product_ids, skus or product_types"),
                ));
            }
            if blank(&guide.product_types) {
                return Err(invalid(
                    "flows.care_guide.guides.product_types",
                    format!("guide '{name}' has a blank product type"),
                ));
            }
            if blank(&guide.product_ids) {
                return Err(invalid(
                    "flows.care_guide.guides.product_ids",
                    format!("guide '{name}' has a blank product id"),
                ));
            }
            if blank(&guide.skus) {
                return Err(invalid(
                    "flows.care_guide.guides.skus",
                    format!("guide '{name}' has a blank SKU"),
                ));
            }
            let (low, high) = guide.kind.delay_range();
            if !(low..=high).contains(&guide.delay_days()) {
                return Err(invalid(
                    "flows.care_guide.guides.delay_days",
                    format!(
                        "guide '{name}': a {} guide goes {low} to {high} days after delivery",
                        guide.kind.as_str()
                    ),
                ));
            }
            guide.title.validate("flows.care_guide.guides.title")?;
            if guide.tips.is_empty() || guide.tips.len() > MAX_TIPS {
                return Err(invalid(
                    "flows.care_guide.guides.tips",
                    format!("guide '{name}': give 1 to {MAX_TIPS} tips"),
                ));
            }
            for tip in &guide.tips {
                tip.validate("flows.care_guide.guides.tips")?;
            }
            if !(guide.link.starts_with("https://") || guide.link.starts_with("http://"))
                || guide.link.contains(char::is_whitespace)
            {
                return Err(invalid(
                    "flows.care_guide.guides.link",
                    format!("guide '{name}': must be a link starting with https:// or http://"),
                ));
            }
        }
        Ok(())
    }

    /// Whether any guide is by product type: then the catalogue is asked when a guide is due.
    pub fn uses_product_types(&self) -> bool {
        self.guides.iter().any(|g| !g.product_types.is_empty())
    }

    /// The guide named `name`, if the shop still has it.
    pub fn guide(&self, name: &str) -> Option<&Guide> {
        self.guides.iter().find(|g| g.name == name)
    }
}

/// The guide for the order and the item it is about, with the types known so far: the
/// highest guide priority, then the dearest item, then the guide written first, then the
/// item's title.
pub fn choose<'a>(
    lines: &'a [LineItem],
    config: &'a CareGuideConfig,
    types: &ProductTypes,
) -> Option<(&'a Guide, &'a LineItem)> {
    lines
        .iter()
        .flat_map(|item| {
            config
                .guides
                .iter()
                .enumerate()
                .filter(move |(_, g)| g.covers(item, types))
                .map(move |(written, guide)| (written, guide, item))
        })
        .min_by_key(|(written, guide, item)| {
            (
                Reverse(guide.priority),
                Reverse(item.price.amount),
                *written,
                item.title.clone(),
            )
        })
        .map(|(_, guide, item)| (guide, item))
}

/// The order's products whose types are not in `types` yet (what the catalogue must be asked).
pub fn untyped_products(lines: &[LineItem], types: &ProductTypes) -> Vec<String> {
    let mut ids: Vec<String> = lines
        .iter()
        .filter_map(|l| l.product_id.clone())
        .filter(|id| !types.contains_key(id))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// The one guide message for the order, from its arrival. With every type the guides need
/// known (`types`), it is the chosen guide `delay_days` after arrival. While some product's
/// type is still unknown, it is planned at the earliest day any guide that could apply may
/// go, naming the guide chosen so far (if any); the send-time re-check asks the catalogue and
/// chooses again. `None` when the flow is off or no guide can apply.
pub fn plan(
    base: &Message,
    record: &OrderRecord,
    arrival: Arrival,
    config: &CareGuideConfig,
    types: &ProductTypes,
) -> Option<Message> {
    if !config.enabled {
        return None;
    }
    let order = record.snapshot.as_ref()?;
    let chosen = choose(&order.line_items, config, types);
    let types_pending = config.uses_product_types() && !untyped_products(&order.line_items, types).is_empty();
    let earliest_by_type = config
        .guides
        .iter()
        .filter(|g| types_pending && !g.product_types.is_empty())
        .map(Guide::delay_days)
        .min();
    let delay = match (chosen.map(|(g, _)| g.delay_days()), earliest_by_type) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => return None,
    };
    Some(Message {
        step: Step::Guide.into(),
        class: MessageClass::Service,
        channel: config.channel,
        due_at: arrival.at + Duration::days(delay.into()),
        due_basis: arrival.basis,
        products: chosen.map(|(_, item)| product_ref(item)).into_iter().collect(),
        payload: Payload {
            guide: chosen.map(|(guide, _)| guide.name.clone()),
            types_failing_since: None,
        }
        .into(),
        ..base.clone()
    })
}

/// When `guide` goes for an order that arrived `arrived_at`.
pub fn due_at(guide: &Guide, arrived_at: DateTime<Utc>) -> DateTime<Utc> {
    arrived_at + Duration::days(guide.delay_days().into())
}

/// The message's one product: the item its guide is about.
pub fn product_ref(item: &LineItem) -> ProductRef {
    ProductRef {
        product_id: item.product_id.clone().unwrap_or_default(),
        variant_id: item.variant_id.clone(),
        sku: item.sku.clone(),
        title: item.title.clone(),
    }
}

pub(super) struct Rules;

impl FlowRules for Rules {
    fn measurement(&self, flows: &crate::flows::FlowsConfig) -> crate::flows::Measurement {
        crate::flows::measured!(flows, care_guide)
    }

    fn enabled(&self, config: &ShopConfig) -> bool {
        config.flows.care_guide.enabled
    }

    /// A setup tip a week late is read after the customer has found their own way (or sent
    /// the product back); a care tip a week late still reads as such, but no later.
    fn stale_after(&self, _step: FlowStep) -> Option<Duration> {
        Some(Duration::days(7))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::{order_message, testkit};
    use crate::{DueBasis, FulfillmentStatus, LineItem, ShopId};
    use chrono::{DateTime, TimeZone, Utc};

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, day, 10, 0, 0).unwrap()
    }

    fn item(product: &str, sku: &str, price: &str) -> LineItem {
        testkit::line(&format!("line-{product}"), product, sku, price)
    }

    fn record(items: Vec<LineItem>) -> OrderRecord {
        testkit::order_with_lines(items, FulfillmentStatus::Fulfilled, at(1))
    }

    fn config(text: &str) -> Result<CareGuideConfig, String> {
        let config: CareGuideConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }

    const GUIDES: &str = r#"
        [[guides]]
        name = "moka-setup"
        product_ids = ["moka"]
        kind = "setup"
        title = { en = "Your first moka", it = "La tua prima moka" }
        tips = ["Rinse it, no soap", "Fill to the valve"]
        link = "https://demo.example/guides/moka"

        [[guides]]
        name = "grinder-care"
        skus = ["GRIND-1"]
        kind = "care"
        delay_days = 14
        title = "Keep the burrs sharp"
        tips = ["Brush weekly"]
        link = "https://demo.example/guides/grinder"
        priority = 5

        [[guides]]
        name = "cup-care"
        product_ids = ["cup", "saucer"]
        kind = "care"
        title = "Cups"
        tips = ["Hand wash"]
        link = "https://demo.example/guides/cups"
    "#;

    fn plan_for(items: Vec<LineItem>, config: &CareGuideConfig) -> Option<Message> {
        let record = record(items);
        let shop = ShopId::new("demo.myshopify.com").unwrap();
        let (base, _) = order_message(&shop, &record, at(1)).unwrap();
        let arrival = Arrival {
            at: at(3),
            basis: DueBasis::Known,
        };
        plan(&base, &record, arrival, config, &ProductTypes::new())
    }

    fn chosen(message: &Message) -> (&str, &str, DateTime<Utc>) {
        (
            message.payload.care_guide().unwrap().guide.as_deref().unwrap(),
            message.products[0].product_id.as_str(),
            message.due_at,
        )
    }

    #[test]
    fn one_guide_per_order_for_the_item_whose_guide_has_the_highest_priority() {
        let config = config(GUIDES).unwrap();
        let message = plan_for(
            vec![
                item("moka", "MOKA-3", "40"),
                item("grinder", "GRIND-1", "25"),
                item("beans", "BEANS", "12"),
            ],
            &config,
        )
        .expect("a guide");
        assert_eq!(
            chosen(&message),
            ("grinder-care", "grinder", at(3) + Duration::days(14))
        );
        assert_eq!(message.flow(), crate::Flow::CareGuide);
        assert_eq!(message.class, MessageClass::Service);
        assert_eq!(
            (message.step.as_str(), message.subject.as_str()),
            ("guide", "1001")
        );
        assert_eq!(message.products.len(), 1, "one item, one guide");
    }

    #[test]
    fn at_equal_priority_the_dearest_item_wins_then_the_guide_written_first() {
        let config = config(GUIDES).unwrap();
        let message = plan_for(vec![item("cup", "C", "9"), item("moka", "M", "40")], &config).unwrap();
        assert_eq!(
            chosen(&message),
            ("moka-setup", "moka", at(3) + Duration::days(1))
        );
        let message = plan_for(vec![item("saucer", "S", "9"), item("cup", "C", "30")], &config).unwrap();
        assert_eq!(chosen(&message), ("cup-care", "cup", at(3) + Duration::days(10)));
        let mut same_price = config.clone();
        same_price.guides[2].product_ids = vec!["moka".into()];
        let message = plan_for(vec![item("moka", "M", "40")], &same_price).unwrap();
        assert_eq!(
            chosen(&message).0,
            "moka-setup",
            "two guides for one item: the first written"
        );
    }

    #[test]
    fn no_guide_for_an_order_without_guided_items_or_with_the_flow_off() {
        let mut config = config(GUIDES).unwrap();
        assert!(plan_for(vec![item("beans", "BEANS", "12")], &config).is_none());
        config.enabled = false;
        assert!(plan_for(vec![item("moka", "M", "40")], &config).is_none());
        assert!(plan_for(vec![item("moka", "M", "40")], &CareGuideConfig::default()).is_none());
    }

    fn typed(pairs: &[(&str, &[&str])]) -> ProductTypes {
        pairs
            .iter()
            .map(|(id, kinds)| (id.to_string(), kinds.iter().map(|k| k.to_string()).collect()))
            .collect()
    }

    #[test]
    fn a_guide_by_product_type_waits_for_the_types_and_then_wins_by_priority() {
        let mut config = config(GUIDES).unwrap();
        config.guides.push(
            toml::from_str(
                r#"
                name = "pots"
                product_types = ["Stovetop Pot"]
                kind = "setup"
                delay_days = 0
                priority = 9
                title = "Your pot"
                tips = ["Low flame"]
                link = "https://demo.example/guides/pots"
                "#,
            )
            .unwrap(),
        );
        config.validate().unwrap();
        let items = vec![item("pot", "POT-1", "30"), item("grinder", "GRIND-1", "25")];
        let record = record(items.clone());
        let shop = ShopId::new("demo.myshopify.com").unwrap();
        let (base, _) = order_message(&shop, &record, at(1)).unwrap();
        let arrival = Arrival {
            at: at(3),
            basis: DueBasis::Known,
        };

        // Types unknown: the id/SKU guide so far, at the earliest day a type guide may go.
        let pending = plan(&base, &record, arrival, &config, &ProductTypes::new()).unwrap();
        assert_eq!(chosen(&pending), ("grinder-care", "grinder", at(3)));
        assert_eq!(untyped_products(&items, &ProductTypes::new()), ["grinder", "pot"]);

        // Known (any case): the type guide's higher priority wins, on its own day.
        let types = typed(&[("pot", &["stovetop pot"]), ("grinder", &[])]);
        let (guide, line) = choose(&items, &config, &types).unwrap();
        assert_eq!(
            (guide.name.as_str(), line.title.as_str()),
            ("pots", "Product pot")
        );
        let known = plan(&base, &record, arrival, &config, &types).unwrap();
        assert_eq!(chosen(&known), ("pots", "pot", at(3)));

        // A product without a type falls back to the guides by id or SKU.
        let untyped = typed(&[("pot", &[]), ("grinder", &[])]);
        let fallback = plan(&base, &record, arrival, &config, &untyped).unwrap();
        assert_eq!(
            chosen(&fallback),
            ("grinder-care", "grinder", at(3) + Duration::days(14))
        );
        // Nothing typed and no id/SKU guide: nothing once the types are known.
        let beans = vec![item("beans", "BEANS", "12")];
        assert!(choose(&beans, &config, &typed(&[("beans", &["coffee"])])).is_none());
    }

    #[test]
    fn config_errors_name_the_field_and_the_guide() {
        let guide = |extra: &str| {
            format!(
                "[[guides]]\nname = \"g\"\nproduct_ids = [\"p\"]\nkind = \"setup\"\ntitle = \"T\"\ntips = [\"a\"]\nlink = \"https://x.example\"\n{extra}"
            )
        };
        assert!(config(&guide("")).is_ok());
        for (text, expected) in [
            (
                guide("delay_days = 5"),
                "flows.care_guide.guides.delay_days: guide 'g': a setup guide goes 0 to 3 days after delivery",
            ),
            (
                guide("").replace("kind = \"setup\"", "kind = \"care\"\ndelay_days = 3"),
                "flows.care_guide.guides.delay_days: guide 'g': a care guide goes 7 to 14 days after delivery",
            ),
            (
                guide("").replace("product_ids = [\"p\"]\n", ""),
                "flows.care_guide.guides: guide 'g' names no product_ids, skus or product_types",
            ),
            (
                guide("product_types = [\"\"]"),
                "flows.care_guide.guides.product_types: guide 'g' has a blank product type",
            ),
            (
                guide("").replace("[\"p\"]", "[\" \"]"),
                "flows.care_guide.guides.product_ids: guide 'g' has a blank product id",
            ),
            (
                guide("skus = [\"\"]"),
                "flows.care_guide.guides.skus: guide 'g' has a blank SKU",
            ),
            (
                guide("").replace("tips = [\"a\"]", "tips = []"),
                "flows.care_guide.guides.tips: guide 'g': give 1 to 5 tips",
            ),
            (
                guide("").replace(
                    "tips = [\"a\"]",
                    "tips = [\"a\", \"b\", \"c\", \"d\", \"e\", \"f\"]",
                ),
                "flows.care_guide.guides.tips: guide 'g': give 1 to 5 tips",
            ),
            (
                guide("").replace("tips = [\"a\"]", "tips = [\"  \"]"),
                "flows.care_guide.guides.tips: must not be blank",
            ),
            (
                guide("").replace("title = \"T\"", "title = {}"),
                "flows.care_guide.guides.title: give a text, or at least one locale",
            ),
            (
                guide("").replace("https://x.example", "javascript:alert(1)"),
                "flows.care_guide.guides.link: guide 'g': must be a link starting with https:// or http://",
            ),
            (
                guide("").replace("name = \"g\"", "name = \" \""),
                "flows.care_guide.guides.name: guide 1 has a blank name",
            ),
            (
                format!("{}{}", guide(""), guide("")),
                "flows.care_guide.guides.name: two guides are named 'g'",
            ),
        ] {
            let err = config(&text).unwrap_err();
            assert!(err.starts_with(expected), "{text}\n=> {err}");
        }
        let err = config(&guide("").replace("\"setup\"", "\"usage\"")).unwrap_err();
        assert!(
            err.contains("unknown variant `usage`, expected `setup` or `care`"),
            "{err}"
        );
        let err = config(&guide("colour = \"red\"")).unwrap_err();
        assert!(err.contains("unknown field `colour`"), "{err}");
    }
}
