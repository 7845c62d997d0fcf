//! The port for creating a real discount code in a shop, and the request it takes.
//!
//! [`DiscountApi`] creates codes in one shop; [`DiscountApis`] finds a shop's. The engine sees
//! only these; the platform clients (`aftersale-platform-api`) and the in-memory fake
//! ([`MemoryDiscounts`](crate::MemoryDiscounts)) implement them.

use crate::code::DiscountCode;
use aftersale_domain::{AdminApiConfig, Currency, Money, Platform, ShopId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::num::NonZeroU32;
use std::sync::Arc;

/// Longest title we send; Shopify and WordPress both store titles as 255-character strings.
pub const MAX_TITLE_LEN: usize = 255;

/// What the customer gets off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscountValue {
    /// Percent off the order, `0 < percent <= 100` (10 means 10 %).
    Percentage(Decimal),
    /// A fixed amount off the order, in the shop's currency.
    FixedAmount(Money),
}

/// How often the code can be redeemed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageLimit {
    /// Once in total (and so once per customer): an advocate's reward.
    SingleUse,
    /// Once per customer: the discount behind a personal referral code that an advocate
    /// shares with many friends. `max_total` caps the redemptions across all customers, so a
    /// code posted on a coupon site stops after that many orders; `None` is no cap.
    OncePerCustomer { max_total: Option<NonZeroU32> },
}

/// Who may redeem the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerEligibility {
    /// Any customer, new or returning.
    Anyone,
    /// Only customers with no previous order: a referral's friend code is for newcomers, so a
    /// leaked code must not become a standing discount for the shop's regulars. Shopify
    /// enforces it at checkout; WooCommerce core cannot (see `aftersale_platform_api::woocommerce::coupons`).
    FirstOrderOnly,
    /// Only the one customer the code was given to (a make-it-right credit). Shopify ties it
    /// to their account (`customerSelection.customers`), which a guest has none of: a guest's
    /// code stays open to anyone, single use. WooCommerce ties it to their email
    /// (`email_restrictions`, checked against the billing email at checkout).
    OneCustomer(OneCustomer),
}

/// The customer a code is tied to, as each platform can check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneCustomer {
    /// The platform's own customer id (`115310627314723954`, or its Shopify GID); `None`
    /// for a guest checkout.
    pub platform_id: Option<String>,
    pub email: Option<String>,
}

/// A discount code to create. The title should be derived from what the discount is for
/// (e.g. `Referral reward for order #1042`) so a retried creation is recognisable in the
/// shop's admin and can be matched when the platform says the code already exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscountRequest {
    pub code: DiscountCode,
    pub title: String,
    pub value: DiscountValue,
    pub usage: UsageLimit,
    pub customers: CustomerEligibility,
    /// The platform's ids of the products the code takes its value off (a cross-sell's
    /// suggested product); empty: the whole order.
    pub products: Vec<String>,
    /// Smallest order subtotal the code applies to, if any.
    pub minimum_subtotal: Option<Money>,
    pub starts_at: DateTime<Utc>,
    /// `None` for a code that never expires.
    pub ends_at: Option<DateTime<Utc>>,
}

/// Why a request was refused before any call was made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDiscount {
    #[error("the discount title is empty")]
    EmptyTitle,
    #[error("the discount title is longer than {MAX_TITLE_LEN} characters")]
    TitleTooLong,
    #[error("the discount title contains control characters")]
    TitleControlCharacters,
    #[error("a percentage discount must be above 0 and at most 100, not {0}")]
    PercentageOutOfRange(Decimal),
    #[error("a fixed discount must be above zero, not {0}")]
    AmountNotPositive(Money),
    #[error("the minimum subtotal must be above zero, not {0}")]
    MinimumNotPositive(Money),
    #[error("the discount is in {amount} but its minimum subtotal is in {minimum}")]
    CurrencyMismatch { amount: Currency, minimum: Currency },
    #[error("a product the discount applies to has a blank id")]
    BlankProduct,
    #[error("the discount ends ({ends_at}) before it starts ({starts_at})")]
    EndsBeforeStart {
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
    },
}

