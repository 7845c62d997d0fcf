//! Win-back: the first step of a lapse is planned at the lapse date whenever an order
//! arrives, so the due index is the lapse index: a sweep reads only the customers whose
//! lapse date has come. When that step goes, the rest of the sequence is planned for the
//! customer's segment; any new order withdraws it all.

use super::{FlowJob, OrderEvent, Prepared, discount_codes, early_access, marketing_message};
use crate::Engine;
use aftersale_domain::flows::history::PurchaseHistory;
use aftersale_domain::flows::win_back::{
    Incentive, IncentiveKind, Lapse, Payload, Step, WinbackStep, plan_winback, segment, still_due,
    top_spend_threshold_of,
};
use aftersale_domain::policy::Decision;
use aftersale_domain::{
    CustomerId, Flow, Message, OrderId, OrderRecord, Origin, ProductRef, ShopConfig, ShopId,
};
use aftersale_domain::{FailReason, ReplanReason, SkipReason};
use aftersale_ports::{StoreError, lifecycle};
use aftersale_rewards::{CodePrefix, DiscountCode};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub(super) struct Job;

#[async_trait]
impl FlowJob for Job {
    fn flow(&self) -> Flow {
        Flow::WinBack
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
        _now: DateTime<Utc>,
    ) -> Result<Prepared, StoreError> {
        recheck(engine, message, config).await
    }

