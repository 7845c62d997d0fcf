//! WooCommerce coupons through the REST API: `POST /wp-json/wc/v3/coupons`.
//!
//! Fields from the WooCommerce REST API reference, "Coupons" (wc/v3):
//! <https://woocommerce.github.io/woocommerce-rest-api-docs/#coupons>, source
//! `woocommerce/woocommerce-rest-api-docs:source/includes/wp-api-v3/_coupons.md`:
//! `code`, `amount` (a decimal string, "even if setting a percentage"), `discount_type`
//! (`percent` | `fixed_cart` | `fixed_product`), `description`, `date_expires`,
//! `individual_use`, `usage_limit`, `usage_limit_per_user`, `minimum_amount`; authentication
//! follows WooCommerce's rules ([`super::auth`]): HTTP Basic with the consumer key and secret
//! over HTTPS, OAuth 1.0a one-legged signing over plain HTTP. Errors are WordPress REST errors,
//! `{"code": "...", "message": "...", "data": {"status": 400}}`; a duplicate code is
//! `woocommerce_rest_coupon_code_already_exists`.
//!
//! A coupon for one customer carries `email_restrictions` (their email; WooCommerce checks
//! it against the billing email at checkout), and one for some products `product_ids`: a
//! `percent` coupon then takes its percentage off those products only, a `fixed_cart` one
//! needs one of them in the cart.
//!
//! WooCommerce coupons have no start date, so `starts_at` cannot be enforced there: the coupon
//! works from the moment it is created.
//!
//! Nor can core WooCommerce limit a coupon to a customer's first order: it has no such
//! restriction (only `email_restrictions`, a fixed allow-list). A
//! [`CustomerEligibility::FirstOrderOnly`](aftersale_rewards::CustomerEligibility::FirstOrderOnly) coupon therefore gets what core offers: one use per
//! customer (`usage_limit_per_user`, checked against the customer's account or billing email) and the
//! request's total cap (`usage_limit`), so a leaked code stops after that many orders. The
//! referral's attribution still refuses the advocate's reward for a friend who had ordered
//! before.

use super::auth::{Auth, oauth1_params};
use crate::http::{self, ClientConfigError};
use aftersale_domain::Secret;
use aftersale_rewards::{
    CreatedDiscount, CustomerEligibility, DiscountApi, DiscountError, DiscountRequest, DiscountValue,
    UsageLimit,
};
use async_trait::async_trait;
use chrono::SecondsFormat;
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};

const PLATFORM: &str = "WooCommerce";
const COUPONS_PATH: &str = "wp-json/wc/v3/coupons";
const ALREADY_EXISTS: &str = "woocommerce_rest_coupon_code_already_exists";

/// Creates coupons in one WooCommerce site.
#[derive(Debug, Clone)]
pub struct WooCommerceCoupons {
    client: reqwest::Client,
    endpoint: Url,
    consumer_key: Secret,
    consumer_secret: Secret,
}

impl WooCommerceCoupons {
    /// A client for `{site_url}/wp-json/wc/v3/coupons`. `site_url` may include a sub-directory
    /// (`https://example.com/shop`); it must be https unless it is loopback.
    pub fn new(
        site_url: &str,
        consumer_key: Secret,
        consumer_secret: Secret,
    ) -> Result<Self, ClientConfigError> {
        let mut endpoint = http::secure_url(site_url)?;
        if !endpoint.username().is_empty() || endpoint.password().is_some() {
            // Credentials belong in the Secrets, never in a URL that might be logged.
            return Err(ClientConfigError::CredentialsInUrl);
        }
        let path = format!("{}/{COUPONS_PATH}", endpoint.path().trim_end_matches('/'));
        endpoint.set_path(&path);
        endpoint.set_query(None);
        endpoint.set_fragment(None);
        check_credential(&consumer_key, "WooCommerce consumer key", true)?;
        check_credential(&consumer_secret, "WooCommerce consumer secret", false)?;
        Ok(Self {
            client: http::client()?,
            endpoint,
            consumer_key,
            consumer_secret,
        })
    }

    /// The POST carrying the keys as WooCommerce's rules say (the connect client's rules):
    /// HTTP Basic over HTTPS, OAuth 1.0a one-legged signing in the query over plain HTTP,
    /// where Basic would send the secret in clear.
    fn post(&self) -> reqwest::RequestBuilder {
        match Auth::for_url(&self.endpoint) {
            Auth::Basic => self
                .client
                .post(self.endpoint.clone())
                .basic_auth(self.consumer_key.expose(), Some(self.consumer_secret.expose())),
            Auth::OAuth1 => {
                let timestamp = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let nonce = hex::encode(rand::random::<[u8; 16]>());
                let signed = oauth1_params(
                    "POST",
                    &self.endpoint,
                    self.consumer_key.expose(),
                    self.consumer_secret.expose(),
                    timestamp,
                    &nonce,
                );
                let mut url = self.endpoint.clone();
                url.query_pairs_mut().extend_pairs(signed);
                self.client.post(url)
            }
        }
    }

