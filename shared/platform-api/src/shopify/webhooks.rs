//! Webhook registration through the GraphQL Admin API, idempotent: list the app's
//! `webhookSubscriptions`, then per topic Aftersale needs keep one subscription at the right
//! URI: create it if missing (`webhookSubscriptionCreate`), move one at a wrong URI
//! (`webhookSubscriptionUpdate`), delete extra copies (`webhookSubscriptionDelete`), which would
//! deliver every event twice. Topics Aftersale does not handle are left alone. Running it
//! again changes nothing.
//!
//! The mandatory compliance topics (`customers/data_request`, `customers/redact`,
//! `shop/redact`) cannot be subscribed through this API; `shopify.app.toml` declares them.

use super::graphql::AdminClient;
use super::{Endpoint, http_client};
use aftersale_domain::{Secret, ShopId};
use aftersale_platforms::shopify::Topic;
use aftersale_ports::{PlatformError, WebhookOutcome, WebhookRegistrar, WebhookSync, WebhookTopicState};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

const LIST: &str = "query AftersaleWebhooks($after: String) {
  webhookSubscriptions(first: 100, after: $after) {
    nodes { id topic uri }
    pageInfo { hasNextPage endCursor }
  }
}";

const CREATE: &str = "mutation AftersaleWebhookCreate($topic: WebhookSubscriptionTopic!, $webhookSubscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}";

const UPDATE: &str =
    "mutation AftersaleWebhookUpdate($id: ID!, $webhookSubscription: WebhookSubscriptionInput!) {
  webhookSubscriptionUpdate(id: $id, webhookSubscription: $webhookSubscription) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}";

const DELETE: &str = "mutation AftersaleWebhookDelete($id: ID!) {
  webhookSubscriptionDelete(id: $id) {
    deletedWebhookSubscriptionId
    userErrors { field message }
  }
}";

/// Subscriptions listed at most this many pages deep (100 each): an app has a handful.
const MAX_PAGES: usize = 10;

/// The GraphQL enum of every topic the ingest handles that an app may subscribe to through
/// the API: all but the compliance topics. `APP_UNINSTALLED` is among them.
pub fn required_topics() -> Vec<&'static str> {
    Topic::ALL
        .into_iter()
        .filter(|t| {
            !matches!(
                t,
                Topic::CustomersDataRequest | Topic::CustomersRedact | Topic::ShopRedact
            )
        })
        .map(graphql_topic)
        .collect()
}

/// `orders/partially_fulfilled` → `ORDERS_PARTIALLY_FULFILLED`.
fn graphql_topic(topic: Topic) -> &'static str {
    match topic {
        Topic::OrdersCreate => "ORDERS_CREATE",
        Topic::OrdersPaid => "ORDERS_PAID",
        Topic::OrdersUpdated => "ORDERS_UPDATED",
        Topic::OrdersFulfilled => "ORDERS_FULFILLED",
        Topic::OrdersPartiallyFulfilled => "ORDERS_PARTIALLY_FULFILLED",
        Topic::OrdersCancelled => "ORDERS_CANCELLED",
        Topic::RefundsCreate => "REFUNDS_CREATE",
        Topic::FulfillmentsCreate => "FULFILLMENTS_CREATE",
        Topic::FulfillmentsUpdate => "FULFILLMENTS_UPDATE",
        Topic::FulfillmentEventsCreate => "FULFILLMENT_EVENTS_CREATE",
        Topic::CustomersCreate => "CUSTOMERS_CREATE",
        Topic::CustomersUpdate => "CUSTOMERS_UPDATE",
        Topic::CheckoutsCreate => "CHECKOUTS_CREATE",
        Topic::CheckoutsUpdate => "CHECKOUTS_UPDATE",
        Topic::AppUninstalled => "APP_UNINSTALLED",
        Topic::CustomersDataRequest => "CUSTOMERS_DATA_REQUEST",
        Topic::CustomersRedact => "CUSTOMERS_REDACT",
        Topic::ShopRedact => "SHOP_REDACT",
        Topic::BulkOperationsFinish => "BULK_OPERATIONS_FINISH",
    }
}

#[derive(Debug, Clone)]
struct Subscription {
    id: String,
    topic: String,
    uri: String,
}

/// [`WebhookRegistrar`] on Shopify's GraphQL Admin API.
#[derive(Debug, Clone)]
pub struct ShopifyWebhooks {
    client: reqwest::Client,
    endpoint: Endpoint,
}

impl ShopifyWebhooks {
    pub fn new(endpoint: Endpoint) -> Self {
        Self {
            client: http_client(),
            endpoint,
        }
    }
}

