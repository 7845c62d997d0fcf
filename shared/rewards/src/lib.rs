//! Referral rules for Aftersale, pure and free of I/O:
//!
//! - [`DiscountCode`]: unguessable discount codes (referral, reward, win-back), and the parsing
//!   that recognises them in an order's discount codes;
//! - [`check_referral`]: fraud checks (self-referral, existing customer, one network placing
//!   many referred orders);
//! - [`reward_due`]: when a reward may be granted (after fulfilment and a refund-free holding
//!   period);
//! - [`port`]: what the engine asks of a shop's platform to make a code real, [`DiscountApi`]
//!   and [`DiscountApis`] (one per shop), with [`MemoryDiscounts`] for tests. The HTTP clients
//!   behind them (Shopify GraphQL Admin, WooCommerce REST) live in `aftersale-platform-api`.
//!
//! The types take plain inputs (emails, phones, addresses, IPs, timestamps) so they stay
//! independent of the engine and its store.

mod code;
mod fraud;
mod memory;
pub mod port;
mod reward;

pub use code::{CODE_ALPHABET, CODE_BODY_LEN, CodeError, CodePrefix, DiscountCode, MAX_PREFIX_LEN};
pub use fraud::{
    FraudRules, FraudVerdict, Party, PostalAddress, ReferralAttempt, ReferralHistory, ReferredOrder,
    RejectReason, check_referral, check_referral_with, normalise_address, normalise_email, phone_digits,
};
pub use memory::MemoryDiscounts;
pub use port::{
    CreatedDiscount, CustomerEligibility, DiscountApi, DiscountApis, DiscountError, DiscountRequest,
    DiscountValue, FixedDiscounts, InvalidDiscount, MAX_TITLE_LEN, OneCustomer, UsageLimit,
};
pub use reward::{CancelReason, FriendOrderState, RewardDecision, reward_due};
