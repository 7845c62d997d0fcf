//! End to end: the real `vip` binary, run as Lambda runs it (against a local Runtime API),
//! invoked the two ways `template.yaml` invokes it: by an SNS delivery of a domain event (plan)
//! and by its schedule's `{"tick": ...}` (send), with DynamoDB, SES, SNS and SSM on moto server.
//! Between the two, an early-access campaign is created through the library on the same table,
//! as the operator's command does: the one function sends both flows' messages.
//!
//! Needs `moto_server` on PATH (`pip install 'moto[server]'`).

// The setup, payloads, moto server and Runtime API the flow functions' tests share.
#[allow(dead_code)]
#[path = "../../shopify-webhook/tests/support/flow.rs"]
mod flow;

use aftersale_aws::DynamoDbStore;
use aftersale_domain::flows::vip::TierName;
use aftersale_domain::{CustomerId, Flow, Message, MessageStatus, ShopId};
use aftersale_engine::{Engine, Senders, Settings};
use aftersale_links::LinkSigner;
use aftersale_ports::{Messages, SystemClock};
use aftersale_rewards::FixedDiscounts;
use aftersale_rewards::MemoryDiscounts;
use aftersale_templates::Templates;
use aftersale_testkit::{RecordingAlerts, RecordingMailer, RecordingSms};
use chrono::Utc;
use flow::{CUSTOMER, INVOCATION, LINK_KEY_HEX, LINK_KEY_PARAM, SENDER, SHOP, Stack, ses_messages, tick};
use serde_json::json;
use std::sync::Arc;

/// The fixture order.
const ORDER: &str = "820982911946154508";
const CAMPAIGN: &str = "Spring drop";
const CAMPAIGN_TEXT: &str = "New roasts, for you first.";

/// The library's engine on the function's table, as the operator's tooling assembles it to
/// create a campaign: the store is real, nothing is sent from here.
fn campaign_engine(store: DynamoDbStore) -> Engine {
    Engine::new(
        Arc::new(store),
        Senders {
            mailer: Arc::new(RecordingMailer::new()),
            sms: Arc::new(RecordingSms::new()),
            alerts: Arc::new(RecordingAlerts::new()),
            discounts: Arc::new(FixedDiscounts(Arc::new(MemoryDiscounts::new()))),
            catalogue: Arc::new(aftersale_ports::NoCatalogue),
        },
        Templates::builtin(),
        LinkSigner::new(b"aftersale-vip-runtime-api-tests!").unwrap(),
        Arc::new(SystemClock),
        Settings {
            flows: vec![Flow::Vip, Flow::EarlyAccess],
            ..Settings::default()
        },
    )
}

