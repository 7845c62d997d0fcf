//! Every HTTP client Aftersale has of a shop platform's own API, each behind a small port of
//! `aftersale-ports` so the logic above never sees HTTP:
//!
//! - [`shopify`]: OAuth (the authorize URL, the callback's query signature, the code and
//!   refresh-token grants) and the GraphQL Admin API (webhook registration), pinned to one
//!   API version, [`shopify::API_VERSION`].
//! - [`woocommerce`]: the REST API's webhooks (Basic over HTTPS, OAuth 1.0a over HTTP), to
//!   connect a site from the CLI or WordPress's approval screen; [`sealed`] keeps its
//!   credentials at rest.

pub mod sealed;
pub mod shopify;
pub mod woocommerce;
