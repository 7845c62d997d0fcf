//! Who may see which shop's dashboard. Every way in names exactly one shop, and the page
//! shows only that one:
//! - a signed, expiring link (`aftersale dashboard-link --shop S`): HMAC-SHA256 over the shop
//!   and the expiry;
//! - the Shopify admin's app launch: the query's `hmac` verified with the app's secret and a
//!   recent `timestamp`;
//! - either of those then sets a short session cookie, signed the same way, bound to the shop;
//! - locally, a `serve` on loopback, or the operator's `--dashboard-token`, which may open any
//!   shop named in the query.
//!
//! Signatures are compared in constant time.

use aftersale_domain::ShopId;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// How long a session cookie lasts.
pub const SESSION_SECONDS: i64 = 3600;
/// How old a Shopify launch's `timestamp` may be.
pub const LAUNCH_MAX_AGE_SECONDS: i64 = 600;
pub const COOKIE: &str = "aftersale_dashboard";

/// The deployment's ways in.
pub struct Access {
    key: Vec<u8>,
    /// The operator's token (`--dashboard-token`).
    token: Option<String>,
    /// Any shop named in the query may be shown without a credential: `serve` on loopback.
    pub open_on_loopback: bool,
    /// The Shopify app's client secret, for admin launches.
    shopify_secret: Option<Vec<u8>>,
    /// Set `Secure` on the cookie (HTTPS deployments).
    pub secure_cookie: bool,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No credential at all.
    Unauthenticated,
    /// No `?shop=` and no session to say which shop is meant.
    MissingShop,
    /// A signature that does not verify, or an expired link or launch.
    BadSignature,
    Expired,
    /// A valid credential for another shop than the one asked for.
    OtherShop,
}

/// Who the request is, once verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    pub shop: ShopId,
    /// A session cookie to set (after a link or a launch).
    pub set_cookie: Option<String>,
}

/// The request's credentials, as the edge read them.
#[derive(Debug, Default, Clone)]
pub struct Credentials<'a> {
    pub query: Vec<(String, String)>,
    pub cookie: Option<&'a str>,
    pub bearer: Option<&'a str>,
}

