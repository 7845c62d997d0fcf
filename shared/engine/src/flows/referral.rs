//! Referrals: an eligible customer gets a personal code (a real discount in the shop for their
//! friends) and a share message; a new customer's order that uses the code is attributed,
//! checked for fraud, and once the friend's order is fulfilled and has stayed unrefunded for
//! the holding period the advocate gets a real reward code and is told.

use super::discount_codes::{self, money, parse_code};
use super::{FlowJob, OrderEvent, Prepared, marketing_message};
use crate::Engine;
use aftersale_domain::flows::history::PurchaseHistory;
use aftersale_domain::flows::referral::{Payload, ReferralEligibility, Step};
use aftersale_domain::{
    Address, CustomerId, Flow, Message, MessageClass, Order, OrderId, OrderRecord, OrderStatus, Origin,
    ShopConfig, ShopId, StoreEvent,
};
use aftersale_domain::{DeferReason, FailReason, SkipReason};
use aftersale_ports::documents::{self, keys};
use aftersale_ports::{StoreError, lifecycle};
use aftersale_rewards::{
    CancelReason, CodePrefix, CustomerEligibility, DiscountCode, DiscountRequest, DiscountValue, FraudRules,
    FraudVerdict, FriendOrderState, Party, PostalAddress, ReferralAttempt, ReferralHistory, ReferredOrder,
    RewardDecision, UsageLimit, check_referral_with, reward_due,
};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

/// Reward codes look like `THANKS-K7M2P9QX4R`.
const REWARD_PREFIX: &str = "THANKS";
/// A reward waits this long for the friend's order to be fulfilled before it is dropped.
const MAX_WAIT_FOR_FULFILMENT_DAYS: i64 = 120;

pub(super) struct Job;

#[async_trait]
impl FlowJob for Job {
    fn flow(&self) -> Flow {
        Flow::Referral
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
            event.event,
            event.record,
            history,
            event.config,
            event.now,
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

    /// The advocate's code becomes a real discount before it is shared.
    async fn prepare(
        &self,
        engine: &Engine,
        message: Message,
        config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Result<Prepared, StoreError> {
        if Step::of(message.step) != Some(Step::Share) {
            return Ok(Prepared::Proceed(Box::new(message)));
        }
        ensure_share_discount(engine, message, config, now).await
    }
}

/// A customer's own referral code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvocateCode {
    pub code: String,
    pub created_at: DateTime<Utc>,
}

/// Who a code belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeOwner {
    pub customer: CustomerId,
}

/// An order placed with a referral code, and what was decided about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Referral {
    pub code: String,
    pub advocate: CustomerId,
    pub friend: CustomerId,
    pub order_id: OrderId,
    pub placed_at: DateTime<Utc>,
    pub client_ip: Option<String>,
    /// `accepted`, or `rejected: why`.
    pub verdict: String,
    pub attributed_at: DateTime<Utc>,
}

async fn plan(
    engine: &Engine,
    event: &StoreEvent,
    record: &OrderRecord,
    history: &PurchaseHistory,
    config: &ShopConfig,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let mut planned = 0;
    if let Some(order) = record.snapshot.as_ref().filter(|o| o.status.is_paid()) {
        planned += attribute(engine, &event.shop, order, history, config, now, event.origin).await?;
    }
    if let Some(due) = eligible_from(record, history, config) {
        planned += plan_share(
            engine,
            &event.shop,
            &history.customer,
            due.max(now),
            config,
            now,
            event.origin,
        )
        .await?;
    }
    Ok(planned)
}

