//! The [`PrivacyDesk`] deployments wire into ingest: exports kept for the merchant, erasure
//! from the store and from every copy outside it, and the merchant told through the shop's
//! alert channel (SNS on AWS, `outbox/alerts.jsonl` locally). Alerts carry no personal data:
//! the merchant reads the export with `aftersale data-requests`.

use crate::export::{self, DataRequest};
use aftersale_domain::{PrivacyRequest, ShopId, StoreEvent};
use aftersale_ports::documents::{self, keys};
use aftersale_ports::erasure::{self, Traces};
use aftersale_ports::{Clock, FlowStore, PersonalFiles, PrivacyDesk, StoreError, SupportAlerts};
use async_trait::async_trait;
use std::sync::Arc;
use tracing::{info, warn};

pub struct Desk {
    store: Arc<dyn FlowStore>,
    alerts: Arc<dyn SupportAlerts>,
    files: Vec<Arc<dyn PersonalFiles>>,
    clock: Arc<dyn Clock>,
}

impl Desk {
    pub fn new(store: Arc<dyn FlowStore>, alerts: Arc<dyn SupportAlerts>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            alerts,
            files: Vec::new(),
            clock,
        }
    }

    /// Also erases the copies `files` keeps (the local outbox).
    pub fn with_files(mut self, files: Arc<dyn PersonalFiles>) -> Self {
        self.files.push(files);
        self
    }

    /// Who the request is about, from the request and from what the store holds, read before
    /// anything is deleted.
    async fn traces_of(&self, shop: &ShopId, request: &PrivacyRequest) -> Result<Traces, StoreError> {
        let mut traces = Traces::default();
        traces.emails.extend(request.email.clone());
        traces.phones.extend(request.phone.clone());
        for customer in erasure::request_customers(request) {
            traces.customers.insert(customer.to_string());
            if let Some(profile) = self.store.load_customer(shop, &customer).await? {
                traces.emails.extend(profile.email);
                traces.phones.extend(profile.phone);
            }
            for message in self.store.customer_messages(shop, &customer).await? {
                traces.sent_ids.extend(message.provider_id);
                traces.emails.extend(message.to.filter(|to| to.contains('@')));
            }
        }
        for order in &request.order_ids {
            if let Some(customer) = self
                .store
                .load_order(shop, order)
                .await?
                .and_then(|r| r.value.snapshot)
                .map(|o| o.customer)
            {
                traces.emails.extend(customer.email);
                traces.phones.extend(customer.phone);
            }
        }
        Ok(traces)
    }

    async fn erase_files(&self, traces: &Traces) -> Result<u64, StoreError> {
        let mut removed = 0;
        if traces.is_empty() {
            return Ok(0);
        }
        for files in &self.files {
            removed += files.erase(traces).await?;
        }
        Ok(removed)
    }

    async fn tell_merchant(&self, subject: &str, body: &str) {
        // The export is stored either way; a failed alert must not make the platform retry.
        if let Err(err) = self.alerts.alert(subject, body).await {
            warn!(error = %err, "the merchant could not be told of a privacy request");
        }
    }
}

#[async_trait]
impl PrivacyDesk for Desk {
    async fn data_request(&self, event: &StoreEvent, request: &PrivacyRequest) -> Result<(), StoreError> {
        let shop = &event.shop;
        let request_id = request
            .request_id
            .clone()
            .unwrap_or_else(|| event.event_id.to_string());
        let mut stored = 0;
        for customer in erasure::request_customers(request) {
            let export = export::build(self.store.as_ref(), shop, &customer).await?;
            // The email's guest key is asked about too; it gets an export only if it holds
            // something (a guest checkout), so a registered customer gets one, not two.
            let guest_key = request.customer_id.as_ref() != Some(&customer);
            if guest_key && export.is_empty() {
                continue;
            }
            let key = keys::data_request(&format!("{request_id}#{customer}"));
            let record = DataRequest {
                request_id: request_id.clone(),
                shop: shop.clone(),
                customer_id: customer,
                received_at: self.clock.now(),
                export,
            };
            stored += usize::from(documents::insert(self.store.as_ref(), shop, &key, &record).await?);
        }
        if stored > 0 {
            let subject = format!("Customer data request for {shop}");
            let body = format!(
                "{} asked for the data Aftersale holds on one of your customers (request {request_id}). \
                 The export is ready: run `aftersale data-requests --shop {shop}` and send it to the \
                 customer (Shopify expects an answer within 30 days).",
                match event.platform {
                    aftersale_domain::Platform::Shopify => "Shopify",
                    aftersale_domain::Platform::Woocommerce => "WooCommerce",
                }
            );
            self.tell_merchant(&subject, &body).await;
        }
        info!(exports = stored, "data request export stored");
        Ok(())
    }

    async fn redact_customer(&self, shop: &ShopId, request: &PrivacyRequest) -> Result<u64, StoreError> {
        let traces = self.traces_of(shop, request).await?;
        let removed = erasure::erase_request(self.store.as_ref(), shop, request).await?;
        let files = self.erase_files(&traces).await?;
        info!(removed, files, "customer erased");
        Ok(removed + files)
    }

    async fn redact_shop(&self, shop: &ShopId) -> Result<u64, StoreError> {
        let mut traces = Traces::default();
        traces.shops.insert(shop.to_string());
        for message in self.store.list_messages(Some(shop)).await? {
            // Only what is the shop's alone: a customer id or address may also be another
            // shop's customer, whose copies stay.
            traces.sent_ids.extend(message.provider_id);
        }
        let removed = self.store.redact_shop(shop).await?;
        let files = self.erase_files(&traces).await?;
        info!(removed, files, "shop erased");
        Ok(removed + files)
    }
}
