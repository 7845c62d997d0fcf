//! Cross-sell, learned: the learning run and its stored result.
//!
//! The pairs are learned from the shop's counted orders on a schedule, never per message and
//! never per event: at most once a day per shop ([`RELEARN_AFTER`]), or when the shop's
//! minimums change, and on demand with `aftersale recommendations --relearn`. A run reads
//! every customer's order list once (one query of the shop's `customer#` documents, then their
//! orders) and writes one small document per product with complements
//! (`cross-sell#pairs#{product}`), then `cross-sell#run`. No item is written by every event.
//! The documents hold product ids, titles and counts, never a customer; `shop/redact` erases
//! them with the rest of the shop, and a redacted customer's orders drop out of the next run.

use super::{FlowJob, OrderEvent, Prepared, discount_codes, id_safe, marketing_message};
use crate::Engine;
use aftersale_domain::flows::cross_sell::{
    Learned, Learner, Payload, ProductPairs, Step, SuggestionSource, Thresholds, choose, counts, due_at,
};
use aftersale_domain::flows::locale_for;
use aftersale_domain::{CustomerId, Flow, Message, ProductRef, ShopConfig, ShopId, SkipReason};
use aftersale_ports::documents::{self, keys};
use aftersale_ports::{StoreError, lifecycle};
use aftersale_rewards::{CodePrefix, DiscountCode};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use tracing::warn;

/// How old a shop's learned pairs may get before a run learns them again.
pub const RELEARN_AFTER: Duration = Duration::hours(24);

/// Customers whose orders are read at once during a run.
const READ_CONCURRENCY: usize = 16;

/// `cross-sell#run`: when the pairs were learned, from what, with which minimums.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LearnRun {
    pub learned_at: DateTime<Utc>,
    pub orders: u64,
    pub customers: u64,
    pub thresholds: Thresholds,
    /// Products with at least one complement.
    pub products: usize,
}

/// A shop's learned pairs as stored, for `aftersale recommendations` and the messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recommendations {
    /// `None` until a first run.
    pub run: Option<LearnRun>,
    pub products: Vec<ProductPairs>,
}

impl Engine {
    /// Learns the shop's pairs from its counted orders now and stores them.
    pub async fn learn_cross_sell(&self, shop: &ShopId) -> Result<LearnRun, StoreError> {
        let config = self.config(shop).await?;
        let learned = learn(self, shop, &config).await?;
        save(self, shop, learned, self.clock.now()).await
    }

    /// Learns the shop's pairs again if they are missing, older than [`RELEARN_AFTER`] or
    /// learned with other minimums than the shop's config has now. Returns the run in force.
    pub async fn relearn_if_stale(
        &self,
        shop: &ShopId,
        config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Result<LearnRun, StoreError> {
        let run = documents::load::<LearnRun, _>(self.store.as_ref(), shop, keys::CROSS_SELL_RUN).await?;
        let wanted = config.flows.cross_sell.thresholds();
        match run {
            Some(run) if run.value.thresholds == wanted && now - run.value.learned_at < RELEARN_AFTER => {
                Ok(run.value)
            }
            _ => {
                let learned = learn(self, shop, config).await?;
                save(self, shop, learned, now).await
            }
        }
    }

    /// The shop's learned pairs as last stored, by product id.
    pub async fn cross_sell_pairs(&self, shop: &ShopId) -> Result<Recommendations, StoreError> {
        let store = self.store.as_ref();
        let run = documents::load::<LearnRun, _>(store, shop, keys::CROSS_SELL_RUN).await?;
        let products = documents::list::<ProductPairs, _>(store, shop, keys::CROSS_SELL_PAIRS_PREFIX)
            .await?
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        Ok(Recommendations {
            run: run.map(|r| r.value),
            products,
        })
    }
}

/// Every customer with an order list (ingest writes one per customer), their records read
/// [`READ_CONCURRENCY`] at a time and folded into a [`Learner`].
async fn learn(engine: &Engine, shop: &ShopId, config: &ShopConfig) -> Result<Learned, StoreError> {
    let store = engine.store.as_ref();
    let customers: Vec<CustomerId> = store
        .list_documents(shop, "customer#")
        .await?
        .into_iter()
        .filter_map(|(key, _)| {
            let id = key.strip_prefix("customer#")?.strip_suffix("#orders")?;
            CustomerId::new(id).ok()
        })
        .collect();
    let mut learner = Learner::new();
    let mut records = stream::iter(customers)
        .map(|customer| async move { lifecycle::customer_records(store, shop, &customer).await })
        .buffer_unordered(READ_CONCURRENCY);
    while let Some(theirs) = records.try_next().await? {
        learner.add_customer(&theirs);
    }
    Ok(learner.finish(config.flows.cross_sell.thresholds()))
}

/// Stores one document per product with complements, deletes those of products that have
/// none any more, and then the run (nothing at all for a shop without a counted order).
async fn save(
    engine: &Engine,
    shop: &ShopId,
    learned: Learned,
    now: DateTime<Utc>,
) -> Result<LearnRun, StoreError> {
    let store = engine.store.as_ref();
    let fresh: BTreeSet<String> = learned
        .products
        .iter()
        .map(|p| keys::cross_sell_pairs(&p.product_id))
        .collect();
    for (key, _) in store.list_documents(shop, keys::CROSS_SELL_PAIRS_PREFIX).await? {
        if !fresh.contains(&key) {
            store.delete_document(shop, &key).await?;
        }
    }
    let run = LearnRun {
        learned_at: now,
        orders: learned.orders,
        customers: learned.customers,
        thresholds: learned.thresholds,
        products: learned.products.len(),
    };
    // A shop with no counted order (new, or erased by `shop/redact`) keeps nothing.
    if learned.orders == 0 {
        store.delete_document(shop, keys::CROSS_SELL_RUN).await?;
        return Ok(run);
    }
    for product in learned.products {
        let key = keys::cross_sell_pairs(&product.product_id);
        documents::update::<ProductPairs, _, _>(store, shop, &key, |current| {
            (current != Some(&product)).then(|| product.clone())
        })
        .await?;
    }
    documents::update::<LearnRun, _, _>(store, shop, keys::CROSS_SELL_RUN, |_| Some(run.clone())).await?;
    Ok(run)
}

pub(super) struct Job;

#[async_trait]
impl FlowJob for Job {
    fn flow(&self) -> Flow {
        Flow::CrossSell
    }

