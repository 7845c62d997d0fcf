//! What a template sees: the customer, the order, the products, and signed 1-tap links.

use crate::Engine;
use aftersale_domain::flows::locale_for;
use aftersale_domain::{Customer, Flow, LocalisedText, Message, MessageClass, OrderRecord, ShopConfig};
use aftersale_links::{LinkAction, LinkClaims};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use tracing::warn;

impl Engine {
    pub(crate) fn link(&self, message: &Message, action: LinkAction, now: DateTime<Utc>) -> String {
        let claims = LinkClaims {
            shop: message.shop.to_string(),
            customer_id: message.customer_id.to_string(),
            message_id: message.id().to_string(),
            order_id: message.order_id.as_ref().map(ToString::to_string),
            action,
            expires_at: (now + self.settings.link_ttl).timestamp(),
        };
        self.links.url(&self.settings.link_base_url, &claims)
    }

    /// The unsubscribe link every service and marketing message carries (and none other).
    pub(crate) fn unsubscribe_url(&self, message: &Message, now: DateTime<Utc>) -> Option<String> {
        (message.class != MessageClass::Transactional)
            .then(|| self.link(message, LinkAction::Unsubscribe, now))
    }

    /// What the points balance line (`points-balance.*.j2`) shows in another flow's message:
    /// `None` unless the shop runs points, and in points messages, which say it themselves.
    /// A ledger that cannot be read leaves the line out rather than stopping the message.
    pub(crate) async fn points_line(
        &self,
        message: &Message,
        config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Option<Value> {
        if !config.points.enabled || message.flow() == Flow::Points {
            return None;
        }
        let balance = match self.points_ledger(&message.shop, &message.customer_id).await {
            Ok(ledger) => ledger.balance(),
            Err(err) => {
                warn!(error = %err, "points balance left out of the message");
                return None;
            }
        };
        Some(json!({
            "available": balance.available,
            "pending": balance.pending,
            "balance": balance.balance,
            "url": (!config.points.rewards.is_empty()).then(|| self.link(message, LinkAction::Points, now)),
        }))
    }

    pub(crate) fn render_context(
        &self,
        message: &Message,
        customer: &Customer,
        record: Option<&OrderRecord>,
        config: &ShopConfig,
        points: Option<Value>,
        now: DateTime<Utc>,
    ) -> Value {
        let order = record.and_then(|r| r.snapshot.as_ref());
        let tz = customer.time_zone.unwrap_or(config.time_zone);
        let expected_delivery_at = record.and_then(|r| {
            r.delivered_at.is_none().then_some(())?;
            let shipped = r.fulfilled_at?;
            let eta = config.flows.delivery_check_in.estimated_arrival(shipped);
            Some(eta.to_rfc3339_opts(SecondsFormat::Secs, true))
        });
        let products: Vec<Value> = message
            .products
            .iter()
            .map(|p| {
                let rating_links: Vec<String> = (1..=5)
                    .map(|stars| {
                        self.link(message, LinkAction::Rating { product_id: p.product_id.clone(), stars }, now)
                    })
                    .collect();
                json!({
                    "title": p.title,
                    "product_id": p.product_id,
                    "rating_links": rating_links,
                    "review_url": config.review_url(&message.shop, &p.product_id, p.variant_id.as_deref(), p.sku.as_deref()),
                })
            })
            .collect();
        let locale = locale_for(Some(customer), config);
        let csat: Vec<String> = (1..=5)
            .map(|score| self.link(message, LinkAction::Csat { score }, now))
            .collect();
        let nps: Vec<String> = (0..=10)
            .map(|score| self.link(message, LinkAction::Nps { score }, now))
            .collect();
        json!({
            "shop": {
                "name": config.display_name(&message.shop),
                "domain": message.shop,
                "url": config.shop_url(&message.shop),
                "support_email": config.support_email,
            },
            // Instants stay RFC 3339 in UTC: the templates' `date` filters write them in this zone.
            "time_zone": tz.name(),
            "details": details(message, config, &locale),
            "guide": care_guide(message, config, &locale),
            "customer": { "first_name": customer.first_name, "last_name": customer.last_name },
            "order": order.map(|o| json!({
                "name": o.name.clone().unwrap_or_else(|| format!("#{}", o.id)),
                "items": o.line_items.iter().map(|li| json!({ "title": li.title, "quantity": li.quantity })).collect::<Vec<_>>(),
                "total": o.total.to_string(),
                "expected_delivery_at": expected_delivery_at,
            })),
            "products": products,
            // The balance line's figures; absent unless the shop runs points.
            "points": points,
            "class": message.class,
            "links": {
                "csat": csat,
                "nps": nps,
                "delivered_ok": self.link(message, LinkAction::Delivery { ok: true }, now),
                "delivered_problem": self.link(message, LinkAction::Delivery { ok: false }, now),
                "unsubscribe": self.unsubscribe_url(message, now),
                // Points messages open the customer's points page, where rewards are chosen.
                "points": (message.flow() == Flow::Points && !config.points.rewards.is_empty())
                    .then(|| self.link(message, LinkAction::Points, now)),
            },
        })
    }
}

/// A care guide's title, tips and link as the shop's config has them now, in the reader's
/// language (`None` for other flows, and for a guide the shop has since removed, which the
/// guide's re-check skips before rendering).
fn care_guide(message: &Message, config: &ShopConfig, locale: &str) -> Option<Value> {
    let name = message.payload.care_guide()?.guide.as_deref()?;
    let guide = config.flows.care_guide.guide(name)?;
    let text = |t: &LocalisedText| t.for_locale(locale).unwrap_or_default().to_owned();
    Some(json!({
        "name": guide.name,
        "kind": guide.kind.as_str(),
        "title": text(&guide.title),
        "tips": guide.tips.iter().map(text).collect::<Vec<_>>(),
        "link": guide.link,
    }))
}

/// The message's details for templates, as stored (instants included: templates format them),
/// except the "complete the set" title, which is taken from the shop's config in the reader's
/// language when the config still names that suggestion.
fn details(message: &Message, config: &ShopConfig, locale: &str) -> serde_json::Map<String, Value> {
    let mut out: serde_json::Map<String, Value> = message
        .details()
        .into_iter()
        .map(|(key, value)| (key, Value::String(value)))
        .collect();
    let reminder = message.payload.replenishment();
    let title = reminder
        .and_then(|r| r.complement_id.as_ref())
        .and_then(|suggest| {
            let product = reminder?.product_id.as_ref()?;
            config
                .flows
                .replenishment
                .complements
                .iter()
                .find(|c| &c.product_id == product && &c.suggest == suggest)?
                .title
                .as_ref()?
                .for_locale(locale)
                .map(str::to_owned)
        });
    if let Some(title) = title {
        out.insert("complement_title".into(), Value::String(title));
    }
    out
}