    async fn send(&self, request: &DiscountRequest) -> Result<CreatedDiscount, DiscountError> {
        request.validate()?;
        let post = self.post().json(&CouponBody::try_from(request)?);
        let (status, text) = http::send(PLATFORM, post).await?;
        interpret(status, &text, request)
    }
}

#[async_trait]
impl DiscountApi for WooCommerceCoupons {
    async fn create_discount(&self, request: &DiscountRequest) -> Result<CreatedDiscount, DiscountError> {
        let result = self.send(request).await;
        if let Err(err) = &result {
            tracing::warn!(platform = PLATFORM, error = %err, "discount code not created");
        }
        result
    }
}

/// WooCommerce keys are printable ASCII (`ck_…`, `cs_…`); anything else is a paste error, and a
/// colon in the key would split Basic auth's `key:secret` in the wrong place.
fn check_credential(secret: &Secret, what: &'static str, is_key: bool) -> Result<(), ClientConfigError> {
    let value = secret.expose();
    let printable = value.bytes().all(|b| b.is_ascii_graphic());
    if printable && !(is_key && value.contains(':')) {
        Ok(())
    } else {
        Err(ClientConfigError::BadCredential(what))
    }
}

/// The coupon as WooCommerce's create endpoint takes it.
#[derive(Debug, Serialize)]
struct CouponBody<'a> {
    code: &'a str,
    description: &'a str,
    discount_type: &'static str,
    amount: String,
    /// A reward should not stack with other coupons on the same order.
    individual_use: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage_limit: Option<u32>,
    usage_limit_per_user: u32,
    /// RFC 3339 with `Z`: WooCommerce honours an explicit offset, where a bare time would be
    /// read in the site's own time zone.
    #[serde(skip_serializing_if = "Option::is_none")]
    date_expires: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    minimum_amount: Option<String>,
    /// The products the coupon is for (WooCommerce's numeric ids); none: the whole cart.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    product_ids: Vec<u64>,
    /// The one customer's email a coupon is tied to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    email_restrictions: Vec<&'a str>,
}

