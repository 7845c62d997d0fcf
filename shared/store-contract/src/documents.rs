//! Documents: versioned writes, listing by prefix, deletion, and their part in redaction.

use crate::fixtures::*;

/// Documents: version 0 creates once, at a version the key never had before; a save lands only
/// over the version it names and bumps it by one; and the same key in another shop is another
/// document.
pub async fn documents(store: &dyn Store) {
    let shop = unique_shop("docs");
    let other_shop = unique_shop("docs-other");
    let key = "campaign#spring";
    assert_eq!(store.load_document(&shop, key).await.unwrap(), None);

    let first = json!({"slug": "spring", "sent": 0});
    store.save_document(&shop, key, &first, 0).await.unwrap();
    let created = store
        .load_document(&shop, key)
        .await
        .unwrap()
        .expect("just created");
    assert_eq!(created.value, first);
    assert!(created.version >= 1, "0 means absent: {}", created.version);
    let v1 = created.version;
    assert_conflict(
        store
            .save_document(&shop, key, &json!({"slug": "other"}), 0)
            .await,
        "creating an existing document",
    );
    assert_conflict(
        store
            .save_document(&shop, key, &json!({"slug": "other"}), v1 + 1)
            .await,
        "a version from the future",
    );
    assert_eq!(
        store.load_document(&shop, key).await.unwrap().map(|d| d.value),
        Some(first),
        "a failed save changes nothing"
    );

    let second = json!({"slug": "spring", "sent": 12, "codes": ["A", "B"]});
    store.save_document(&shop, key, &second, v1).await.unwrap();
    assert_eq!(
        store.load_document(&shop, key).await.unwrap(),
        Some(Versioned {
            value: second.clone(),
            version: v1 + 1
        })
    );
    assert_conflict(
        store.save_document(&shop, key, &json!({}), v1).await,
        "a stale version",
    );
    let as_text = store
        .load_document_json(&shop, key)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(
        (
            serde_json::from_str::<serde_json::Value>(&as_text.value).unwrap(),
            as_text.version
        ),
        (second.clone(), v1 + 1),
        "the same document as JSON text"
    );
    assert_eq!(
        store.load_document_json(&shop, "campaign#missing").await.unwrap(),
        None
    );

    // Saved as text: the same versions and conditions, and read back as the same document.
    let third = json!({"slug": "spring", "sent": 40, "note": "\"quoted\" é"});
    store
        .save_document_json(&shop, key, third.to_string(), v1 + 1)
        .await
        .unwrap();
    assert_eq!(
        store.load_document(&shop, key).await.unwrap(),
        Some(Versioned {
            value: third.clone(),
            version: v1 + 2
        }),
        "a document saved as text"
    );
    assert_conflict(
        store
            .save_document_json(&shop, key, json!({}).to_string(), v1 + 1)
            .await,
        "text saved over a stale version",
    );
    assert_conflict(
        store
            .save_document_json(&shop, key, json!({}).to_string(), 0)
            .await,
        "text creating an existing document",
    );
    let text_key = "campaign#as-text";
    store
        .save_document_json(&shop, text_key, third.to_string(), 0)
        .await
        .unwrap();
    let created = store
        .load_document(&shop, text_key)
        .await
        .unwrap()
        .expect("created as text");
    assert_eq!(created.value, third);
    assert!(created.version >= 1, "0 means absent: {}", created.version);
    assert!(store.delete_document(&shop, text_key).await.unwrap());
    assert_conflict(
        store
            .save_document(&shop, "campaign#missing", &json!({}), 3)
            .await,
        "updating a document that does not exist",
    );
    assert_eq!(
        store.load_document(&shop, "campaign#missing").await.unwrap(),
        None
    );

    assert_eq!(store.load_document(&other_shop, key).await.unwrap(), None);
    store
        .save_document(&other_shop, key, &json!({"slug": "theirs"}), 0)
        .await
        .expect("the same key in another shop is a new document");
    assert_eq!(
        store.load_document(&shop, key).await.unwrap().map(|d| d.value),
        Some(third)
    );
}

