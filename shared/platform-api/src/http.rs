//! What the platform clients share: the HTTP client's limits, endpoint checks and the
//! mapping of transport failures. New clients (imports, other Admin API calls) build on
//! these, so timeouts, retry classification and error snippets stay in one place.

use aftersale_rewards::DiscountError;
use reqwest::Url;
use std::net::IpAddr;
use std::time::Duration;

/// A slow TCP or TLS handshake means the shop is unreachable now; fail fast and retry later.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Whole-request bound, so a reward run never hangs on one shop.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of an unexpected response body to keep in an error message.
const SNIPPET_LEN: usize = 200;

/// Why a client could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientConfigError {
    #[error("{0:?} is not a Shopify shop domain (expected something like my-shop.myshopify.com)")]
    BadShopDomain(String),
    #[error("{0:?} is not a valid http(s) URL")]
    BadUrl(String),
    #[error(
        "{0:?} must use https: credentials are never sent in clear text (http is allowed only for localhost)"
    )]
    InsecureUrl(String),
    #[error("the site URL contains a user name or password; pass credentials as secrets instead")]
    CredentialsInUrl,
    #[error("the {0} contains characters that cannot be sent in an HTTP header")]
    BadCredential(&'static str),
    #[error("could not build the HTTP client: {0}")]
    HttpClient(String),
}

/// The HTTP client both platforms use. Redirects are not followed: an admin API that
/// redirects a POST is misconfigured, and following it could resend credentials elsewhere.
pub(crate) fn client() -> Result<reqwest::Client, ClientConfigError> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ClientConfigError::HttpClient(e.to_string()))
}

/// Parses an endpoint, requiring https unless the host is loopback (local test servers).
pub(crate) fn secure_url(raw: &str) -> Result<Url, ClientConfigError> {
    let url = Url::parse(raw.trim()).map_err(|_| ClientConfigError::BadUrl(raw.to_string()))?;
    let Some(host) = url.host_str() else {
        return Err(ClientConfigError::BadUrl(raw.to_string()));
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(host) => Ok(url),
        "http" => Err(ClientConfigError::InsecureUrl(raw.to_string())),
        _ => Err(ClientConfigError::BadUrl(raw.to_string())),
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Timeouts and connection failures are worth retrying; anything else reqwest reports here
/// (a malformed request) is not.
pub(crate) fn transport_error(platform: &str, err: &reqwest::Error) -> DiscountError {
    // reqwest's Display includes the URL but never headers, so no credential reaches the text.
    if err.is_timeout() || err.is_connect() || err.is_request() || err.is_body() {
        DiscountError::Transient(format!("{platform} unreachable: {err}"))
    } else {
        DiscountError::Permanent(format!("{platform} request failed: {err}"))
    }
}

/// Sends a prepared request and reads the whole answer, failures classified by
/// [`transport_error`]: each platform then interprets the status and body its own way.
pub(crate) async fn send(
    platform: &str,
    request: reqwest::RequestBuilder,
) -> Result<(reqwest::StatusCode, String), DiscountError> {
    let response = request.send().await.map_err(|e| transport_error(platform, &e))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| transport_error(platform, &e))?;
    Ok((status, text))
}

/// Whether an HTTP status means "try again later".
pub(crate) fn is_retryable(status: reqwest::StatusCode) -> bool {
    status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// The start of a response body, for error messages a merchant or operator can act on.
pub(crate) fn snippet(body: &str) -> String {
    let trimmed = body.trim();
    match trimmed.char_indices().nth(SNIPPET_LEN) {
        Some((cut, _)) => format!("{}…", &trimmed[..cut]),
        None => trimmed.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_is_required_except_on_loopback() {
        assert!(secure_url("https://shop.example.com").is_ok());
        assert!(secure_url("http://127.0.0.1:8080").is_ok());
        assert!(secure_url("http://[::1]:8080").is_ok());
        assert!(secure_url("http://localhost:8080").is_ok());
        assert_eq!(
            secure_url("http://shop.example.com"),
            Err(ClientConfigError::InsecureUrl(
                "http://shop.example.com".to_string()
            ))
        );
        assert!(matches!(
            secure_url("ftp://127.0.0.1"),
            Err(ClientConfigError::BadUrl(_))
        ));
        assert!(matches!(
            secure_url("not a url"),
            Err(ClientConfigError::BadUrl(_))
        ));
    }

    #[test]
    fn only_rate_limits_and_server_errors_are_retryable() {
        use reqwest::StatusCode;
        assert!(is_retryable(StatusCode::TOO_MANY_REQUESTS));
        assert!(is_retryable(StatusCode::SERVICE_UNAVAILABLE));
        assert!(!is_retryable(StatusCode::UNAUTHORIZED));
        assert!(!is_retryable(StatusCode::BAD_REQUEST));
    }

    #[test]
    fn snippets_are_bounded() {
        assert_eq!(snippet("  short \n"), "short");
        let long = "é".repeat(500);
        assert_eq!(snippet(&long).chars().count(), SNIPPET_LEN + 1);
    }
}
