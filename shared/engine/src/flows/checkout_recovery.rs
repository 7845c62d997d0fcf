//! Checkout recovery at work (the rules are in `aftersale_domain::flows::checkout_recovery`):
//! a checkout event plans its reminders or moves them to wait from the latest change; an
//! order that carries the checkout's token (or its cart's) skips its reminders at once; and a
//! reminder falling due (or a late checkout event) looks through the customer's stored orders
//! for one that completed it, since ingest may have stored the order before this flow heard
//! of it.
//!
//! A guest's checkout is filed under their email's id while the order Shopify makes from it
//! may name a customer id, so both ids are looked at.

use super::{FlowJob, OrderEvent, Prepared, discount_codes};
use crate::Engine;
use aftersale_domain::flows::checkout_recovery::{self, Incentive};
use aftersale_domain::{Checkout, CustomerId, Flow, Message, ShopConfig, ShopId, SkipReason};
use aftersale_ports::{StoreError, lifecycle};
use aftersale_rewards::{CodePrefix, DiscountCode};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use tracing::{debug, info};

pub(super) struct Job;

/// Checkout recovery codes look like `CART-K7M2P9QX4R`.
const CODE_PREFIX: &str = "CART";

#[async_trait]
impl FlowJob for Job {
    fn flow(&self) -> Flow {
        Flow::CheckoutRecovery
    }

    /// An order that completes a checkout (same token, or the same cart) ends its reminders.
    async fn plan(&self, engine: &Engine, event: &OrderEvent<'_>) -> Result<usize, StoreError> {
        let Some(order) = event.record.snapshot.as_ref() else {
            return Ok(0);
        };
        if order.checkout_token.is_none() && order.cart_token.is_none() {
            return Ok(0);
        }
        let shop = &event.event.shop;
        let mut ended = 0;
        for customer in customer_ids(&order.customer.id, order.customer.email.as_deref()) {
            ended += engine
                .cancel_planned(
                    shop,
                    &customer,
                    |m| {
                        checkout_recovery::completed_by(
                            m,
                            order.checkout_token.as_deref(),
                            order.cart_token.as_deref(),
                        )
                    },
                    SkipReason::CheckoutCompleted,
                )
                .await?;
        }
        if ended > 0 {
            info!(ended, "checkout completed by an order; its reminders are skipped");
        }
        Ok(ended)
    }