impl<'a> TryFrom<&'a DiscountRequest> for CouponBody<'a> {
    type Error = DiscountError;

    fn try_from(request: &'a DiscountRequest) -> Result<Self, DiscountError> {
        let (discount_type, amount) = match &request.value {
            DiscountValue::Percentage(percent) => ("percent", percent.normalize().to_string()),
            DiscountValue::FixedAmount(money) => ("fixed_cart", money.amount.to_string()),
        };
        let product_ids = request
            .products
            .iter()
            .map(|id| {
                id.trim()
                    .parse::<u64>()
                    .map_err(|_| DiscountError::Permanent(format!("{id:?} is not a WooCommerce product id")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let email_restrictions = match &request.customers {
            CustomerEligibility::OneCustomer(customer) => customer.email.as_deref().into_iter().collect(),
            CustomerEligibility::Anyone | CustomerEligibility::FirstOrderOnly => Vec::new(),
        };
        Ok(Self {
            code: request.code.as_str(),
            description: request.title.trim(),
            discount_type,
            amount,
            individual_use: true,
            usage_limit: match request.usage {
                UsageLimit::SingleUse => Some(1),
                UsageLimit::OncePerCustomer { max_total } => max_total.map(|n| n.get()),
            },
            usage_limit_per_user: 1,
            date_expires: request
                .ends_at
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
            minimum_amount: request.minimum_subtotal.map(|m| m.amount.to_string()),
            product_ids,
            email_restrictions,
        })
    }
}

/// A WordPress REST error body.
#[derive(Deserialize)]
struct RestError {
    code: String,
    message: String,
}

#[derive(Deserialize)]
struct CreatedCoupon {
    id: Value,
}

/// Turns WooCommerce's answer into the port's result.
fn interpret(
    status: StatusCode,
    body: &str,
    request: &DiscountRequest,
) -> Result<CreatedDiscount, DiscountError> {
    if status.is_success() {
        let created: CreatedCoupon = serde_json::from_str(body).map_err(|_| {
            DiscountError::Transient(format!(
                "WooCommerce sent an unreadable answer: {}",
                http::snippet(body)
            ))
        })?;
        let platform_id = match created.id {
            Value::Number(n) => n.to_string(),
            Value::String(s) if !s.is_empty() => s,
            _ => {
                return Err(DiscountError::Permanent(
                    "WooCommerce created a coupon without an id".into(),
                ));
            }
        };
        return Ok(CreatedDiscount {
            platform_id,
            code: request.code.clone(),
        });
    }
    let error = serde_json::from_str::<RestError>(body).ok();
    if let Some(e) = &error
        && e.code == ALREADY_EXISTS
    {
        return Err(DiscountError::AlreadyExists);
    }
    let detail = match &error {
        Some(e) => format!("{}: {}", e.code, e.message),
        None => http::snippet(body),
    };
    let text = format!("WooCommerce answered {status}: {detail}");
    if http::is_retryable(status) {
        Err(DiscountError::Transient(text))
    } else {
        Err(DiscountError::Permanent(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aftersale_domain::{Currency, Money};
    use aftersale_rewards::DiscountCode;
    use chrono::{TimeZone, Utc};
    use rust_decimal::Decimal;
    use serde_json::json;

    fn secret(s: &str) -> Secret {
        Secret::new(s).expect("secret")
    }

    fn request() -> DiscountRequest {
        let starts_at = Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).single().expect("date");
        DiscountRequest {
            code: DiscountCode::parse("FRIEND-K7M2P9QX4R").expect("code"),
            title: "Referral reward for order #1042".into(),
            value: DiscountValue::Percentage(Decimal::new(1000, 2)),
            usage: UsageLimit::OncePerCustomer { max_total: None },
            customers: aftersale_rewards::CustomerEligibility::Anyone,
            products: Vec::new(),
            minimum_subtotal: None,
            starts_at,
            ends_at: None,
        }
    }

    #[test]
    fn endpoint_keeps_a_sub_directory() {
        let client = WooCommerceCoupons::new("https://example.com/shop/", secret("ck_1"), secret("cs_1"))
            .expect("client");
        assert_eq!(
            client.endpoint.as_str(),
            "https://example.com/shop/wp-json/wc/v3/coupons"
        );
    }

    #[test]
    fn plain_http_and_urls_with_credentials_are_refused() {
        assert!(matches!(
            WooCommerceCoupons::new("http://example.com", secret("ck_1"), secret("cs_1")),
            Err(ClientConfigError::InsecureUrl(_))
        ));
        assert!(matches!(
            WooCommerceCoupons::new("https://ck:cs@example.com", secret("ck_1"), secret("cs_1")),
            Err(ClientConfigError::CredentialsInUrl)
        ));
        assert_eq!(
            WooCommerceCoupons::new("https://example.com", secret("ck:1"), secret("cs_1")).map(|_| ()),
            Err(ClientConfigError::BadCredential("WooCommerce consumer key"))
        );
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let client = WooCommerceCoupons::new("https://example.com", secret("ck_key"), secret("cs_secret"))
            .expect("client");
        let debug = format!("{client:?}");
        assert!(
            !debug.contains("ck_key") && !debug.contains("cs_secret"),
            "{debug}"
        );
    }

    #[test]
    fn a_shared_code_has_no_total_limit_and_a_percentage_is_a_plain_number() {
        let body = serde_json::to_value(CouponBody::try_from(&request()).expect("body")).expect("json");
        assert_eq!(body["discount_type"], json!("percent"));
        assert_eq!(body["amount"], json!("10"));
        assert!(body.get("usage_limit").is_none());
        assert_eq!(body["usage_limit_per_user"], json!(1));
        assert!(body.get("date_expires").is_none());
    }

    #[test]
    fn a_reward_is_single_use_with_expiry_and_minimum() {
        let eur = Currency::new("EUR").expect("currency");
        let mut req = request();
        req.value = DiscountValue::FixedAmount(Money::new(Decimal::new(500, 2), eur));
        req.usage = UsageLimit::SingleUse;
        req.minimum_subtotal = Some(Money::new(Decimal::new(3000, 2), eur));
        req.ends_at = Some(Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).single().expect("date"));
        let body = serde_json::to_value(CouponBody::try_from(&req).expect("body")).expect("json");
        assert_eq!(body["discount_type"], json!("fixed_cart"));
        assert_eq!(body["amount"], json!("5.00"));
        assert_eq!(body["usage_limit"], json!(1));
        assert_eq!(body["date_expires"], json!("2025-06-01T00:00:00Z"));
        assert_eq!(body["minimum_amount"], json!("30.00"));
    }

    #[test]
    fn a_coupon_for_one_customer_and_one_product_names_their_email_and_the_product() {
        let mut req = request();
        req.customers = CustomerEligibility::OneCustomer(aftersale_rewards::OneCustomer {
            platform_id: Some("42".into()),
            email: Some("laura@example.com".into()),
        });
        req.products = vec!["1203".into()];
        let body = serde_json::to_value(CouponBody::try_from(&req).expect("body")).expect("json");
        assert_eq!(body["email_restrictions"], json!(["laura@example.com"]));
        assert_eq!(body["product_ids"], json!([1203]));
        assert!(
            serde_json::to_value(CouponBody::try_from(&request()).expect("body"))
                .expect("json")
                .get("product_ids")
                .is_none(),
            "a whole-order coupon names no product"
        );
        req.products = vec!["moka-pot".into()];
        assert_eq!(
            CouponBody::try_from(&req).err(),
            Some(DiscountError::Permanent(
                "\"moka-pot\" is not a WooCommerce product id".into()
            ))
        );
    }

    #[test]
    fn unreadable_errors_still_carry_the_status() {
        assert_eq!(
            interpret(StatusCode::BAD_GATEWAY, "<html>Bad gateway</html>", &request()),
            Err(DiscountError::Transient(
                "WooCommerce answered 502 Bad Gateway: <html>Bad gateway</html>".into()
            ))
        );
        assert_eq!(
            interpret(
                StatusCode::OK,
                r#"{"id": 719, "code": "friend-k7m2p9qx4r"}"#,
                &request()
            )
            .map(|c| c.platform_id),
            Ok("719".to_string())
        );
    }
}
