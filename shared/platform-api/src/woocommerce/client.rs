//! The site's webhooks through `/wp-json/wc/v3/webhooks`. Every failure is a [`WooError`]
//! whose text tells a shop owner what to do: which key to check, which WordPress setting to
//! change. No credential ever reaches an error, a log or a `Debug` output.

use crate::woocommerce::auth::{Auth, oauth1_params};
use aftersale_domain::Secret;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use url::Url;

const API: &str = "wp-json/wc/v3";
/// WooCommerce's largest page.
const PAGE_SIZE: usize = 100;

/// Why talking to the site failed, in a shop owner's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WooError {
    #[error("{0:?} is not a site address: give the full URL, e.g. https://shop.example")]
    BadUrl(String),
    #[error(
        "the site address must not contain a user name or password; pass the keys with --consumer-key and --consumer-secret"
    )]
    CredentialsInUrl,
    #[error(
        "the {0} is empty or holds characters that cannot be sent (copy it again from WooCommerce → Settings → Advanced → REST API)"
    )]
    BadKey(&'static str),
    #[error("could not reach {site}: {detail}. Check the address and that the site is online")]
    Unreachable { site: String, detail: String },
    #[error(
        "{site} refused the REST API keys (401 {code}). Check the consumer key and secret in WooCommerce → Settings → Advanced → REST API; they must belong to an administrator"
    )]
    Unauthorized { site: String, code: String },
    #[error(
        "the REST API key of {site} may only read (403 {code}). Edit the key in WooCommerce → Settings → Advanced → REST API and give it Read/Write permission"
    )]
    ReadOnly { site: String, code: String },
    #[error(
        "{site} uses WordPress's \"Plain\" permalinks, and the WooCommerce REST API needs pretty ones: in WordPress go to Settings → Permalinks, choose any structure except Plain, and save"
    )]
    PlainPermalinks { site: String },
    #[error(
        "{site} is a WordPress site without WooCommerce's REST API: is the WooCommerce plugin installed and active?"
    )]
    NoWooCommerce { site: String },
    #[error(
        "{site} does not look like a WordPress site with WooCommerce (no WordPress REST API there). Check the address"
    )]
    NotWordPress { site: String },
    #[error("{site} answered {status}: {detail}")]
    Refused {
        site: String,
        status: u16,
        detail: String,
    },
}

/// One webhook as WooCommerce lists it. Its `secret` is never read: Aftersale knows the
/// secrets it set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    /// `active`, `paused`, or `disabled` (WooCommerce's own doing, after delivery failures).
    pub status: String,
    pub topic: String,
    pub delivery_url: String,
}

/// A client of one site's REST API.
#[derive(Clone)]
pub struct WooClient {
    http: reqwest::Client,
    site: Url,
    consumer_key: Secret,
    consumer_secret: Secret,
}

impl fmt::Debug for WooClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WooClient")
            .field("site", &self.site.as_str())
            .finish_non_exhaustive()
    }
}

