//! A metering proxy between the code and moto: it forwards every AWS call, counts it by
//! `service.Operation`, and prices DynamoDB calls in on-demand request units.
//!
//! moto answers `ReturnConsumedCapacity` with constants (1.0 a write, 0.5 a read, whatever the
//! item), and the adapters do not ask for it, so the units are computed here from the items
//! themselves, by DynamoDB's documented rules
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html>,
//! `.../read-write-operations.html`):
//! - an item's size is the UTF-8 bytes of its attribute names and values; a number is about
//!   1 byte per 2 significant digits plus 1; a map or list 3 bytes plus 1 per element;
//!   booleans and nulls 1 byte;
//! - a read is 1 unit per 4 KB (rounded up) strongly consistent, half that eventually
//!   consistent; a Query sums the items it reads (before any projection or filter) and rounds
//!   once; a GetItem of nothing still costs one read; BatchGetItem rounds each item;
//! - a write is 1 unit per 1 KB of the larger of the item before and after, also when its
//!   condition fails; in TransactWriteItems 2 units per 1 KB, condition checks included;
//! - each global secondary index an item enters, leaves or changes in costs 1 unit per 1 KB of
//!   its index entry (keys plus projected attributes), 2 when its index key changes (delete and
//!   put).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

type Item = Map<String, Value>;

/// What was spent: calls per `service.Operation` (a refused call also under
/// `service.Operation!ErrorCode`), and DynamoDB request units.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spend {
    pub calls: BTreeMap<String, u64>,
    /// Read request units.
    pub read_units: f64,
    /// Write request units, the table's and its indexes'.
    pub write_units: f64,
}

impl Spend {
    /// What was spent after `before` was taken.
    pub fn since(&self, before: &Spend) -> Spend {
        let mut calls = self.calls.clone();
        for (op, n) in &before.calls {
            *calls.entry(op.clone()).or_default() -= n;
        }
        calls.retain(|_, n| *n > 0);
        Spend {
            calls,
            read_units: self.read_units - before.read_units,
            write_units: self.write_units - before.write_units,
        }
    }

    /// `self` plus `other`.
    pub fn plus(&self, other: &Spend) -> Spend {
        let mut calls = self.calls.clone();
        for (op, n) in &other.calls {
            *calls.entry(op.clone()).or_default() += n;
        }
        Spend {
            calls,
            read_units: self.read_units + other.read_units,
            write_units: self.write_units + other.write_units,
        }
    }

    pub fn calls(&self, op: &str) -> u64 {
        self.calls.get(op).copied().unwrap_or(0)
    }

    /// Calls to one service (`dynamodb`, `ses`, `sns`, `ssm`), refused ones included once.
    pub fn service_calls(&self, service: &str) -> u64 {
        self.calls
            .iter()
            .filter(|(op, _)| op.starts_with(&format!("{service}.")) && !op.contains('!'))
            .map(|(_, n)| n)
            .sum()
    }
}

/// What a table holds, by DynamoDB's storage rules.
#[derive(Debug, Default)]
pub struct Stored {
    pub items: usize,
    /// Items and index entries, 100 bytes of overhead each included.
    pub bytes: usize,
    /// The sort keys of the customers' planned messages (`MSG#{flow}#...`).
    pub messages: Vec<String>,
}

/// The global secondary indexes of the table (`template.yaml`): an item is in GSI n while it
/// has `gsi{n}pk`, and its entry holds the table keys, the index keys and these attributes.
const INDEXES: [(&str, &[&str]); 4] = [
    ("gsi1", &["event", "received_at", "applied", "letter"]),
    ("gsi2", &[]),
    ("gsi3", &[]),
    ("gsi4", &[]),
];

/// DynamoDB's size of an item: names plus values.
pub fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

/// The size of one attribute value in DynamoDB's JSON (`{"S": "..."}`, `{"N": "12"}`, ...).
fn value_size(value: &Value) -> usize {
    let Some((kind, inner)) = value.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    let text = || inner.as_str().unwrap_or_default();
    let list = || inner.as_array().cloned().unwrap_or_default();
    match kind.as_str() {
        "S" => text().len(),
        "N" => number_size(text()),
        "B" => base64_len(text()),
        "BOOL" | "NULL" => 1,
        "M" => {
            3 + inner
                .as_object()
                .map_or(0, |m| m.iter().map(|(k, v)| 1 + k.len() + value_size(v)).sum())
        }
        "L" => 3 + list().iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        "SS" => list().iter().map(|v| v.as_str().unwrap_or_default().len()).sum(),
        "NS" => list()
            .iter()
            .map(|v| number_size(v.as_str().unwrap_or_default()))
            .sum(),
        "BS" => list()
            .iter()
            .map(|v| base64_len(v.as_str().unwrap_or_default()))
            .sum(),
        _ => 0,
    }
}