/// Gives the customer a code (once) and plans the message that shares it.
async fn plan_share(
    engine: &Engine,
    shop: &ShopId,
    customer: &CustomerId,
    due: DateTime<Utc>,
    config: &ShopConfig,
    now: DateTime<Utc>,
    origin: Origin,
) -> Result<usize, StoreError> {
    let prefix = CodePrefix::new(&config.flows.referral.code_prefix).map_err(StoreError::backend)?;
    let store = engine.store.as_ref();
    let key = keys::customer_referral(customer);
    // The customer's document is the source of truth: a retry finds the code chosen before.
    let own = documents::update::<AdvocateCode, _, _>(store, shop, &key, |current| match current {
        Some(_) => None,
        None => Some(AdvocateCode {
            code: DiscountCode::generate(&prefix).as_str().to_string(),
            created_at: now,
        }),
    })
    .await?
    .ok_or_else(|| StoreError::Backend("referral code not stored".into()))?;
    let owner = CodeOwner {
        customer: customer.clone(),
    };
    if !documents::insert(store, shop, &keys::referral_code(&own.code), &owner).await? {
        let existing = documents::load::<CodeOwner, _>(store, shop, &keys::referral_code(&own.code)).await?;
        if existing.is_some_and(|e| &e.value.customer != customer) {
            // 30^10 codes make this all but impossible; refuse rather than share a code twice.
            return Err(StoreError::Conflict {
                what: format!("referral code {} belongs to another customer", own.code),
            });
        }
    }
    let mut message = marketing_message(shop, customer, customer.to_string(), Step::Share.into(), due, now);
    message.payload = Payload {
        code: Some(own.code.clone()),
        friend_percent: Some(config.flows.referral.friend_percent.normalize()),
        friend_minimum: config
            .flows
            .referral
            .friend_minimum_subtotal
            .map(|m| m.normalize()),
        ..Payload::default()
    }
    .into();
    engine.plan_once(message, origin).await
}

/// Attributes an order that used someone's code, once, and plans the advocate's reward
/// when the fraud checks pass.
async fn attribute(
    engine: &Engine,
    shop: &ShopId,
    order: &Order,
    friend_history: &PurchaseHistory,
    config: &ShopConfig,
    now: DateTime<Utc>,
    origin: Origin,
) -> Result<usize, StoreError> {
    let Some(code) = DiscountCode::find_in(order.discount_codes.iter().map(String::as_str)) else {
        return Ok(0);
    };
    let store = engine.store.as_ref();
    let Some(owner) =
        documents::load::<CodeOwner, _>(store, shop, &keys::referral_code(code.as_str())).await?
    else {
        return Ok(0);
    };
    let advocate = owner.value.customer;
    let key = keys::referred_order(&order.id);
    if documents::load::<Referral, _>(store, shop, &key).await?.is_some() {
        return Ok(0);
    }
    let cfg = &config.flows.referral;
    let advocate_profile = engine.store.load_customer(shop, &advocate).await?;
    let advocate_address = lifecycle::customer_records(store, shop, &advocate)
        .await?
        .into_iter()
        .filter_map(|r| r.snapshot)
        .max_by_key(|o| o.created_at)
        .and_then(|o| o.shipping_address);
    let attempt = ReferralAttempt {
        order_id: order.id.to_string(),
        placed_at: order.created_at,
        client_ip: order.client_ip.as_deref().and_then(|ip| ip.parse().ok()),
        advocate: Party {
            customer_id: Some(advocate.to_string()),
            email: advocate_profile.as_ref().and_then(|c| c.email.clone()),
            phone: advocate_profile.as_ref().and_then(|c| c.phone.clone()),
            shipping_address: advocate_address.map(postal),
        },
        friend: Party {
            customer_id: Some(order.customer.id.to_string()),
            email: order.customer.email.clone(),
            phone: order.customer.phone.clone(),
            shipping_address: order.shipping_address.clone().map(postal),
        },
    };
    let earlier: Vec<(String, Referral)> = documents::list(store, shop, keys::REFERRALS_PREFIX).await?;
    let history = ReferralHistory {
        friend_paid_orders: friend_history
            .orders()
            .iter()
            .filter(|o| o.id != order.id)
            .map(|o| o.placed_at)
            .collect(),
        referred_orders: earlier
            .into_iter()
            .filter_map(|(_, r)| {
                Some(ReferredOrder {
                    order_id: r.order_id.to_string(),
                    placed_at: r.placed_at,
                    client_ip: r.client_ip?.parse().ok()?,
                })
            })
            .collect(),
    };
    let rules = FraudRules {
        max_orders_per_ip: cfg.max_orders_per_ip,
        ip_window: Duration::hours(cfg.ip_window_hours.into()),
    };
    let verdict = match check_referral_with(&attempt, &history, &rules) {
        FraudVerdict::Allowed => "accepted".to_string(),
        FraudVerdict::Rejected(reason) => format!("rejected: {reason}"),
    };
    let mut planned = 0;
    if verdict == "accepted" {
        // Planned before the referral is recorded: a crash in between plans it again, once.
        let prefix = CodePrefix::new(REWARD_PREFIX).expect("a valid prefix");
        let mut reward = marketing_message(
            shop,
            &advocate,
            order.id.to_string(),
            Step::Reward.into(),
            now + Duration::days(cfg.holding_days.into()),
            now,
        );
        reward.class = MessageClass::Service;
        reward.payload = Payload {
            reward_code: Some(DiscountCode::generate(&prefix).as_str().to_string()),
            reward_percent: Some(cfg.reward_percent.normalize()),
            friend_order: Some(order.id.clone()),
            friend_first_name: order.customer.first_name.clone(),
            ..Payload::default()
        }
        .into();
        planned += engine.plan_once(reward, origin).await?;
        info!(order = %order.id, "referral attributed");
    } else {
        warn!(order = %order.id, verdict = %verdict, "referral refused");
    }
    let referral = Referral {
        code: code.as_str().to_string(),
        advocate,
        friend: order.customer.id.clone(),
        order_id: order.id.clone(),
        placed_at: order.created_at,
        client_ip: order.client_ip.clone(),
        verdict,
        attributed_at: now,
    };
    documents::insert(store, shop, &key, &referral).await?;
    Ok(planned)
}

