//! End to end: the real `cross-sell` binary, run as Lambda runs it (against a local Runtime
//! API), invoked the two ways `template.yaml` invokes it: by an SNS delivery of a domain event
//! (plan) and by its schedule's `{"tick": ...}` (learn the shop's pairs, then send), with
//! DynamoDB, SES and SNS on moto server.
//!
//! Needs `moto_server` on PATH (`pip install 'moto[server]'`).

// The setup, payloads, moto server and Runtime API the flow functions' tests share.
#[allow(dead_code)]
#[path = "../../shopify-webhook/tests/support/flow.rs"]
mod flow;

use aftersale_domain::{MessageStatus, ShopId};
use aftersale_ports::{Documents, Messages};
use flow::{INVOCATION, LINK_KEY_HEX, SENDER, SHOP, Stack, ses_messages, tick};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_binary_plans_on_a_paid_order_learns_on_its_tick_and_sends_the_suggestion_once() {
    let started = std::time::Instant::now();
    let stack = Stack::new(&[]).await;
    stack
        .save_config(
            r#"
[flows.cross_sell]
enabled = true
delay_days = 1
holdout_percent = 0
[[flows.cross_sell.complements]]
product_id = "632910392"
suggest = "999"
title = "Leather case"
url = "https://demo.myshopify.com/products/leather-case"
"#,
        )
        .await;
    // Paid two days ago: its suggestion fell due yesterday morning.
    let placed = chrono::Utc::now() - chrono::Duration::days(2);
    let invocation = stack
        .store_order_placed(flow::ORDER_PAID_BY_A_SUBSCRIBER, placed)
        .await;
    let (mut runtime, mut function) = stack
        .start(
            env!("CARGO_BIN_EXE_cross-sell"),
            &[("AFTERSALE_LINK_KEY", LINK_KEY_HEX)],
        )
        .await;

    // 1. The domain event: the suggestion is planned; nothing is learned per event.
    let response = flow::plan(&mut runtime, &mut function, invocation).await;
    assert_eq!(response, json!({"planned": 1}));
    let store = stack.store();
    let shop = ShopId::from_domain(SHOP).unwrap();
    assert!(
        store
            .load_document(&shop, "cross-sell#run")
            .await
            .unwrap()
            .is_none()
    );

    // 2. The tick: the pairs are learned from DynamoDB, the suggestion goes out through SES.
    let report = runtime.invoke_ok(&mut function, tick(1), INVOCATION).await;
    assert_eq!(
        (report["sent"].as_u64(), report["failed"].as_u64()),
        (Some(1), Some(0)),
        "{report}"
    );
    let run = store
        .load_document(&shop, "cross-sell#run")
        .await
        .unwrap()
        .expect("learned on the tick");
    assert_eq!(
        (run.value["orders"].as_u64(), run.value["customers"].as_u64()),
        (Some(1), Some(1))
    );

    let messages = store.list_messages(Some(&shop)).await.unwrap();
    let suggestion = messages
        .iter()
        .find(|m| m.step.as_str() == "suggest")
        .unwrap_or_else(|| panic!("no suggestion in {messages:#?}"));
    assert_eq!(suggestion.status, MessageStatus::Sent, "{suggestion:#?}");
    assert_eq!(suggestion.details()["chosen_by"], "configured");
    let data = stack.moto.data().await;
    let sent = ses_messages(&data, suggestion.id().as_str());
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert!(
        sent[0]["source"].as_str().unwrap_or_default().contains(SENDER),
        "{}",
        sent[0]
    );
    let raw = sent[0]["raw_data"]
        .as_str()
        .unwrap_or_default()
        .replace("=\r\n", "")
        .replace("=\n", "");
    assert!(raw.contains("often add the Leather case"), "{raw}");
    assert!(
        raw.contains("https://demo.myshopify.com/products/leather-case"),
        "{raw}"
    );
    assert!(
        raw.contains("List-Unsubscribe"),
        "marketing carries a one-click unsubscribe: {raw}"
    );

    // 3. The next tick: nothing more is sent (nothing is due, so nothing is learned either).
    let report = runtime.invoke_ok(&mut function, tick(2), INVOCATION).await;
    assert_eq!(report["sent"], 0, "{report}");
    let again = store
        .load_document(&shop, "cross-sell#run")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        again.version, run.version,
        "learned on the schedule only when suggestions are due"
    );
    assert_eq!(
        ses_messages(&stack.moto.data().await, suggestion.id().as_str()).len(),
        1
    );
    assert!(function.exited().is_none(), "{}", function.log());
    eprintln!("cross-sell runtime API test took {:?}", started.elapsed());
}
