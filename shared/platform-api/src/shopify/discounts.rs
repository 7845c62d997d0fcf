//! Shopify discount codes through the GraphQL Admin API's `discountCodeBasicCreate` mutation.
//!
//! Shapes from Shopify's GraphQL Admin reference (shopify.dev/docs/api/admin-graphql):
//! - payload `DiscountCodeBasicCreatePayload` (`codeDiscountNode`, `userErrors`), 2025-01:
//!   <https://shopify.dev/docs/api/admin-graphql/2025-01/payloads/discountcodebasiccreatepayload>
//! - input `DiscountCodeBasicInput` (`title`, `code`, `startsAt`, `endsAt`, `customerSelection`,
//!   `customerGets`, `appliesOncePerCustomer`, `usageLimit`, `minimumRequirement`):
//!   <https://shopify.dev/docs/api/admin-graphql/2024-10/input-objects/discountcodebasicinput>
//! - `DiscountCustomerSelectionInput { all }`, 2025-01:
//!   <https://shopify.dev/docs/api/admin-graphql/2025-01/input-objects/discountcustomerselectioninput>
//! - `DiscountAmountInput { amount: Decimal, appliesOnEachItem }` and a `percentage` Float
//!   from 0.0 to 1.0:
//!   <https://shopify.dev/docs/api/admin-graphql/2025-10/input-objects/DiscountAmountInput>
//! - `DiscountMinimumSubtotalInput { greaterThanOrEqualToSubtotal: Decimal }`:
//!   <https://shopify.dev/docs/api/admin-graphql/2025-04/input-objects/DiscountMinimumSubtotalInput>
//!
//! - first-order-only codes: `customerSelection.customerSegments.add` with the id of a customer
//!   segment whose query is `number_of_orders = 0`, found with the `segments(query:)` query or
//!   created once per shop with `segmentCreate(name:, query:)` (both need `read_customers`, the
//!   mutation also `write_customers`):
//!   <https://shopify.dev/docs/api/admin-graphql/2025-01/input-objects/DiscountCustomerSegmentsInput>,
//!   <https://shopify.dev/docs/api/admin-graphql/2025-01/queries/segments>,
//!   <https://shopify.dev/docs/apps/build/marketing/customer-segments/manage>
//!
//! - a code for one customer: `customerSelection.customers.add` with the customer's GID
//!   (`DiscountCustomersInput { add: [ID!] }`):
//!   <https://shopify.dev/docs/api/admin-graphql/2025-01/input-objects/DiscountCustomersInput>
//! - a code for some products only: `customerGets.items.products.productsToAdd` with product
//!   GIDs (`DiscountItemsInput.products: DiscountProductsInput`):
//!   <https://shopify.dev/docs/api/admin-graphql/2025-01/input-objects/DiscountProductsInput>
//!
//! A taken code comes back as a `DiscountUserError` with code `TAKEN` on field
//! `["basicCodeDiscount", "code"]`. From 2025-10 `customerSelection` is deprecated in favour of
//! `context`; it is still accepted in the one pinned version, [`super::API_VERSION`]. Rate limiting arrives as
//! HTTP 200 with a top-level `errors[].extensions.code` of `THROTTLED`, or as HTTP 429.

use super::API_VERSION;
use crate::http::{self, ClientConfigError};
use aftersale_domain::Secret;
use aftersale_rewards::{
    CreatedDiscount, CustomerEligibility, DiscountApi, DiscountCode, DiscountError, DiscountRequest,
    DiscountValue, UsageLimit,
};
use async_trait::async_trait;
use chrono::SecondsFormat;
use reqwest::header::HeaderValue;
use reqwest::{StatusCode, Url};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex, PoisonError};

const PLATFORM: &str = "Shopify";
const ACCESS_TOKEN_HEADER: &str = "X-Shopify-Access-Token";