#[async_trait]
impl WebhookRegistrar for ShopifyWebhooks {
    async fn sync_webhooks(
        &self,
        shop: &ShopId,
        access_token: &Secret,
        uri: &str,
        now: DateTime<Utc>,
    ) -> Result<WebhookSync, PlatformError> {
        let api = AdminClient::new(&self.client, &self.endpoint, shop, access_token);
        let existing = list(&api).await?;
        let mut topics = Vec::new();
        for topic in required_topics() {
            let mut mine: Vec<&Subscription> = existing.iter().filter(|s| s.topic == topic).collect();
            // The one to keep: one already at the right URI, else the first to move there.
            mine.sort_by_key(|s| s.uri != uri);
            let result = match mine.split_first() {
                None => create(&api, topic, uri).await.map(|()| WebhookOutcome::Created),
                Some((keep, extra)) => {
                    let moved = if keep.uri == uri {
                        Ok(WebhookOutcome::Ok)
                    } else {
                        update(&api, &keep.id, uri).await.map(|()| WebhookOutcome::Fixed)
                    };
                    match moved {
                        Ok(outcome) => delete_all(&api, extra).await.map(|()| outcome),
                        Err(err) => Err(err),
                    }
                }
            };
            topics.push(match result {
                Ok(outcome) => WebhookTopicState {
                    topic: topic.to_string(),
                    outcome,
                    detail: None,
                },
                // Shopify is down or throttling: the run stops, to be run again. (A refused
                // token already failed the list above.)
                Err(PlatformError::Unavailable(reason)) => return Err(PlatformError::Unavailable(reason)),
                Err(PlatformError::Rejected(reason)) => WebhookTopicState {
                    topic: topic.to_string(),
                    outcome: WebhookOutcome::Failed,
                    detail: Some(reason),
                },
            });
        }
        Ok(WebhookSync {
            checked_at: now,
            uri: uri.to_string(),
            topics,
        })
    }
}

async fn list(api: &AdminClient<'_>) -> Result<Vec<Subscription>, PlatformError> {
    let mut found = Vec::new();
    let mut after = Value::Null;
    for _ in 0..MAX_PAGES {
        let data = api.run(LIST, json!({ "after": after })).await?;
        let page = &data["webhookSubscriptions"];
        let nodes = page["nodes"].as_array().ok_or_else(|| {
            PlatformError::Unavailable("Shopify's webhook list was not in the expected shape".into())
        })?;
        for node in nodes {
            if let (Some(id), Some(topic), Some(uri)) =
                (node["id"].as_str(), node["topic"].as_str(), node["uri"].as_str())
            {
                found.push(Subscription {
                    id: id.into(),
                    topic: topic.into(),
                    uri: uri.into(),
                });
            }
        }
        if page["pageInfo"]["hasNextPage"].as_bool() != Some(true) {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    Ok(found)
}

async fn create(api: &AdminClient<'_>, topic: &str, uri: &str) -> Result<(), PlatformError> {
    let data = api
        .run(
            CREATE,
            json!({ "topic": topic, "webhookSubscription": { "uri": uri, "format": "JSON" } }),
        )
        .await?;
    user_errors(&data["webhookSubscriptionCreate"])
}

async fn update(api: &AdminClient<'_>, id: &str, uri: &str) -> Result<(), PlatformError> {
    let data = api
        .run(UPDATE, json!({ "id": id, "webhookSubscription": { "uri": uri } }))
        .await?;
    user_errors(&data["webhookSubscriptionUpdate"])
}

async fn delete_all(api: &AdminClient<'_>, extra: &[&Subscription]) -> Result<(), PlatformError> {
    for subscription in extra {
        let data = api.run(DELETE, json!({ "id": subscription.id })).await?;
        user_errors(&data["webhookSubscriptionDelete"])?;
    }
    Ok(())
}

fn user_errors(payload: &Value) -> Result<(), PlatformError> {
    let messages: Vec<&str> = payload["userErrors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["message"].as_str()).collect())
        .unwrap_or_default();
    if messages.is_empty() {
        Ok(())
    } else {
        Err(PlatformError::Rejected(messages.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_the_ingest_handles_is_registered_but_the_compliance_ones() {
        let topics = required_topics();
        assert_eq!(topics.len(), Topic::ALL.len() - 3);
        assert!(topics.contains(&"APP_UNINSTALLED"));
        assert!(topics.contains(&"ORDERS_PARTIALLY_FULFILLED"));
        assert!(topics.contains(&"FULFILLMENT_EVENTS_CREATE"));
        assert!(
            !topics
                .iter()
                .any(|t| t.contains("REDACT") || t.contains("DATA_REQUEST"))
        );
        for topic in Topic::ALL {
            assert_eq!(
                graphql_topic(topic),
                topic.as_str().replace('/', "_").to_ascii_uppercase(),
                "the GraphQL enum is the REST topic in upper snake case"
            );
        }
    }
}