/// 1 byte per 2 significant digits (leading and trailing zeros trimmed), plus 1.
fn number_size(number: &str) -> usize {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len().max(1);
    significant.div_ceil(2) + 1
}

fn base64_len(encoded: &str) -> usize {
    let padding = encoded.bytes().rev().take_while(|b| *b == b'=').count();
    (encoded.len() * 3 / 4).saturating_sub(padding)
}

/// Read units of `bytes` read at once (a missing item or an empty query still costs one).
fn read_units(bytes: usize, consistent: bool) -> f64 {
    let units = bytes.max(1).div_ceil(4096) as f64;
    if consistent { units } else { units / 2.0 }
}

fn write_units(bytes: usize) -> f64 {
    bytes.max(1).div_ceil(1024) as f64
}

/// An item's entry in the index `index` (`gsi1` ...), if it is in it.
fn index_entry(index: &str, projected: &[&str], item: Option<&Item>) -> Option<Item> {
    let item = item?;
    item.get(&format!("{index}pk"))?;
    let keep = |name: &str| {
        ["pk", "sk"].contains(&name)
            || name == format!("{index}pk")
            || name == format!("{index}sk")
            || projected.contains(&name)
    };
    Some(
        item.iter()
            .filter(|(name, _)| keep(name))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect(),
    )
}

/// Index write units for an item going from `before` to `after` (either may be absent).
fn index_writes(before: Option<&Item>, after: Option<&Item>) -> f64 {
    let mut units = 0.0;
    for (index, projected) in INDEXES {
        let key = |item: Option<&Item>| {
            item.map(|i| {
                (
                    i.get(&format!("{index}pk")).cloned(),
                    i.get(&format!("{index}sk")).cloned(),
                )
            })
        };
        let (was, now) = (
            index_entry(index, projected, before),
            index_entry(index, projected, after),
        );
        units += match (&was, &now) {
            (None, None) => 0.0,
            (Some(entry), None) | (None, Some(entry)) => write_units(item_size(entry)),
            (Some(old), Some(new)) if key(before) != key(after) => {
                write_units(item_size(old)) + write_units(item_size(new))
            }
            (Some(old), Some(new)) if old != new => write_units(item_size(old).max(item_size(new))),
            (Some(_), Some(_)) => 0.0,
        };
    }
    units
}

/// The `#name` and `:value` placeholders an expression uses.
fn placeholders(expression: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut chars = expression.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c == '#' || c == ':' {
            let mut end = start + 1;
            while let Some((i, c)) = chars.peek().copied() {
                if c.is_ascii_alphanumeric() || c == '_' {
                    end = i + 1;
                    chars.next();
                } else {
                    break;
                }
            }
            found.push(expression[start..end].to_string());
        }
    }
    found
}

/// The proxy, and what it has counted.
#[derive(Clone)]
pub struct Meter {
    moto: String,
    http: reqwest::Client,
    spend: Arc<Mutex<Spend>>,
}

impl Meter {
    /// Starts the proxy in front of `moto`; returns it and its endpoint.
    pub async fn start(moto: &str) -> (Meter, String) {
        let meter = Meter {
            moto: moto.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            spend: Arc::default(),
        };
        let app = axum::Router::new().fallback(forward).with_state(meter.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (meter, endpoint)
    }

    pub fn snapshot(&self) -> Spend {
        self.spend.lock().unwrap().clone()
    }

    /// One DynamoDB call straight to moto, not counted: the meter's own looks.
    async fn dynamodb(&self, operation: &str, body: &Value) -> Value {
        let answer = self
            .http
            .post(&self.moto)
            .header("x-amz-target", format!("DynamoDB_20120810.{operation}"))
            .header("content-type", "application/x-amz-json-1.0")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=testing/20261201/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
            )
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        answer.json().await.unwrap()
    }

    async fn item(&self, table: &str, key: &Value) -> Option<Item> {
        let body = json!({"TableName": table, "Key": key, "ConsistentRead": true});
        self.dynamodb("GetItem", &body)
            .await
            .get("Item")?
            .as_object()
            .cloned()
    }