/// Asks only for what we use: the new discount's id and any user errors.
pub(crate) const CREATE_MUTATION: &str =
    "mutation discountCodeBasicCreate($basicCodeDiscount: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {
    codeDiscountNode { id }
    userErrors { field code message }
  }
}";

/// The customer segment behind first-order-only codes, by name so that every client finds
/// the one segment a shop already has instead of creating another. Plain words: the
/// `segments(query:)` search would read a colon as a field name.
pub const FIRST_ORDER_SEGMENT_NAME: &str = "Aftersale new customers";
/// Customers with no order at all: Shopify's own "Customers who haven't purchased".
pub const FIRST_ORDER_SEGMENT_QUERY: &str = "number_of_orders = 0";

/// Finds segments by name; the search is fuzzy, so the exact name is matched here.
pub(crate) const SEGMENTS_QUERY: &str = "query segments($query: String!) {
  segments(first: 50, query: $query) { nodes { id name query } }
}";

pub(crate) const SEGMENT_CREATE_MUTATION: &str = "mutation segmentCreate($name: String!, $query: String!) {
  segmentCreate(name: $name, query: $query) {
    segment { id name query }
    userErrors { field message }
  }
}";

/// Creates discount codes in one Shopify shop.
#[derive(Debug, Clone)]
pub struct ShopifyDiscounts {
    client: reqwest::Client,
    endpoint: Url,
    /// Marked sensitive, so it prints as `Sensitive` in Debug output.
    access_token: HeaderValue,
    /// The first-order segment's id once found or created, so a client asks only once.
    first_order_segment: Arc<Mutex<Option<String>>>,
}

impl ShopifyDiscounts {
    /// A client for `https://{shop_domain}/admin/api/{API_VERSION}/graphql.json`.
    /// `shop_domain` is the permanent `*.myshopify.com` domain, never a custom domain: only it
    /// serves the Admin API.
    pub fn new(shop_domain: &str, access_token: &Secret) -> Result<Self, ClientConfigError> {
        let domain = shop_domain.trim().to_ascii_lowercase();
        // Anything but the permanent domain could aim the token elsewhere.
        if !aftersale_domain::is_myshopify_domain(&domain) {
            return Err(ClientConfigError::BadShopDomain(shop_domain.to_string()));
        }
        Self::with_base_url(&format!("https://{domain}"), access_token)
    }

    /// A client for `{base_url}/admin/api/{API_VERSION}/graphql.json`, so tests and proxies can
    /// stand in for Shopify. `base_url` must be https unless it is loopback.
    pub fn with_base_url(base_url: &str, access_token: &Secret) -> Result<Self, ClientConfigError> {
        let mut endpoint = http::secure_url(base_url)?;
        let path = format!(
            "{}/admin/api/{API_VERSION}/graphql.json",
            endpoint.path().trim_end_matches('/')
        );
        endpoint.set_path(&path);
        endpoint.set_query(None);
        endpoint.set_fragment(None);

        let mut token = HeaderValue::from_str(access_token.expose())
            .map_err(|_| ClientConfigError::BadCredential("Shopify access token"))?;
        token.set_sensitive(true);
        Ok(Self {
            client: http::client()?,
            endpoint,
            access_token: token,
            first_order_segment: Arc::default(),
        })
    }

    async fn send(&self, request: &DiscountRequest) -> Result<CreatedDiscount, DiscountError> {
        request.validate()?;
        let segment = match request.customers {
            CustomerEligibility::FirstOrderOnly => Some(self.first_order_segment().await?),
            CustomerEligibility::Anyone | CustomerEligibility::OneCustomer(_) => None,
        };
        let variables = variables(request, segment.as_deref())?;
        let (status, text) = self.post(CREATE_MUTATION, variables).await?;
        interpret(status, &text, &request.code)
    }

