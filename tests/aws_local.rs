//! Local AWS mode: `aftersale init-table` and `aftersale serve --dynamodb-table` against moto,
//! through the default credential chain and `AWS_ENDPOINT_URL`, as a developer would run them.

#[path = "support/mod.rs"]
mod support;

#[path = "../shared/aws/tests/aws_on_moto/support.rs"]
#[allow(dead_code)] // the adapters' harness; these tests use its server only
mod moto_support;

use std::process::Command;
use support::*;

fn aws_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("RUST_LOG", "warn".into()),
    ]
}

fn aftersale(endpoint: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(binary())
        .args(args)
        .envs(aws_env(endpoint))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn init_table_then_serve_on_dynamodb_stores_events_and_plans_messages() {
    let moto = moto_support::moto();
    let table = moto_support::unique("aftersale");

    let (ok, out, err) = aftersale(&moto.endpoint, &["init-table", "--dynamodb-table", &table]);
    assert!(ok, "{err}");
    assert!(out.contains("Created"), "{out}");
    let (ok, out, _) = aftersale(&moto.endpoint, &["init-table", "--dynamodb-table", &table]);
    assert!(ok && out.contains("AlreadyExisted"), "{out}");

    let env = aws_env(&moto.endpoint);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start_with(&["--dynamodb-table", &table], &env);
    let (status, body) = post_shopify(
        &server,
        "orders/create",
        "aws-1",
        &fixture("shopify/orders_create.json"),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        post_shopify(
            &server,
            "orders/create",
            "aws-1",
            &fixture("shopify/orders_create.json")
        )
        .0,
        200
    );

    let (ok, out, err) = aftersale(&moto.endpoint, &["events", "--json", "--dynamodb-table", &table]);
    assert!(ok, "{err}");
    let events: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), 1, "stored once in DynamoDB: {out}");
    assert_eq!(events[0]["kind"], "order_placed");
    assert_eq!(events[0]["order_id"], "820982911946154508");

    let (ok, out, err) = aftersale(&moto.endpoint, &["outbox", "--json", "--dynamodb-table", &table]);
    assert!(ok, "{err}");
    let steps: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|m| {
            format!(
                "{}/{}:{}",
                m["flow"].as_str().unwrap(),
                m["step"].as_str().unwrap(),
                m["status"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        steps,
        ["thank-you/thank-you:planned", "thank-you/feedback:planned"]
    );
}

#[test]
fn a_missing_table_is_a_clear_error() {
    let moto = moto_support::moto();
    let (ok, _, err) = aftersale(&moto.endpoint, &["events", "--dynamodb-table", "no-such-table"]);
    assert!(!ok);
    assert!(
        err.contains("storage backend failed")
            || err.contains("no-such-table")
            || err.contains("ResourceNotFound"),
        "{err}"
    );
}
