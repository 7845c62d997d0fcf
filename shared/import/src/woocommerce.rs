//! A WooCommerce site's history: every order, then every customer, a page of 100 at a time,
//! each object through the webhook normaliser (`order.created` for an order, which gives the
//! same event ids as the site's own `order.created` and `order.updated` webhooks), a
//! checkpoint after every page.

use crate::checkpoint::{self, Checkpoint, Position, WooStage};
use crate::{ImportError, Outcome, Progress, Summary};
use aftersale_domain::{Platform, ShopId};
use aftersale_ingest::{ImportCounts, Ingest};
use aftersale_platform_api::woocommerce::WooClient;
use aftersale_platform_api::woocommerce::orders::{Filter, PAGE_SIZE, Resource};
use aftersale_platforms::Delivery;
use aftersale_platforms::woocommerce::{Topic, normalise};
use chrono::Utc;
use serde_json::Value;

/// The checkpoint document's kind.
pub const KIND: &str = "woocommerce";

pub struct Run<'a> {
    pub ingest: &'a Ingest,
    pub client: &'a WooClient,
    pub shop: ShopId,
    pub progress: &'a dyn Progress,
}

/// What one object gave.
pub(crate) enum Taken {
    Stored(ImportCounts),
    DeadLettered,
}

impl Run<'_> {
    fn documents(&self) -> &dyn aftersale_ports::Documents {
        self.ingest.store().as_ref()
    }

    pub async fn import(&self, resume: bool) -> Result<Outcome, ImportError> {
        let now = Utc::now();
        let mut checkpoint = match (
            resume,
            checkpoint::load(self.documents(), &self.shop, KIND).await?,
        ) {
            (true, Some(found)) if found.finished => return Ok(Outcome::Finished(found.summary)),
            (true, Some(found)) => found,
            (true, None) => {
                return Err(ImportError::NothingToResume {
                    shop: self.shop.clone(),
                });
            }
            (false, _) => Checkpoint {
                position: Position::WooPages {
                    stage: WooStage::Orders,
                    next_page: 1,
                },
                summary: Summary::default(),
                started_at: now,
                saved_at: now,
                finished: false,
            },
        };
        let Position::WooPages {
            mut stage,
            mut next_page,
        } = checkpoint.position.clone()
        else {
            return Err(ImportError::NothingToResume {
                shop: self.shop.clone(),
            });
        };
        let mut summary = checkpoint.summary;
        loop {
            let resource = match stage {
                WooStage::Orders => Resource::Orders,
                WooStage::Customers => Resource::Customers,
            };
            if next_page == 1 {
                self.progress.stage(resource.path());
            }
            let page = self.client.page(resource, next_page, Filter::default()).await?;
            if stage == WooStage::Orders {
                self.progress.expect(page.total);
            }
            let count = page.items.len();
            for item in &page.items {
                let taken = match stage {
                    WooStage::Orders => {
                        summary.orders += 1;
                        self.order(item).await?
                    }
                    WooStage::Customers => {
                        summary.customers += 1;
                        self.customer(item).await?
                    }
                };
                match taken {
                    Taken::Stored(counts) => summary.add(counts),
                    Taken::DeadLettered => summary.dead_lettered += 1,
                }
                self.progress.advance(&summary);
            }
            let last = page
                .total_pages
                .map_or(count < PAGE_SIZE as usize, |total| next_page >= total)
                || count == 0;
            (stage, next_page) = match (stage, last) {
                (_, false) => (stage, next_page + 1),
                (WooStage::Orders, true) => (WooStage::Customers, 1),
                (WooStage::Customers, true) => {
                    checkpoint.finished = true;
                    (stage, next_page + 1)
                }
            };
            checkpoint.position = Position::WooPages { stage, next_page };
            checkpoint.summary = summary;
            checkpoint.saved_at = Utc::now();
            checkpoint::save(self.documents(), &self.shop, KIND, &checkpoint).await?;
            if checkpoint.finished {
                return Ok(Outcome::Finished(summary));
            }
        }
    }

    pub(crate) async fn order(&self, order: &Value) -> Result<Taken, ImportError> {
        take(self.ingest, &self.shop, Topic::OrderCreated, order).await
    }

    async fn customer(&self, customer: &Value) -> Result<Taken, ImportError> {
        take(self.ingest, &self.shop, Topic::CustomerUpdated, customer).await
    }
}

/// One REST object as the webhook of `topic` would have carried it. An order is read as both
/// of its webhooks would have: `order.created` (the placement, and payment if paid) and
/// `order.updated` (its state now: refunded, cancelled, completed …), so a history import and
/// a reconcile store the same events the site's webhooks would have.
pub(crate) async fn take(
    ingest: &Ingest,
    shop: &ShopId,
    topic: Topic,
    object: &Value,
) -> Result<Taken, ImportError> {
    let body = serde_json::to_vec(object).unwrap_or_default();
    let delivery = Delivery {
        shop: shop.clone(),
        event_id: None,
        triggered_at: None,
    };
    let normalised = match topic {
        Topic::OrderCreated => normalise(Topic::OrderCreated, &delivery, &body).and_then(|mut events| {
            for event in normalise(Topic::OrderUpdated, &delivery, &body)? {
                if !events.iter().any(|e| e.event_id == event.event_id) {
                    events.push(event);
                }
            }
            Ok(events)
        }),
        other => normalise(other, &delivery, &body),
    };
    match normalised {
        Ok(events) => Ok(Taken::Stored(ingest.import_events(events).await?)),
        Err(err) => {
            // Kept under the webhook topic, so `aftersale dead-letters replay` can run it
            // through the webhook parser once it is fixed.
            ingest
                .dead_letter_import(
                    Platform::Woocommerce,
                    shop,
                    topic.as_str(),
                    &body,
                    err.to_string(),
                )
                .await?;
            Ok(Taken::DeadLettered)
        }
    }
}
