//! `GET /dashboard` (the page) and `GET /dashboard/metrics.json` (the same figures as
//! `aftersale metrics --json`), behind [`Access`]. Refusals are fixed short pages that leak
//! nothing about other shops.

use crate::access::{Access, Credentials, Denied, Granted};
use crate::words::Lang;
use aftersale_metrics::{Range, rollups};
use aftersale_ports::{Clock, FlowStore};
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use tracing::warn;

/// How many recent skips and deferrals the page lists.
const RECENT: usize = 20;

pub struct Dashboard {
    pub store: Arc<dyn FlowStore>,
    pub clock: Arc<dyn Clock>,
    pub access: Access,
}

pub fn router(dashboard: Arc<Dashboard>) -> Router {
    Router::new()
        .route("/dashboard", get(page))
        .route("/dashboard/metrics.json", get(metrics_json))
        .with_state(dashboard)
}

fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn authorize(d: &Dashboard, headers: &HeaderMap, raw: Option<&str>) -> Result<Granted, Denied> {
    let cookie = headers.get(header::COOKIE).and_then(|v| v.to_str().ok());
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let creds = Credentials {
        query: query_pairs(raw),
        cookie,
        bearer,
    };
    d.access.check(&creds, d.clock.now().timestamp())
}

/// The fixed page a refusal gets.
fn refusal(denied: Denied) -> Response {
    let (status, text) = match denied {
        Denied::Unauthenticated => (
            StatusCode::UNAUTHORIZED,
            "Open the dashboard through a link from `aftersale dashboard-link --shop S`, the Shopify admin, or with the dashboard token.",
        ),
        Denied::MissingShop => (
            StatusCode::BAD_REQUEST,
            "Which shop? The address names none: add ?shop=your-shop.myshopify.com, or open a link from `aftersale dashboard-link --shop S`.",
        ),
        Denied::BadSignature => (StatusCode::FORBIDDEN, "This dashboard link is not valid."),
        Denied::Expired => (
            StatusCode::FORBIDDEN,
            "This dashboard link has expired: ask for a new one.",
        ),
        Denied::OtherShop => (
            StatusCode::FORBIDDEN,
            "This session is for another shop: open that shop's own link.",
        ),
    };
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Aftersale</title></head><body><p>{}</p></body></html>",
        crate::page::escape(text)
    );
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

fn finish(mut response: Response, granted: &Granted) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors https://admin.shopify.com https://*.myshopify.com"),
    );
    if let Some(cookie) = granted
        .set_cookie
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        headers.insert(header::SET_COOKIE, cookie);
    }
    response
}

fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "The figures are unavailable right now; try again shortly.",
    )
        .into_response()
}

async fn page(State(d): State<Arc<Dashboard>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let granted = match authorize(&d, &headers, raw.as_deref()) {
        Ok(granted) => granted,
        Err(denied) => return refusal(denied),
    };
    let shop = &granted.shop;
    let now = d.clock.now();
    let figures = async {
        let report = aftersale_metrics::shop_report(d.store.as_ref(), shop, Range::default(), now).await?;
        let recent = rollups::recent_decisions(d.store.as_ref(), shop, RECENT).await?;
        let locale = d
            .store
            .load_config(shop)
            .await?
            .map(|c| c.locale)
            .unwrap_or_default();
        Ok::<_, aftersale_ports::StoreError>((report, recent, locale))
    };
    match figures.await {
        Ok((report, recent, locale)) => {
            let html = crate::page::render(shop, Lang::for_locale(&locale), &report, &recent);
            let response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
            finish(response, &granted)
        }
        Err(err) => {
            warn!(error = %err, "dashboard figures unavailable");
            unavailable()
        }
    }
}

async fn metrics_json(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let granted = match authorize(&d, &headers, raw.as_deref()) {
        Ok(granted) => granted,
        Err(denied) => return refusal(denied),
    };
    match aftersale_metrics::shop_report(d.store.as_ref(), &granted.shop, Range::default(), d.clock.now())
        .await
    {
        Ok(report) => {
            let response = (
                [(header::CONTENT_TYPE, "application/json")],
                report.to_json().to_string(),
            )
                .into_response();
            finish(response, &granted)
        }
        Err(err) => {
            warn!(error = %err, "dashboard figures unavailable");
            unavailable()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::query_pairs;

    #[test]
    fn query_components_are_form_decoded() {
        let pairs = query_pairs(Some("shop=a.myshopify.com&host=YWRt%3D&x=a+b"));
        assert_eq!(pairs[1], ("host".to_string(), "YWRt=".to_string()));
        assert_eq!(pairs[2].1, "a b");
        assert!(query_pairs(None).is_empty());
    }
}
