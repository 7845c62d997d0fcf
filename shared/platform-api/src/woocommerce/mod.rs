//! WooCommerce REST API (`/wp-json/wc/v3`), as documented in
//! <https://woocommerce.github.io/woocommerce-rest-api-docs/>:
//!
//! - authentication ([`auth`]): HTTP Basic with the consumer key and secret over HTTPS; over
//!   plain HTTP, OAuth 1.0a "one-legged" signing (HMAC-SHA256), so the secret never travels;
//! - webhooks ([`client`]): list, create, update;
//! - coupons ([`coupons`]): the discount codes referral and win-back hand out;
//! - products ([`products`]): a product's category slugs (care guides by product type);
//! - connecting a site ([`connect`]): the webhooks Aftersale needs, created once, repaired
//!   when WooCommerce disabled them.

pub mod auth;
pub mod authorize;
pub mod client;
pub mod connect;
pub mod connection;
pub mod coupons;
pub mod orders;
pub mod products;

pub use client::{Webhook, WooClient, WooError};
pub use connect::{ConnectReport, TOPICS, WebhookChange, connect, status};
pub use coupons::WooCommerceCoupons;