    async fn post(&self, query: &str, variables: Value) -> Result<(StatusCode, String), DiscountError> {
        let body = json!({ "query": query, "variables": variables });
        let post = self
            .client
            .post(self.endpoint.clone())
            .header(ACCESS_TOKEN_HEADER, self.access_token.clone())
            .json(&body);
        http::send(PLATFORM, post).await
    }

    /// The id of the shop's first-order segment: the one already there, or a new one.
    async fn first_order_segment(&self) -> Result<String, DiscountError> {
        let cached = self
            .first_order_segment
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(id) = cached {
            return Ok(id);
        }
        let id = match self.find_segment().await? {
            Some(id) => id,
            None => self.create_segment().await?,
        };
        *self
            .first_order_segment
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(id.clone());
        Ok(id)
    }

    async fn find_segment(&self) -> Result<Option<String>, DiscountError> {
        let (status, text) = self
            .post(SEGMENTS_QUERY, json!({ "query": FIRST_ORDER_SEGMENT_NAME }))
            .await?;
        let data = graphql_data(status, &text).map_err(segment_context)?;
        let nodes: Vec<Segment> = data
            .pointer("/segments/nodes")
            .cloned()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|_| unexpected("segments"))?
            .ok_or_else(|| unexpected("segments"))?;
        match nodes.into_iter().find(|s| s.name == FIRST_ORDER_SEGMENT_NAME) {
            None => Ok(None),
            Some(segment) if is_first_order_query(&segment.query) => Ok(Some(segment.id)),
            // Someone edited it: trusting it could hand the friend discount to regulars again.
            Some(segment) => Err(DiscountError::Permanent(format!(
                "Shopify customer segment \"{FIRST_ORDER_SEGMENT_NAME}\" has the query `{}`, not \
                 `{FIRST_ORDER_SEGMENT_QUERY}`: restore that query or delete the segment so \
                 first-order-only friend codes stay first-order only",
                segment.query
            ))),
        }
    }

    async fn create_segment(&self) -> Result<String, DiscountError> {
        let (status, text) = self
            .post(
                SEGMENT_CREATE_MUTATION,
                json!({ "name": FIRST_ORDER_SEGMENT_NAME, "query": FIRST_ORDER_SEGMENT_QUERY }),
            )
            .await?;
        let data = graphql_data(status, &text).map_err(segment_context)?;
        let payload: SegmentCreatePayload = data
            .get("segmentCreate")
            .cloned()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|_| unexpected("segmentCreate"))?
            .ok_or_else(|| unexpected("segmentCreate"))?;
        if let Some(segment) = payload.segment.filter(|_| payload.user_errors.is_empty()) {
            tracing::info!(platform = PLATFORM, segment = %segment.id, "first-order customer segment created");
            return Ok(segment.id);
        }
        // Another client may have created it in between (names are unique): use that one.
        if let Some(id) = self.find_segment().await? {
            return Ok(id);
        }
        let reasons: Vec<String> = payload.user_errors.iter().map(UserError::describe).collect();
        Err(DiscountError::Permanent(format!(
            "Shopify refused the first-order customer segment: {}",
            if reasons.is_empty() {
                "no segment and no reason".to_string()
            } else {
                reasons.join("; ")
            }
        )))
    }
}

#[async_trait]
impl DiscountApi for ShopifyDiscounts {
    async fn create_discount(&self, request: &DiscountRequest) -> Result<CreatedDiscount, DiscountError> {
        let result = self.send(request).await;
        if let Err(err) = &result {
            tracing::warn!(platform = PLATFORM, error = %err, "discount code not created");
        }
        result
    }
}

/// Whether a segment's query is ours, whatever its spacing or case.
fn is_first_order_query(query: &str) -> bool {
    let canonical = |q: &str| {
        q.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase()
    };
    canonical(query) == canonical(FIRST_ORDER_SEGMENT_QUERY)
}

