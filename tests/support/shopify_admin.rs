//! A local Shopify GraphQL Admin API for the end-to-end tests: it answers
//! `discountCodeBasicCreate` and records every code it was asked to create, so a test can
//! count them ("created exactly once"), and answers `nodes(ids:)` with the products' types
//! it was given (failing the first ones when told to).

use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub struct FakeShopifyAdmin {
    /// Its address, for `[admin_api] base_url`.
    pub base: String,
    created: Arc<Mutex<Vec<Value>>>,
    product_queries: Arc<AtomicUsize>,
    failures_left: Arc<AtomicUsize>,
}

impl FakeShopifyAdmin {
    pub fn start() -> FakeShopifyAdmin {
        Self::with_product_types(&[])
    }

    /// Its products (`(id, productType)`); any other product has an empty type.
    pub fn with_product_types(types: &[(&str, &str)]) -> FakeShopifyAdmin {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let created = Arc::new(Mutex::new(Vec::new()));
        let created_in = created.clone();
        let types: HashMap<String, String> = types
            .iter()
            .map(|(id, kind)| (format!("gid://shopify/Product/{id}"), kind.to_string()))
            .collect();
        let product_queries = Arc::new(AtomicUsize::new(0));
        let failures_left = Arc::new(AtomicUsize::new(0));
        let (queries_in, failures_in) = (product_queries.clone(), failures_left.clone());
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
                } else if path.ends_with("/graphql.json") && query.contains("nodes(ids:") {
                    queries_in.fetch_add(1, Ordering::SeqCst);
                    let failing = failures_in
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    if failing {
                        ("503 Service Unavailable", json!({"errors": "unavailable"}))
                    } else {
                        let nodes: Vec<Value> = request["variables"]["ids"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .map(|id| json!({"id": id, "productType": types.get(id).cloned().unwrap_or_default()}))
                            .collect();
                        ("200 OK", json!({"data": {"nodes": nodes}}))
                    }
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
        FakeShopifyAdmin {
            base,
            created,
            product_queries,
            failures_left,
        }
    }

    /// The next `n` product queries answer 503.
    pub fn fail_product_queries(&self, n: usize) {
        self.failures_left.store(n, Ordering::SeqCst);
    }

    /// How many product queries it was sent.
    pub fn product_queries(&self) -> usize {
        self.product_queries.load(Ordering::SeqCst)
    }

    /// The `basicCodeDiscount` input of every code created so far.
    pub fn created(&self) -> Vec<Value> {
        self.created.lock().unwrap().clone()
    }
}
