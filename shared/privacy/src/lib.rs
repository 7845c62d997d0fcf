//! The platforms' privacy requests (Shopify's mandatory compliance webhooks), answered the same
//! way on every backend:
//!
//! - `customers/data_request`: [`export::build`] gathers everything Aftersale holds on the
//!   customer, the [`Desk`] keeps it as a document and tells the merchant through the shop's
//!   alert channel; `aftersale data-requests` shows it ([`list_requests`]).
//! - `customers/redact`: the [`Desk`] notes who the customer is (ids, addresses, sent
//!   messages), erases them from the store ([`aftersale_ports::erasure`]) and then from every
//!   copy kept outside it ([`aftersale_ports::PersonalFiles`], the local outbox).
//! - `shop/redact`: the same for everything the shop owns.

mod desk;
pub mod export;

pub use desk::Desk;
pub use export::{DataExport, DataRequest, list_requests};