    async fn on_checkout(
        &self,
        engine: &Engine,
        shop: &ShopId,
        checkout: &Checkout,
        config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let customer = &checkout.customer.id;
        let ids = customer_ids(customer, checkout.customer.email.as_deref());
        let done = checkout.completed_at.is_some()
            || completed(
                engine,
                shop,
                &ids,
                Some(&checkout.token),
                checkout.cart_token.as_deref(),
            )
            .await?;
        if done {
            return engine
                .cancel_planned(
                    shop,
                    customer,
                    |m| {
                        checkout_recovery::completed_by(
                            m,
                            Some(&checkout.token),
                            checkout.cart_token.as_deref(),
                        )
                    },
                    SkipReason::CheckoutCompleted,
                )
                .await;
        }
        let cfg = &config.flows.checkout_recovery;
        let mut plans = checkout_recovery::plan(shop, checkout, cfg, now);
        if let Some(step) = cfg.incentive_step()
            && makes_codes(engine, shop, config).await?
            && let Some(message) = plans.iter_mut().find(|m| m.step == step)
        {
            add_incentive(message, cfg, checkout.updated_at);
        }
        let mut changed = 0;
        for plan in plans {
            if engine.store.plan_message(&plan).await? {
                debug!(step = %plan.step, due_at = %plan.due_at, "checkout reminder planned");
                changed += 1;
                continue;
            }
            let Some(existing) = engine.store.load_message(shop, customer, &plan.id()).await? else {
                continue;
            };
            let Some(moved) = checkout_recovery::moved(&existing, &plan) else {
                continue;
            };
            match engine.store.update_message(&moved).await {
                Ok(_) => {
                    debug!(step = %plan.step, due_at = %moved.due_at, "checkout changed; reminder moved");
                    changed += 1;
                }
                // A sender holds it; its re-check decides.
                Err(StoreError::Conflict { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        if changed > 0 {
            engine.refresh_metrics(shop, customer).await;
        }
        Ok(changed)
    }

    /// The order may have come in since the reminder was planned.
    async fn recheck(
        &self,
        engine: &Engine,
        message: Message,
        _config: &ShopConfig,
        _now: DateTime<Utc>,
    ) -> Result<Prepared, StoreError> {
        let payload = message.payload.checkout_recovery();
        let token = payload.and_then(|p| p.checkout_token.clone());
        let cart = payload.and_then(|p| p.cart_token.clone());
        let (token, cart) = (token.as_deref(), cart.as_deref());
        let email = engine
            .store
            .load_customer(&message.shop, &message.customer_id)
            .await?
            .and_then(|c| c.email);
        let ids = customer_ids(&message.customer_id, email.as_deref());
        if completed(engine, &message.shop, &ids, token, cart).await? {
            return Ok(Prepared::skip(SkipReason::CheckoutCompleted));
        }
        Ok(Prepared::Proceed(Box::new(message)))
    }

    /// The reminder that carries the incentive creates its code in the shop first.
    async fn prepare(
        &self,
        engine: &Engine,
        message: Message,
        config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Result<Prepared, StoreError> {
        if message
            .payload
            .checkout_recovery()
            .is_none_or(|p| p.offer_code.is_none())
        {
            return Ok(Prepared::Proceed(Box::new(message)));
        }
        let title = format!("Aftersale checkout recovery for customer {}", message.customer_id);
        discount_codes::ensure_offer_discount(engine, message, config, now, title).await
    }
}

/// The ids one person's checkouts and orders may be filed under: the platform's customer id,
/// and the guest id of their email.
fn customer_ids(customer: &CustomerId, email: Option<&str>) -> Vec<CustomerId> {
    let mut ids = vec![customer.clone()];
    if let Some(guest) = email.map(CustomerId::for_guest_email)
        && &guest != customer
    {
        ids.push(guest);
    }
    ids
}

/// Whether a stored order of these customers completed this checkout or came from its cart.
async fn completed(
    engine: &Engine,
    shop: &ShopId,
    customers: &[CustomerId],
    checkout: Option<&str>,
    cart: Option<&str>,
) -> Result<bool, StoreError> {
    let same = |ours: Option<&str>, theirs: &Option<String>| {
        ours.is_some_and(|t| !t.is_empty() && theirs.as_deref() == Some(t))
    };
    for customer in customers {
        for record in lifecycle::customer_records(engine.store.as_ref(), shop, customer).await? {
            if let Some(order) = &record.snapshot
                && (same(checkout, &order.checkout_token) || same(cart, &order.cart_token))
            {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Whether the shop can create real codes (the installed app's token or `[admin_api]`);
/// without, the reminder offers nothing rather than a code that fails at checkout.
async fn makes_codes(engine: &Engine, shop: &ShopId, config: &ShopConfig) -> Result<bool, StoreError> {
    Ok(config.admin_api.is_some()
        || engine
            .store
            .load_shop(shop)
            .await?
            .is_some_and(|s| s.has_app_install()))
}

/// The single-use code of the incentive reminder, chosen now so a retry asks for the same
/// one; it stays valid `discount_valid_days` after the checkout's last change.
fn add_incentive(
    message: &mut Message,
    config: &checkout_recovery::CheckoutRecoveryConfig,
    changed_at: DateTime<Utc>,
) {
    let Some(percent) = config.discount_percent else {
        return;
    };
    let prefix = CodePrefix::new(CODE_PREFIX).expect("a valid prefix");
    let expires = changed_at + Duration::days(config.discount_valid_days.into());
    let payload = message.payload.checkout_recovery_mut();
    payload.incentive = Some(Incentive::Discount);
    payload.discount_percent = Some(percent);
    payload.offer_code = Some(DiscountCode::generate(&prefix).as_str().to_string());
    payload.offer_expires_at = Some(expires);
}