/// The customer's message of `flow` at `step`.
fn find<'a>(messages: &'a [Message], flow: Flow, step: &str) -> &'a Message {
    messages
        .iter()
        .find(|m| m.flow() == flow && m.step.as_str() == step)
        .unwrap_or_else(|| panic!("no {flow:?} {step} in {messages:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_binary_recognises_a_new_tier_and_sends_early_access_once() {
    let started = std::time::Instant::now();
    let shop = ShopId::from_domain(SHOP).unwrap();
    let customer = CustomerId::new(CUSTOMER).unwrap();

    // The link key only in SSM, as template.yaml deploys it.
    let stack = Stack::new(&[(LINK_KEY_PARAM, LINK_KEY_HEX)]).await;

    // The shop's config: one order makes a Silver member.
    let toml = r#"
[[flows.vip.tiers]]
name = "Silver"
min_orders = 1
"#;
    stack.save_config(toml).await;

    let invocation = stack.store_order(flow::ORDER_PAID_BY_A_SUBSCRIBER).await;

    let (mut runtime, mut function) = stack
        .start(env!("CARGO_BIN_EXE_vip"), flow::LINK_KEY_FROM_SSM)
        .await;
    let store = stack.store();
    let entered_id = format!("vip#Silver@{ORDER}#tier-entered");

    // 1. The domain event, as the SNS subscription delivers it: the customer enters Silver,
    //    which plans the recognition (due now) and the first anniversary (a year on).
    let response = flow::plan(&mut runtime, &mut function, invocation).await;
    assert_eq!(response, json!({"planned": 2}));
    let messages = store.customer_messages(&shop, &customer).await.unwrap();
    let entered = find(&messages, Flow::Vip, "tier-entered");
    assert_eq!(entered.id().as_str(), entered_id);
    assert_eq!(entered.status, MessageStatus::Planned, "{entered:#?}");
    assert_eq!(entered.details()["tier"], "Silver", "{entered:#?}");
    let anniversary = find(&messages, Flow::Vip, "anniversary");
    assert_eq!(anniversary.status, MessageStatus::Planned, "{anniversary:#?}");
    assert_eq!(anniversary.details()["tier"], "Silver", "{anniversary:#?}");
    assert!(
        anniversary.due_at > Utc::now() + chrono::Duration::days(300),
        "{anniversary:#?}"
    );

    // 2. An early-access campaign for Silver, created through the library on the same table.
    //    Its public start is two hours away with a day's lead: 10:00 UTC (the shop's zone) on
    //    the day before the launch day is already past, so "you first" is due now.
    let public_start = Utc::now() + chrono::Duration::hours(2);
    let report = campaign_engine(stack.store())
        .create_campaign(
            &shop,
            CAMPAIGN,
            public_start,
            1,
            vec![TierName("Silver".into())],
            CAMPAIGN_TEXT,
        )
        .await
        .unwrap();
    assert_eq!(report.invited, 1, "{report:?}");
    let messages = store.customer_messages(&shop, &customer).await.unwrap();
    let you_first = find(&messages, Flow::EarlyAccess, "you-first");
    assert_eq!(you_first.status, MessageStatus::Planned, "{you_first:#?}");
    assert!(you_first.due_at <= Utc::now(), "{you_first:#?}");
    let you_first_id = you_first.id().to_string();

    // 3. The schedule's tick: the recognition and the early access both go out through SES.
    let report = runtime.invoke_ok(&mut function, tick(1), INVOCATION).await;
    assert_eq!(report["sent"], 2, "{report}");
    assert_eq!(report["failed"], 0, "{report}");

    let messages = store.customer_messages(&shop, &customer).await.unwrap();
    let data = stack.moto.data().await;
    for (flow, step, id, text) in [
        (Flow::Vip, "tier-entered", entered_id.as_str(), "Silver"),
        (
            Flow::EarlyAccess,
            "you-first",
            you_first_id.as_str(),
            CAMPAIGN_TEXT,
        ),
    ] {
        let message = find(&messages, flow, step);
        assert_eq!(message.status, MessageStatus::Sent, "{message:#?}");
        let provider_id = message.provider_id.clone().expect("SES's message id is kept");
        let sent = ses_messages(&data, id);
        assert_eq!(sent.len(), 1, "{id}: {sent:#?}");
        let sent = sent[0];
        assert_eq!(sent["id"], provider_id.as_str(), "{sent}");
        assert!(
            sent["source"].as_str().unwrap_or_default().contains(SENDER),
            "{sent}"
        );
        let raw = sent["raw_data"].as_str().unwrap_or_default();
        assert!(
            raw.contains("To: John <john@example.com>"),
            "to the order's customer: {raw}"
        );
        assert!(raw.contains(text), "{id} says {text}: {raw}");
    }
    assert_eq!(
        find(&messages, Flow::Vip, "anniversary").status,
        MessageStatus::Planned
    );

    // 4. The next tick: nothing more is sent.
    let report = runtime.invoke_ok(&mut function, tick(2), INVOCATION).await;
    assert_eq!(report["sent"], 0, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    let data = stack.moto.data().await;
    for id in [&entered_id, &you_first_id] {
        assert_eq!(ses_messages(&data, id).len(), 1, "{id} is sent once");
    }
    assert!(function.exited().is_none(), "{}", function.log());

    eprintln!("vip runtime API test took {:?}", started.elapsed());
}
