//! A customer's erasure through the shared rules of `aftersale_ports` (`erase_request`,
//! `redaction::redact_customer`): afterwards nothing any store lists names them.

use crate::fixtures::*;

/// `customers/redact` through [`aftersale_ports::erasure::erase_request`]: afterwards nothing the store
/// lists for the shop (events, orders, profile, messages, answers, every document) holds the
/// customer's id, email or phone, while another customer's referral code and record stay.
pub async fn erasure_leaves_no_trace_of_the_customer(store: &dyn FlowStore) {
    use aftersale_ports::documents::keys;
    use aftersale_ports::erasure::erase_request;
    let shop = unique_shop("erase");
    let (ada, email, phone) = ("7712345098", "ada.erase@example.com", "+393331112223");
    let guest_email = "guest.erase@example.com";
    let guest = CustomerId::for_guest_email(guest_email);
    let t = fresh_epoch();

    let mut profile = Customer::bare(customer_id(ada));
    profile.email = Some(email.into());
    profile.phone = Some(phone.into());
    store.save_customer(&shop, &profile).await.unwrap();
    let mut order = placed_order("5550001", ada);
    order.customer = profile.clone();
    let placed = event(&shop, "erase-1", EventKind::OrderPlaced(order.clone()));
    store.record_event(&placed, at(1)).await.unwrap();
    store.save_order(&shop, &order_record(&order), 0).await.unwrap();
    let mut guest_order = placed_order("5550002", guest.as_str());
    guest_order.customer.email = Some(guest_email.into());
    store
        .record_event(
            &event(&shop, "erase-2", EventKind::OrderPlaced(guest_order.clone())),
            at(1),
        )
        .await
        .unwrap();
    store
        .save_order(&shop, &order_record(&guest_order), 0)
        .await
        .unwrap();
    let mut note = message(&shop, ada, thank_you::Step::ThankYou.into(), "5550001", t(10));
    note.to = Some(email.into());
    store.plan_message(&note).await.unwrap();
    store
        .record_answer(&Answer {
            shop: shop.clone(),
            customer_id: customer_id(ada),
            message_id: note.id(),
            order_id: Some(order_id("5550001")),
            answer: AnswerKind::Csat { score: 2 },
            answered_at: t(20),
        })
        .await
        .unwrap();
    let documents = [
        (
            keys::customer_orders(&customer_id(ada)),
            json!({ "orders": ["5550001"] }),
        ),
        (keys::customer_tier(&customer_id(ada)), json!({ "tier": "Gold" })),
        (keys::referral_code("ADA-1"), json!({ "customer": ada })),
        (keys::referral_code("BOB-1"), json!({ "customer": "bob" })),
        (
            keys::referred_order(&order_id("5550009")),
            json!({ "code": "ADA-1", "advocate": ada, "friend": "friend9", "order_id": "5550009" }),
        ),
        (
            keys::referred_order(&order_id("5550010")),
            json!({ "code": "BOB-1", "advocate": "bob", "friend": "friend10", "order_id": "5550010" }),
        ),
        (
            keys::data_request("r1#7712345098"),
            json!({ "customer_id": ada, "export": { "profile": { "email": email, "phone": phone } } }),
        ),
        (
            keys::data_request(&format!("r2#{guest}")),
            json!({ "customer_id": guest.as_str(), "export": { "email": guest_email } }),
        ),
    ];
    for (key, value) in &documents {
        store.save_document(&shop, key, value, 0).await.unwrap();
    }

    let request = aftersale_domain::PrivacyRequest {
        customer_id: Some(customer_id(ada)),
        email: Some(email.into()),
        phone: Some(phone.into()),
        order_ids: vec![order_id("5550001")],
        request_id: None,
    };
    let removed = erase_request(store, &shop, &request).await.unwrap();
    assert!(
        removed >= 9,
        "profile, order, event, message, answer, 2 own + 3 named documents: {removed}"
    );
    let guest_request = aftersale_domain::PrivacyRequest {
        customer_id: None,
        email: Some(guest_email.into()),
        phone: None,
        order_ids: vec![],
        request_id: None,
    };
    erase_request(store, &shop, &guest_request).await.unwrap();

    let held = everything_listed(store, &shop, &[ada, guest.as_str()], &["5550001", "5550002"]).await;
    for value in [ada, email, phone, guest_email, guest.as_str()] {
        assert!(!held.contains(value), "{value} is still held: {held}");
    }
    assert_eq!(
        document_keys_of(store, &shop).await,
        [
            keys::referral_code("BOB-1"),
            keys::referred_order(&order_id("5550010"))
        ],
        "another customer's code and referral record stay"
    );
    assert_eq!(
        erase_request(store, &shop, &request).await.unwrap(),
        0,
        "a second erasure finds nothing"
    );
}