/// `list_documents` returns the shop's documents whose key starts with the prefix, sorted by
/// key, and nothing of another shop. The prefix is literal: `%` and `_` match only themselves.
pub async fn documents_are_listed_by_prefix(store: &dyn Store) {
    let shop = unique_shop("docs-list");
    let other_shop = unique_shop("docs-list-other");
    let keys = [
        "campaignz",
        "campaign#b",
        "campaign#ab",
        "campaign#a%_x",
        "campaign#a",
        "campaign",
        "code#ABC",
        "campaign#aXYx",
    ];
    for key in keys {
        store
            .save_document(&shop, key, &json!({ "key": key }), 0)
            .await
            .unwrap();
    }
    let a = store.load_document(&shop, "campaign#a").await.unwrap().unwrap();
    store
        .save_document(
            &shop,
            "campaign#a",
            &json!({"key": "campaign#a", "v": 2}),
            a.version,
        )
        .await
        .unwrap();
    for key in ["campaign#a", "campaign#other"] {
        store
            .save_document(&other_shop, key, &json!({"theirs": true}), 0)
            .await
            .unwrap();
    }

    let listed = |prefix: &'static str| document_keys(store, &shop, prefix);
    assert_eq!(
        listed("campaign#").await,
        [
            "campaign#a",
            "campaign#a%_x",
            "campaign#aXYx",
            "campaign#ab",
            "campaign#b"
        ],
        "by key, without `campaign`, `campaignz` or another shop's"
    );
    assert_eq!(
        listed("campaign#a").await,
        ["campaign#a", "campaign#a%_x", "campaign#aXYx", "campaign#ab"]
    );
    assert_eq!(
        listed("campaign#a%_").await,
        ["campaign#a%_x"],
        "`%` and `_` are literal"
    );
    assert_eq!(listed("campaign#ab").await, ["campaign#ab"]);
    assert_eq!(listed("campaign").await.len(), 7);
    assert!(listed("campaign#c").await.is_empty());
    assert!(listed("nothing#").await.is_empty());
    let mut everything: Vec<&str> = keys.to_vec();
    everything.sort_unstable();
    assert_eq!(
        listed("").await,
        everything,
        "an empty prefix lists the whole shop"
    );

    let versions: Vec<(String, u64)> = store
        .list_documents(&shop, "campaign#a")
        .await
        .unwrap()
        .into_iter()
        .map(|(key, doc)| (key, doc.version))
        .collect();
    assert_eq!(
        versions[0],
        ("campaign#a".to_string(), a.version + 1),
        "listed with its version"
    );
    let theirs: Vec<(String, serde_json::Value)> = store
        .list_documents(&other_shop, "campaign#")
        .await
        .unwrap()
        .into_iter()
        .map(|(key, found)| (key, found.value))
        .collect();
    assert_eq!(
        theirs,
        [
            ("campaign#a".to_string(), json!({"theirs": true})),
            ("campaign#other".to_string(), json!({"theirs": true})),
        ]
    );
}

/// `redact_customer` deletes the documents under `customer#{id}#` and the referral records of
/// the orders it deletes, and counts them; it keeps
/// another customer's (`c10` is not `c1`), the shop's own and another shop's. `redact_shop`
/// deletes every document of the shop.
pub async fn documents_go_with_their_customer_and_shop(store: &dyn Store) {
    let shop = unique_shop("docs-redact");
    let other_shop = unique_shop("docs-redact-other");
    let c1 = customer_id("c1");
    let seeded = [
        "customer#c1#orders",
        "customer#c1#tier",
        "customer#c10#orders",
        "customer#c2#tier",
        "code#C1REF",
        "stats#spend",
        "referral#o9",
        "referral#o10",
    ];
    for s in [&shop, &other_shop] {
        for key in seeded {
            store
                .save_document(s, key, &json!({ "key": key }), 0)
                .await
                .unwrap();
        }
    }
    let before_other = store.list_documents(&other_shop, "").await.unwrap();

    let o9 = order_id("o9");
    let removed = store.redact_customer(&shop, Some(&c1), &[o9]).await.unwrap();
    assert_eq!(
        removed, 3,
        "c1's two documents and the referral record of their order o9"
    );
    assert_eq!(
        store.load_document(&shop, "customer#c1#orders").await.unwrap(),
        None
    );
    assert!(
        store
            .list_documents(&shop, &aftersale_ports::documents::keys::customer_prefix(&c1))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        document_keys(store, &shop, "").await,
        [
            "code#C1REF",
            "customer#c10#orders",
            "customer#c2#tier",
            "referral#o10",
            "stats#spend"
        ],
        "another customer's and the shop's documents stay"
    );
    assert_eq!(
        store.list_documents(&other_shop, "").await.unwrap(),
        before_other,
        "another shop's customer c1 is another customer"
    );

    let removed = store.redact_shop(&shop).await.unwrap();
    assert_eq!(removed, 5, "every document left in the shop");
    assert!(document_keys(store, &shop, "").await.is_empty());
    assert_eq!(store.load_document(&shop, "stats#spend").await.unwrap(), None);
    assert_eq!(
        store.redact_shop(&shop).await.unwrap(),
        0,
        "a second redact finds nothing"
    );
    assert_eq!(store.list_documents(&other_shop, "").await.unwrap(), before_other);
}

