//! Folding a new event into the stored state (order records, customer profiles, install
//! state, the platform's privacy requests), and the figures derived from it.

use aftersale_domain::{CustomerId, EventKind, OrderId, OrderRecord, ShopId, StoreEvent};
use aftersale_ports::lifecycle;
use aftersale_ports::{PrivacyDesk, ShopState, ShopStatus, Store, StoreError};
use chrono::{DateTime, Utc};
use tracing::{info, warn};

/// Optimistic-concurrency retries before giving up (the platform then retries the delivery).
const MAX_CONFLICT_RETRIES: usize = 8;

/// The shop's statistics and the metrics' order rollups for the event's customer, both
/// recomputed from the customer's whole history: idempotent, and the same whichever of the
/// customer's events comes first. Planning after the reply does this after the reply too.
pub async fn update_figures(
    store: &dyn Store,
    shop: &ShopId,
    record: &OrderRecord,
) -> Result<(), StoreError> {
    // Statistics are sharded by customer, so deliveries of one shop rarely meet on an item.
    // Should one still lose its races for good, that costs nothing lasting: the customer's
    // share is recomputed from their whole history on their next event, so the delivery is
    // not failed (and retried by the platform) for it.
    match lifecycle::update_statistics(store, shop, record).await {
        Err(StoreError::Conflict { what }) => warn!(%what, "shop statistics left for the next event"),
        other => other?,
    }
    if let Some(customer) = record.customer_id() {
        aftersale_metrics::rollups::refresh_orders(store, shop, customer).await?;
    }
    Ok(())
}

/// The event's own state: the order record (and the customer's index of orders), the
/// customer's profile, the shop's install state, and privacy requests. What a delivery has
/// stored when it is answered. Returns the event's order as stored, if it has one.
pub async fn fold(
    store: &dyn Store,
    privacy: &dyn PrivacyDesk,
    event: &StoreEvent,
    received_at: DateTime<Utc>,
) -> Result<Option<OrderRecord>, StoreError> {
    let mut order = None;
    if let Some(order_id) = event.order_id() {
        fold_order(store, event, order_id).await?;
        if let Some(record) = store.load_order(&event.shop, order_id).await? {
            lifecycle::record_order(store, &event.shop, &record.value).await?;
            order = Some(record.value);
        }
    }
    let customer = match &event.kind {
        EventKind::CustomerCreated(c) | EventKind::CustomerUpdated(c) => Some(c),
        EventKind::CheckoutUpdated(checkout) => Some(&checkout.customer),
        _ => event.order().map(|o| &o.customer),
    };
    if let Some(seen) = customer {
        let mut profile = store
            .load_customer(&event.shop, &seen.id)
            .await?
            .unwrap_or_else(|| seen.clone());
        profile.merge_newer(seen);
        store.save_customer(&event.shop, &profile).await?;
    }
    match &event.kind {
        EventKind::AppUninstalled => {
            // The rest of the record (scopes, webhooks) is kept: the data stays until
            // `shop/redact`, and a reinstall picks up where the shop was.
            let mut state = store
                .load_shop(&event.shop)
                .await?
                .unwrap_or_else(|| ShopState::installed(event.platform, event.occurred_at));
            if state.status == ShopStatus::Redacted {
                info!("uninstall of an already redacted shop; nothing to do");
            } else if state.uninstall_is_stale(event.occurred_at) {
                // `occurred_at` is `X-Shopify-Triggered-At` when Shopify sent it.
                info!(
                    triggered_at = %event.occurred_at,
                    "a late app/uninstalled from before the current install; ignored"
                );
            } else {
                state.set_status(ShopStatus::Uninstalled, event.occurred_at);
                state.token_expires_at = None;
                store.save_shop(&event.shop, &state).await?;
                info!("shop uninstalled the app; no further messages will be sent");
            }
        }
        EventKind::CustomerRedact(request) => {
            // Their counts leave the rollups before their facts are erased, so the figures
            // stay what a rebuild (which no longer sees them) gives.
            let guest = request.email.as_deref().map(CustomerId::for_guest_email);
            for customer in request.customer_id.iter().chain(guest.iter()) {
                aftersale_metrics::rollups::forget_customer(store, &event.shop, customer).await?;
            }
            // The request itself was recorded without the customer's details, so it stays as
            // the record that the request was honoured.
            let removed = privacy.redact_customer(&event.shop, request).await?;
            info!(removed, "customer redacted");
        }
        EventKind::ShopRedact => {
            let before = store.load_shop(&event.shop).await?;
            let removed = privacy.redact_shop(&event.shop).await?;
            // The one record kept: that the shop existed and was erased (`aftersale shops`).
            let mut state = before.unwrap_or_else(|| ShopState::installed(event.platform, event.occurred_at));
            state.set_status(ShopStatus::Redacted, event.occurred_at);
            state.scopes.clear();
            state.token_expires_at = None;
            state.webhooks = None;
            store.save_shop(&event.shop, &state).await?;
            info!(removed, "shop redacted");
            record_audit(store, event, received_at).await?;
        }
        EventKind::CustomerDataRequest(request) => {
            privacy.data_request(event, request).await?;
            info!("customer data request answered; `aftersale data-requests --shop S` shows the export");
        }
        _ => {
            let shop_activity =
                event.order().is_some() || matches!(event.kind, EventKind::CheckoutUpdated(_));
            if shop_activity && store.load_shop(&event.shop).await?.is_none() {
                let state = ShopState::installed(event.platform, event.occurred_at);
                store.save_shop(&event.shop, &state).await?;
            }
        }
    }
    Ok(order)
}

async fn fold_order(store: &dyn Store, event: &StoreEvent, order_id: &OrderId) -> Result<(), StoreError> {
    for _ in 0..MAX_CONFLICT_RETRIES {
        let (mut record, version) = match store.load_order(&event.shop, order_id).await? {
            Some(found) => (found.value, found.version),
            None => (OrderRecord::new(order_id.clone()), 0),
        };
        if !record.apply(event) {
            return Ok(());
        }
        match store.save_order(&event.shop, &record, version).await {
            Err(StoreError::Conflict { .. }) => continue,
            other => return other,
        }
    }
    Err(StoreError::Conflict {
        what: format!("order {order_id} (gave up after {MAX_CONFLICT_RETRIES} tries)"),
    })
}

/// Shop redaction deletes the request's own event with the rest; record it again so the log
/// shows the request was honoured and a redelivery is a duplicate.
async fn record_audit(
    store: &dyn Store,
    event: &StoreEvent,
    received_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    store.record_event(event, received_at).await?;
    Ok(())
}