impl Credentials<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Access {
    /// `key` signs links and sessions: at least 32 bytes.
    pub fn new(key: &[u8]) -> Access {
        // Its own key, derived: a dashboard signature can never pass as a message link's.
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(b"aftersale dashboard v1");
        Access {
            key: mac.finalize().into_bytes().to_vec(),
            token: None,
            open_on_loopback: false,
            shopify_secret: None,
            secure_cookie: false,
        }
    }

    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token.filter(|t| !t.is_empty());
        self
    }

    /// Whether an operator token is set.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    pub fn with_shopify_secret(mut self, secret: Option<Vec<u8>>) -> Self {
        self.shopify_secret = secret;
        self
    }

    fn sign(&self, purpose: &str, shop: &ShopId, expires: i64) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(format!("{purpose}\n{shop}\n{expires}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    fn verify(&self, purpose: &str, shop: &ShopId, expires: i64, sig: &str) -> bool {
        let expected = self.sign(purpose, shop, expires);
        expected.as_bytes().ct_eq(sig.as_bytes()).into()
    }

    /// The query of a signed link to `shop`'s dashboard, valid until `expires` (Unix seconds).
    pub fn link_query(&self, shop: &ShopId, expires: i64) -> String {
        format!(
            "shop={shop}&expires={expires}&sig={}",
            self.sign("link", shop, expires)
        )
    }

    fn session_cookie(&self, shop: &ShopId, now: i64) -> String {
        let expires = now + SESSION_SECONDS;
        let secure = if self.secure_cookie { "; Secure" } else { "" };
        format!(
            "{COOKIE}={shop}.{expires}.{}; Path=/dashboard; Max-Age={SESSION_SECONDS}; HttpOnly; SameSite=Lax{secure}",
            self.sign("session", shop, expires)
        )
    }

    /// Decides who the request is at `now` (Unix seconds). The shop shown is always the one
    /// the credential names; a query naming another is refused.
    pub fn check(&self, creds: &Credentials<'_>, now: i64) -> Result<Granted, Denied> {
        let asked = creds.param("shop").map(ShopId::from_domain);
        let asked = match asked {
            Some(Ok(shop)) => Some(shop),
            Some(Err(_)) => return Err(Denied::BadSignature),
            None => None,
        };
        if let (Some(shop), Some(sig)) = (&asked, creds.param("sig")) {
            let expires: i64 = creds
                .param("expires")
                .and_then(|e| e.parse().ok())
                .ok_or(Denied::BadSignature)?;
            if !self.verify("link", shop, expires, sig) {
                return Err(Denied::BadSignature);
            }
            if expires < now {
                return Err(Denied::Expired);
            }
            return Ok(self.granted_with_session(shop.clone(), now));
        }
        if let (Some(shop), Some(_)) = (&asked, creds.param("hmac")) {
            let secret = self.shopify_secret.as_deref().ok_or(Denied::BadSignature)?;
            if !aftersale_platform_api::shopify::oauth::verify_query_hmac(&creds.query, secret) {
                return Err(Denied::BadSignature);
            }
            let at: i64 = creds
                .param("timestamp")
                .and_then(|t| t.parse().ok())
                .ok_or(Denied::BadSignature)?;
            if (now - at).abs() > LAUNCH_MAX_AGE_SECONDS {
                return Err(Denied::Expired);
            }
            return Ok(self.granted_with_session(shop.clone(), now));
        }
        if let Some(session) = creds.cookie.and_then(|c| self.session(c, now)) {
            return match asked {
                Some(other) if other != session => Err(Denied::OtherShop),
                _ => Ok(Granted {
                    shop: session,
                    set_cookie: None,
                }),
            };
        }
        let Some(shop) = asked else {
            // An expired or damaged session needs a new link, not a shop name.
            let stale_session = creds.cookie.is_some_and(|c| cookie_value(c).is_some());
            return Err(if stale_session {
                Denied::Unauthenticated
            } else {
                Denied::MissingShop
            });
        };
        let operator = match (&self.token, creds.bearer.or(creds.param("token"))) {
            (Some(token), Some(given)) => bool::from(token.as_bytes().ct_eq(given.as_bytes())),
            _ => false,
        };
        if operator || (self.open_on_loopback && self.token.is_none()) {
            return Ok(Granted {
                shop,
                set_cookie: None,
            });
        }
        Err(Denied::Unauthenticated)
    }

    fn granted_with_session(&self, shop: ShopId, now: i64) -> Granted {
        Granted {
            set_cookie: Some(self.session_cookie(&shop, now)),
            shop,
        }
    }

    /// The shop of a valid, unexpired session in a `Cookie` header.
    fn session(&self, header: &str, now: i64) -> Option<ShopId> {
        let value = cookie_value(header)?;
        let mut parts = value.rsplitn(3, '.');
        let sig = parts.next()?;
        let expires: i64 = parts.next()?.parse().ok()?;
        let shop = ShopId::from_domain(parts.next()?).ok()?;
        (self.verify("session", &shop, expires, sig) && expires >= now).then_some(shop)
    }
}

