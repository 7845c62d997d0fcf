//! Review request: once the products have been used for a while, ask for a 1-tap star rating
//! per product (and one gentle reminder). Each product is asked about at its own cycle:
//! coffee once it has been tasted, a moka pot once it has been used, and products whose
//! cycles coincide share one message. A product already rated is never asked about again.

use super::delivery_check_in::Arrival;
use super::step::steps;
use super::{FlowRules, FlowStep};
use crate::{
    Answer, Channel, ConfigError, Message, MessageClass, OrderRecord, ProductRef, ShopConfig, ShopId,
};
use chrono::Duration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

steps! {
    /// "How do you like it?", with 1-5 star links per product.
    Request => "request",
    /// The one reminder, for the products still unrated.
    Reminder => "reminder",
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReviewRequestConfig {
    pub enabled: bool,
    pub channel: Channel,
    /// Days after delivery for products without a cycle of their own.
    pub delay_days: u32,
    /// One gentle reminder this many days after an unanswered request (0 = none).
    pub reminder_after_days: u32,
    /// Products per request, most expensive first.
    pub max_products: usize,
    /// Stars at or below this alert support (and are still offered the review page).
    pub low_rating_threshold: u8,
    /// Where a customer writes the review. Placeholders: `{shop}`, `{product_id}`,
    /// `{variant_id}`, `{sku}`.
    pub review_url: String,
    /// Per-product cycles: fast-consumed goods 3-7 days, durable goods 10-21.
    pub cycles: Vec<ReviewCycle>,
    /// Percent of customers held out as the control group lift is measured against
    /// (0 to 100); unset is the flow's default (5 on replenishment and win-back, else 0).
    pub holdout_percent: Option<u8>,
    /// Days after a send in which a counted order is the message's conversion (1 to 365);
    /// unset is the flow's default.
    pub attribution_days: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewCycle {
    pub name: String,
    #[serde(default)]
    pub product_ids: Vec<String>,
    #[serde(default)]
    pub skus: Vec<String>,
    pub delay_days: u32,
}

impl Default for ReviewRequestConfig {
    fn default() -> Self {
        Self {
            holdout_percent: None,
            attribution_days: None,
            enabled: true,
            channel: Channel::Email,
            delay_days: 14,
            reminder_after_days: 5,
            max_products: 3,
            low_rating_threshold: 3,
            review_url: "https://{shop}/products/{product_id}#reviews".into(),
            cycles: Vec::new(),
        }
    }
}

const REVIEW_URL_PLACEHOLDERS: [&str; 4] = ["{shop}", "{product_id}", "{variant_id}", "{sku}"];

impl ReviewRequestConfig {
    /// The checks TOML types cannot express, naming the field at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, problem: String| ConfigError::Invalid { field, problem };
        if self.delay_days == 0 || self.delay_days > 120 {
            return Err(invalid(
                "flows.review_request.delay_days",
                "must be between 1 and 120".into(),
            ));
        }
        if self.reminder_after_days > 30 {
            return Err(invalid(
                "flows.review_request.reminder_after_days",
                "must be at most 30".into(),
            ));
        }
        if self.max_products == 0 || self.max_products > 3 {
            return Err(invalid(
                "flows.review_request.max_products",
                "must be 1, 2 or 3".into(),
            ));
        }
        if !(1..=5).contains(&self.low_rating_threshold) {
            return Err(invalid(
                "flows.review_request.low_rating_threshold",
                "must be between 1 and 5 stars".into(),
            ));
        }
        if !(self.review_url.starts_with("https://") || self.review_url.starts_with("http://")) {
            return Err(invalid(
                "flows.review_request.review_url",
                "must start with https:// or http://".into(),
            ));
        }
        let mut rest = self.review_url.as_str();
        while let Some(open) = rest.find('{') {
            let close = rest[open..].find('}').map(|c| open + c + 1).ok_or_else(|| {
                invalid(
                    "flows.review_request.review_url",
                    "has a '{' without its '}'".into(),
                )
            })?;
            let placeholder = &rest[open..close];
            if !REVIEW_URL_PLACEHOLDERS.contains(&placeholder) {
                return Err(invalid(
                    "flows.review_request.review_url",
                    format!(
                        "unknown placeholder {placeholder} (use {})",
                        REVIEW_URL_PLACEHOLDERS.join(", ")
                    ),
                ));
            }
            rest = &rest[close..];
        }
        for cycle in &self.cycles {
            if cycle.delay_days == 0 || cycle.delay_days > 120 {
                return Err(invalid(
                    "flows.review_request.cycles.delay_days",
                    format!("cycle '{}': must be between 1 and 120", cycle.name),
                ));
            }
            if cycle.product_ids.is_empty() && cycle.skus.is_empty() {
                return Err(invalid(
                    "flows.review_request.cycles",
                    format!("cycle '{}' names no product_ids or skus", cycle.name),
                ));
            }
        }
        Ok(())
    }

    /// The review page for one product, with the URL template's placeholders filled. Each
    /// value is percent-encoded: a product id or SKU from a platform can never add a path,
    /// a query, a fragment or a header line to the link.
    pub fn review_url_for(
        &self,
        shop: &ShopId,
        product_id: &str,
        variant_id: Option<&str>,
        sku: Option<&str>,
    ) -> String {
        self.review_url
            .replace("{shop}", &percent_encode(shop.as_str()))
            .replace("{product_id}", &percent_encode(product_id))
            .replace("{variant_id}", &percent_encode(variant_id.unwrap_or("")))
            .replace("{sku}", &percent_encode(sku.unwrap_or("")))
    }

    /// The review cycle of a product: its own, else `delay_days`.
    fn cycle_days(&self, product: &ProductRef) -> u32 {
        self.cycles
            .iter()
            .find(|c| {
                c.product_ids.contains(&product.product_id)
                    || product.sku.as_ref().is_some_and(|s| c.skus.contains(s))
            })
            .map_or(self.delay_days, |c| c.delay_days)
    }
}

/// Every byte but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`) as `%XX`.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A request per review cycle of the order's products, each with its reminder.
pub fn plan(
    base: &Message,
    record: &OrderRecord,
    arrival: Arrival,
    config: &ReviewRequestConfig,
) -> Vec<Message> {
    if !config.enabled {
        return Vec::new();
    }
    let order_id = base.subject.clone();
    let groups = review_groups(review_products(record, config), config);
    // Only a mixed cart needs more than one subject: the longest cycle keeps the order's, as
    // a single request always has.
    let longest = groups.last().map(|(days, _)| *days);
    let mut plans = Vec::new();
    for (delay, products) in groups {
        let subject = if Some(delay) == longest {
            order_id.clone()
        } else {
            format!("{order_id}~{delay}d")
        };
        let due = arrival.at + Duration::days(delay.into());
        let request = Message {
            subject,
            step: Step::Request.into(),
            class: MessageClass::Service,
            channel: config.channel,
            due_at: due,
            due_basis: arrival.basis,
            products,
            ..base.clone()
        };
        let reminder = (config.reminder_after_days > 0).then(|| Message {
            step: Step::Reminder.into(),
            due_at: due + Duration::days(config.reminder_after_days.into()),
            ..request.clone()
        });
        plans.push(request);
        plans.extend(reminder);
    }
    plans
}

/// Up to `max_products` distinct products, most expensive first.
fn review_products(record: &OrderRecord, config: &ReviewRequestConfig) -> Vec<ProductRef> {
    let Some(order) = &record.snapshot else {
        return Vec::new();
    };
    let mut items: Vec<_> = order
        .line_items
        .iter()
        .filter(|li| li.product_id.is_some())
        .collect();
    items.sort_by(|a, b| b.price.amount.cmp(&a.price.amount).then(a.title.cmp(&b.title)));
    let mut products: Vec<ProductRef> = Vec::new();
    for item in items {
        let product_id = item.product_id.clone().unwrap_or_default();
        if products.iter().any(|p| p.product_id == product_id) {
            continue;
        }
        products.push(ProductRef {
            product_id,
            variant_id: item.variant_id.clone(),
            sku: item.sku.clone(),
            title: item.title.clone(),
        });
        if products.len() == config.max_products {
            break;
        }
    }
    products
}

/// The products grouped by their review cycle (days after arrival), soonest first.
fn review_groups(products: Vec<ProductRef>, config: &ReviewRequestConfig) -> Vec<(u32, Vec<ProductRef>)> {
    let mut groups: BTreeMap<u32, Vec<ProductRef>> = BTreeMap::new();
    for product in products {
        groups
            .entry(config.cycle_days(&product))
            .or_default()
            .push(product);
    }
    groups.into_iter().collect()
}

pub(super) struct Rules;

impl FlowRules for Rules {
    fn measurement(&self, flows: &crate::flows::FlowsConfig) -> crate::flows::Measurement {
        crate::flows::measured!(flows, review_request)
    }

    fn enabled(&self, config: &ShopConfig) -> bool {
        config.flows.review_request.enabled
    }

    /// The reminder waits `reminder_after_days` after its request was sent.
    fn follows(&self, step: FlowStep, config: &ShopConfig) -> Option<(FlowStep, Duration)> {
        (step == Step::Reminder).then(|| {
            (
                Step::Request.into(),
                Duration::days(config.flows.review_request.reminder_after_days.into()),
            )
        })
    }

    /// Answered once every product it asks about is rated; otherwise it asks only about the
    /// others, so a reminder after a 1-star answer never asks about that product again.
    fn answered(&self, message: Message, answers: &[Answer]) -> (Message, bool) {
        let rated = |p: &ProductRef| {
            answers
                .iter()
                .any(|a| a.answer.question() == format!("rating#{}", p.product_id))
        };
        if !message.products.is_empty() && message.products.iter().all(rated) {
            return (message, true);
        }
        let products = message.products.iter().filter(|p| !rated(p)).cloned().collect();
        (Message { products, ..message }, false)
    }
}