/// Says which step failed, so a missing `read_customers` scope is not mistaken for a
/// discount problem.
fn segment_context(err: DiscountError) -> DiscountError {
    let add = |text: String| format!("while finding the first-order customer segment: {text}");
    match err {
        DiscountError::Permanent(text) => DiscountError::Permanent(add(text)),
        DiscountError::Transient(text) => DiscountError::Transient(add(text)),
        DiscountError::AlreadyExists => DiscountError::AlreadyExists,
    }
}

fn unexpected(field: &str) -> DiscountError {
    DiscountError::Permanent(format!("Shopify's answer has no readable {field} payload"))
}

/// The mutation's variables, in the documented `DiscountCodeBasicInput` shape. A first-order
/// code is limited to `first_order_segment`, which the caller found or created.
pub(crate) fn variables(
    request: &DiscountRequest,
    first_order_segment: Option<&str>,
) -> Result<Value, DiscountError> {
    let customer_selection = match (&request.customers, first_order_segment) {
        (CustomerEligibility::Anyone, _) => json!({ "all": true }),
        (CustomerEligibility::OneCustomer(customer), _) => match &customer.platform_id {
            Some(id) => json!({ "customers": { "add": [gid("Customer", id)?] } }),
            // A guest has no account to tie the code to: single use, for whoever has it.
            None => json!({ "all": true }),
        },
        (CustomerEligibility::FirstOrderOnly, Some(segment)) => {
            json!({ "customerSegments": { "add": [segment] } })
        }
        (CustomerEligibility::FirstOrderOnly, None) => {
            return Err(DiscountError::Permanent(
                "a first-order-only discount needs the first-order customer segment".into(),
            ));
        }
    };
    let value = match &request.value {
        // Shopify declares a GraphQL `Float` from 0.0 to 1.0, so the Decimal becomes a double
        // only here, on the wire; serde_json writes its shortest exact form (10 % is `0.1`).
        DiscountValue::Percentage(percent) => {
            let fraction = (percent / Decimal::ONE_HUNDRED).to_f64().ok_or_else(|| {
                DiscountError::Permanent(format!("percentage {percent} is not representable"))
            })?;
            json!({ "percentage": fraction })
        }
        // `Decimal` scalars travel as strings, so amounts stay exact.
        DiscountValue::FixedAmount(money) => json!({
            "discountAmount": { "amount": money.amount.to_string(), "appliesOnEachItem": false }
        }),
    };
    let mut input = json!({
        "title": request.title.trim(),
        "code": request.code.as_str(),
        "startsAt": request.starts_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "endsAt": request.ends_at.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
        "customerSelection": customer_selection,
        "customerGets": { "value": value, "items": items(&request.products)? },
        "appliesOncePerCustomer": true,
        "usageLimit": match request.usage {
            UsageLimit::SingleUse => Some(1),
            UsageLimit::OncePerCustomer { max_total } => max_total.map(|n| n.get()),
        },
    });
    if let Some(minimum) = &request.minimum_subtotal {
        input["minimumRequirement"] =
            json!({ "subtotal": { "greaterThanOrEqualToSubtotal": minimum.amount.to_string() } });
    }
    Ok(json!({ "basicCodeDiscount": input }))
}

/// What the code takes its value off: the whole order, or only the named products
/// (`DiscountItemsInput.products.productsToAdd`).
fn items(products: &[String]) -> Result<Value, DiscountError> {
    if products.is_empty() {
        return Ok(json!({ "all": true }));
    }
    let ids = products
        .iter()
        .map(|id| gid("Product", id))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({ "products": { "productsToAdd": ids } }))
}

/// A Shopify global id (`gid://shopify/Product/632910392`) from the numeric id webhooks carry,
/// or the GID itself. Anything else is not one of this shop's records.
fn gid(kind: &str, id: &str) -> Result<String, DiscountError> {
    let id = id.trim();
    let prefix = format!("gid://shopify/{kind}/");
    let number = id.strip_prefix(&prefix).unwrap_or(id);
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DiscountError::Permanent(format!(
            "{id:?} is not a Shopify {} id",
            kind.to_ascii_lowercase()
        )));
    }
    Ok(format!("{prefix}{number}"))
}

