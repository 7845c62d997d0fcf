//! A local Shopify GraphQL Admin API for the end-to-end tests: it answers
//! `discountCodeBasicCreate` and records every code it was asked to create, so a test can
//! count them ("created exactly once").

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};

pub struct FakeShopifyAdmin {
    /// Its address, for `[admin_api] base_url`.
    pub base: String,
    created: Arc<Mutex<Vec<Value>>>,
}

impl FakeShopifyAdmin {
    pub fn start() -> FakeShopifyAdmin {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let created = Arc::new(Mutex::new(Vec::new()));
        let created_in = created.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let (mut length, mut line, mut path) = (0, String::new(), String::new());
                while reader.read_line(&mut line).unwrap_or(0) > 0 {
                    if path.is_empty() {
                        path = line.split_whitespace().nth(1).unwrap_or_default().to_string();
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    if line == "\r\n" {
                        break;
                    }
                    line.clear();
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let query = request["query"].as_str().unwrap_or_default();
                let (status, answer) = if path.ends_with("/graphql.json")
                    && query.contains("discountCodeBasicCreate")
                {
                    created_in
                        .lock()
                        .unwrap()
                        .push(request["variables"]["basicCodeDiscount"].clone());
                    (
                        "200 OK",
                        json!({"data": {"discountCodeBasicCreate": {
                            "codeDiscountNode": {"id": "gid://shopify/DiscountCodeNode/1"}, "userErrors": []}}}),
                    )
                } else {
                    ("404 Not Found", json!({"errors": "not found"}))
                };
                let text = answer.to_string();
                let mut out = stream;
                let _ = write!(
                    out,
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                );
            }
        });
        FakeShopifyAdmin { base, created }
    }

    /// The `basicCodeDiscount` input of every code created so far.
    pub fn created(&self) -> Vec<Value> {
        self.created.lock().unwrap().clone()
    }
}