async fn recheck(
    engine: &Engine,
    message: Message,
    config: &ShopConfig,
    now: DateTime<Utc>,
) -> Result<Prepared, StoreError> {
    if message.step != Step::Reward {
        return Ok(Prepared::Proceed(Box::new(message)));
    }
    let cfg = &config.flows.referral;
    let Some(friend_order) = message.payload.referral().and_then(|p| p.friend_order.clone()) else {
        return Ok(Prepared::fail(FailReason::RewardWithoutFriendsOrder));
    };
    let record = engine
        .store
        .load_order(&message.shop, &friend_order)
        .await?
        .map(|v| v.value);
    let state = record.as_ref().map(|r| friend_state(r, now)).unwrap_or_default();
    let holding = Duration::days(cfg.holding_days.into());
    match reward_due(&state, now, holding) {
        RewardDecision::Cancel(reason) => Ok(Prepared::skip(match reason {
            CancelReason::OrderCancelled => SkipReason::FriendsOrderCancelled,
            CancelReason::RefundedBeforeFulfilment => SkipReason::FriendsOrderRefundedBeforeFulfilment,
            CancelReason::RefundedWithinHoldingPeriod => SkipReason::FriendsOrderRefundedWithinHoldingPeriod,
        })),
        RewardDecision::AwaitFulfilment
            if now - message.planned_at > Duration::days(MAX_WAIT_FOR_FULFILMENT_DAYS) =>
        {
            Ok(Prepared::skip(SkipReason::FriendsOrderNeverFulfilled))
        }
        RewardDecision::AwaitFulfilment => Ok(Prepared::defer(
            message,
            now + Duration::days(1),
            DeferReason::FriendsOrderFulfilment,
        )),
        RewardDecision::Wait(until) => Ok(Prepared::defer(message, until, DeferReason::HoldingPeriod)),
        RewardDecision::Grant => {
            let payload = message.payload.referral();
            let Some(code) = payload.and_then(|p| p.reward_code.as_deref()) else {
                return Ok(Prepared::fail(FailReason::RewardWithoutCode));
            };
            let ends_at = payload
                .and_then(|p| p.reward_expires_at)
                .unwrap_or(now + Duration::days(cfg.reward_valid_days.into()));
            let request = DiscountRequest {
                code: parse_code(code)?,
                title: format!("Aftersale referral reward for order {friend_order}"),
                value: DiscountValue::Percentage(cfg.reward_percent),
                usage: UsageLimit::SingleUse,
                customers: CustomerEligibility::Anyone,
                products: Vec::new(),
                minimum_subtotal: None,
                starts_at: now,
                ends_at: Some(ends_at),
            };
            let mut message = message;
            message.payload.referral_mut().reward_expires_at = Some(ends_at);
            discount_codes::create_discount(engine, message, config, &request, now).await
        }
    }
}