#[derive(Deserialize)]
struct GraphqlResponse {
    data: Option<Value>,
    /// An array of `{message, extensions: {code}}` in GraphQL answers; kept loose because
    /// Shopify's older error bodies use a plain string.
    errors: Option<Value>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "discountCodeBasicCreate")]
    create: Option<Payload>,
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "codeDiscountNode")]
    node: Option<Node>,
    #[serde(rename = "userErrors", default)]
    user_errors: Vec<UserError>,
}

#[derive(Deserialize)]
struct Node {
    id: String,
}

#[derive(Deserialize)]
struct Segment {
    id: String,
    name: String,
    query: String,
}

#[derive(Deserialize)]
struct SegmentCreatePayload {
    segment: Option<Segment>,
    #[serde(rename = "userErrors", default)]
    user_errors: Vec<UserError>,
}

#[derive(Deserialize)]
struct UserError {
    field: Option<Vec<String>>,
    code: Option<String>,
    message: String,
}

impl UserError {
    /// Shopify reports a duplicate as `TAKEN` on `["basicCodeDiscount", "code"]`.
    fn is_code_taken(&self) -> bool {
        let on_code = self
            .field
            .as_ref()
            .is_none_or(|f| f.last().is_some_and(|last| last == "code"));
        on_code && self.code.as_deref() == Some("TAKEN")
    }

    fn describe(&self) -> String {
        let field = self.field.as_ref().map(|f| f.join(".")).unwrap_or_default();
        match self.code.as_deref() {
            Some(code) => format!("{field}: {} ({code})", self.message),
            // `segmentCreate` answers plain `UserError`s, which have no code.
            None => format!("{field}: {}", self.message),
        }
    }
}

/// Turns Shopify's answer to the discount mutation into the port's result.
fn interpret(status: StatusCode, body: &str, code: &DiscountCode) -> Result<CreatedDiscount, DiscountError> {
    let data = graphql_data(status, body)?;
    let payload = serde_json::from_value::<Data>(data)
        .ok()
        .and_then(|d| d.create)
        .ok_or_else(|| {
            DiscountError::Permanent("Shopify's answer has no discountCodeBasicCreate payload".into())
        })?;
    if payload.user_errors.iter().any(UserError::is_code_taken) {
        return Err(DiscountError::AlreadyExists);
    }
    if !payload.user_errors.is_empty() {
        let reasons: Vec<String> = payload.user_errors.iter().map(UserError::describe).collect();
        return Err(DiscountError::Permanent(format!(
            "Shopify refused the discount: {}",
            reasons.join("; ")
        )));
    }
    let node = payload
        .node
        .ok_or_else(|| DiscountError::Permanent("Shopify created no discount and gave no reason".into()))?;
    Ok(CreatedDiscount {
        platform_id: node.id,
        code: code.clone(),
    })
}

/// The `data` of any GraphQL answer, with HTTP failures and top-level errors classified.
fn graphql_data(status: StatusCode, body: &str) -> Result<Value, DiscountError> {
    if http::is_retryable(status) {
        return Err(DiscountError::Transient(format!(
            "Shopify answered {status}: {}",
            http::snippet(body)
        )));
    }
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Err(DiscountError::Permanent(format!(
            "Shopify answered {status}: check the access token and its scopes (write_discounts, \
             and read_customers and write_customers for first-order-only codes)"
        )));
    }
    if !status.is_success() {
        return Err(DiscountError::Permanent(format!(
            "Shopify answered {status}: {}",
            http::snippet(body)
        )));
    }
    let parsed: GraphqlResponse = serde_json::from_str(body).map_err(|_| {
        DiscountError::Transient(format!(
            "Shopify sent an unreadable answer: {}",
            http::snippet(body)
        ))
    })?;
    if let Some(errors) = parsed.errors.as_ref().filter(|e| !is_empty(e)) {
        return Err(top_level_error(errors));
    }
    Ok(parsed.data.unwrap_or(Value::Null))
}

