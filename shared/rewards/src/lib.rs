//! Referral rewards for Aftersale, the foundations of the referral flow:
//!
//! - [`ReferralCode`]: unguessable personal codes, and the parsing that recognises them in an
//!   order's discount codes;
//! - [`check_referral`]: pure fraud checks (self-referral, existing customer, one network
//!   placing many referred orders);
//! - [`reward_due`]: when a reward may be granted (after fulfilment and a refund-free holding
//!   period);
//! - [`DiscountApi`]: the port that creates the real discount code in the shop, with
//!   [`ShopifyDiscounts`] (GraphQL Admin API), [`WooCommerceCoupons`] (REST API) and
//!   [`MemoryDiscounts`] for tests.
//!
//! The types take plain inputs (emails, phones, addresses, IPs, timestamps) so they stay
//! independent of the engine and its store.

mod code;
mod discount;
mod fraud;
mod http;
mod memory;
mod reward;
mod secret;
mod shopify;
mod woocommerce;

pub use code::{CODE_ALPHABET, CODE_BODY_LEN, CodeError, CodePrefix, MAX_PREFIX_LEN, ReferralCode};
pub use discount::{
    CreatedDiscount, CustomerEligibility, DiscountApi, DiscountError, DiscountRequest, DiscountValue,
    InvalidDiscount, MAX_TITLE_LEN, UsageLimit,
};
pub use fraud::{
    FraudRules, FraudVerdict, Party, PostalAddress, ReferralAttempt, ReferralHistory, ReferredOrder,
    RejectReason, check_referral, check_referral_with, normalise_address, normalise_email, phone_digits,
};
pub use http::ClientConfigError;
pub use memory::MemoryDiscounts;
pub use reward::{CancelReason, FriendOrderState, RewardDecision, default_holding_period, reward_due};
pub use secret::Secret;
pub use shopify::{
    DEFAULT_SHOPIFY_API_VERSION, FIRST_ORDER_SEGMENT_NAME, FIRST_ORDER_SEGMENT_QUERY, ShopifyDiscounts,
};
pub use woocommerce::WooCommerceCoupons;