/// Makes the advocate's code a real discount before it is shared: by default for first
/// orders only and capped, so a code that leaks beyond the advocate's friends does not
/// serve the shop's regulars or an unlimited number of strangers.
async fn ensure_share_discount(
    engine: &Engine,
    message: Message,
    config: &ShopConfig,
    now: DateTime<Utc>,
) -> Result<Prepared, StoreError> {
    let cfg = &config.flows.referral;
    let Some(code) = message.payload.referral().and_then(|p| p.code.as_deref()) else {
        return Ok(Prepared::fail(FailReason::ShareWithoutCode));
    };
    let currency = lifecycle::shop_currency(engine.store.as_ref(), &message.shop).await?;
    let request = DiscountRequest {
        code: parse_code(code)?,
        title: format!("Aftersale referral code of customer {}", message.customer_id),
        value: DiscountValue::Percentage(cfg.friend_percent),
        usage: UsageLimit::OncePerCustomer {
            max_total: cfg.friend_code_usage_cap(),
        },
        customers: if cfg.friend_code_first_order_only {
            CustomerEligibility::FirstOrderOnly
        } else {
            CustomerEligibility::Anyone
        },
        products: Vec::new(),
        minimum_subtotal: money(cfg.friend_minimum_subtotal, currency),
        starts_at: now,
        ends_at: None,
    };
    discount_codes::create_discount(engine, message, config, &request, now).await
}

/// When this order makes its customer eligible for a code, if it does.
fn eligible_from(
    record: &OrderRecord,
    history: &PurchaseHistory,
    config: &ShopConfig,
) -> Option<DateTime<Utc>> {
    history.order(&record.order_id)?;
    match config.flows.referral.eligible_after {
        ReferralEligibility::Paid => history.order(&record.order_id).map(|o| o.placed_at),
        ReferralEligibility::Delivered => record.delivered_at.or_else(|| {
            let check_in = &config.flows.delivery_check_in;
            record.fulfilled_at.map(|at| check_in.estimated_arrival(at))
        }),
    }
}

/// The friend's order as the reward sees it at `now` (the injected clock: a cancellation with
/// no snapshot to date it counts from the moment it is seen).
fn friend_state(record: &OrderRecord, now: DateTime<Utc>) -> FriendOrderState {
    let cancelled = record.deleted
        || record
            .snapshot
            .as_ref()
            .is_some_and(|o| matches!(o.status, OrderStatus::Cancelled));
    FriendOrderState {
        fulfilled_at: record.fulfilled_at.or(record.delivered_at),
        refunded_at: record.refunds.iter().map(|r| r.created_at).min(),
        cancelled_at: cancelled.then(|| record.snapshot.as_ref().map_or(now, |o| o.updated_at)),
    }
}

fn postal(address: Address) -> PostalAddress {
    PostalAddress {
        line1: address.line1,
        line2: address.line2,
        city: address.city,
        postcode: address.postcode,
        country_code: address.country_code,
    }
}
