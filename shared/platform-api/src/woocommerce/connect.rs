//! Connecting a site: the webhooks Aftersale needs, each delivered to Aftersale's URL and
//! signed with the site's secret. Idempotent: a webhook with the same topic and delivery URL
//! is already there (nothing is created twice); one WooCommerce disabled after failed
//! deliveries, or one Aftersale did not create (its secret is unknown), is made active with the
//! secret.

use crate::woocommerce::client::{Webhook, WooClient, WooError};
use std::collections::BTreeSet;

/// The topics Aftersale subscribes a site to.
pub const TOPICS: [&str; 6] = [
    "order.created",
    "order.updated",
    "order.deleted",
    "order.restored",
    "customer.created",
    "customer.updated",
];

/// What connecting did to one topic's webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookChange {
    Created,
    /// It was `disabled` or `paused`; now active again.
    Reactivated {
        was: String,
    },
    /// It existed but was not made by Aftersale: now signed with the site's secret.
    Adopted,
    Unchanged,
}

/// One line per topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectReport {
    pub webhooks: Vec<(Webhook, WebhookChange)>,
}

impl ConnectReport {
    /// The ids of the webhooks now signed with the site's secret (to be remembered).
    pub fn ids(&self) -> BTreeSet<u64> {
        self.webhooks.iter().map(|(w, _)| w.id).collect()
    }

    pub fn created(&self) -> usize {
        self.webhooks
            .iter()
            .filter(|(_, c)| *c == WebhookChange::Created)
            .count()
    }
}

/// Makes every [`TOPICS`] webhook exist, active, delivered to `delivery_url` and signed with
/// `secret`. `known` are the ids of webhooks made (or adopted) with this secret before.
pub async fn connect(
    client: &WooClient,
    delivery_url: &str,
    secret: &str,
    known: &BTreeSet<u64>,
) -> Result<ConnectReport, WooError> {
    let existing = client.list_webhooks().await?;
    let mut webhooks = Vec::with_capacity(TOPICS.len());
    for topic in TOPICS {
        let found = existing
            .iter()
            .filter(|w| w.topic == topic && same_url(&w.delivery_url, delivery_url))
            .min_by_key(|w| (w.status != "active", !known.contains(&w.id), w.id));
        let change = match found {
            None => (
                client.create_webhook(topic, delivery_url, secret).await?,
                WebhookChange::Created,
            ),
            Some(w) if w.status != "active" => (
                client.activate_webhook(w.id, secret).await?,
                WebhookChange::Reactivated {
                    was: w.status.clone(),
                },
            ),
            Some(w) if !known.contains(&w.id) => (
                client.activate_webhook(w.id, secret).await?,
                WebhookChange::Adopted,
            ),
            Some(w) => (w.clone(), WebhookChange::Unchanged),
        };
        webhooks.push(change);
    }
    Ok(ConnectReport { webhooks })
}

/// The site's webhooks for each topic at `delivery_url` (`None`: missing).
pub async fn status(
    client: &WooClient,
    delivery_url: &str,
) -> Result<Vec<(&'static str, Option<Webhook>)>, WooError> {
    let existing = client.list_webhooks().await?;
    Ok(TOPICS
        .into_iter()
        .map(|topic| {
            let found = existing
                .iter()
                .filter(|w| w.topic == topic && same_url(&w.delivery_url, delivery_url))
                .min_by_key(|w| (w.status != "active", w.id))
                .cloned();
            (topic, found)
        })
        .collect())
}

/// Delivery URLs compare without a trailing slash (WordPress may add or drop one).
fn same_url(a: &str, b: &str) -> bool {
    a.trim().trim_end_matches('/') == b.trim().trim_end_matches('/')
}