/// Everything the store lists for `shop` about these customers and orders, as one text.
async fn everything_listed(
    store: &dyn FlowStore,
    shop: &ShopId,
    customers: &[&str],
    orders: &[&str],
) -> String {
    let mut held = Vec::new();
    held.push(serde_json::to_string(&store.list_events(Some(shop)).await.unwrap()).unwrap());
    held.push(serde_json::to_string(&store.list_messages(Some(shop)).await.unwrap()).unwrap());
    for (key, doc) in store.list_documents(shop, "").await.unwrap() {
        held.push(format!("{key} {}", doc.value));
    }
    for c in customers {
        let c = customer_id(c);
        held.push(serde_json::to_string(&store.load_customer(shop, &c).await.unwrap()).unwrap());
        held.push(serde_json::to_string(&store.customer_answers(shop, &c).await.unwrap()).unwrap());
        held.push(serde_json::to_string(&store.customer_messages(shop, &c).await.unwrap()).unwrap());
    }
    for o in orders {
        let found = store
            .load_order(shop, &order_id(o))
            .await
            .unwrap()
            .map(|v| v.value);
        held.push(serde_json::to_string(&found).unwrap());
    }
    held.join("\n")
}

async fn document_keys_of(store: &dyn FlowStore, shop: &ShopId) -> Vec<String> {
    store
        .list_documents(shop, "")
        .await
        .unwrap()
        .into_iter()
        .map(|(key, _)| key)
        .collect()
}

/// [`redaction::redact_customer`](aftersale_ports::redaction::redact_customer) on this store: afterwards
/// nothing the shop holds names the customer, neither a dead letter (a raw payload, parsed or
/// truncated) nor a sample in the shop's statistics; another customer's and another shop's
/// stay.
pub async fn redaction_leaves_no_trace_of_the_customer(store: &dyn Store) {
    use aftersale_ports::documents::{self, keys};
    use aftersale_ports::lifecycle::{self, Sample, Samples, ShardCache};
    use base64::Engine;
    let encode = |body: &str| base64::engine::general_purpose::STANDARD.encode(body);
    let shop = unique_shop("redact-trace");
    let other_shop = unique_shop("redact-trace-other");
    for (customer, order, event_id) in [("laura-7", "o-7", "e-7"), ("marco-8", "o-8", "e-8")] {
        seed_customer(store, &shop, customer, order, event_id).await;
        let record = store
            .load_order(&shop, &order_id(order))
            .await
            .unwrap()
            .unwrap()
            .value;
        lifecycle::record_order(store, &shop, &record).await.unwrap();
        lifecycle::update_statistics(store, &shop, &record).await.unwrap();
    }
    let sample = |customer: &str, value: i64| Sample {
        customer: customer_id(customer),
        at: at(0),
        value,
    };
    let supply = Samples {
        samples: [
            ("o-7".to_string(), sample("laura-7", 86_400)),
            ("o-8".to_string(), sample("marco-8", 3_600)),
        ]
        .into(),
    };
    documents::insert(store, &shop, &keys::supply("p1"), &supply)
        .await
        .unwrap();
    let letters = [
        (
            shop.as_str(),
            "trace-json",
            r#"{"id": 99, "email": "LAURA-7@example.com", "total_price": "x"}"#,
        ),
        (
            shop.as_str(),
            "trace-cut",
            r#"{"id": 98, "customer": {"id": "laura-7", "first_na"#,
        ),
        (
            shop.as_str(),
            "trace-marco",
            r#"{"id": 97, "email": "marco-8@example.com"}"#,
        ),
        (
            other_shop.as_str(),
            "trace-other-shop",
            r#"{"id": 99, "email": "laura-7@example.com"}"#,
        ),
    ];
    for (letter_shop, id, body) in letters {
        let mut letter = dead_letter(letter_shop, &format!("{id}-{shop}"), at(3));
        letter.body_base64 = encode(body);
        store.put_dead_letter(&letter).await.unwrap();
    }

    let request = aftersale_domain::PrivacyRequest {
        customer_id: Some(customer_id("laura-7")),
        email: Some("laura-7@example.com".into()),
        phone: None,
        order_ids: vec![],
        request_id: None,
    };
    let removed = aftersale_ports::redaction::redact_customer(store, &shop, &request)
        .await
        .unwrap();
    assert!(removed > 0);

    let held: Vec<String> = store
        .list_dead_letters()
        .await
        .unwrap()
        .into_iter()
        .filter(|l| l.id.ends_with(shop.as_str()))
        .map(|l| {
            let body = base64::engine::general_purpose::STANDARD
                .decode(&l.body_base64)
                .unwrap();
            format!("{} {}", l.shop, String::from_utf8_lossy(&body))
        })
        .collect();
    assert_eq!(
        held.len(),
        2,
        "marco's and the other shop's dead letters stay: {held:?}"
    );
    assert!(
        held.iter()
            .all(|h| !h.contains(shop.as_str()) || !h.to_lowercase().contains("laura")),
        "{held:?}"
    );
    let documents = store.list_documents(&shop, "").await.unwrap();
    let text =
        serde_json::to_string(&documents.iter().map(|(k, v)| (k, &v.value)).collect::<Vec<_>>()).unwrap();
    assert!(
        !text.contains("laura-7"),
        "no document names the customer: {text}"
    );
    let spend = lifecycle::spend_table(store, &shop, &ShardCache::default())
        .await
        .unwrap();
    assert_eq!(
        spend
            .spend
            .samples
            .values()
            .map(|s| s.customer.as_str())
            .collect::<Vec<_>>(),
        ["marco-8"],
        "another customer's spend stays"
    );
    assert_eq!(
        aftersale_ports::redaction::redact_customer(store, &shop, &request)
            .await
            .unwrap(),
        0,
        "a second redact finds nothing"
    );
}
