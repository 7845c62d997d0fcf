//! Care guide: plans the order's one guide from its known or estimated arrival, as the
//! review request does, and re-checks at send time that the shop still has that guide (the
//! rules are in `aftersale_domain::flows::care_guide`). A cancelled or refunded order is
//! skipped by the sending policy itself.
//!
//! **Guides by product type.** Order webhooks carry no product type, so when the shop has a
//! guide by type, the re-check asks the shop's catalogue (its Admin API, one call per order
//! on Shopify) for the types it does not know yet, and chooses the guide again with them. The
//! lookup happens at send time, never on the event path: a slow or failing API delays the
//! guide, never loses it. A failed lookup is retried hourly (`retrying: product types: ...`);
//! after a day of failures a guide by product id or SKU goes instead, if the order has one.
//! Answers are cached per product (`catalogue#type#{product}`, erased with the shop), so each
//! product is asked about once. A shop with no Admin API access has no types: its guides by
//! product id or SKU still go.

use super::{FlowJob, OrderEvent, Prepared};
use crate::Engine;
use aftersale_domain::flows::care_guide::{self, ProductTypes};
use aftersale_domain::flows::{delivery_check_in, order_message};
use aftersale_domain::{DeferReason, Flow, LineItem, Message, Platform, ShopConfig, ShopId, SkipReason};
use aftersale_ports::documents::{self, keys};
use aftersale_ports::{CatalogueError, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

/// A failed lookup is tried again after this.
const LOOKUP_RETRY: Duration = Duration::hours(1);
/// After failing this long, a guide by id or SKU goes without the types.
const FALL_BACK_AFTER: Duration = Duration::days(1);
/// A product's cached types are asked for again after this (a shop may re-sort its catalogue).
const TYPES_FRESH_FOR: Duration = Duration::days(30);

/// One product's types as the catalogue gave them, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct CachedTypes {
    types: Vec<String>,
    at: DateTime<Utc>,
}

pub(super) struct Job;

#[async_trait]
impl FlowJob for Job {
    fn flow(&self) -> Flow {
        Flow::CareGuide
    }

    async fn plan(&self, engine: &Engine, event: &OrderEvent<'_>) -> Result<usize, StoreError> {
        let flows = &event.config.flows;
        let Some((base, _)) = order_message(&event.event.shop, event.record, event.now) else {
            return Ok(0);
        };
        let Some(arrival) = delivery_check_in::arrival(event.record, &flows.delivery_check_in) else {
            return Ok(0);
        };
        // Only what is cached: the catalogue is asked when the guide falls due.
        let types = match (&event.record.snapshot, flows.care_guide.uses_product_types()) {
            (Some(order), true) => {
                cached_types(engine, &event.event.shop, &order.line_items, event.now).await?
            }
            _ => ProductTypes::new(),
        };
        let plans = care_guide::plan(&base, event.record, arrival, &flows.care_guide, &types);
        engine
            .plan_or_reschedule(plans.into_iter().collect(), event.event.origin)
            .await
    }