/// `delete_document` removes one document whatever its version, says whether it was there,
/// and touches no other key or shop. Written again, the key starts at a version it never had
/// (a reader caching by version must not take it for the deleted one).
pub async fn documents_can_be_deleted(store: &dyn FlowStore) {
    let shop = unique_shop("docs-delete");
    let other_shop = unique_shop("docs-delete-other");
    for s in [&shop, &other_shop] {
        for key in ["code#A1", "code#A10"] {
            store
                .save_document(s, key, &json!({ "key": key }), 0)
                .await
                .unwrap();
        }
    }
    let created = store
        .load_document(&shop, "code#A1")
        .await
        .unwrap()
        .unwrap()
        .version;
    store
        .save_document(&shop, "code#A1", &json!({ "key": "code#A1" }), created)
        .await
        .unwrap();
    assert!(store.delete_document(&shop, "code#A1").await.unwrap());
    assert!(
        !store.delete_document(&shop, "code#A1").await.unwrap(),
        "gone already"
    );
    assert_eq!(store.load_document(&shop, "code#A1").await.unwrap(), None);
    assert_eq!(document_keys(store, &shop, "code#").await, ["code#A10"]);
    assert_eq!(
        document_keys(store, &other_shop, "code#").await,
        ["code#A1", "code#A10"]
    );
    store
        .save_document(&shop, "code#A1", &json!({ "key": "code#A1", "again": true }), 0)
        .await
        .expect("a deleted document can be created again");
    let again = store
        .load_document(&shop, "code#A1")
        .await
        .unwrap()
        .unwrap()
        .version;
    assert!(
        again > created + 1,
        "created at {created}, updated to {}, deleted, then created again at {again}",
        created + 1
    );
}

/// `save_documents` writes all or nothing: one stale version among several writes refuses
/// the whole batch, and a good batch lands every document with its version bumped once.
pub async fn documents_are_saved_together_or_not_at_all(store: &dyn Store) {
    use aftersale_ports::documents::DocumentWrite;
    let shop = unique_shop("docs-batch");
    let write = |key: &str, value: serde_json::Value, expected_version: u64| DocumentWrite {
        key: key.into(),
        value,
        expected_version,
    };
    store
        .save_documents(
            &shop,
            &[
                write("metrics#2026-03#01", json!({"n": 1}), 0),
                write("customer#c1#fact", json!({"n": 1}), 0),
            ],
        )
        .await
        .unwrap();
    let mut created = Vec::new();
    for key in ["metrics#2026-03#01", "customer#c1#fact"] {
        let found = store.load_document(&shop, key).await.unwrap().expect(key);
        assert_eq!(found.value, json!({"n": 1}), "{key}");
        created.push(found.version);
    }
    let [metrics, fact] = created[..] else {
        unreachable!("two keys")
    };
    // The first write alone would land; the second's version is stale, so neither does.
    assert_conflict(
        store
            .save_documents(
                &shop,
                &[
                    write("metrics#2026-03#01", json!({"n": 2}), metrics),
                    write("metrics#2026-04#01", json!({"n": 2}), 0),
                    write("customer#c1#fact", json!({"n": 2}), fact + 7),
                ],
            )
            .await,
        "one stale version in a batch",
    );
    assert_eq!(
        store
            .load_document(&shop, "metrics#2026-03#01")
            .await
            .unwrap()
            .map(|d| (d.value, d.version)),
        Some((json!({"n": 1}), metrics)),
        "nothing of a refused batch is stored"
    );
    assert_eq!(
        store.load_document(&shop, "metrics#2026-04#01").await.unwrap(),
        None
    );
    // A batch that names one key twice, or more than a store can write at once, is refused
    // before anything is written.
    let twice = [write("a#1", json!(1), 0), write("a#1", json!(2), 0)];
    assert!(store.save_documents(&shop, &twice).await.is_err());
    assert_eq!(store.load_document(&shop, "a#1").await.unwrap(), None);
    let many: Vec<DocumentWrite> = (0..=aftersale_ports::documents::MAX_ATOMIC_WRITES)
        .map(|i| write(&format!("many#{i:03}"), json!(i), 0))
        .collect();
    assert!(store.save_documents(&shop, &many).await.is_err());
    assert!(store.list_documents(&shop, "many#").await.unwrap().is_empty());
    // A good batch of updates bumps each version once.
    store
        .save_documents(
            &shop,
            &[
                write("metrics#2026-03#01", json!({"n": 3}), metrics),
                write("customer#c1#fact", json!({"n": 3}), fact),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .load_document(&shop, "customer#c1#fact")
            .await
            .unwrap()
            .map(|d| (d.value, d.version)),
        Some((json!({"n": 3}), fact + 1))
    );
}