impl DiscountRequest {
    /// Checks what the platforms would reject anyway, so a bad request fails here with a clear
    /// reason instead of as a platform error after a network round trip.
    pub fn validate(&self) -> Result<(), InvalidDiscount> {
        let title = self.title.trim();
        if title.is_empty() {
            return Err(InvalidDiscount::EmptyTitle);
        }
        if title.chars().count() > MAX_TITLE_LEN {
            return Err(InvalidDiscount::TitleTooLong);
        }
        if title.chars().any(char::is_control) {
            return Err(InvalidDiscount::TitleControlCharacters);
        }
        match &self.value {
            DiscountValue::Percentage(p) => {
                if *p <= Decimal::ZERO || *p > Decimal::ONE_HUNDRED {
                    return Err(InvalidDiscount::PercentageOutOfRange(*p));
                }
            }
            DiscountValue::FixedAmount(amount) => {
                if amount.amount <= Decimal::ZERO {
                    return Err(InvalidDiscount::AmountNotPositive(*amount));
                }
            }
        }
        if let Some(minimum) = &self.minimum_subtotal {
            if minimum.amount <= Decimal::ZERO {
                return Err(InvalidDiscount::MinimumNotPositive(*minimum));
            }
            if let DiscountValue::FixedAmount(amount) = &self.value
                && amount.currency != minimum.currency
            {
                return Err(InvalidDiscount::CurrencyMismatch {
                    amount: amount.currency,
                    minimum: minimum.currency,
                });
            }
        }
        if self.products.iter().any(|p| p.trim().is_empty()) {
            return Err(InvalidDiscount::BlankProduct);
        }
        if let Some(ends_at) = self.ends_at
            && ends_at <= self.starts_at
        {
            return Err(InvalidDiscount::EndsBeforeStart {
                starts_at: self.starts_at,
                ends_at,
            });
        }
        Ok(())
    }
}

/// A discount the platform created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedDiscount {
    /// The platform's id: a Shopify GID (`gid://shopify/DiscountCodeNode/…`) or a WooCommerce
    /// coupon id.
    pub platform_id: String,
    pub code: DiscountCode,
}

/// How a creation failed, sorted by what the caller should do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscountError {
    /// Retrying will not help (bad credentials, missing scope, rejected input): surface it to
    /// the merchant.
    #[error("discount creation failed: {0}")]
    Permanent(String),
    /// Rate limits, timeouts and server errors: retry later with backoff. The discount may in
    /// fact have been created; a retry then reports `AlreadyExists`.
    #[error("discount creation failed for now, retry later: {0}")]
    Transient(String),
    /// The shop already has this code. Codes are unguessable, so it is almost certainly ours
    /// from an earlier attempt whose answer was lost: treat as success once confirmed as ours.
    #[error("the discount code already exists in the shop")]
    AlreadyExists,
}

impl From<InvalidDiscount> for DiscountError {
    fn from(err: InvalidDiscount) -> Self {
        DiscountError::Permanent(err.to_string())
    }
}

/// Creates discount codes in a shop. One implementation per platform; tests use fakes.
#[async_trait]
pub trait DiscountApi: Send + Sync {
    async fn create_discount(&self, request: &DiscountRequest) -> Result<CreatedDiscount, DiscountError>;
}

/// Finds the discount API of a shop.
#[async_trait]
pub trait DiscountApis: Send + Sync {
    /// The shop's client: through the installed app's token when the shop has one, else
    /// through `config` (the shop's `[admin_api]`), which may be absent for an installed shop.
    /// Misconfiguration (no token and no `[admin_api]`, a missing secret, a bad URL) is
    /// `Permanent`: retrying will not help until someone fixes it.
    async fn for_shop(
        &self,
        shop: &ShopId,
        platform: Platform,
        config: Option<&AdminApiConfig>,
    ) -> Result<Arc<dyn DiscountApi>, DiscountError>;
}

