//! Answers, suppressions and shop configs, and their tenancy.

use crate::fixtures::*;

/// A later answer to the same question of the same message replaces the earlier one; other
/// questions, messages, customers and shops are separate. Listed oldest first.
pub async fn answers_replace_per_question(store: &dyn FlowStore) {
    let shop = unique_shop("answers");
    let other_shop = unique_shop("answers-other");
    let answer = |shop: &ShopId, customer: &str, message_id: &str, kind: AnswerKind, minute: i64| Answer {
        shop: shop.clone(),
        customer_id: customer_id(customer),
        message_id: self::message_id(message_id),
        order_id: Some(order_id("o1")),
        answer: kind,
        answered_at: at(minute),
    };
    let survey = "thank-you#o1#survey";
    let review = "review-request#o1#review";
    let rating = |product: &str, stars: u8| AnswerKind::Rating {
        product_id: product.into(),
        stars,
    };
    let replaced = answer(&shop, "c1", survey, AnswerKind::Csat { score: 3 }, 1);
    let nps = answer(&shop, "c1", survey, AnswerKind::Nps { score: 9 }, 2);
    let csat = answer(&shop, "c1", survey, AnswerKind::Csat { score: 5 }, 3);
    let p1 = answer(&shop, "c1", review, rating("p1", 4), 4);
    let p2 = answer(&shop, "c1", review, rating("p2", 5), 5);
    let p1_again = answer(&shop, "c1", review, rating("p1", 2), 6);
    let other_message = answer(
        &shop,
        "c1",
        "thank-you#o9#survey",
        AnswerKind::Csat { score: 2 },
        7,
    );
    let other_customer = answer(&shop, "c2", survey, AnswerKind::Csat { score: 1 }, 8);
    let other_tenant = answer(&other_shop, "c1", survey, AnswerKind::Csat { score: 4 }, 9);
    for a in [
        &replaced,
        &nps,
        &csat,
        &p1,
        &p2,
        &p1_again,
        &other_message,
        &other_customer,
        &other_tenant,
    ] {
        store.record_answer(a).await.unwrap();
    }
    assert_eq!(
        store.customer_answers(&shop, &customer_id("c1")).await.unwrap(),
        vec![nps, csat, p2, p1_again, other_message]
    );
    assert_eq!(
        store.customer_answers(&shop, &customer_id("c2")).await.unwrap(),
        vec![other_customer]
    );
    assert_eq!(
        store
            .customer_answers(&other_shop, &customer_id("c1"))
            .await
            .unwrap(),
        vec![other_tenant]
    );
    assert!(
        store
            .customer_answers(&shop, &customer_id("c3"))
            .await
            .unwrap()
            .is_empty()
    );
}

/// Suppression is per shop and per address, case- and surrounding-space-insensitive; the
/// latest reason wins.
pub async fn suppressions_by_address(store: &dyn FlowStore) {
    let shop = unique_shop("suppress");
    let other_shop = unique_shop("suppress-other");
    assert_eq!(store.suppression(&shop, "laura@example.com").await.unwrap(), None);
    store
        .suppress(&shop, "Laura@Example.com ", SuppressionReason::Bounce, at(0))
        .await
        .unwrap();
    for spelling in ["laura@example.com", "Laura@Example.com ", " LAURA@EXAMPLE.COM"] {
        assert_eq!(
            store.suppression(&shop, spelling).await.unwrap(),
            Some(SuppressionReason::Bounce),
            "{spelling:?}"
        );
    }
    assert_eq!(store.suppression(&shop, "laura@example.org").await.unwrap(), None);
    assert_eq!(
        store.suppression(&other_shop, "laura@example.com").await.unwrap(),
        None
    );

    store
        .suppress(&shop, "laura@example.com", SuppressionReason::Unsubscribed, at(1))
        .await
        .unwrap();
    assert_eq!(
        store.suppression(&shop, "LAURA@example.com").await.unwrap(),
        Some(SuppressionReason::Unsubscribed)
    );
    store
        .suppress(&shop, "+393331234567", SuppressionReason::Complaint, at(2))
        .await
        .unwrap();
    assert_eq!(
        store.suppression(&shop, "+393331234567").await.unwrap(),
        Some(SuppressionReason::Complaint)
    );
}

/// A shop's config round-trips whole and is replaced on save; other shops have none.
pub async fn shop_configs_round_trip(store: &dyn FlowStore) {
    let shop = unique_shop("config");
    let other_shop = unique_shop("config-other");
    assert_eq!(store.load_config(&shop).await.unwrap(), None);
    let mut config = ShopConfig {
        shop: Some(shop.clone()),
        shop_name: Some("Bottega Laura".into()),
        locale: "it".into(),
        time_zone: chrono_tz::Europe::Rome,
        ..ShopConfig::default()
    };
    store.save_config(&shop, &config).await.unwrap();
    assert_eq!(store.load_config(&shop).await.unwrap(), Some(config.clone()));
    config.locale = "en".into();
    config.sender =
        Some(aftersale_domain::Sender::parse("Bottega <hello@bottega.example>").expect("a sender"));
    store.save_config(&shop, &config).await.unwrap();
    assert_eq!(store.load_config(&shop).await.unwrap(), Some(config));
    assert_eq!(store.load_config(&other_shop).await.unwrap(), None);
}

/// The same customer and message ids in two shops are different messages, answers,
/// suppressions and configs.
pub async fn flow_tenants_never_collide(store: &dyn FlowStore) {
    let a = unique_shop("flow-tenant-a");
    let b = unique_shop("flow-tenant-b");
    let cid = customer_id("c1");
    let in_a = message(&a, "c1", thank_you::Step::ThankYou.into(), "o1", at(10));
    let in_b = message(&b, "c1", thank_you::Step::ThankYou.into(), "o1", at(10));
    assert!(store.plan_message(&in_a).await.unwrap());
    assert!(
        store.plan_message(&in_b).await.unwrap(),
        "the same id in another shop is new"
    );

    let stored_a = store.load_message(&a, &cid, &in_a.id()).await.unwrap().unwrap();
    let claimed_a = store
        .update_message(&Message {
            status: MessageStatus::Claimed,
            lease_until: Some(at(11)),
            ..stored_a
        })
        .await
        .unwrap();
    assert_eq!(
        store.load_message(&b, &cid, &in_b.id()).await.unwrap(),
        Some(Message {
            version: 1,
            ..in_b.clone()
        }),
        "updating shop A's message leaves shop B's alone"
    );
    assert_eq!(store.customer_messages(&a, &cid).await.unwrap(), vec![claimed_a]);
    assert_eq!(store.list_messages(Some(&b)).await.unwrap().len(), 1);

    store
        .record_answer(&Answer {
            shop: a.clone(),
            customer_id: cid.clone(),
            message_id: in_a.id(),
            order_id: None,
            answer: AnswerKind::Delivery { ok: false },
            answered_at: at(12),
        })
        .await
        .unwrap();
    assert!(store.customer_answers(&b, &cid).await.unwrap().is_empty());
    store
        .suppress(&a, "c1@example.com", SuppressionReason::Complaint, at(13))
        .await
        .unwrap();
    assert_eq!(store.suppression(&b, "c1@example.com").await.unwrap(), None);
    store.save_config(&a, &ShopConfig::default()).await.unwrap();
    assert_eq!(store.load_config(&b).await.unwrap(), None);
}