    fn plans_from_history(&self) -> bool {
        true
    }

    async fn plan(&self, engine: &Engine, event: &OrderEvent<'_>) -> Result<usize, StoreError> {
        plan(engine, event).await
    }

    /// Before a batch of suggestions is sent, their shops' pairs are learned again if they
    /// are a day old: on the schedule, never per message. A failure is logged and the
    /// suggestions choose from the pairs stored before.
    async fn before_batch(&self, engine: &Engine, shops: &[ShopId], now: DateTime<Utc>) {
        for shop in shops {
            let learned = async {
                let config = engine.config(shop).await?;
                if !config.flows.cross_sell.enabled {
                    return Ok(());
                }
                engine.relearn_if_stale(shop, &config, now).await.map(|_| ())
            };
            if let Err(err) = learned.await {
                warn!(shop = %shop, error = %err, "cross-sell pairs not learned again; suggestions use the stored ones");
            }
        }
    }

    async fn recheck(
        &self,
        engine: &Engine,
        message: Message,
        config: &ShopConfig,
        _now: DateTime<Utc>,
    ) -> Result<Prepared, StoreError> {
        recheck(engine, message, config).await
    }

    /// A suggestion that hands out a code creates it in the shop first.
    async fn prepare(
        &self,
        engine: &Engine,
        message: Message,
        config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Result<Prepared, StoreError> {
        if message
            .payload
            .cross_sell()
            .is_none_or(|p| p.offer_code.is_none())
        {
            return Ok(Prepared::Proceed(Box::new(message)));
        }
        discount_codes::ensure_cross_sell_discount(engine, message, config, now).await
    }
}

/// Cross-sell codes look like `ADD-K7M2P9QX4R`.
const OFFER_PREFIX: &str = "ADD";

/// The customer's latest counted order plans its suggestion `delay_days` later and replaces
/// the pending suggestion of any earlier order: one at a time per customer. An event about an
/// older order plans nothing.
async fn plan(engine: &Engine, event: &OrderEvent<'_>) -> Result<usize, StoreError> {
    let (record, config, shop) = (event.record, event.config, &event.event.shop);
    let (Some(order), Some(history)) = (record.snapshot.as_ref(), event.history) else {
        return Ok(0);
    };
    let latest = history.last_order().is_some_and(|last| last.id == order.id);
    if !counts(record) || !latest {
        return Ok(0);
    }
    let cfg = &config.flows.cross_sell;
    let customer = &history.customer;
    let mut changed = engine
        .cancel_planned(
            shop,
            customer,
            |m| m.flow() == Flow::CrossSell && m.order_id.as_ref() != Some(&order.id),
            SkipReason::NewerOrder,
        )
        .await?;
    let makes_codes = config.admin_api.is_some()
        || engine
            .store
            .load_shop(shop)
            .await?
            .is_some_and(|s| s.has_app_install());
    let percent = cfg.discount_percent.filter(|_| makes_codes);
    let payload = Payload {
        order_id: Some(order.id.clone()),
        discount_percent: percent,
        offer_code: percent.map(|_| {
            let prefix = CodePrefix::new(OFFER_PREFIX).expect("a valid prefix");
            DiscountCode::generate(&prefix).as_str().to_string()
        }),
        ..Payload::default()
    };
    let message = Message {
        order_id: Some(order.id.clone()),
        payload: payload.into(),
        ..marketing_message(
            shop,
            customer,
            id_safe(order.id.as_str()),
            Step::Suggest.into(),
            due_at(order.created_at, cfg, config.time_zone),
            event.now,
        )
    };
    changed += engine.plan_once(message, event.event.origin).await?;
    Ok(changed)
}

/// At send time: the order still counts, and there is a complement the customer does not own
/// yet, chosen from the pairs stored now (configured ones first); the message then names it,
/// in the reader's language for a configured title.
async fn recheck(engine: &Engine, mut message: Message, config: &ShopConfig) -> Result<Prepared, StoreError> {
    let Some(order_id) = message.order_id.clone() else {
        return Ok(Prepared::skip(SkipReason::OrderNotFound));
    };
    let store = engine.store.as_ref();
    let records = lifecycle::customer_records(store, &message.shop, &message.customer_id).await?;
    let Some(anchor) = records.iter().find(|r| r.order_id == order_id) else {
        return Ok(Prepared::skip(SkipReason::OrderNotFound));
    };
    if !counts(anchor) {
        return Ok(Prepared::skip(
            anchor
                .void_reason()
                .map_or(SkipReason::OrderNotFound, SkipReason::OrderVoid),
        ));
    }
    let lines = anchor
        .snapshot
        .as_ref()
        .map(|o| o.line_items.as_slice())
        .unwrap_or_default();
    let in_order: Vec<String> = lines.iter().filter_map(|l| l.product_id.clone()).collect();
    let owned: BTreeSet<String> = records
        .iter()
        .filter_map(|r| r.snapshot.as_ref())
        .flat_map(|o| o.line_items.iter().filter_map(|l| l.product_id.clone()))
        .collect();
    let cfg = &config.flows.cross_sell;
    let learned = engine.pairs_of(&message.shop, &in_order).await?;
    let Some(suggestion) = choose(&in_order, &owned, cfg, &learned) else {
        return Ok(Prepared::skip(SkipReason::NothingToSuggest));
    };
    let customer = store.load_customer(&message.shop, &message.customer_id).await?;
    let locale = locale_for(customer.as_ref(), config);
    let (title, url, variant) = match &suggestion.source {
        SuggestionSource::Configured => {
            let c = cfg
                .complements
                .iter()
                .find(|c| c.product_id == suggestion.product_id && c.suggest == suggestion.complement_id);
            (
                c.and_then(|c| c.title.for_locale(&locale)).map(str::to_owned),
                c.and_then(|c| c.url.clone()),
                None,
            )
        }
        SuggestionSource::Learned(pair) => (
            Some(pair.complement.title.clone()),
            None,
            pair.complement.variant_id.clone(),
        ),
    };
    let line = lines
        .iter()
        .find(|l| l.product_id.as_deref() == Some(suggestion.product_id.as_str()));
    let payload = message.payload.cross_sell_mut();
    payload.product_id = Some(suggestion.product_id.clone());
    payload.product_title = Some(line.map_or_else(|| suggestion.product_id.clone(), |l| l.title.clone()));
    payload.complement_id = Some(suggestion.complement_id.clone());
    payload.complement_title = Some(title.unwrap_or_else(|| suggestion.complement_id.clone()));
    payload.complement_url = Some(url.unwrap_or_else(|| {
        cfg.product_url_for(
            message.shop.as_str(),
            &suggestion.complement_id,
            variant.as_deref(),
        )
    }));
    payload.chosen_by = Some(suggestion.chosen_by());
    message.products = line
        .map(|l| ProductRef {
            product_id: suggestion.product_id.clone(),
            variant_id: l.variant_id.clone(),
            sku: l.sku.clone(),
            title: l.title.clone(),
        })
        .into_iter()
        .collect();
    Ok(Prepared::Proceed(Box::new(message)))
}

impl Engine {
    /// The learned complements of `products` (those with any), for a suggestion's choice.
    async fn pairs_of(&self, shop: &ShopId, products: &[String]) -> Result<Vec<ProductPairs>, StoreError> {
        let mut found = Vec::new();
        for product in products.iter().collect::<BTreeSet<_>>() {
            let key = keys::cross_sell_pairs(product);
            if let Some(p) = documents::load::<ProductPairs, _>(self.store.as_ref(), shop, &key).await? {
                found.push(p.value);
            }
        }
        Ok(found)
    }
}
