//! Creating the discount codes messages hand out, retried and visible. A code is chosen when
//! the message is planned and stored on it, so a retry after a lost answer asks for the same
//! code and the platform's "already exists" means it is there.

use super::Prepared;
use crate::Engine;
use aftersale_domain::flows::{DiscountProgress, Payload};
use aftersale_domain::{Currency, Message, MessageStatus, Money, Platform, ShopConfig, ShopId};
use aftersale_domain::{FailReason, ReplanReason, SkipReason};
use aftersale_ports::StoreError;
use aftersale_rewards::{
    CustomerEligibility, DiscountCode, DiscountError, DiscountRequest, DiscountValue, UsageLimit,
};
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use tracing::{info, warn};

/// A share or offer code that cannot be created is retried with backoff for this long before
/// the message fails (support is told at the first failure and at the end).
const GIVE_UP_AFTER_DAYS: i64 = 14;
/// A reward is retried until it exists; support hears again every this many failures (backoff
/// caps at a day, so about weekly).
const REMIND_EVERY_TRIES: u32 = 7;

impl Engine {
    /// After a shop's configuration (or a secret it names) has changed: its messages waiting
    /// on a discount code (`retrying: discount code: ...`) are due again now, instead of at
    /// the end of a backoff of up to a day. Returns how many were brought forward.
    pub async fn retry_after_config_change(&self, shop: &ShopId) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let mut moved = 0;
        for message in self.store.list_messages(Some(shop)).await? {
            let waiting = message.status == MessageStatus::Planned
                && discount_progress(&message).is_some_and(|d| d.discount_error.is_some())
                && message.due_at > now;
            let mut again = message;
            if !waiting || again.plan_again(now, ReplanReason::ConfigurationChanged).is_err() {
                continue;
            }
            match self.store.update_message(&again).await {
                Ok(_) => moved += 1,
                // A sender took it meanwhile; it tries with the new configuration anyway.
                Err(StoreError::Conflict { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(moved)
    }
}

/// Creates the single-use percentage code an offer message carries (`offer_code`,
/// `discount_percent`, `offer_expires_at` in its details), titled `title` in the shop's admin.
pub(super) async fn ensure_offer_discount(
    engine: &Engine,
    message: Message,
    config: &ShopConfig,
    now: DateTime<Utc>,
    title: String,
) -> Result<Prepared, StoreError> {
    let offer = match &message.payload {
        Payload::WinBack(p) => p
            .offer_code
            .as_deref()
            .zip(p.discount_percent)
            .map(|(c, d)| (c, d, p.offer_expires_at)),
        Payload::CheckoutRecovery(p) => p
            .offer_code
            .as_deref()
            .zip(p.discount_percent)
            .map(|(c, d)| (c, Decimal::from(d), p.offer_expires_at)),
        _ => None,
    };
    let Some((code, percent, ends_at)) = offer else {
        return Ok(Prepared::fail(FailReason::OfferWithoutCode));
    };
    let request = DiscountRequest {
        code: parse_code(code)?,
        title,
        value: DiscountValue::Percentage(percent),
        usage: UsageLimit::SingleUse,
        customers: CustomerEligibility::Anyone,
        products: Vec::new(),
        minimum_subtotal: None,
        starts_at: now,
        ends_at,
    };
    create_discount(engine, message, config, &request, now).await
}

/// A cross-sell suggestion's code: single use, the shop's percent off the suggested product
/// (its platform id, chosen at the re-check just before), valid
/// [`OFFER_DAYS`](aftersale_domain::flows::cross_sell::OFFER_DAYS) from the moment it is sent
/// (stored on the message, so a retry asks for the same code and end).
pub(super) async fn ensure_cross_sell_discount(
    engine: &Engine,
    mut message: Message,
    config: &ShopConfig,
    now: DateTime<Utc>,
) -> Result<Prepared, StoreError> {
    let Some(payload) = message.payload.cross_sell() else {
        return Ok(Prepared::fail(FailReason::OfferWithoutCode));
    };
    let (Some(code), Some(percent)) = (payload.offer_code.clone(), payload.discount_percent) else {
        return Ok(Prepared::fail(FailReason::OfferWithoutCode));
    };
    let products = payload.complement_id.iter().cloned().collect();
    let ends_at = payload
        .offer_expires_at
        .unwrap_or(now + Duration::days(aftersale_domain::flows::cross_sell::OFFER_DAYS));
    message.payload.cross_sell_mut().offer_expires_at = Some(ends_at);
    let request = DiscountRequest {
        code: parse_code(&code)?,
        title: format!("Aftersale cross-sell for customer {}", message.customer_id),
        value: DiscountValue::Percentage(percent),
        usage: UsageLimit::SingleUse,
        customers: CustomerEligibility::Anyone,
        products,
        minimum_subtotal: None,
        starts_at: now,
        ends_at: Some(ends_at),
    };
    create_discount(engine, message, config, &request, now).await
}

/// Creates `request` in the shop. On success the message goes on with
/// `discount_created` set; transient failures and misconfiguration are retried with
/// backoff, visibly, and support is told.
pub(super) async fn create_discount(
    engine: &Engine,
    mut message: Message,
    config: &ShopConfig,
    request: &DiscountRequest,
    now: DateTime<Utc>,
) -> Result<Prepared, StoreError> {
    if discount_progress(&message).is_some_and(|d| d.discount_created.is_some()) {
        return Ok(Prepared::Proceed(Box::new(message)));
    }
    let shop_state = engine.store.load_shop(&message.shop).await?;
    if shop_state.as_ref().is_some_and(|s| !s.is_installed()) {
        return Ok(Prepared::skip(SkipReason::ShopUninstalled));
    }
    // An app-installed shop creates codes with the app's token; others need `[admin_api]`.
    let app_installed = shop_state.as_ref().is_some_and(|s| s.has_app_install());
    if config.admin_api.is_none() && !app_installed {
        return Ok(Prepared::skip(SkipReason::NoAdminApi));
    }
    let platform = shop_state.map_or(Platform::Shopify, |s| s.platform);
    let created = match engine
        .senders
        .discounts
        .for_shop(&message.shop, platform, config.admin_api.as_ref())
        .await
    {
        Ok(api) => api.create_discount(request).await,
        Err(err) => Err(err),
    };
    match created {
        Ok(_) | Err(DiscountError::AlreadyExists) => {
            info!(code = request.code.as_str(), "discount code created in the shop");
            if let Some(progress) = discount_progress_mut(&mut message) {
                progress.discount_created = Some(now);
                progress.discount_error = None;
            }
            Ok(Prepared::Proceed(Box::new(message)))
        }
        Err(err) => {
            let progress = discount_progress(&message).cloned().unwrap_or_default();
            let tries = progress.discount_attempts.unwrap_or(0) + 1;
            let first_try = progress.discount_first_error.unwrap_or(now);
            // A reward is owed: it is retried until it exists, with support reminded weekly.
            // A code that only sells (a share, an offer) gives up once the moment has passed.
            // Points already debited for a reward are owed the same way.
            let owed = message.step == aftersale_domain::flows::referral::Step::Reward
                || message.step == aftersale_domain::flows::points::Step::RewardCode;
            let gives_up = !owed && now - first_try > Duration::days(GIVE_UP_AFTER_DAYS);
            let reminder = owed && tries.is_multiple_of(REMIND_EVERY_TRIES);
            warn!(error = %err, tries, "discount code creation failed");
            if tries == 1 || gives_up || reminder {
                let next = if gives_up {
                    "Giving up."
                } else {
                    "It will be retried."
                };
                let order = engine.order_label(&message).await;
                engine.alert(
                    "Aftersale: a discount code could not be created",
                    &format!(
                        "Code {} for message {}{order} (customer {} in {}) failed {tries} time(s): {err}. {next}",
                        request.code.as_str(),
                        message.id(),
                        message.customer_id,
                        message.shop,
                    ),
                )
                .await;
            }
            if gives_up {
                return Ok(Prepared::fail(FailReason::DiscountCode(err.to_string())));
            }
            // Minutes for a blip, hours for a misconfiguration someone has to fix.
            let base = match err {
                DiscountError::Transient(_) => Duration::minutes(5),
                _ => Duration::hours(1),
            };
            let backoff = (base * 2i32.pow(tries.min(6))).min(Duration::hours(24));
            if let Some(progress) = discount_progress_mut(&mut message) {
                progress.discount_attempts = Some(tries);
                progress.discount_first_error = Some(first_try);
                progress.discount_error = Some(err.to_string());
            }
            Ok(Prepared::retry(
                message,
                now + backoff,
                format!("discount code: {err}"),
            ))
        }
    }
}

/// How creating the code of a message that hands one out is going (win-back and referral
/// payloads carry it).
fn discount_progress(message: &Message) -> Option<&DiscountProgress> {
    match &message.payload {
        Payload::WinBack(p) => Some(&p.discount),
        Payload::Referral(p) => Some(&p.discount),
        Payload::Points(p) => Some(&p.discount),
        Payload::CheckoutRecovery(p) => Some(&p.discount),
        Payload::MakeItRight(p) => Some(&p.discount),
        Payload::CrossSell(p) => Some(&p.discount),
        _ => None,
    }
}

fn discount_progress_mut(message: &mut Message) -> Option<&mut DiscountProgress> {
    match &mut message.payload {
        Payload::WinBack(p) => Some(&mut p.discount),
        Payload::Referral(p) => Some(&mut p.discount),
        Payload::Points(p) => Some(&mut p.discount),
        Payload::CheckoutRecovery(p) => Some(&mut p.discount),
        Payload::MakeItRight(p) => Some(&mut p.discount),
        Payload::CrossSell(p) => Some(&mut p.discount),
        _ => None,
    }
}

pub(super) fn parse_code(code: &str) -> Result<DiscountCode, StoreError> {
    DiscountCode::parse(code).map_err(|err| StoreError::Corrupt {
        what: format!("discount code {code}"),
        detail: err.to_string(),
    })
}

pub(super) fn money(amount: Option<Decimal>, currency: Option<Currency>) -> Option<Money> {
    Some(Money::new(amount?, currency?))
}