    /// What the table stores, as DynamoDB bills storage: every item's size plus 100 bytes,
    /// and every index entry's size plus 100 bytes.
    pub async fn stored(&self, table: &str) -> Stored {
        let mut stored = Stored::default();
        let mut start: Option<Value> = None;
        loop {
            let mut request = json!({"TableName": table});
            if let Some(key) = start.take() {
                request["ExclusiveStartKey"] = key;
            }
            let answer = self.dynamodb("Scan", &request).await;
            for item in answer["Items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
            {
                stored.items += 1;
                stored.bytes += item_size(item) + 100;
                for (index, projected) in INDEXES {
                    if let Some(entry) = index_entry(index, projected, Some(item)) {
                        stored.bytes += item_size(&entry) + 100;
                    }
                }
                let pk = item["pk"]["S"].as_str().unwrap_or_default();
                let sk = item["sk"]["S"].as_str().unwrap_or_default();
                if pk.contains("#C#") && sk.starts_with("MSG#") {
                    stored.messages.push(sk.to_string());
                }
            }
            match answer.get("LastEvaluatedKey") {
                Some(key) if key.as_object().is_some_and(|k| !k.is_empty()) => start = Some(key.clone()),
                _ => return stored,
            }
        }
    }

    /// The (table, key) pairs a write touches, and whether it is transactional.
    fn written_keys(op: &str, request: &Value) -> Vec<(String, Value, bool)> {
        let table = request["TableName"].as_str().unwrap_or_default().to_string();
        let key_of = |item: &Value| json!({"pk": item["pk"], "sk": item["sk"]});
        match op {
            "PutItem" => vec![(table, key_of(&request["Item"]), false)],
            "UpdateItem" | "DeleteItem" => vec![(table, request["Key"].clone(), false)],
            "BatchWriteItem" => request["RequestItems"]
                .as_object()
                .into_iter()
                .flatten()
                .flat_map(|(table, writes)| {
                    writes
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .map(move |w| {
                            let key = match w.get("PutRequest") {
                                Some(put) => key_of(&put["Item"]),
                                None => w["DeleteRequest"]["Key"].clone(),
                            };
                            (table.clone(), key, false)
                        })
                })
                .collect(),
            "TransactWriteItems" => request["TransactItems"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|entry| {
                    let (kind, body) = entry.as_object()?.iter().next()?;
                    let key = if kind == "Put" {
                        key_of(&body["Item"])
                    } else {
                        body["Key"].clone()
                    };
                    Some((body["TableName"].as_str()?.to_string(), key, true))
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The items a write is about to touch, as they are now.
    async fn before_write(&self, op: &str, request: &Value) -> Vec<(String, Value, bool, Option<Item>)> {
        let mut out = Vec::new();
        for (table, key, transactional) in Self::written_keys(op, request) {
            let item = self.item(&table, &key).await;
            out.push((table, key, transactional, item));
        }
        out
    }

    /// The bytes a Query or Scan reads: the same request without its projection and filter
    /// (which do not lower the cost), each item counted as the table or index holds it.
    async fn bytes_read(&self, op: &str, request: &Value) -> usize {
        let mut full = request.as_object().cloned().unwrap_or_default();
        for name in [
            "ProjectionExpression",
            "FilterExpression",
            "Select",
            "ReturnConsumedCapacity",
        ] {
            full.remove(name);
        }
        let used: Vec<String> = full
            .get("KeyConditionExpression")
            .and_then(Value::as_str)
            .map(placeholders)
            .unwrap_or_default();
        for map in ["ExpressionAttributeNames", "ExpressionAttributeValues"] {
            if let Some(Value::Object(entries)) = full.get_mut(map) {
                entries.retain(|name, _| used.contains(name));
                if entries.is_empty() {
                    full.remove(map);
                }
            }
        }
        let answer = self.dynamodb(op, &Value::Object(full)).await;
        let index = request["IndexName"].as_str().map(str::to_lowercase);
        let projected: &[&str] = index
            .as_deref()
            .and_then(|name| INDEXES.iter().find(|(i, _)| *i == name))
            .map_or(&[], |(_, p)| *p);
        answer["Items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .map(|item| match &index {
                Some(index) => index_entry(index, projected, Some(item))
                    .as_ref()
                    .map_or(0, item_size),
                None => item_size(item),
            })
            .sum()
    }

    /// Counts the units of one DynamoDB call.
    async fn price(
        &self,
        op: &str,
        request: &Value,
        answer: &Value,
        before: Vec<(String, Value, bool, Option<Item>)>,
    ) {
        let consistent = request["ConsistentRead"].as_bool().unwrap_or(false);
        let (mut reads, mut writes) = (0.0, 0.0);
        match op {
            "GetItem" => reads += read_units(answer["Item"].as_object().map_or(0, item_size), consistent),
            "Query" | "Scan" => reads += read_units(self.bytes_read(op, request).await, consistent),
            "BatchGetItem" => {
                for (table, asked) in request["RequestItems"].as_object().into_iter().flatten() {
                    let consistent = asked["ConsistentRead"].as_bool().unwrap_or(false);
                    for key in asked["Keys"].as_array().into_iter().flatten() {
                        let item = self.item(table, key).await;
                        reads += read_units(item.as_ref().map_or(0, item_size), consistent);
                    }
                }
            }
            _ => {}
        }
        for (table, key, transactional, was) in before {
            let now = self.item(&table, &key).await;
            let bytes = was
                .as_ref()
                .map_or(0, item_size)
                .max(now.as_ref().map_or(0, item_size));
            let factor = if transactional { 2.0 } else { 1.0 };
            writes += factor * write_units(bytes) + index_writes(was.as_ref(), now.as_ref());
        }
        let mut spend = self.spend.lock().unwrap();
        spend.read_units += reads;
        spend.write_units += writes;
    }
}

/// The service and operation of an AWS request: DynamoDB and SSM name it in `X-Amz-Target`,
/// SES v2 in its REST path, SNS in the form's `Action`.
fn operation(headers: &HeaderMap, uri: &Uri, body: &[u8]) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        let (service, op) = target.split_once('.').unwrap_or(("?", target));
        let service = match service {
            s if s.starts_with("DynamoDB") => "dynamodb",
            s if s.starts_with("AmazonSSM") => "ssm",
            s => s,
        };
        return format!("{service}.{op}");
    }
    match uri.path() {
        "/v2/email/outbound-emails" => return "ses.SendEmail".into(),
        "/v2/email/account" => return "ses.GetAccount".into(),
        path if path.starts_with("/v2/email") => return format!("ses.{path}"),
        _ => {}
    }
    let form: BTreeMap<String, String> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    match form.get("Action") {
        Some(action) => format!("sns.{action}"),
        None => format!("?.{}", uri.path()),
    }
}

async fn forward(
    State(meter): State<Meter>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let op = operation(&headers, &uri, &body);
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let dynamo_op = op.strip_prefix("dynamodb.").map(str::to_string);
    let before = match &dynamo_op {
        Some(op) => meter.before_write(op, &request).await,
        None => Vec::new(),
    };
    let url = format!(
        "{}{}",
        meter.moto,
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut outgoing = meter.http.request(method, url).body(body.to_vec());
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            outgoing = outgoing.header(name, value);
        }
    }
    let answer = match outgoing.send().await {
        Ok(answer) => answer,
        Err(err) => return (StatusCode::BAD_GATEWAY, err.to_string()).into_response(),
    };
    let status = answer.status();
    let answer_headers = answer.headers().clone();
    let bytes = answer.bytes().await.unwrap_or_default();
    let parsed: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    {
        let mut spend = meter.spend.lock().unwrap();
        *spend.calls.entry(op.clone()).or_default() += 1;
        if !status.is_success() {
            let code = parsed["__type"]
                .as_str()
                .and_then(|t| t.rsplit('#').next())
                .unwrap_or("error");
            *spend.calls.entry(format!("{op}!{code}")).or_default() += 1;
        }
    }
    if let Some(op) = dynamo_op {
        meter.price(&op, &request, &parsed, before).await;
    }
    let mut response = (status, bytes).into_response();
    for (name, value) in &answer_headers {
        if name != "content-length" && name != "transfer-encoding" {
            response.headers_mut().insert(name, value.clone());
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(value: Value) -> Item {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn sizes_follow_dynamodbs_documented_rules() {
        // "pk" (2) + "SHOP#a" (6); "n" (1) + 12300 -> "123" (2 + 1); "ok" (2) + bool (1).
        assert_eq!(
            item_size(&item(
                json!({"pk": {"S": "SHOP#a"}, "n": {"N": "12300"}, "ok": {"BOOL": true}})
            )),
            15
        );
        // A map: 3, plus per element 1 + name + value: "m" (1) + 3 + (1 + 1 + 2).
        assert_eq!(item_size(&item(json!({"m": {"M": {"a": {"S": "xy"}}}}))), 8);
        assert_eq!(read_units(0, true), 1.0, "reading nothing still costs a read");
        assert_eq!(read_units(4097, false), 1.0);
        assert_eq!(write_units(1025), 2.0);
    }

    #[test]
    fn an_index_costs_when_its_entry_changes_and_twice_when_its_key_moves() {
        let due = |hour: &str| {
            item(
                json!({"pk": {"S": "p"}, "sk": {"S": "s"}, "gsi4pk": {"S": hour}, "gsi4sk": {"S": "t"}, "data": {"S": "x"}}),
            )
        };
        assert_eq!(index_writes(None, Some(&due("DUE#1"))), 1.0);
        assert_eq!(index_writes(Some(&due("DUE#1")), Some(&due("DUE#1"))), 0.0);
        assert_eq!(index_writes(Some(&due("DUE#1")), Some(&due("DUE#2"))), 2.0);
        assert_eq!(index_writes(Some(&due("DUE#1")), None), 1.0);
    }

    #[test]
    fn a_query_keeps_only_the_placeholders_its_key_condition_uses() {
        assert_eq!(
            placeholders("pk = :pk AND begins_with(#s, :p_1)"),
            vec![":pk", "#s", ":p_1"]
        );
    }
}
