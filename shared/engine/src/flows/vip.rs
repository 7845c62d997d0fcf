//! VIP tiers: re-evaluated on every order and refund event of the customer, and again whenever
//! a tier is about to matter (a campaign's invitations, a greeting falling due), so a grace
//! period that ran out or a calendar year that ended counts without any sweep. Entering a
//! higher tier plans a recognition message; a refund lowers the tier only after the grace
//! period, and quietly. Tier members are greeted on their birthday, when the merchant has
//! given it, and on the anniversary of their first order.

use super::{FlowJob, OrderEvent, Prepared, id_safe, instant, marketing_message};
use crate::Engine;
use aftersale_domain::SkipReason;
use aftersale_domain::flows::history::PurchaseHistory;
use aftersale_domain::flows::vip::{
    Payload, Step, TierCause, TierChange, TierName, TierStatus, evaluate_tier, next_anniversary,
    next_birthday, tier_change,
};
use aftersale_domain::policy::Decision;
use aftersale_domain::{CustomerId, EventKind, Flow, Message, Origin, ShopConfig, ShopId, StoreEvent};
use aftersale_ports::StoreError;
use aftersale_ports::documents::{self, keys};
use async_trait::async_trait;
use chrono::{DateTime, Datelike, Duration, Utc};
use serde::{Deserialize, Serialize};
use tracing::info;

pub(super) struct Job;

#[async_trait]
impl FlowJob for Job {
    fn flow(&self) -> Flow {
        Flow::Vip
    }

    fn plans_from_history(&self) -> bool {
        true
    }

    async fn plan(&self, engine: &Engine, event: &OrderEvent<'_>) -> Result<usize, StoreError> {
        let Some(history) = event.history else {
            return Ok(0);
        };
        evaluate(engine, event.event, history, event.config, event.now).await
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

    /// This year's greeting going plans next year's.
    async fn after_decision(
        &self,
        engine: &Engine,
        message: &Message,
        decision: &Decision,
        config: &ShopConfig,
        _now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if !matches!(decision, Decision::Send { .. }) {
            return Ok(());
        }
        match Step::of(message.step) {
            Some(Step::Anniversary) => plan_next_anniversary(engine, message, config).await,
            Some(Step::Birthday) => plan_next_birthday(engine, message, config).await,
            _ => Ok(()),
        }
    }
}

impl Engine {
    /// The shop's customers holding a tier now, each re-evaluated on the clock as a campaign
    /// does (an expired grace or a new calendar year counts), with their numbers, by id.
    /// It reads every document held on customers: an ops listing, not a hot path.
    pub async fn tier_members(&self, shop: &ShopId) -> Result<Vec<TierMember>, StoreError> {
        let config = self.config(shop).await?;
        let now = self.clock.now();
        let held: Vec<(String, serde_json::Value)> =
            documents::list(self.store.as_ref(), shop, "customer#").await?;
        let mut members = Vec::new();
        for (key, _) in held {
            let Some(customer) = key
                .strip_prefix("customer#")
                .and_then(|k| k.strip_suffix("#tier"))
                .and_then(|id| CustomerId::new(id).ok())
            else {
                continue;
            };
            let Some(tier) = current_tier(self, shop, &customer, &config, now).await? else {
                continue;
            };
            let history = self.history(shop, &customer, &config).await?;
            members.push(TierMember {
                orders: history.order_count(),
                net_spend: history.net_spend(),
                customer,
                tier,
            });
        }
        members.sort_by(|a, b| a.customer.cmp(&b.customer));
        Ok(members)
    }

