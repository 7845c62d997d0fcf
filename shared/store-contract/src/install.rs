//! The install record and OAuth nonces: what every store promises about them.

use crate::fixtures::*;
use aftersale_ports::{ShopStatus, WebhookOutcome, WebhookSync, WebhookTopicState};

/// Every field of the record survives a save, and `list_shops` names the shop with it.
pub async fn a_full_install_record_round_trips_and_is_listed(store: &dyn Store) {
    let shop = unique_shop("install-record");
    let mut state = ShopState::installed(Platform::Shopify, at(0));
    state.scopes = vec!["read_orders".into(), "write_discounts".into()];
    state.token_expires_at = Some(at(60));
    state.webhooks = Some(WebhookSync {
        checked_at: at(1),
        uri: "https://aftersale.example/webhooks/shopify".into(),
        topics: vec![
            WebhookTopicState {
                topic: "ORDERS_CREATE".into(),
                outcome: WebhookOutcome::Created,
                detail: None,
            },
            WebhookTopicState {
                topic: "REFUNDS_CREATE".into(),
                outcome: WebhookOutcome::Failed,
                detail: Some("Access denied".into()),
            },
        ],
    });
    store.save_shop(&shop, &state).await.unwrap();
    assert_eq!(store.load_shop(&shop).await.unwrap(), Some(state.clone()));
    state.set_status(ShopStatus::Redacted, at(5));
    store.save_shop(&shop, &state).await.unwrap();
    let listed = store.list_shops().await.unwrap();
    let ours: Vec<_> = listed.iter().filter(|(s, _)| *s == shop).collect();
    assert_eq!(ours, [&(shop.clone(), state)], "listed once, as last saved");
}

/// A nonce is single-use, bound to the shop it was issued for.
pub async fn a_nonce_is_taken_once_and_only_for_its_own_shop(store: &dyn Store) {
    let shop = unique_shop("nonce");
    let other = unique_shop("nonce-other");
    store.save_nonce(&shop, "n1", at(10)).await.unwrap();
    assert_eq!(
        store.take_nonce(&other, "n1").await.unwrap(),
        None,
        "another shop's callback cannot use it"
    );
    assert_eq!(store.take_nonce(&shop, "n2").await.unwrap(), None);
    assert_eq!(store.take_nonce(&shop, "n1").await.unwrap(), Some(at(10)));
    assert_eq!(
        store.take_nonce(&shop, "n1").await.unwrap(),
        None,
        "a replayed callback finds it gone"
    );
}

/// `redact_shop` removes the shop's outstanding nonces too.
pub async fn nonces_go_with_their_shop(store: &dyn Store) {
    let shop = unique_shop("nonce-redact");
    store.save_nonce(&shop, "n1", at(10)).await.unwrap();
    store.redact_shop(&shop).await.unwrap();
    assert_eq!(store.take_nonce(&shop, "n1").await.unwrap(), None);
}
