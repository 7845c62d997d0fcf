//! The WooCommerce reconcile sweep. WooCommerce never retries a failed delivery and disables a
//! webhook after a handful of failures, so orders can go missing without a sound. The sweep
//! (hourly on a schedule, or `aftersale woocommerce reconcile --url SITE`):
//!
//! 1. repairs the site's webhooks: a disabled or paused one is reactivated, a missing one
//!    recreated (the same step as `woocommerce connect`);
//! 2. reads every order modified since the last successful sweep
//!    (`GET /orders?modified_after=…`, with a few minutes of overlap for clock skew) through
//!    the webhook path, so what was already delivered is a duplicate and nothing counts twice;
//! 3. tells the owner, through the shop's alert channel, how many orders no webhook had
//!    delivered and which webhooks it reactivated, when there were any.
//!
//! The sweep's start is saved as the next one's `modified_after` only once it succeeded.

use crate::woocommerce::{Taken, take};
use crate::{ImportError, Summary};
use aftersale_domain::{Secret, ShopId};
use aftersale_ingest::Ingest;
use aftersale_platform_api::woocommerce::orders::{Filter, PAGE_SIZE, Resource};
use aftersale_platform_api::woocommerce::{WebhookChange, WooClient, connect};
use aftersale_platforms::woocommerce::Topic;
use aftersale_ports::{SupportAlerts, documents};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The document that remembers the last successful sweep.
pub const KEY: &str = "reconcile#woocommerce";
/// Orders modified this long before the last sweep are read again (clocks differ).
const OVERLAP_MINUTES: i64 = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct LastSweep {
    succeeded_at: DateTime<Utc>,
}

/// What one sweep needs.
pub struct Sweep<'a> {
    pub ingest: &'a Ingest,
    pub client: &'a WooClient,
    pub shop: ShopId,
    pub alerts: &'a dyn SupportAlerts,
    /// Where the site's webhooks deliver, with the secret they are signed with.
    pub delivery_url: String,
    pub webhook_secret: Secret,
    pub known_webhooks: BTreeSet<u64>,
    /// The first sweep reads from here (the moment the site was connected).
    pub first_since: DateTime<Utc>,
}

/// What a sweep found and did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub since: DateTime<Utc>,
    pub orders_seen: u64,
    /// Orders with a change no webhook had delivered.
    pub missed_orders: u64,
    /// `topic (was status)` of each webhook it reactivated or recreated.
    pub repaired_webhooks: Vec<String>,
    pub webhook_ids: BTreeSet<u64>,
    pub summary: Summary,
    pub alerted: bool,
}

impl Sweep<'_> {
    pub async fn run(&self) -> Result<Report, ImportError> {
        let started = self.ingest.now();
        let store = self.ingest.store().as_ref();
        let last = documents::load::<LastSweep, _>(store, &self.shop, KEY).await?;
        let since =
            last.map_or(self.first_since, |l| l.value.succeeded_at) - Duration::minutes(OVERLAP_MINUTES);
        let repaired = connect(
            self.client,
            &self.delivery_url,
            self.webhook_secret.expose(),
            &self.known_webhooks,
        )
        .await?;
        let repaired_webhooks: Vec<String> = repaired
            .webhooks
            .iter()
            .filter_map(|(hook, change)| match change {
                WebhookChange::Reactivated { was } => Some(format!("{} (was {was})", hook.topic)),
                WebhookChange::Created => Some(format!("{} (was missing)", hook.topic)),
                WebhookChange::Adopted | WebhookChange::Unchanged => None,
            })
            .collect();
        let mut summary = Summary::default();
        let mut missed_orders = 0;
        let filter = Filter {
            modified_after: Some(since),
        };
        for number in 1.. {
            let page = self.client.page(Resource::Orders, number, filter).await?;
            let count = page.items.len();
            for order in &page.items {
                summary.orders += 1;
                match take(self.ingest, &self.shop, Topic::OrderCreated, order).await? {
                    Taken::Stored(counts) => {
                        missed_orders += u64::from(counts.imported > 0);
                        summary.add(counts);
                    }
                    Taken::DeadLettered => summary.dead_lettered += 1,
                }
            }
            let last = page
                .total_pages
                .map_or(count < PAGE_SIZE as usize, |total| number >= total)
                || count == 0;
            if last {
                break;
            }
        }
        let alerted = missed_orders > 0 || !repaired_webhooks.is_empty() || summary.dead_lettered > 0;
        if alerted {
            let (subject, body) = alert_text(
                &self.shop,
                since,
                missed_orders,
                &repaired_webhooks,
                summary.dead_lettered,
            );
            if let Err(err) = self.alerts.alert(&subject, &body).await {
                tracing::warn!(error = %err, "the reconcile alert could not be sent");
            }
        }
        documents::update::<LastSweep, _, _>(store, &self.shop, KEY, |_| {
            Some(LastSweep {
                succeeded_at: started,
            })
        })
        .await?;
        Ok(Report {
            since,
            orders_seen: summary.orders,
            missed_orders,
            repaired_webhooks,
            webhook_ids: repaired.ids(),
            summary,
            alerted,
        })
    }
}

/// The owner's alert: counts and topics only, never a customer's details.
fn alert_text(
    shop: &ShopId,
    since: DateTime<Utc>,
    missed: u64,
    repaired: &[String],
    dead_lettered: u64,
) -> (String, String) {
    let subject = format!("Aftersale reconcile of {shop}: {missed} order(s) no webhook had delivered");
    let mut body = format!(
        "The reconcile of {shop} read every order changed since {}.\n\n",
        since.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    body.push_str(&format!(
        "{missed} order(s) had changes that no webhook had delivered; they are now stored, and their flows planned.\n"
    ));
    if !repaired.is_empty() {
        body.push_str(&format!(
            "WooCommerce had stopped {} webhook(s), now active again: {}.\n",
            repaired.len(),
            repaired.join(", ")
        ));
        body.push_str("A webhook WooCommerce disables after failed deliveries is a sign Aftersale was unreachable; check that its address is reachable from the site.\n");
    }
    if dead_lettered > 0 {
        body.push_str(&format!(
            "{dead_lettered} order(s) could not be read and are kept as dead letters: `aftersale dead-letters` lists them with the reason.\n"
        ));
    }
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_alert_says_how_many_orders_were_missed_and_which_webhooks_came_back() {
        let shop = ShopId::new("shop.example").unwrap();
        let since = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let (subject, body) = alert_text(&shop, since, 3, &["order.updated (was disabled)".into()], 0);
        assert_eq!(
            subject,
            "Aftersale reconcile of shop.example: 3 order(s) no webhook had delivered"
        );
        assert!(body.contains("since 2026-12-01T09:00:00Z"), "{body}");
        assert!(
            body.contains("3 order(s) had changes that no webhook had delivered"),
            "{body}"
        );
        assert!(
            body.contains("now active again: order.updated (was disabled)"),
            "{body}"
        );
        assert!(!body.contains("dead letters"), "{body}");
    }
}
