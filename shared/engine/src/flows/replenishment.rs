//! Replenishment: a reminder a few days before what the customer bought runs out, one
//! follow-up at most, and both withdrawn the moment they reorder it.

use super::{FlowJob, OrderEvent, Prepared, marketing_message};
use crate::Engine;
use aftersale_domain::flows::history::PurchaseHistory;
use aftersale_domain::flows::replenishment::{
    Payload, ReplenishmentPlan, Step, SupplySource, plan_replenishment, still_due,
};
use aftersale_domain::{FailReason, SkipReason};
use aftersale_domain::{Flow, Message, OrderRecord, Origin, ProductRef, ShopConfig, ShopId};
use aftersale_ports::{StoreError, lifecycle};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;

pub(super) struct Job;

#[async_trait]
impl FlowJob for Job {
    fn flow(&self) -> Flow {
        Flow::Replenishment
    }

    fn plans_from_history(&self) -> bool {
        true
    }

    async fn plan(&self, engine: &Engine, event: &OrderEvent<'_>) -> Result<usize, StoreError> {
        let Some(history) = event.history else {
            return Ok(0);
        };
        plan(
            engine,
            &event.event.shop,
            event.record,
            history,
            event.config,
            event.now,
            event.event.origin,
        )
        .await
    }

    async fn recheck(
        &self,
        engine: &Engine,
        message: Message,
        config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Result<Prepared, StoreError> {
        recheck(engine, message, config, now).await
    }
}

/// A reminder still due this long after the predicted run-out is skipped, not sent.
const STALE_AFTER_RUN_OUT_DAYS: i64 = 14;

async fn plan(
    engine: &Engine,
    shop: &ShopId,
    record: &OrderRecord,
    history: &PurchaseHistory,
    config: &ShopConfig,
    now: DateTime<Utc>,
    origin: Origin,
) -> Result<usize, StoreError> {
    let cfg = &config.flows.replenishment;
    let Some(order) = history.order(&record.order_id) else {
        return Ok(0);
    };
    // A paid order withdraws pending reminders for what it contains.
    let bought: Vec<&str> = order.items.iter().map(|i| i.product_id.as_str()).collect();
    let mut changed = engine
        .cancel_planned(
            shop,
            &history.customer,
            |m| {
                m.payload.replenishment().is_some_and(|r| {
                    r.order_id.as_ref() != Some(&order.id)
                        && r.product_id
                            .as_ref()
                            .is_some_and(|p| bought.contains(&p.as_str()))
                })
            },
            SkipReason::Reordered,
        )
        .await?;
    let mut learned = BTreeMap::new();
    for item in &order.items {
        if let Some(found) = lifecycle::learned_supply(
            engine.store.as_ref(),
            shop,
            &item.product_id,
            cfg.min_samples,
            &engine.stat_cache,
        )
        .await?
        {
            learned.insert(item.product_id.clone(), found);
        }
    }
    let lines = record
        .snapshot
        .as_ref()
        .map(|o| o.line_items.as_slice())
        .unwrap_or_default();
    for plan in plan_replenishment(history, &order.id, cfg, &learned) {
        let line = lines.iter().find(|l| {
            l.product_id.as_deref() == Some(plan.product_id.as_str())
                && (plan.variant_id.is_none() || l.variant_id == plan.variant_id)
        });
        let product = ProductRef {
            product_id: plan.product_id.clone(),
            variant_id: plan.variant_id.clone(),
            sku: line.and_then(|l| l.sku.clone()),
            title: line.map_or_else(|| plan.product_id.clone(), |l| l.title.clone()),
        };
        let reorder_url = cfg.reorder_url_for(
            shop.as_str(),
            &plan.product_id,
            plan.variant_id.as_deref(),
            plan.quantity,
        );
        let complement = cfg
            .complements
            .iter()
            .find(|c| Some(&c.suggest) == plan.complement.as_ref() && c.title.is_some());
        let mut payload = Payload {
            order_id: Some(plan.order_id.clone()),
            product_id: Some(plan.product_id.clone()),
            variant_id: plan.variant_id.clone(),
            quantity: Some(plan.quantity),
            run_out_at: Some(plan.run_out_at),
            supply: Some(source_text(&plan)),
            reorder_url: Some(reorder_url),
            ..Payload::default()
        };
        // The title in the shop's language; the sender swaps in the reader's (`context.rs`).
        let title = complement.and_then(|c| c.title.as_ref()?.for_locale(&config.locale));
        if let (Some(c), Some(title)) = (complement, title) {
            payload.complement_id = Some(c.suggest.clone());
            payload.complement_title = Some(title.to_owned());
            payload.complement_url.clone_from(&c.url);
        }
        let subject = match &plan.variant_id {
            Some(variant) => format!("{}:{}:{}", plan.order_id, plan.product_id, variant),
            None => format!("{}:{}", plan.order_id, plan.product_id),
        };
        let base = Message {
            order_id: Some(plan.order_id.clone()),
            products: vec![product],
            payload: payload.into(),
            ..marketing_message(
                shop,
                &history.customer,
                super::id_safe(&subject),
                Step::Reminder.into(),
                plan.remind_at,
                now,
            )
        };
        if let Some(follow_up_at) = plan.follow_up_at {
            changed += engine
                .plan_once(
                    Message {
                        step: Step::FollowUp.into(),
                        due_at: follow_up_at,
                        ..base.clone()
                    },
                    origin,
                )
                .await?;
        }
        changed += engine.plan_once(base, origin).await?;
    }
    Ok(changed)
}

async fn recheck(
    engine: &Engine,
    message: Message,
    config: &ShopConfig,
    now: DateTime<Utc>,
) -> Result<Prepared, StoreError> {
    let payload = message.payload.replenishment();
    let (Some(order_id), Some(product_id)) = (
        message.order_id.clone(),
        payload.and_then(|p| p.product_id.clone()),
    ) else {
        return Ok(Prepared::fail(FailReason::ReminderWithoutOrderOrProduct));
    };
    // After a long outage or an import of old orders, a reminder for something that ran out
    // weeks ago helps nobody.
    if let Some(run_out) = payload.and_then(|p| p.run_out_at)
        && now - run_out > Duration::days(STALE_AFTER_RUN_OUT_DAYS)
    {
        return Ok(Prepared::skip(SkipReason::RanOutLongAgo));
    }
    let history = engine
        .history(&message.shop, &message.customer_id, config)
        .await?;
    let plan = ReplenishmentPlan {
        order_id,
        product_id,
        variant_id: payload.and_then(|p| p.variant_id.clone()),
        quantity: 0,
        purchased_at: message.planned_at,
        run_out_at: message.due_at,
        source: SupplySource::Configured,
        remind_at: message.due_at,
        follow_up_at: None,
        complement: None,
    };
    Ok(match still_due(&plan, &history) {
        Some(reason) => Prepared::skip(reason),
        None => Prepared::Proceed(Box::new(message)),
    })
}

fn source_text(plan: &ReplenishmentPlan) -> String {
    match plan.source {
        SupplySource::Configured => "configured".into(),
        SupplySource::Learned { samples } => format!("learned from {samples} repeat purchases"),
    }
}