    /// An offer or last call that hands out a code creates it in the shop first.
    async fn prepare(
        &self,
        engine: &Engine,
        message: Message,
        config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Result<Prepared, StoreError> {
        let hands_out_code = matches!(Step::of(message.step), Some(Step::Offer | Step::LastCall))
            && message.payload.win_back().is_some_and(|p| p.offer_code.is_some());
        if !hands_out_code {
            return Ok(Prepared::Proceed(Box::new(message)));
        }
        let title = format!("Aftersale win-back offer for customer {}", message.customer_id);
        discount_codes::ensure_offer_discount(engine, message, config, now, title).await
    }

    /// The value step going (or waiting for quiet hours to end) plans the rest of the
    /// sequence; a step that promises early access grants it as it goes.
    async fn after_decision(
        &self,
        engine: &Engine,
        message: &Message,
        decision: &Decision,
        config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if Step::of(message.step) == Some(Step::Value) {
            return plan_sequence(engine, message, config, now).await;
        }
        let promises_early_access = message
            .payload
            .win_back()
            .is_some_and(|p| p.incentive == Some(IncentiveKind::EarlyAccess));
        if matches!(decision, Decision::Send { .. }) && promises_early_access {
            return early_access::grant_early_access(engine, message, config, now).await;
        }
        Ok(())
    }
}

/// Win-back offer codes look like `BACK-K7M2P9QX4R`.
const OFFER_PREFIX: &str = "BACK";

async fn plan(
    engine: &Engine,
    shop: &ShopId,
    record: &OrderRecord,
    history: &PurchaseHistory,
    config: &ShopConfig,
    now: DateTime<Utc>,
    origin: Origin,
) -> Result<usize, StoreError> {
    let gaps = lifecycle::order_gaps(engine.store.as_ref(), shop, &engine.stat_cache).await?;
    let window = config.flows.win_back.window(&gaps);
    let Some(mut lapse) = Lapse::of(history, window) else {
        return Ok(0);
    };
    // Someone who just ordered (even an order later refunded or cancelled) is not lapsed: the
    // sequence starts a full window after the order this event is about, never sooner.
    if let Some(latest) = record.snapshot.as_ref().map(|o| o.created_at) {
        lapse.at = lapse.at.max(latest + window);
    }
    let current = lapse.last_order_id.to_string();
    let older_lapse = |m: &Message| {
        m.payload
            .win_back()
            .and_then(|p| p.last_order_at)
            .is_some_and(|at| at < lapse.last_order_at)
    };
    // A new order ends every sequence of an earlier lapse, at once; a refund that voids the
    // last order ends the sequence named for it.
    let mut changed = engine
        .cancel_planned(
            shop,
            &history.customer,
            |m| m.flow() == Flow::WinBack && m.subject != current && older_lapse(m),
            SkipReason::OrderedAgain,
        )
        .await?;
    changed += engine
        .cancel_planned(
            shop,
            &history.customer,
            |m| m.flow() == Flow::WinBack && m.subject != current,
            SkipReason::LastOrderVoid,
        )
        .await?;
    let payload = Payload {
        last_order_at: Some(lapse.last_order_at),
        lapse_at: Some(lapse.at),
        window_days: Some(window.num_days()),
        // The first step sells nothing, whoever the customer is.
        incentive: Some(IncentiveKind::None),
        ..Payload::default()
    };
    let value = Message {
        payload: payload.into(),
        ..marketing_message(
            shop,
            &history.customer,
            current,
            Step::Value.into(),
            lapse.at,
            now,
        )
    };
    if !origin.may_plan(value.due_at, now) {
        // Imported history whose lapse date has passed: nothing to win back from it.
        return Ok(changed);
    }
    if engine.plan_once(value.clone(), origin).await? == 1 {
        return Ok(changed + 1);
    }
    // This lapse was planned before and withdrawn because a later order came; if that
    // order no longer counts (refunded, cancelled), the lapse is real again. Only a
    // sequence skipped as "ordered again" can be planned again.
    let existing = engine
        .store
        .load_message(shop, &history.customer, &value.id())
        .await?;
    if let Some(mut revived) = existing
        && revived
            .plan_again(value.due_at, ReplanReason::LaterOrderVoid)
            .is_ok()
    {
        revived.payload = value.payload;
        match engine.store.update_message(&revived).await {
            Ok(_) => changed += 1,
            Err(StoreError::Conflict { .. }) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(changed)
}

/// Plans the offer, social-proof and last-call steps once the value step goes.
async fn plan_sequence(
    engine: &Engine,
    value: &Message,
    config: &ShopConfig,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Some(lapse) = lapse_of(value) else {
        return Ok(());
    };
    let shop = &value.shop;
    let cfg = &config.flows.win_back;
    let history = engine.history(shop, &value.customer_id, config).await?;
    let spends = lifecycle::spend_table(engine.store.as_ref(), shop, &engine.stat_cache).await?;
    let top = spends.currency.and_then(|currency| {
        top_spend_threshold_of(
            spends.spend.values().copied().collect(),
            currency,
            cfg.high_value_top_percent,
        )
    });
    let segment = segment(&history, &lapse, cfg, top);
    let steps = plan_winback(segment, &lapse, cfg, config.time_zone);
    let offer_code = steps
        .iter()
        .any(|s| matches!(s.incentive, Incentive::Discount(_)))
        .then(|| {
            let prefix = CodePrefix::new(OFFER_PREFIX).expect("a valid prefix");
            DiscountCode::generate(&prefix).as_str().to_string()
        });
    let makes_codes = config.admin_api.is_some()
        || engine
            .store
            .load_shop(shop)
            .await?
            .is_some_and(|s| s.has_app_install());
    let (favourites, repeat_buyers) =
        social_proof(engine, shop, &lapse.last_order_id, &value.customer_id).await?;
    for step in steps.into_iter().filter(|s| s.kind != Step::Value) {
        let mut payload = value.payload.win_back().cloned().unwrap_or_default();
        payload.segment = Some(segment);
        add_incentive(&mut payload, &step, offer_code.as_deref(), makes_codes);
        let mut products = Vec::new();
        if step.kind == Step::SocialProof {
            products.clone_from(&favourites);
            if repeat_buyers > 0 {
                payload.repeat_buyers = Some(repeat_buyers);
            }
        }
        let message = Message {
            payload: payload.into(),
            products,
            ..marketing_message(
                shop,
                &value.customer_id,
                value.subject.clone(),
                step.kind.into(),
                step.due_at,
                now,
            )
        };
        engine.plan_once(message, Origin::Live).await?;
    }
    Ok(())
}

/// What the customer bought last (up to two products) and how many of the shop's other
/// customers came back for the most rebought of them: true numbers or none at all.
async fn social_proof(
    engine: &Engine,
    shop: &ShopId,
    last_order: &OrderId,
    reader: &CustomerId,
) -> Result<(Vec<ProductRef>, usize), StoreError> {
    let Some(record) = engine.store.load_order(shop, last_order).await? else {
        return Ok((Vec::new(), 0));
    };
    let mut products: Vec<ProductRef> = Vec::new();
    for line in record.value.snapshot.iter().flat_map(|o| &o.line_items) {
        let Some(product_id) = &line.product_id else {
            continue;
        };
        if products.len() < 2 && !products.iter().any(|p| &p.product_id == product_id) {
            products.push(ProductRef {
                product_id: product_id.clone(),
                variant_id: line.variant_id.clone(),
                sku: line.sku.clone(),
                title: line.title.clone(),
            });
        }
    }
    let mut most = 0;
    for product in &products {
        most = most.max(
            lifecycle::repeat_buyers(
                engine.store.as_ref(),
                shop,
                &product.product_id,
                reader,
                &engine.stat_cache,
            )
            .await?,
        );
    }
    Ok((products, most))
}

async fn recheck(engine: &Engine, message: Message, config: &ShopConfig) -> Result<Prepared, StoreError> {
    let Some(lapse) = lapse_of(&message) else {
        return Ok(Prepared::fail(FailReason::WinBackWithoutLapse));
    };
    let history = engine
        .history(&message.shop, &message.customer_id, config)
        .await?;
    let step = WinbackStep {
        kind: Step::Value,
        lapse,
        due_at: message.due_at,
        incentive: Incentive::None,
        offer_expires_at: None,
    };
    Ok(match still_due(&step, &history) {
        Some(reason) => Prepared::skip(reason),
        None => Prepared::Proceed(Box::new(message)),
    })
}

fn lapse_of(message: &Message) -> Option<Lapse> {
    let payload = message.payload.win_back()?;
    Some(Lapse {
        last_order_id: OrderId::new(&message.subject).ok()?,
        last_order_at: payload.last_order_at?,
        at: payload.lapse_at?,
    })
}

/// What the step offers, as the template reads it. A discount needs the shop's Admin API (the
/// installed app's token or `[admin_api]`) to be a real code; without one the step offers
/// nothing rather than a code that fails at checkout.
fn add_incentive(payload: &mut Payload, step: &WinbackStep, offer_code: Option<&str>, makes_codes: bool) {
    let kind = match step.incentive {
        Incentive::None => IncentiveKind::None,
        Incentive::EarlyAccess => IncentiveKind::EarlyAccess,
        Incentive::Points(points) => {
            payload.points = Some(points);
            IncentiveKind::Points
        }
        Incentive::Discount(percent) => match offer_code {
            Some(code) if makes_codes => {
                payload.discount_percent = Some(percent.normalize());
                payload.offer_code = Some(code.into());
                IncentiveKind::Discount
            }
            _ => IncentiveKind::None,
        },
    };
    payload.incentive = Some(kind);
    if kind != IncentiveKind::None
        && let Some(expires) = step.offer_expires_at
    {
        payload.offer_expires_at = Some(expires);
    }
}