fn is_empty(errors: &Value) -> bool {
    match errors {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// Throttling and Shopify's own failures are transient; anything else (bad query, access
/// denied) will fail the same way again.
fn top_level_error(errors: &Value) -> DiscountError {
    let items: Vec<&Value> = match errors {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let codes: Vec<&str> = items
        .iter()
        .filter_map(|e| e.pointer("/extensions/code").and_then(Value::as_str))
        .collect();
    let messages: Vec<String> = items
        .iter()
        .map(|e| match e.get("message").and_then(Value::as_str) {
            Some(message) => message.to_string(),
            None => http::snippet(&e.to_string()),
        })
        .collect();
    let text = format!("Shopify GraphQL error: {}", messages.join("; "));
    if codes
        .iter()
        .any(|c| matches!(*c, "THROTTLED" | "INTERNAL_SERVER_ERROR"))
    {
        DiscountError::Transient(text)
    } else {
        DiscountError::Permanent(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aftersale_domain::{Currency, Money};
    use chrono::{TimeZone, Utc};

    fn token() -> Secret {
        Secret::new("shpat_test").expect("token")
    }

    fn code() -> DiscountCode {
        DiscountCode::parse("FRIEND-K7M2P9QX4R").expect("code")
    }

    fn request(value: DiscountValue, usage: UsageLimit) -> DiscountRequest {
        DiscountRequest {
            code: code(),
            title: "Referral reward for order #1042".into(),
            value,
            usage,
            customers: CustomerEligibility::Anyone,
            products: Vec::new(),
            minimum_subtotal: None,
            starts_at: Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).single().expect("date"),
            ends_at: None,
        }
    }

    #[test]
    fn a_code_for_one_customer_and_one_product_names_both_by_their_global_ids() {
        let mut request = request(DiscountValue::Percentage(Decimal::TEN), UsageLimit::SingleUse);
        request.customers = CustomerEligibility::OneCustomer(aftersale_rewards::OneCustomer {
            platform_id: Some("115310627314723954".into()),
            email: Some("john@example.com".into()),
        });
        request.products = vec!["632910392".into(), "gid://shopify/Product/808950810".into()];
        let input = &variables(&request, None).expect("variables")["basicCodeDiscount"];
        assert_eq!(
            input["customerSelection"],
            json!({ "customers": { "add": ["gid://shopify/Customer/115310627314723954"] } })
        );
        assert_eq!(
            input["customerGets"]["items"],
            json!({ "products": { "productsToAdd": [
                "gid://shopify/Product/632910392", "gid://shopify/Product/808950810"
            ] } })
        );
        assert!(
            !input.to_string().contains("john@example.com"),
            "no email: {input}"
        );

        // A guest has no account: the single-use code is open to whoever holds it.
        request.customers = CustomerEligibility::OneCustomer(aftersale_rewards::OneCustomer {
            platform_id: None,
            email: Some("guest@example.com".into()),
        });
        request.products = vec!["sku-MOKA".into()];
        assert_eq!(
            variables(&request, None),
            Err(DiscountError::Permanent(
                "\"sku-MOKA\" is not a Shopify product id".into()
            ))
        );
        request.products.clear();
        let input = &variables(&request, None).expect("variables")["basicCodeDiscount"];
        assert_eq!(input["customerSelection"], json!({ "all": true }));
        assert_eq!(input["customerGets"]["items"], json!({ "all": true }));
    }

    #[test]
    fn endpoint_is_built_from_the_shop_domain_and_the_one_pinned_version() {
        let client = ShopifyDiscounts::new(" My-Shop.myshopify.com ", &token()).expect("client");
        assert_eq!(
            client.endpoint.as_str(),
            "https://my-shop.myshopify.com/admin/api/2025-10/graphql.json"
        );
        let local = ShopifyDiscounts::with_base_url("http://127.0.0.1:9/", &token()).expect("client");
        assert_eq!(
            local.endpoint.as_str(),
            format!("http://127.0.0.1:9/admin/api/{API_VERSION}/graphql.json")
        );
    }

    #[test]
    fn foreign_domains_are_refused() {
        for domain in [
            "evil.com",
            "myshopify.com",
            ".myshopify.com",
            "a.b.myshopify.com",
            "shop.myshopify.com.evil.com",
        ] {
            assert_eq!(
                ShopifyDiscounts::new(domain, &token()).map(|_| ()),
                Err(ClientConfigError::BadShopDomain(domain.to_string())),
                "{domain}"
            );
        }
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let client = ShopifyDiscounts::new("shop.myshopify.com", &token()).expect("client");
        assert!(!format!("{client:?}").contains("shpat_test"));
    }

    #[test]
    fn percentages_become_fractions_and_single_use_sets_a_usage_limit() {
        let vars = variables(
            &request(
                DiscountValue::Percentage(Decimal::from(10)),
                UsageLimit::SingleUse,
            ),
            None,
        )
        .expect("variables");
        let input = &vars["basicCodeDiscount"];
        assert_eq!(input["customerGets"]["value"]["percentage"], json!(0.1));
        assert_eq!(input["usageLimit"], json!(1));
        assert_eq!(input["appliesOncePerCustomer"], json!(true));
        assert_eq!(input["endsAt"], Value::Null);
        assert!(input.get("minimumRequirement").is_none());
    }

    #[test]
    fn fixed_amounts_travel_as_decimal_strings() {
        let eur = Currency::new("EUR").expect("currency");
        let mut req = request(
            DiscountValue::FixedAmount(Money::new(Decimal::new(750, 2), eur)),
            UsageLimit::OncePerCustomer { max_total: None },
        );
        req.minimum_subtotal = Some(Money::new(Decimal::new(5000, 2), eur));
        let vars = variables(&req, None).expect("variables");
        let input = &vars["basicCodeDiscount"];
        assert_eq!(
            input["customerGets"]["value"]["discountAmount"],
            json!({ "amount": "7.50", "appliesOnEachItem": false })
        );
        assert_eq!(input["usageLimit"], Value::Null);
        assert_eq!(
            input["minimumRequirement"]["subtotal"]["greaterThanOrEqualToSubtotal"],
            json!("50.00")
        );
    }

    #[test]
    fn other_user_errors_are_permanent() {
        let body = r#"{"data":{"discountCodeBasicCreate":{"codeDiscountNode":null,"userErrors":[
            {"field":["basicCodeDiscount","endsAt"],"code":"INVALID","message":"Ends at is invalid"}]}}}"#;
        assert_eq!(
            interpret(StatusCode::OK, body, &code()),
            Err(DiscountError::Permanent(
                "Shopify refused the discount: basicCodeDiscount.endsAt: Ends at is invalid (INVALID)".into()
            ))
        );
    }

    #[test]
    fn access_denied_is_permanent_and_unreadable_answers_are_transient() {
        let denied = r#"{"errors":[{"message":"Access denied","extensions":{"code":"ACCESS_DENIED"}}]}"#;
        assert!(matches!(
            interpret(StatusCode::OK, denied, &code()),
            Err(DiscountError::Permanent(_))
        ));
        assert!(matches!(
            interpret(
                StatusCode::UNAUTHORIZED,
                r#"{"errors":"[API] Invalid API key"}"#,
                &code()
            ),
            Err(DiscountError::Permanent(_))
        ));
        assert!(matches!(
            interpret(StatusCode::OK, "<html>", &code()),
            Err(DiscountError::Transient(_))
        ));
    }
}
