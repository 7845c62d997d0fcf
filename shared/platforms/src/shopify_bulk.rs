//! A Shopify bulk operation's JSONL result to [`StoreEvent`]s.
//!
//! The export ([`ORDERS_QUERY`]) asks for every order with its customer, refunds and
//! fulfilments (plain lists, inline on the order's line) and its line items (a connection:
//! each item is a line of its own carrying `__parentId`, the order's GID). The operation is
//! run with `groupObjects: true`, so an order's items follow it directly: [`Reassembler`]
//! holds one order at a time and hands it on when the next order starts. Memory therefore
//! stays at one order, whatever the size of the file.
//!
//! An order is translated into the REST shape of an `orders/updated` webhook
//! ([`order_as_webhook`]) and goes through [`crate::shopify::normalise`], the webhooks' own
//! normaliser: one set of rules for statuses, money, consent and guest customers. Its event id
//! is derived from the order and its `updatedAt`, so importing the same snapshot again is a
//! duplicate, and a newer webhook snapshot wins over an older imported one (the fold keeps the
//! newest `updated_at`).

use crate::shopify::{Topic, normalise};
use crate::{Delivery, PayloadError};
use aftersale_domain::{EventId, ShopId, StoreEvent};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// The bulk query: orders with their line items, refunds, fulfilments and customer. Field
/// names are the GraphQL Admin API's (`2025-10`).
pub const ORDERS_QUERY: &str = r#"{
  orders {
    edges {
      node {
        id
        name
        email
        phone
        createdAt
        updatedAt
        cancelledAt
        currencyCode
        displayFinancialStatus
        displayFulfillmentStatus
        customerLocale
        clientIp
        discountCodes
        totalPriceSet { shopMoney { amount currencyCode } }
        subtotalPriceSet { shopMoney { amount currencyCode } }
        totalDiscountsSet { shopMoney { amount currencyCode } }
        shippingAddress { address1 address2 city zip countryCodeV2 }
        billingAddress { countryCodeV2 }
        customer {
          id
          firstName
          lastName
          locale
          updatedAt
          defaultEmailAddress { emailAddress marketingState }
          defaultPhoneNumber { phoneNumber marketingState }
        }
        refunds {
          id
          createdAt
          note
          totalRefundedSet { shopMoney { amount currencyCode } }
        }
        fulfillments {
          id
          displayStatus
          createdAt
          updatedAt
          deliveredAt
          trackingInfo { number url company }
        }
        lineItems {
          edges {
            node {
              id
              quantity
              sku
              title
              name
              product { id }
              variant { id }
              originalUnitPriceSet { shopMoney { amount currencyCode } }
            }
          }
        }
      }
    }
  }
}"#;

/// What the topic of a bulk line is called in dead letters and logs.
pub const BULK_TOPIC: &str = "bulk_operations/orders";

/// One order of the export with its line items, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkOrder {
    pub order: Map<String, Value>,
    pub line_items: Vec<Value>,
    /// The 1-based line of the file the order started on, for messages.
    pub line: u64,
}

impl BulkOrder {
    /// The order's JSON with its line items, as kept in a dead letter.
    pub fn to_json(&self) -> Vec<u8> {
        let mut whole = self.order.clone();
        whole.insert("lineItems".into(), Value::Array(self.line_items.clone()));
        serde_json::to_vec(&Value::Object(whole)).unwrap_or_default()
    }

