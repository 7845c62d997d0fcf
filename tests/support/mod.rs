//! Helpers for the end-to-end tests: run the real `aftersale` binary, sign real payloads,
//! and post them over HTTP like the platforms do.

#![allow(dead_code)] // each test file uses its own subset

pub mod mail;
pub mod shopify_admin;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const SHOPIFY_SECRET: &str = "shpss_e2e_secret";
pub const WOO_SECRET: &str = "wc_e2e_secret";

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_aftersale")
}

pub fn fixture(path: &str) -> Vec<u8> {
    let full = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// A running `aftersale serve` on a free loopback port, stopped on drop.
pub struct Server {
    child: Child,
    pub base: String,
    pub data_dir: tempfile::TempDir,
}

impl Server {
    pub fn start() -> Server {
        Self::start_with(&[], &[])
    }

    /// With extra `serve` arguments and environment (e.g. a DynamoDB table on moto).
    pub fn start_with(args: &[&str], envs: &[(&str, &str)]) -> Server {
        Self::start_in(tempfile::tempdir().unwrap(), args, envs)
    }

    /// On a data dir the test prepared (a seeded store, say).
    pub fn start_in(data_dir: tempfile::TempDir, args: &[&str], envs: &[(&str, &str)]) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(binary())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(data_dir.path())
            .args(args)
            .envs(envs.iter().copied())
            .env("SHOPIFY_API_SECRET", SHOPIFY_SECRET)
            .env("WOOCOMMERCE_WEBHOOK_SECRET", WOO_SECRET)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aftersale serve");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            data_dir,
        };
        server.wait_healthy();
        server
    }

    /// A `Server` around a process started elsewhere (with its own arguments or log file).
    pub fn adopt(child: Child, base: String, data_dir: tempfile::TempDir) -> Server {
        Server {
            child,
            base,
            data_dir,
        }
    }

    fn wait_healthy(&self) {
        let client = reqwest::blocking::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(r) = client.get(format!("{}/healthz", self.base)).send()
                && r.status().is_success()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("aftersale serve did not become healthy at {}", self.base);
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.path().to_path_buf()
    }

    /// Runs another `aftersale` command against this server's data dir.
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(binary());
        cmd.args(args)
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .env("RUST_LOG", "warn");
        cmd.output().expect("run aftersale")
    }

    /// Parses a `--json` command's output (one object per line).
    pub fn cli_json(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
            .collect()
    }

    pub fn events(&self) -> Vec<serde_json::Value> {
        self.cli_json(&["events", "--json"])
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn sign(secret: &str, body: &[u8]) -> String {
    aftersale_platforms::signature::sign_base64(secret.as_bytes(), body)
}

/// Posts a body with the headers Shopify sends, signed with the app secret.
pub fn post_shopify(server: &Server, topic: &str, event_id: &str, body: &[u8]) -> (u16, String) {
    post_shopify_signed(server, topic, event_id, body, &sign(SHOPIFY_SECRET, body))
}

pub fn post_shopify_signed(
    server: &Server,
    topic: &str,
    event_id: &str,
    body: &[u8],
    signature: &str,
) -> (u16, String) {
    send_shopify(server, topic, event_id, body, signature, "2026-11-22T10:00:00Z")
}

/// Posts a signed Shopify webhook stamped as triggered now, for events that must come after
/// something the test did in real time (an uninstall after an OAuth install).
pub fn post_shopify_now(server: &Server, topic: &str, event_id: &str, body: &[u8]) -> (u16, String) {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    send_shopify(server, topic, event_id, body, &sign(SHOPIFY_SECRET, body), &now)
}

fn send_shopify(
    server: &Server,
    topic: &str,
    event_id: &str,
    body: &[u8],
    signature: &str,
    triggered_at: &str,
) -> (u16, String) {
    let response = reqwest::blocking::Client::new()
        .post(format!("{}/webhooks/shopify", server.base))
        .header("content-type", "application/json")
        .header("x-shopify-topic", topic)
        .header("x-shopify-shop-domain", "demo.myshopify.com")
        .header("x-shopify-event-id", event_id)
        .header("x-shopify-webhook-id", format!("wh-{event_id}"))
        .header("x-shopify-api-version", "2024-10")
        .header("x-shopify-triggered-at", triggered_at)
        .header("x-shopify-hmac-sha256", signature)
        .body(body.to_vec())
        .send()
        .expect("post to aftersale");
    (response.status().as_u16(), response.text().unwrap_or_default())
}

/// Posts a body with the headers WooCommerce sends, signed with the site secret.
pub fn post_woocommerce(server: &Server, topic: &str, body: &[u8]) -> (u16, String) {
    let response = reqwest::blocking::Client::new()
        .post(format!("{}/webhooks/woocommerce", server.base))
        .header("content-type", "application/json")
        .header("x-wc-webhook-topic", topic)
        .header("x-wc-webhook-source", "https://shop.example/")
        .header("x-wc-webhook-delivery-id", "1001")
        .header("x-wc-webhook-id", "7")
        .header("x-wc-webhook-signature", sign(WOO_SECRET, body))
        .body(body.to_vec())
        .send()
        .expect("post to aftersale");
    (response.status().as_u16(), response.text().unwrap_or_default())
}