    /// The guide is read from the config when it goes: one the shop took out sends nothing.
    /// With guides by product type, the guide is chosen again now, with the types.
    async fn recheck(
        &self,
        engine: &Engine,
        message: Message,
        config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Result<Prepared, StoreError> {
        if config.flows.care_guide.uses_product_types() {
            return choose_with_types(engine, message, config, now).await;
        }
        let named = message.payload.care_guide().and_then(|p| p.guide.as_deref());
        if named
            .and_then(|name| config.flows.care_guide.guide(name))
            .is_none()
        {
            return Ok(Prepared::skip(SkipReason::GuideRemoved));
        }
        Ok(Prepared::Proceed(Box::new(message)))
    }
}

/// Chooses the order's guide with its products' types, asking the catalogue for those not
/// cached; the message then names the guide and item, or waits for the guide's own day.
async fn choose_with_types(
    engine: &Engine,
    mut message: Message,
    config: &ShopConfig,
    now: DateTime<Utc>,
) -> Result<Prepared, StoreError> {
    let guides = &config.flows.care_guide;
    let Some(order_id) = message.order_id.clone() else {
        return Ok(Prepared::skip(SkipReason::OrderNotFound));
    };
    let Some(record) = engine
        .store
        .load_order(&message.shop, &order_id)
        .await?
        .map(|v| v.value)
    else {
        return Ok(Prepared::skip(SkipReason::OrderNotFound));
    };
    let Some(order) = record.snapshot.as_ref() else {
        return Ok(Prepared::skip(SkipReason::OrderNotFound));
    };
    let lines = &order.line_items;
    let mut types = cached_types(engine, &message.shop, lines, now).await?;
    let missing = care_guide::untyped_products(lines, &types);
    // Still failing after a fall-back: the guide by id or SKU goes on its day without waiting
    // another day for the catalogue.
    let mut fell_back = false;
    if !missing.is_empty() {
        match look_up(engine, &message.shop, config, &missing, now).await? {
            Ok(found) => types.extend(found),
            Err(CatalogueError::NoAccess(why)) => {
                warn!(shop = %message.shop, reason = %why, "no product types without Admin API access; guides by id or SKU only");
                types.extend(missing.iter().map(|id| (id.clone(), Vec::new())));
            }
            Err(CatalogueError::Failed(why)) => {
                let payload = message.payload.care_guide_mut();
                let since = *payload.types_failing_since.get_or_insert(now);
                let mut untyped = types.clone();
                untyped.extend(missing.iter().map(|id| (id.clone(), Vec::new())));
                let fallback = care_guide::choose(lines, guides, &untyped).is_some();
                if now - since < FALL_BACK_AFTER || !fallback {
                    warn!(shop = %message.shop, error = %why, "product types not read; the guide waits");
                    return Ok(Prepared::retry(
                        message,
                        now + LOOKUP_RETRY,
                        format!("product types: {why}"),
                    ));
                }
                warn!(shop = %message.shop, error = %why, "product types still not read after a day; a guide by id or SKU goes");
                types = untyped;
                fell_back = true;
            }
        }
    }
    let Some((guide, item)) = care_guide::choose(lines, guides, &types) else {
        return Ok(Prepared::skip(SkipReason::NoGuideForItems));
    };
    let payload = message.payload.care_guide_mut();
    payload.guide = Some(guide.name.clone());
    if !fell_back {
        payload.types_failing_since = None;
    }
    message.products = vec![care_guide::product_ref(item)];
    if let Some(arrival) = delivery_check_in::arrival(&record, &config.flows.delivery_check_in) {
        let due = care_guide::due_at(guide, arrival.at);
        if due > now {
            info!(shop = %message.shop, guide = %guide.name, "the chosen guide goes on its own day");
            return Ok(Prepared::defer(message, due, DeferReason::GuideDay));
        }
    }
    Ok(Prepared::Proceed(Box::new(message)))
}

/// The fresh cached types of the order's products.
async fn cached_types(
    engine: &Engine,
    shop: &ShopId,
    lines: &[LineItem],
    now: DateTime<Utc>,
) -> Result<ProductTypes, StoreError> {
    let mut types = ProductTypes::new();
    for id in care_guide::untyped_products(lines, &types) {
        let key = keys::product_types(&id);
        if let Some(cached) = documents::load::<CachedTypes, _>(engine.store.as_ref(), shop, &key).await?
            && now - cached.value.at < TYPES_FRESH_FOR
        {
            types.insert(id, cached.value.types);
        }
    }
    Ok(types)
}

/// Asks the shop's catalogue for `missing` and caches every answer (a product the shop no
/// longer has is cached as having no type).
async fn look_up(
    engine: &Engine,
    shop: &ShopId,
    config: &ShopConfig,
    missing: &[String],
    now: DateTime<Utc>,
) -> Result<Result<ProductTypes, CatalogueError>, StoreError> {
    let platform = engine
        .store
        .load_shop(shop)
        .await?
        .map_or(Platform::Shopify, |s| s.platform);
    let found = match engine
        .senders
        .catalogue
        .product_types(shop, platform, config.admin_api.as_ref(), missing)
        .await
    {
        Ok(found) => found,
        Err(err) => return Ok(Err(err)),
    };
    let mut types = ProductTypes::new();
    for id in missing {
        let kinds = found.get(id).cloned().unwrap_or_default();
        let cached = CachedTypes {
            types: kinds.clone(),
            at: now,
        };
        documents::update::<CachedTypes, _, _>(engine.store.as_ref(), shop, &keys::product_types(id), |_| {
            Some(cached.clone())
        })
        .await?;
        types.insert(id.clone(), kinds);
    }
    info!(shop = %shop, products = missing.len(), "product types read from the shop's catalogue");
    Ok(Ok(types))
}
