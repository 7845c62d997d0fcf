//! An in-memory shop standing in for a platform in tests of the referral flow.

use crate::port::{CreatedDiscount, DiscountApi, DiscountError, DiscountRequest};
use async_trait::async_trait;
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Remembers the discounts it creates, answers `AlreadyExists` for a repeated code as the real
/// platforms do, and can be told to fail, so retry and reporting paths can be tested without
/// HTTP.
#[derive(Debug, Default)]
pub struct MemoryDiscounts {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    created: Vec<DiscountRequest>,
    failures: VecDeque<DiscountError>,
}

impl MemoryDiscounts {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next call fail with `error` instead of creating anything; queued errors are
    /// returned in order.
    pub fn fail_next(&self, error: DiscountError) {
        self.state().failures.push_back(error);
    }

    /// Every discount created so far, oldest first.
    pub fn created(&self) -> Vec<DiscountRequest> {
        self.state().created.clone()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panicking test thread cannot leave the Vecs half-written, so the data stays usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl DiscountApi for MemoryDiscounts {
    async fn create_discount(&self, request: &DiscountRequest) -> Result<CreatedDiscount, DiscountError> {
        request.validate()?;
        let mut state = self.state();
        if let Some(error) = state.failures.pop_front() {
            return Err(error);
        }
        if state.created.iter().any(|c| c.code == request.code) {
            return Err(DiscountError::AlreadyExists);
        }
        state.created.push(request.clone());
        Ok(CreatedDiscount {
            platform_id: format!("memory-{}", state.created.len()),
            code: request.code.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::DiscountCode;
    use crate::port::{DiscountValue, UsageLimit};
    use chrono::{TimeZone, Utc};
    use rust_decimal::Decimal;

    fn request(code: &str) -> DiscountRequest {
        DiscountRequest {
            code: DiscountCode::parse(code).expect("code"),
            title: format!("Referral reward {code}"),
            value: DiscountValue::Percentage(Decimal::from(10)),
            usage: UsageLimit::SingleUse,
            customers: crate::port::CustomerEligibility::Anyone,
            products: Vec::new(),
            minimum_subtotal: None,
            starts_at: Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).single().expect("date"),
            ends_at: None,
        }
    }

    #[tokio::test]
    async fn creates_once_then_reports_the_code_as_existing() {
        let shop = MemoryDiscounts::new();
        let first = shop
            .create_discount(&request("K7M2P9QX4R"))
            .await
            .expect("created");
        assert_eq!(first.platform_id, "memory-1");
        // Same code typed differently is the same code.
        let again = shop.create_discount(&request("k7m2p9qx4r")).await;
        assert_eq!(again, Err(DiscountError::AlreadyExists));
        assert_eq!(shop.created().len(), 1);
    }

    #[tokio::test]
    async fn queued_failures_come_first_and_invalid_requests_are_refused() {
        let shop = MemoryDiscounts::new();
        shop.fail_next(DiscountError::Transient("throttled".into()));
        assert_eq!(
            shop.create_discount(&request("K7M2P9QX4R")).await,
            Err(DiscountError::Transient("throttled".into()))
        );
        assert!(shop.create_discount(&request("K7M2P9QX4R")).await.is_ok());

        let mut blank = request("A7M2P9QX4R");
        blank.title = String::new();
        assert!(matches!(
            shop.create_discount(&blank).await,
            Err(DiscountError::Permanent(_))
        ));
        assert_eq!(shop.created().len(), 1);
    }
}