/// One client for every shop: tests and single-shop tools.
pub struct FixedDiscounts(pub Arc<dyn DiscountApi>);

#[async_trait]
impl DiscountApis for FixedDiscounts {
    async fn for_shop(
        &self,
        _shop: &ShopId,
        _platform: Platform,
        _config: Option<&AdminApiConfig>,
    ) -> Result<Arc<dyn DiscountApi>, DiscountError> {
        Ok(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn eur(amount: i64) -> Money {
        Money::new(Decimal::from(amount), Currency::new("EUR").expect("currency"))
    }

    fn request() -> DiscountRequest {
        let starts_at = Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).single().expect("date");
        DiscountRequest {
            code: DiscountCode::parse("FRIEND-K7M2P9QX4R").expect("code"),
            title: "Referral reward for order #1042".to_string(),
            value: DiscountValue::Percentage(Decimal::from(10)),
            usage: UsageLimit::SingleUse,
            customers: CustomerEligibility::Anyone,
            products: Vec::new(),
            minimum_subtotal: Some(eur(50)),
            starts_at,
            ends_at: Some(starts_at + chrono::TimeDelta::days(90)),
        }
    }

    #[test]
    fn a_sensible_request_is_valid() {
        assert_eq!(request().validate(), Ok(()));
        let fixed = DiscountRequest {
            value: DiscountValue::FixedAmount(eur(5)),
            ends_at: None,
            ..request()
        };
        assert_eq!(fixed.validate(), Ok(()));
    }

    #[test]
    fn bad_requests_are_refused_with_a_reason() {
        let r = request();
        let cases = [
            (
                DiscountRequest {
                    title: " ".into(),
                    ..r.clone()
                },
                InvalidDiscount::EmptyTitle,
            ),
            (
                DiscountRequest {
                    title: "x".repeat(256),
                    ..r.clone()
                },
                InvalidDiscount::TitleTooLong,
            ),
            (
                DiscountRequest {
                    title: "a\nb".into(),
                    ..r.clone()
                },
                InvalidDiscount::TitleControlCharacters,
            ),
            (
                DiscountRequest {
                    value: DiscountValue::Percentage(Decimal::ZERO),
                    ..r.clone()
                },
                InvalidDiscount::PercentageOutOfRange(Decimal::ZERO),
            ),
            (
                DiscountRequest {
                    value: DiscountValue::Percentage(Decimal::from(101)),
                    ..r.clone()
                },
                InvalidDiscount::PercentageOutOfRange(Decimal::from(101)),
            ),
            (
                DiscountRequest {
                    value: DiscountValue::FixedAmount(eur(-5)),
                    ..r.clone()
                },
                InvalidDiscount::AmountNotPositive(eur(-5)),
            ),
            (
                DiscountRequest {
                    minimum_subtotal: Some(eur(0)),
                    ..r.clone()
                },
                InvalidDiscount::MinimumNotPositive(eur(0)),
            ),
            (
                DiscountRequest {
                    products: vec!["632910392".into(), " ".into()],
                    ..r.clone()
                },
                InvalidDiscount::BlankProduct,
            ),
            (
                DiscountRequest {
                    ends_at: Some(r.starts_at),
                    ..r.clone()
                },
                InvalidDiscount::EndsBeforeStart {
                    starts_at: r.starts_at,
                    ends_at: r.starts_at,
                },
            ),
        ];
        for (request, expected) in cases {
            assert_eq!(request.validate(), Err(expected));
        }
        let usd = Money::new(Decimal::from(5), Currency::new("USD").expect("currency"));
        let mixed = DiscountRequest {
            value: DiscountValue::FixedAmount(usd),
            ..r
        };
        assert!(matches!(
            mixed.validate(),
            Err(InvalidDiscount::CurrencyMismatch { .. })
        ));
    }

    #[test]
    fn invalid_requests_are_permanent_errors() {
        let err = DiscountError::from(InvalidDiscount::EmptyTitle);
        assert_eq!(
            err,
            DiscountError::Permanent("the discount title is empty".to_string())
        );
    }
}