    /// Reads back a dead letter of the import: an order kept by [`BulkOrder::to_json`], or a
    /// line kept as it was read. `aftersale dead-letters replay` runs it through today's
    /// normaliser; what still cannot be an order says why, without quoting its values.
    pub fn from_dead_letter(body: &[u8]) -> Result<BulkOrder, String> {
        let mut order = match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(object)) => object,
            Ok(_) => return Err("the kept line is JSON but not an object".into()),
            Err(err) => {
                return Err(format!(
                    "the kept line is not valid JSON (column {}): export the history again",
                    err.column()
                ));
            }
        };
        if order.contains_key("__parentId") {
            return Err(
                "the kept line is a line item without its order: run the import again (the export must use groupObjects: true)"
                    .into(),
            );
        }
        if gid_kind(order.get("id")) != Some("Order") {
            return Err("the kept line is not an order (no Order id)".into());
        }
        let line_items = match order.remove("lineItems") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items,
            Some(_) => return Err("the kept order's lineItems is not a list".into()),
        };
        Ok(BulkOrder {
            order,
            line_items,
            line: 0,
        })
    }
}

/// A line that cannot be part of any order, with the reason (never quoting its values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub line: u64,
    pub text: String,
    pub reason: String,
}

/// What feeding one line gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Fed {
    /// Nothing finished yet (the line was an item of the current order, or blank).
    Nothing,
    /// The previous order is complete (this line started the next one).
    Order(BulkOrder),
    Bad(BadLine),
}

/// Rebuilds orders from the JSONL stream, one order in memory at a time.
#[derive(Debug, Default)]
pub struct Reassembler {
    current: Option<BulkOrder>,
    line: u64,
}

impl Reassembler {
    /// Starts counting lines after `lines_done` (a resumed import starts mid-file).
    pub fn starting_after(lines_done: u64) -> Self {
        Self {
            current: None,
            line: lines_done,
        }
    }

    /// The number of the last line fed.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Whether an order is held, waiting for its items or the next order.
    pub fn holds_order(&self) -> bool {
        self.current.is_some()
    }

    pub fn feed(&mut self, text: &str) -> Fed {
        self.line += 1;
        let line = self.line;
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Fed::Nothing;
        }
        let bad = |reason: String| {
            Fed::Bad(BadLine {
                line,
                text: trimmed.to_string(),
                reason,
            })
        };
        let mut object = match serde_json::from_str::<Value>(trimmed) {
            Ok(Value::Object(object)) => object,
            Ok(_) => return bad(format!("line {line} is JSON but not an object")),
            Err(err) => return bad(format!("line {line} is not valid JSON (column {})", err.column())),
        };
        match object.remove("__parentId") {
            None => {
                if gid_kind(object.get("id")) != Some("Order") {
                    return bad(format!(
                        "line {line} has no __parentId and is not an order (no Order id)"
                    ));
                }
                let finished = self.current.replace(BulkOrder {
                    order: object,
                    line_items: Vec::new(),
                    line,
                });
                finished.map_or(Fed::Nothing, Fed::Order)
            }
            Some(parent) => {
                let parent = parent.as_str().unwrap_or_default().to_string();
                match &mut self.current {
                    Some(current)
                        if current.order.get("id").and_then(Value::as_str) == Some(parent.as_str()) =>
                    {
                        current.line_items.push(Value::Object(object));
                        Fed::Nothing
                    }
                    _ => bad(format!(
                        "line {line}: its __parentId is not the order just before it (the export must be run with groupObjects: true)"
                    )),
                }
            }
        }
    }

    /// The last order, once the file has ended.
    pub fn finish(&mut self) -> Option<BulkOrder> {
        self.current.take()
    }
}

/// `gid://shopify/Order/450789469` → `Order`.
fn gid_kind(id: Option<&Value>) -> Option<&str> {
    let rest = id?.as_str()?.strip_prefix("gid://shopify/")?;
    rest.split('/').next()
}

/// `gid://shopify/Order/450789469` → `450789469`, the id webhooks use; other text is kept.
fn legacy_id(id: Option<&Value>) -> Value {
    match id.and_then(Value::as_str) {
        Some(gid) => {
            let tail = gid.rsplit('/').next().unwrap_or(gid);
            let tail = tail.split('?').next().unwrap_or(tail);
            Value::String(tail.to_string())
        }
        None => Value::Null,
    }
}

fn money_amount(set: Option<&Value>) -> Value {
    set.and_then(|s| s.pointer("/shopMoney/amount"))
        .cloned()
        .unwrap_or(Value::Null)
}