impl WooClient {
    /// A client of `site` (a sub-directory install, `https://example.com/shop`, works).
    pub fn new(site: &str, consumer_key: &str, consumer_secret: &str) -> Result<Self, WooError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            // A redirect could resend the keys elsewhere; a site that redirects its API is
            // reported instead (as an http → https redirect most often is).
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| WooError::Unreachable {
                site: site.to_string(),
                detail: e.to_string(),
            })?;
        Self::with_http(http, site, consumer_key, consumer_secret)
    }

    /// The same with a prepared HTTP client (tests trust their own certificate authority).
    pub fn with_http(
        http: reqwest::Client,
        site: &str,
        consumer_key: &str,
        consumer_secret: &str,
    ) -> Result<Self, WooError> {
        let site = site_url(site)?;
        Ok(Self {
            http,
            site,
            consumer_key: check_key(consumer_key, "consumer key", true)?,
            consumer_secret: check_key(consumer_secret, "consumer secret", false)?,
        })
    }

    /// The site as the client addresses it (no trailing slash).
    pub fn site(&self) -> String {
        self.site.as_str().trim_end_matches('/').to_string()
    }

    /// Every webhook of the site, page by page.
    pub async fn list_webhooks(&self) -> Result<Vec<Webhook>, WooError> {
        let mut all = Vec::new();
        for page in 1.. {
            let query = [("per_page", PAGE_SIZE.to_string()), ("page", page.to_string())];
            let answer = self.send(Method::GET, "webhooks", &query, None).await?;
            let batch: Vec<Webhook> = serde_json::from_value(answer).map_err(|e| self.unreadable(&e))?;
            let last = batch.len() < PAGE_SIZE;
            all.extend(batch);
            if last {
                break;
            }
        }
        Ok(all)
    }

    /// Creates an active webhook signed with `secret`.
    pub async fn create_webhook(
        &self,
        topic: &str,
        delivery_url: &str,
        secret: &str,
    ) -> Result<Webhook, WooError> {
        let body = serde_json::json!({
            "name": format!("Aftersale {topic}"),
            "topic": topic,
            "delivery_url": delivery_url,
            "secret": secret,
            "status": "active",
        });
        let answer = self.send(Method::POST, "webhooks", &[], Some(body)).await?;
        serde_json::from_value(answer).map_err(|e| self.unreadable(&e))
    }

    /// Makes a webhook active and signed with `secret`.
    pub async fn activate_webhook(&self, id: u64, secret: &str) -> Result<Webhook, WooError> {
        let body = serde_json::json!({ "status": "active", "secret": secret });
        let answer = self
            .send(Method::PUT, &format!("webhooks/{id}"), &[], Some(body))
            .await?;
        serde_json::from_value(answer).map_err(|e| self.unreadable(&e))
    }

    /// A request to `url` carrying the keys as WooCommerce's rules say: HTTP Basic over
    /// HTTPS, OAuth 1.0a one-legged signing (in the query) over plain HTTP.
    pub(crate) fn signed(&self, method: Method, mut url: Url) -> reqwest::RequestBuilder {
        match Auth::for_url(&url) {
            Auth::Basic => self
                .http
                .request(method, url)
                .basic_auth(self.consumer_key.expose(), Some(self.consumer_secret.expose())),
            Auth::OAuth1 => {
                let timestamp = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let nonce = hex::encode(rand::random::<[u8; 16]>());
                let signed = oauth1_params(
                    method.as_str(),
                    &url,
                    self.consumer_key.expose(),
                    self.consumer_secret.expose(),
                    timestamp,
                    &nonce,
                );
                url.query_pairs_mut().extend_pairs(signed);
                self.http.request(method, url)
            }
        }
    }

    pub(crate) fn endpoint(&self, path: &str) -> Url {
        let mut url = self.site.clone();
        let base = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{base}/{API}/{path}"));
        url
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<Value, WooError> {
        let mut url = self.endpoint(path);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let request = self.signed(method, url);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| self.unreachable(&e))?;
        if status.is_success() {
            return serde_json::from_str(&text).map_err(|_| WooError::NotWordPress { site: self.site() });
        }
        Err(self.refusal(status, &text).await)
    }

    /// Explains a non-success answer.
    pub(crate) async fn refusal(&self, status: StatusCode, body: &str) -> WooError {
        let site = self.site();
        let rest: Option<RestError> = serde_json::from_str(body).ok();
        let code = rest.as_ref().map(|e| e.code.clone()).unwrap_or_default();
        match status {
            StatusCode::UNAUTHORIZED => WooError::Unauthorized { site, code },
            StatusCode::FORBIDDEN if code.contains("cannot_") => WooError::ReadOnly { site, code },
            StatusCode::NOT_FOUND if code == "rest_no_route" => WooError::NoWooCommerce { site },
            StatusCode::NOT_FOUND if rest.is_none() => self.why_no_api().await,
            _ if status.is_redirection() => WooError::Refused {
                site,
                status: status.as_u16(),
                detail:
                    "the site redirects its REST API (often http → https): give the address it redirects to"
                        .into(),
            },
            _ => WooError::Refused {
                site,
                status: status.as_u16(),
                detail: match rest {
                    Some(e) => format!("{} ({})", e.message, e.code),
                    None => snippet(body),
                },
            },
        }
    }

    /// `/wp-json/` gave a page that is not the REST API: WordPress with plain permalinks answers
    /// the same API at `?rest_route=/`, any other site does not.
    async fn why_no_api(&self) -> WooError {
        let site = self.site();
        let mut probe = self.site.clone();
        probe.set_query(Some("rest_route=/"));
        let answer = match self.http.get(probe).send().await {
            Ok(response) if response.status().is_success() => response.json::<Value>().await.ok(),
            _ => None,
        };
        match answer {
            Some(index) if index.get("namespaces").is_some() => WooError::PlainPermalinks { site },
            _ => WooError::NotWordPress { site },
        }
    }

    pub(crate) fn unreachable(&self, err: &reqwest::Error) -> WooError {
        // reqwest's text names the URL, never headers; strip the query (OAuth parameters).
        let detail = match err.url() {
            Some(url) => err.to_string().replace(url.as_str(), url.path()),
            None => err.to_string(),
        };
        WooError::Unreachable {
            site: self.site(),
            detail,
        }
    }

    pub(crate) fn unreadable(&self, err: &serde_json::Error) -> WooError {
        WooError::Refused {
            site: self.site(),
            status: 200,
            detail: format!("an answer Aftersale cannot read ({err})"),
        }
    }
}

