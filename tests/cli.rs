//! The CLI's own bad inputs: clear errors, non-zero exits, nothing half-done.

#[path = "support/mod.rs"]
mod support;

use std::process::Command;
use support::binary;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(binary())
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_arguments_are_named() {
    let (ok, err) = run(&["serve", "--listen", "not-an-address"]);
    assert!(!ok);
    assert!(err.contains("--listen"), "{err}");

    let (ok, err) = run(&["frobnicate"]);
    assert!(!ok);
    assert!(err.contains("unrecognized subcommand"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let (ok, err) = run(&["events", "--data-dir", data, "--shop", "bad#shop"]);
    assert!(!ok);
    assert!(err.contains("--shop") && err.contains("not allowed"), "{err}");

    let (ok, err) = run(&["dead-letters", "--data-dir", data, "replay", "--id", "dl-missing"]);
    assert!(!ok);
    assert!(err.contains("no pending dead letter with id dl-missing"), "{err}");
}

#[test]
fn a_broken_secrets_file_stops_serve_with_the_file_and_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secrets.toml");
    std::fs::write(&file, "[woocommerce.sites]\n\"shop.example\" = \"\"\n").unwrap();
    let (ok, err) = run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--secrets-file",
        file.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        err.contains("secrets.toml") && err.contains("secret is empty"),
        "{err}"
    );

    let (ok, err) = run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--secrets-file",
        "/nonexistent/secrets.toml",
    ]);
    assert!(!ok);
    assert!(err.contains("/nonexistent/secrets.toml"), "{err}");
}

#[test]
fn an_empty_store_lists_nothing_and_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(binary())
        .args(["events", "--json", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
}