fn lower(value: Option<&Value>) -> Value {
    value
        .and_then(Value::as_str)
        .map_or(Value::Null, |s| Value::String(s.to_ascii_lowercase()))
}

fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).filter(|v| !v.is_null())
}

/// The order in the REST shape of an `orders/updated` webhook.
pub fn order_as_webhook(bulk: &BulkOrder) -> Value {
    let o = &bulk.order;
    let financial = match field(o, "displayFinancialStatus").and_then(Value::as_str) {
        Some(status) => Value::String(status.to_ascii_lowercase()),
        None => Value::Null,
    };
    let fulfillment = match field(o, "displayFulfillmentStatus").and_then(Value::as_str) {
        Some("FULFILLED") => json!("fulfilled"),
        Some("PARTIALLY_FULFILLED") => json!("partial"),
        _ => Value::Null,
    };
    let currency = field(o, "currencyCode")
        .cloned()
        .or_else(|| {
            o.get("totalPriceSet")?
                .pointer("/shopMoney/currencyCode")
                .cloned()
        })
        .unwrap_or(Value::Null);
    let line_items: Vec<Value> = bulk
        .line_items
        .iter()
        .map(|li| {
            json!({
                "id": legacy_id(li.get("id")),
                "product_id": legacy_id(li.pointer("/product/id")),
                "variant_id": legacy_id(li.pointer("/variant/id")),
                "sku": li.get("sku"),
                "title": li.get("title").and_then(Value::as_str).unwrap_or_default(),
                "name": li.get("name"),
                "quantity": li.get("quantity"),
                "price": money_amount(li.get("originalUnitPriceSet")),
            })
        })
        .collect();
    let refunds: Vec<Value> = field(o, "refunds")
        .and_then(Value::as_array)
        .map(|refunds| {
            refunds
                .iter()
                .map(|r| {
                    let set = r.get("totalRefundedSet");
                    json!({
                        "id": legacy_id(r.get("id")),
                        "created_at": r.get("createdAt"),
                        "note": r.get("note"),
                        "transactions": [{
                            "amount": money_amount(set),
                            "kind": "refund",
                            "status": "success",
                            "currency": set.and_then(|s| s.pointer("/shopMoney/currencyCode")),
                        }],
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let customer = field(o, "customer").map(|c| {
        let consent = |pointer: &str| {
            c.pointer(pointer).and_then(Value::as_str).map_or(
                Value::Null,
                |state| json!({ "state": state.to_ascii_lowercase() }),
            )
        };
        json!({
            "id": legacy_id(c.get("id")),
            "email": c.pointer("/defaultEmailAddress/emailAddress"),
            "phone": c.pointer("/defaultPhoneNumber/phoneNumber"),
            "first_name": c.get("firstName"),
            "last_name": c.get("lastName"),
            "locale": c.get("locale"),
            "updated_at": c.get("updatedAt"),
            "email_marketing_consent": consent("/defaultEmailAddress/marketingState"),
            "sms_marketing_consent": consent("/defaultPhoneNumber/marketingState"),
        })
    });
    let address = |name: &str| {
        field(o, name).map(|a| {
            json!({
                "address1": a.get("address1"),
                "address2": a.get("address2"),
                "city": a.get("city"),
                "zip": a.get("zip"),
                "country_code": a.get("countryCodeV2"),
            })
        })
    };
    let discount_codes: Vec<Value> = field(o, "discountCodes")
        .and_then(Value::as_array)
        .map(|codes| codes.iter().map(|code| json!({ "code": code })).collect())
        .unwrap_or_default();
    json!({
        "id": legacy_id(o.get("id")),
        "name": o.get("name"),
        "email": o.get("email"),
        "phone": o.get("phone"),
        "created_at": o.get("createdAt"),
        "updated_at": o.get("updatedAt"),
        "cancelled_at": o.get("cancelledAt"),
        "currency": currency,
        "financial_status": financial,
        "fulfillment_status": fulfillment,
        "total_price": money_amount(o.get("totalPriceSet")),
        "subtotal_price": money_amount(o.get("subtotalPriceSet")),
        "total_discounts": money_amount(o.get("totalDiscountsSet")),
        "line_items": line_items,
        "discount_codes": discount_codes,
        "customer": customer,
        "customer_locale": o.get("customerLocale"),
        "shipping_address": address("shippingAddress"),
        "billing_address": address("billingAddress"),
        "browser_ip": o.get("clientIp"),
        "refunds": refunds,
    })
}

/// The order's fulfilments in the REST shape of `fulfillments/update` webhooks.
fn fulfillments_as_webhooks(bulk: &BulkOrder, order_id: &Value) -> Vec<Value> {
    field(&bulk.order, "fulfillments")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|f| {
                    let status = lower(f.get("displayStatus"));
                    // A delivered parcel happened when it was delivered, not when it was edited.
                    let at = match status.as_str() {
                        Some("delivered") => f.get("deliveredAt").filter(|v| !v.is_null()),
                        _ => None,
                    }
                    .or_else(|| f.get("updatedAt"))
                    .or_else(|| f.get("createdAt"))
                    .cloned()
                    .unwrap_or(Value::Null);
                    json!({
                        "id": legacy_id(f.get("id")),
                        "order_id": order_id,
                        "shipment_status": status,
                        "created_at": f.get("createdAt"),
                        "updated_at": at,
                        "tracking_number": f.pointer("/trackingInfo/0/number"),
                        "tracking_url": f.pointer("/trackingInfo/0/url"),
                        "tracking_company": f.pointer("/trackingInfo/0/company"),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The events of one exported order: its snapshot (refunds included), then one event per
/// fulfilment. Ids are `shopify:import:…`, derived from what they describe and when it last
/// changed, so a re-import or a resumed import stores nothing twice.
pub fn normalise_order(shop: &ShopId, bulk: &BulkOrder) -> Result<Vec<StoreEvent>, PayloadError> {
    let body = order_as_webhook(bulk);
    let order_id = body.get("id").cloned().unwrap_or(Value::Null);
    let id_text = order_id.as_str().unwrap_or_default().to_string();
    let topic = if field(&bulk.order, "cancelledAt").is_some() {
        Topic::OrdersCancelled
    } else {
        Topic::OrdersUpdated
    };
    let updated = instant_key(bulk.order.get("updatedAt"));
    let delivery = |event_id: String| -> Result<Delivery, PayloadError> {
        Ok(Delivery {
            shop: shop.clone(),
            event_id: Some(EventId::new(event_id).map_err(|e| PayloadError::Field {
                topic: BULK_TOPIC.into(),
                field: "id",
                problem: e.to_string(),
            })?),
            triggered_at: None,
        })
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut events = normalise(
        topic,
        &delivery(format!("shopify:import:order:{id_text}:{updated}"))?,
        &bytes,
    )?;
    for fulfilment in fulfillments_as_webhooks(bulk, &order_id) {
        let key = format!(
            "shopify:import:fulfillment:{}:{}:{}",
            fulfilment.get("id").and_then(Value::as_str).unwrap_or_default(),
            fulfilment
                .get("shipment_status")
                .and_then(Value::as_str)
                .unwrap_or("confirmed"),
            instant_key(fulfilment.get("updated_at")),
        );
        let bytes = serde_json::to_vec(&fulfilment).unwrap_or_default();
        events.extend(normalise(Topic::FulfillmentsUpdate, &delivery(key)?, &bytes)?);
    }
    Ok(events)
}

/// An RFC 3339 time as seconds since the epoch, for event ids (`-` when absent).
fn instant_key(value: Option<&Value>) -> String {
    value
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or_else(
            || "-".to_string(),
            |t| t.with_timezone(&Utc).timestamp().to_string(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aftersale_domain::{EventKind, OrderStatus, ShipmentStatus};

    const ORDER: &str = r##"{"id":"gid://shopify/Order/5001","name":"#1001","email":"ada@example.com","createdAt":"2024-03-01T10:00:00Z","updatedAt":"2024-03-05T09:00:00Z","cancelledAt":null,"currencyCode":"EUR","displayFinancialStatus":"PARTIALLY_REFUNDED","displayFulfillmentStatus":"FULFILLED","discountCodes":["WELCOME"],"totalPriceSet":{"shopMoney":{"amount":"60.00","currencyCode":"EUR"}},"subtotalPriceSet":{"shopMoney":{"amount":"55.00","currencyCode":"EUR"}},"totalDiscountsSet":{"shopMoney":{"amount":"5.00","currencyCode":"EUR"}},"shippingAddress":{"address1":"Via Roma 1","address2":null,"city":"Milano","zip":"20100","countryCodeV2":"IT"},"customer":{"id":"gid://shopify/Customer/77","firstName":"Ada","lastName":"L","locale":"it","updatedAt":"2024-03-01T10:00:00Z","defaultEmailAddress":{"emailAddress":"ada@example.com","marketingState":"SUBSCRIBED"},"defaultPhoneNumber":null},"refunds":[{"id":"gid://shopify/Refund/9","createdAt":"2024-03-04T10:00:00Z","note":"damaged","totalRefundedSet":{"shopMoney":{"amount":"20.00","currencyCode":"EUR"}}}],"fulfillments":[{"id":"gid://shopify/Fulfillment/31","displayStatus":"DELIVERED","createdAt":"2024-03-02T10:00:00Z","updatedAt":"2024-03-03T18:00:00Z","deliveredAt":"2024-03-03T12:00:00Z","trackingInfo":[{"number":"TRK1","url":null,"company":"DHL"}]}]}"##;
    const ITEM: &str = r#"{"id":"gid://shopify/LineItem/61","quantity":2,"sku":"TEA-1","title":"Green tea","name":"Green tea","product":{"id":"gid://shopify/Product/11"},"variant":{"id":"gid://shopify/ProductVariant/12"},"originalUnitPriceSet":{"shopMoney":{"amount":"27.50","currencyCode":"EUR"}},"__parentId":"gid://shopify/Order/5001"}"#;

    fn shop() -> ShopId {
        ShopId::new("demo.myshopify.com").unwrap()
    }

    #[test]
    fn children_follow_their_order_and_the_order_is_handed_on_when_the_next_starts() {
        let mut r = Reassembler::default();
        assert_eq!(r.feed(ORDER), Fed::Nothing);
        assert_eq!(r.feed(ITEM), Fed::Nothing);
        let next = ORDER.replace("Order/5001", "Order/5002");
        let Fed::Order(first) = r.feed(&next) else {
            panic!("the first order is complete once the second starts")
        };
        assert_eq!(first.line_items.len(), 1);
        assert_eq!(first.line, 1);
        let last = r.finish().unwrap();
        assert_eq!(last.order["id"], "gid://shopify/Order/5002");
        assert!(last.line_items.is_empty());
    }

    #[test]
    fn a_bad_line_is_reported_with_its_reason_and_the_order_goes_on() {
        let mut r = Reassembler::default();
        r.feed(ORDER);
        let Fed::Bad(bad) = r.feed("{\"id\": \"gid://shopify/LineItem/1\", trunc") else {
            panic!()
        };
        assert_eq!(bad.line, 2);
        assert!(bad.reason.contains("not valid JSON"), "{}", bad.reason);
        let orphan = ITEM.replace("Order/5001", "Order/4");
        let Fed::Bad(bad) = r.feed(&orphan) else { panic!() };
        assert!(bad.reason.contains("__parentId"), "{}", bad.reason);
        assert!(!bad.reason.contains("TEA-1"), "reasons never quote values");
        assert_eq!(r.feed(ITEM), Fed::Nothing);
        assert_eq!(r.finish().unwrap().line_items.len(), 1);
        let Fed::Bad(bad) = Reassembler::default().feed("[1,2]") else {
            panic!()
        };
        assert!(bad.reason.contains("not an object"));
    }

    #[test]
    fn an_exported_order_becomes_the_events_its_webhooks_would_have_given() {
        let mut r = Reassembler::default();
        r.feed(ORDER);
        r.feed(ITEM);
        let bulk = r.finish().unwrap();
        let events = normalise_order(&shop(), &bulk).unwrap();
        assert_eq!(events.len(), 2);
        let order = events[0].order().unwrap();
        assert_eq!(order.id.as_str(), "5001");
        assert_eq!(order.customer.id.as_str(), "77");
        assert_eq!(order.customer.email.as_deref(), Some("ada@example.com"));
        assert_eq!(order.status, OrderStatus::Completed);
        assert_eq!(order.total.amount.to_string(), "60.00");
        assert_eq!(order.line_items[0].product_id.as_deref(), Some("11"));
        assert_eq!(order.line_items[0].price.amount.to_string(), "27.50");
        assert_eq!(order.refunds[0].amount.amount.to_string(), "20.00");
        assert_eq!(order.discount_codes, vec!["WELCOME".to_string()]);
        assert_eq!(
            events[0].event_id.as_str(),
            "shopify:import:order:5001:1709629200"
        );
        let EventKind::OrderDelivered(shipment) = &events[1].kind else {
            panic!("{:?}", events[1].kind)
        };
        assert_eq!(shipment.status, ShipmentStatus::Delivered);
        assert_eq!(shipment.happened_at.to_rfc3339(), "2024-03-03T12:00:00+00:00");
        assert_eq!(shipment.carrier.as_deref(), Some("DHL"));
    }

    #[test]
    fn a_cancelled_order_is_a_cancellation_and_a_broken_one_names_its_field() {
        let cancelled = ORDER.replace("\"cancelledAt\":null", "\"cancelledAt\":\"2024-03-01T11:00:00Z\"");
        let mut r = Reassembler::default();
        r.feed(&cancelled);
        let events = normalise_order(&shop(), &r.finish().unwrap()).unwrap();
        assert!(matches!(events[0].kind, EventKind::OrderCancelled(_)));
        let broken = ORDER.replace("\"amount\":\"60.00\"", "\"amount\":\"sixty\"");
        let mut r = Reassembler::default();
        r.feed(&broken);
        let err = normalise_order(&shop(), &r.finish().unwrap()).unwrap_err();
        assert!(err.to_string().contains("total_price"), "{err}");
    }

    #[test]
    fn a_kept_order_reads_back_whole_and_a_kept_bad_line_says_why_it_is_still_no_order() {
        let mut r = Reassembler::default();
        r.feed(ORDER);
        r.feed(ITEM);
        let bulk = r.finish().unwrap();
        let back = BulkOrder::from_dead_letter(&bulk.to_json()).unwrap();
        assert_eq!((&back.order, &back.line_items), (&bulk.order, &bulk.line_items));
        assert_eq!(
            normalise_order(&shop(), &back).unwrap(),
            normalise_order(&shop(), &bulk).unwrap()
        );
        let lone = BulkOrder::from_dead_letter(ORDER.as_bytes()).unwrap();
        assert!(lone.line_items.is_empty());
        for (kept, reason) in [
            ("{\"id\":\"gid://shopify/Order/1\",\"name\":", "not valid JSON"),
            (ITEM, "line item without its order"),
            ("[1]", "not an object"),
            ("{\"id\":\"gid://shopify/Customer/1\"}", "not an order"),
        ] {
            let err = BulkOrder::from_dead_letter(kept.as_bytes()).unwrap_err();
            assert!(err.contains(reason), "{kept}: {err}");
            assert!(!err.contains("TEA-1"), "reasons never quote values: {err}");
        }
    }
}