#[derive(Deserialize)]
struct RestError {
    code: String,
    #[serde(default)]
    message: String,
}

fn site_url(raw: &str) -> Result<Url, WooError> {
    let trimmed = raw.trim();
    let url = Url::parse(trimmed).map_err(|_| WooError::BadUrl(raw.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(WooError::BadUrl(raw.to_string()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(WooError::CredentialsInUrl);
    }
    let mut url = url;
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// Keys are printable ASCII (`ck_…`, `cs_…`); a colon in the key would split Basic auth's
/// `key:secret` in the wrong place.
/// The key as a [`Secret`], if it can go in a Basic header or an OAuth signature.
fn check_key(value: &str, what: &'static str, is_key: bool) -> Result<Secret, WooError> {
    let ok = value.bytes().all(|b| b.is_ascii_graphic()) && !(is_key && value.contains(':'));
    Secret::new(value).filter(|_| ok).ok_or(WooError::BadKey(what))
}

fn snippet(body: &str) -> String {
    let trimmed = body.trim();
    match trimmed.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &trimmed[..cut]),
        None if trimmed.is_empty() => "an empty answer".into(),
        None => trimmed.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_site_addresses_and_keys_are_explained() {
        assert_eq!(
            WooClient::new("shop.example", "ck_1", "cs_1")
                .unwrap_err()
                .to_string(),
            "\"shop.example\" is not a site address: give the full URL, e.g. https://shop.example"
        );
        assert!(matches!(
            WooClient::new("ftp://shop.example", "ck_1", "cs_1"),
            Err(WooError::BadUrl(_))
        ));
        assert_eq!(
            WooClient::new("https://ck:cs@shop.example", "ck_1", "cs_1").unwrap_err(),
            WooError::CredentialsInUrl
        );
        assert_eq!(
            WooClient::new("https://shop.example", "ck:1", "cs_1").unwrap_err(),
            WooError::BadKey("consumer key")
        );
        assert_eq!(
            WooClient::new("https://shop.example", "ck_1", "").unwrap_err(),
            WooError::BadKey("consumer secret")
        );
    }

    #[test]
    fn the_endpoint_keeps_a_sub_directory_and_debug_hides_the_keys() {
        let client = WooClient::new("https://example.com/shop/", "ck_secretkey", "cs_secretsecret").unwrap();
        assert_eq!(
            client.endpoint("webhooks").as_str(),
            "https://example.com/shop/wp-json/wc/v3/webhooks"
        );
        let debug = format!("{client:?}");
        assert!(
            !debug.contains("ck_secretkey") && !debug.contains("cs_secretsecret"),
            "{debug}"
        );
    }
}
