//! The privacy desk of a process that has only the ingest store: it erases, but builds no
//! export (that needs the flows' messages and answers). Deployments wire the full desk from
//! `aftersale-privacy` with [`Ingest::with_privacy`](crate::Ingest::with_privacy); this one
//! keeps tests and tools that build a bare [`Ingest`](crate::Ingest) honest.

use aftersale_domain::{PrivacyRequest, ShopId, StoreEvent};
use aftersale_ports::erasure::erase_request;
use aftersale_ports::{PrivacyDesk, Store, StoreError};
use async_trait::async_trait;
use std::sync::Arc;
use tracing::warn;

pub(crate) struct StoreOnlyDesk {
    pub(crate) store: Arc<dyn Store>,
}

#[async_trait]
impl PrivacyDesk for StoreOnlyDesk {
    async fn data_request(&self, _event: &StoreEvent, _request: &PrivacyRequest) -> Result<(), StoreError> {
        warn!("customer data request recorded, but this process builds no exports");
        Ok(())
    }

    async fn redact_customer(&self, shop: &ShopId, request: &PrivacyRequest) -> Result<u64, StoreError> {
        erase_request(self.store.as_ref(), shop, request).await
    }

    async fn redact_shop(&self, shop: &ShopId) -> Result<u64, StoreError> {
        self.store.redact_shop(shop).await
    }
}
