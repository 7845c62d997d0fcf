//! Every HTTP client Aftersale has of a shop platform's own API, each behind a small port of
//! `aftersale-ports` so the logic above never sees HTTP:
//!
//! - [`shopify`]: OAuth (the authorize URL, the callback's query signature, the code and
//!   refresh-token grants), the GraphQL Admin API (webhook registration), pinned to one
//!   API version, [`shopify::API_VERSION`], and discount codes ([`shopify::discounts`]).
//! - [`woocommerce`]: the REST API's webhooks (Basic over HTTPS, OAuth 1.0a over HTTP), to
//!   connect a site from the CLI or WordPress's approval screen, and coupons
//!   ([`woocommerce::coupons`]); [`sealed`] keeps its credentials at rest.
//! - [`discounts`]: the engine's `DiscountApis` port over both platforms' discount clients;
//!   [`catalogue`]: its `Catalogue` port (product types) with the same access.
//! - [`http`]: what every client shares (timeouts, endpoint checks, retry classification).

pub mod catalogue;
pub mod discounts;
pub mod http;
pub mod sealed;
pub mod shopify;
pub mod woocommerce;

pub use discounts::{AdminApiDiscounts, EnvSecrets, InstalledTokens, SecretSource};
pub use http::ClientConfigError;