/// The dashboard's session cookie in a `Cookie` header, if there is one.
fn cookie_value(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|part| part.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop(s: &str) -> ShopId {
        ShopId::from_domain(s).unwrap()
    }

    fn query(q: &str) -> Vec<(String, String)> {
        q.split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn access() -> Access {
        Access::new(&[7u8; 32])
    }

    #[test]
    fn a_signed_link_opens_its_shop_until_it_expires() {
        let a = access();
        let link = a.link_query(&shop("a.myshopify.com"), 2_000);
        let creds = Credentials {
            query: query(&link),
            ..Default::default()
        };
        let granted = a.check(&creds, 1_000).unwrap();
        assert_eq!(granted.shop, shop("a.myshopify.com"));
        assert!(granted.set_cookie.unwrap().contains("HttpOnly"));
        assert_eq!(a.check(&creds, 2_001), Err(Denied::Expired));
    }

    #[test]
    fn shop_a_s_link_never_opens_shop_b() {
        let a = access();
        let link = a.link_query(&shop("a.myshopify.com"), 2_000);
        let swapped = link.replace("shop=a.myshopify.com", "shop=b.myshopify.com");
        let creds = Credentials {
            query: query(&swapped),
            ..Default::default()
        };
        assert_eq!(a.check(&creds, 1_000), Err(Denied::BadSignature));
        let longer = link.replace("expires=2000", "expires=9999");
        let creds = Credentials {
            query: query(&longer),
            ..Default::default()
        };
        assert_eq!(
            a.check(&creds, 1_000),
            Err(Denied::BadSignature),
            "the expiry is signed too"
        );
    }

    #[test]
    fn a_session_for_shop_a_refuses_a_query_for_shop_b() {
        let a = access();
        let creds = Credentials {
            query: query(&a.link_query(&shop("a.myshopify.com"), 2_000)),
            ..Default::default()
        };
        let cookie = a.check(&creds, 1_000).unwrap().set_cookie.unwrap();
        let pair = cookie.split(';').next().unwrap().to_string();
        let with_cookie = |q: &str| Credentials {
            query: query(q),
            cookie: Some(pair.as_str()),
            bearer: None,
        };
        assert_eq!(
            a.check(&with_cookie(""), 1_500).unwrap().shop,
            shop("a.myshopify.com")
        );
        assert_eq!(
            a.check(&with_cookie("shop=b.myshopify.com"), 1_500),
            Err(Denied::OtherShop)
        );
        assert_eq!(
            a.check(&with_cookie(""), 1_000 + SESSION_SECONDS + 1),
            Err(Denied::Unauthenticated),
            "sessions are short"
        );
        let forged = pair.replace("a.myshopify.com", "b.myshopify.com");
        let creds = Credentials {
            query: vec![],
            cookie: Some(forged.as_str()),
            bearer: None,
        };
        assert_eq!(a.check(&creds, 1_500), Err(Denied::Unauthenticated));
    }

    #[test]
    fn a_shopify_admin_launch_is_verified_and_recent() {
        let secret = b"shpss_test_secret".to_vec();
        let a = access().with_shopify_secret(Some(secret.clone()));
        let mut pairs = query("host=YWRtaW4&shop=a.myshopify.com&timestamp=1000");
        let message = aftersale_platform_api::shopify::oauth::signed_message(&pairs);
        let mut mac = HmacSha256::new_from_slice(&secret).unwrap();
        mac.update(message.as_bytes());
        pairs.push(("hmac".into(), hex::encode(mac.finalize().into_bytes())));
        let creds = Credentials {
            query: pairs.clone(),
            ..Default::default()
        };
        assert_eq!(a.check(&creds, 1_100).unwrap().shop, shop("a.myshopify.com"));
        assert_eq!(
            a.check(&creds, 1_000 + LAUNCH_MAX_AGE_SECONDS + 1),
            Err(Denied::Expired)
        );
        let tampered: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(k, v)| {
                if k == "shop" {
                    (k, "b.myshopify.com".into())
                } else {
                    (k, v)
                }
            })
            .collect();
        let creds = Credentials {
            query: tampered,
            ..Default::default()
        };
        assert_eq!(a.check(&creds, 1_100), Err(Denied::BadSignature));
    }

    #[test]
    fn off_loopback_the_operator_token_is_needed() {
        let a = access().with_token(Some("s3cret-token".into()));
        let asked = Credentials {
            query: query("shop=a.myshopify.com"),
            ..Default::default()
        };
        assert_eq!(a.check(&asked, 0), Err(Denied::Unauthenticated));
        let with = Credentials {
            query: query("shop=a.myshopify.com&token=s3cret-token"),
            ..Default::default()
        };
        assert_eq!(a.check(&with, 0).unwrap().shop, shop("a.myshopify.com"));
        let wrong = Credentials {
            query: query("shop=a.myshopify.com&token=s3cret-tokem"),
            ..Default::default()
        };
        assert_eq!(a.check(&wrong, 0), Err(Denied::Unauthenticated));
        let mut open = access();
        open.open_on_loopback = true;
        assert_eq!(open.check(&asked, 0).unwrap().shop, shop("a.myshopify.com"));
    }

    #[test]
    fn without_a_shop_or_a_session_the_shop_is_missing() {
        let mut open = access();
        open.open_on_loopback = true;
        assert_eq!(open.check(&Credentials::default(), 0), Err(Denied::MissingShop));
        let token_only = Credentials {
            query: query("token=s3cret-token"),
            ..Default::default()
        };
        let a = access().with_token(Some("s3cret-token".into()));
        assert_eq!(a.check(&token_only, 0), Err(Denied::MissingShop));
    }
}