    /// Records a customer's birthday (month and day; the year is nobody's business), plans the
    /// next birthday bonus when the shop gives one, and the next greeting if they hold a tier.
    /// Platforms do not send birthdays: customers give theirs on their points page, and
    /// merchants import the ones they collected elsewhere. Returns when the tier greeting goes.
    pub async fn set_birthday(
        &self,
        shop: &ShopId,
        customer: &CustomerId,
        month: u32,
        day: u32,
    ) -> Result<Option<DateTime<Utc>>, BirthdayError> {
        if chrono::NaiveDate::from_ymd_opt(2024, month, day).is_none() {
            return Err(BirthdayError::NoSuchDay { month, day });
        }
        let birthday = Birthday { month, day };
        let store = self.store.as_ref();
        documents::update::<Birthday, _, _>(store, shop, &keys::customer_birthday(customer), |current| {
            (current != Some(&birthday)).then_some(birthday)
        })
        .await?;
        let config = self.config(shop).await?;
        let now = self.clock.now();
        super::points::plan_birthday_bonus(self, shop, customer, birthday, &config, now).await?;
        if !config.flows.vip.enabled {
            return Ok(None);
        }
        let Some(tier) = current_tier(self, shop, customer, &config, now).await? else {
            return Ok(None);
        };
        plan_birthday(self, shop, customer, &tier, birthday, &config, now).await
    }
}

async fn evaluate(
    engine: &Engine,
    event: &StoreEvent,
    history: &PurchaseHistory,
    config: &ShopConfig,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let cfg = &config.flows.vip;
    let shop = &event.shop;
    let customer = &history.customer;
    let key = keys::customer_tier(customer);
    let previous = documents::load::<TierStatus, _>(engine.store.as_ref(), shop, &key)
        .await?
        .map(|v| v.value)
        .unwrap_or_default();
    let cause = match event.kind {
        EventKind::OrderRefunded(_) | EventKind::OrderCancelled(_) | EventKind::OrderDeleted { .. } => {
            TierCause::Refund
        }
        _ => TierCause::Order,
    };
    let evaluated = evaluate_tier(history, &cfg.tiers, now);
    let grace = Duration::days(cfg.grace_days.into());
    let change = tier_change(&previous, evaluated, &cfg.tiers, cause, now, grace);
    let mut planned = 0;
    if let TierChange::Entered(tier) = &change {
        // Planned before the tier is saved: a crash in between re-plans the same message.
        let trigger = event.order_id().map_or_else(|| instant(now), ToString::to_string);
        let mut message = marketing_message(
            shop,
            customer,
            id_safe(&format!("{}@{trigger}", tier.as_str())),
            Step::TierEntered.into(),
            now,
            now,
        );
        message.payload.vip_mut().tier = Some(tier.clone());
        planned += engine.plan_once(message, event.origin).await?;
    }
    let status = change.status(&previous);
    if status != previous {
        info!(from = ?previous.tier, to = ?status.tier, "tier changed");
        documents::update::<TierStatus, _, _>(engine.store.as_ref(), shop, &key, |_| Some(status.clone()))
            .await?;
    }
    if let (Some(tier), Some(first)) = (&status.tier, history.first_order_at()) {
        planned += plan_anniversary(engine, shop, customer, tier, first, now, config).await?;
    }
    Ok(planned)
}

/// Plans the first anniversary of `first_order_at` after `after`, in the customer's zone.
async fn plan_anniversary(
    engine: &Engine,
    shop: &ShopId,
    customer: &CustomerId,
    tier: &TierName,
    first_order_at: DateTime<Utc>,
    after: DateTime<Utc>,
    config: &ShopConfig,
) -> Result<usize, StoreError> {
    let profile = engine.store.load_customer(shop, customer).await?;
    let tz = profile.and_then(|c| c.time_zone).unwrap_or(config.time_zone);
    let Some(at) = next_anniversary(first_order_at, after, tz) else {
        return Ok(0);
    };
    let years = at.with_timezone(&tz).year() - first_order_at.with_timezone(&tz).year();
    let mut message = marketing_message(
        shop,
        customer,
        format!("anniversary-{}", at.with_timezone(&tz).year()),
        Step::Anniversary.into(),
        at,
        engine.clock.now(),
    );
    message.payload = Payload {
        tier: Some(tier.clone()),
        years: Some(years),
        first_order_at: Some(first_order_at),
    }
    .into();
    // Always after `after`: still ahead for imported history too, so it is planned for it.
    engine.plan_once(message, Origin::Live).await
}

/// Once this year's anniversary message goes, next year's is planned.
async fn plan_next_anniversary(
    engine: &Engine,
    sent: &Message,
    config: &ShopConfig,
) -> Result<(), StoreError> {
    let Some((first, tier)) = sent
        .payload
        .vip()
        .and_then(|p| Some((p.first_order_at?, p.tier.clone()?)))
    else {
        return Ok(());
    };
    let after = sent.due_at + Duration::days(2);
    plan_anniversary(engine, &sent.shop, &sent.customer_id, &tier, first, after, config)
        .await
        .map(|_| ())
}

/// Recognition and greetings only make sense while the customer still holds a tier.
async fn recheck(
    engine: &Engine,
    mut message: Message,
    config: &ShopConfig,
    now: DateTime<Utc>,
) -> Result<Prepared, StoreError> {
    let Some(current) = current_tier(engine, &message.shop, &message.customer_id, config, now).await? else {
        return Ok(Prepared::skip(SkipReason::NotInTier));
    };
    if message.step == Step::TierEntered
        && message.payload.vip().and_then(|p| p.tier.as_ref()) != Some(&current)
    {
        return Ok(Prepared::skip(SkipReason::TierChanged {
            now: current.as_str().to_owned(),
        }));
    }
    message.payload.vip_mut().tier = Some(current);
    Ok(Prepared::Proceed(Box::new(message)))
}

/// The customer's tier now: the stored one, re-evaluated against their history and the
/// clock (an expired grace, a new calendar year) and saved if that changed it. Lowering
/// here is always quiet: nobody is told they lost a tier by a sweep.
pub(crate) async fn current_tier(
    engine: &Engine,
    shop: &ShopId,
    customer: &CustomerId,
    config: &ShopConfig,
    now: DateTime<Utc>,
) -> Result<Option<TierName>, StoreError> {
    let cfg = &config.flows.vip;
    let key = keys::customer_tier(customer);
    let Some(stored) = documents::load::<TierStatus, _>(engine.store.as_ref(), shop, &key).await? else {
        return Ok(None);
    };
    let history = engine.history(shop, customer, config).await?;
    let evaluated = evaluate_tier(&history, &cfg.tiers, now);
    let grace = Duration::days(cfg.grace_days.into());
    let change = tier_change(
        &stored.value,
        evaluated,
        &cfg.tiers,
        TierCause::Schedule,
        now,
        grace,
    );
    // Entering a tier is the order events' business (they plan the recognition).
    let status = match change {
        TierChange::Entered(_) => stored.value.clone(),
        other => other.status(&stored.value),
    };
    if status != stored.value {
        info!(from = ?stored.value.tier, to = ?status.tier, "tier re-evaluated");
        match engine
            .store
            .save_document(shop, &key, &to_value(&status), stored.version)
            .await
        {
            Ok(()) | Err(StoreError::Conflict { .. }) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(status.tier)
}

async fn plan_birthday(
    engine: &Engine,
    shop: &ShopId,
    customer: &CustomerId,
    tier: &TierName,
    birthday: Birthday,
    config: &ShopConfig,
    after: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, BirthdayError> {
    let profile = engine.store.load_customer(shop, customer).await?;
    let tz = profile.and_then(|c| c.time_zone).unwrap_or(config.time_zone);
    let Some(at) = next_birthday(birthday.month, birthday.day, after, tz) else {
        return Ok(None);
    };
    let mut message = marketing_message(
        shop,
        customer,
        format!("birthday-{}", at.with_timezone(&tz).year()),
        Step::Birthday.into(),
        at,
        engine.clock.now(),
    );
    message.payload.vip_mut().tier = Some(tier.clone());
    engine.plan_once(message, Origin::Live).await?;
    Ok(Some(at))
}

/// Once this year's birthday greeting goes, next year's is planned.
async fn plan_next_birthday(engine: &Engine, sent: &Message, config: &ShopConfig) -> Result<(), StoreError> {
    let store = engine.store.as_ref();
    let Some(birthday) =
        documents::load::<Birthday, _>(store, &sent.shop, &keys::customer_birthday(&sent.customer_id))
            .await?
    else {
        return Ok(());
    };
    let tier = sent
        .payload
        .vip()
        .and_then(|p| p.tier.clone())
        .unwrap_or_else(|| TierName(String::new()));
    match plan_birthday(
        engine,
        &sent.shop,
        &sent.customer_id,
        &tier,
        birthday.value,
        config,
        sent.due_at + Duration::days(2),
    )
    .await
    {
        Ok(_) | Err(BirthdayError::NoSuchDay { .. }) => Ok(()),
        Err(BirthdayError::Store(err)) => Err(err),
    }
}

/// A customer in a VIP tier, as `aftersale customers` lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierMember {
    pub customer: CustomerId,
    pub tier: TierName,
    /// Paid orders, and net spend after refunds, over the customer's whole history.
    pub orders: usize,
    pub net_spend: aftersale_domain::Money,
}

/// A customer's birthday as the merchant gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Birthday {
    pub month: u32,
    pub day: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum BirthdayError {
    #[error("{month:02}-{day:02} is not a day of the year")]
    NoSuchDay { month: u32, day: u32 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn to_value(status: &TierStatus) -> serde_json::Value {
    serde_json::to_value(status).expect("a tier status is plain data")
}
