//! End to end: the real `thank-you` binary, run as Lambda runs it (against a local Runtime API),
//! invoked the two ways `template.yaml` invokes it: by an SNS delivery of a domain event (plan)
//! and by its schedule's `{"tick": ...}` (send), with DynamoDB, SES and SNS on moto server.
//!
//! Needs `moto_server` on PATH (`pip install 'moto[server]'`).

// The setup, payloads, moto server and Runtime API the flow functions' tests share.
#[allow(dead_code)]
#[path = "../../shopify-webhook/tests/support/flow.rs"]
mod flow;

use aftersale_domain::{MessageStatus, ShopId};
use aftersale_ports::Messages;
use flow::lambda::Outcome;
use flow::{INVOCATION, LINK_KEY_HEX, SENDER, SHOP, Stack, tick};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_binary_plans_on_an_sns_event_and_sends_on_a_tick() {
    let started = std::time::Instant::now();
    let stack = Stack::new(&[]).await;
    let invocation = stack.store_order(flow::ORDER_CREATED).await;

    let (mut runtime, mut function) = stack
        .start(
            env!("CARGO_BIN_EXE_thank-you"),
            &[("AFTERSALE_LINK_KEY", LINK_KEY_HEX)],
        )
        .await;

    // 1. The domain event, as the SNS subscription delivers it: the thank-you and the survey
    //    are planned.
    let response = flow::plan(&mut runtime, &mut function, invocation).await;
    assert_eq!(response, json!({"planned": 2}));

    // 2. The schedule's tick: the thank-you is due and goes out through SES.
    let report = runtime.invoke_ok(&mut function, tick(1), INVOCATION).await;
    assert_eq!(report["sent"], 1, "{report}");
    assert_eq!(report["failed"], 0, "{report}");

    // 3. Something that is neither: an invocation error Lambda retries and dead-letters.
    let request_id = runtime.invoke(json!({"hello": "world"}));
    match runtime.outcome(&mut function, INVOCATION).await {
        Outcome::Error {
            request_id: id, body, ..
        } => {
            assert_eq!(id, request_id);
            let message = body["errorMessage"].as_str().unwrap_or_default();
            assert!(message.contains("unrecognised invocation"), "{body}");
        }
        other => panic!("expected an invocation error, got {other:?}"),
    }
    assert!(function.exited().is_none(), "{}", function.log());

    // In DynamoDB: the thank-you sent (with SES's message id), the survey still planned.
    let store = stack.store();
    let shop = ShopId::from_domain(SHOP).unwrap();
    let messages = store.list_messages(Some(&shop)).await.unwrap();
    let step = |name: &str| {
        messages
            .iter()
            .find(|m| m.step.as_str() == name)
            .unwrap_or_else(|| panic!("no {name} message in {messages:#?}"))
    };
    let thank_you = step("thank-you");
    assert_eq!(thank_you.status, MessageStatus::Sent, "{thank_you:#?}");
    let provider_id = thank_you.provider_id.clone().expect("SES's message id is kept");
    assert_eq!(step("feedback").status, MessageStatus::Planned);

    // ...and moto's SES has the message, from the shop's sender to the customer.
    let data = stack.moto.data().await;
    let sent = data["ses"]["RawMessage"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["id"] == provider_id.as_str())
        .unwrap_or_else(|| panic!("SES message {provider_id} not recorded by moto"));
    assert!(
        sent["source"].as_str().unwrap_or_default().contains(SENDER),
        "{sent}"
    );
    let raw = sent["raw_data"].as_str().unwrap_or_default();
    assert!(
        raw.contains("To: John <john@example.com>"),
        "to the order's customer: {raw}"
    );
    assert!(
        raw.contains("X-Aftersale-Message: thank-you#820982911946154508#thank-you"),
        "{raw}"
    );

    eprintln!("thank-you runtime API test took {:?}", started.elapsed());
}
