//! The dashboard over HTTP on a seeded store: what the owner of shop A sees, and that nothing
//! of shop A opens shop B.

use aftersale_dashboard::{Access, Dashboard, router};
use aftersale_metrics::{Range, contract, history};
use aftersale_ports::{ManualClock, ShopConfigs};
use aftersale_testkit::MemoryStore;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use std::sync::Arc;
use tower::ServiceExt;

async fn get(app: &axum::Router, uri: &str, cookie: Option<&str>) -> (StatusCode, Option<String>, String) {
    let mut request = Request::get(uri);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let set_cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_string());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, set_cookie, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn a_signed_link_shows_its_shop_s_figures_and_never_another_shop() {
    let store = Arc::new(MemoryStore::new());
    let a = history::generate(5, 60);
    contract::load(store.as_ref(), &a).await.unwrap();
    let shop_b = aftersale_domain::ShopId::from_domain("other-shop.myshopify.com").unwrap();
    let it = aftersale_domain::ShopConfig {
        locale: "it".into(),
        ..Default::default()
    };
    store.save_config(&a.shop, &it).await.unwrap();
    let expected = aftersale_metrics::shop_report(store.as_ref(), &a.shop, Range::default(), a.now)
        .await
        .unwrap();

    let access = Access::new(&[9u8; 32]);
    let link_a = access.link_query(&a.shop, a.now.timestamp() + 3600);
    let link_b = access.link_query(&shop_b, a.now.timestamp() + 3600);
    let app = router(Arc::new(Dashboard {
        store: store.clone(),
        clock: Arc::new(ManualClock::new(a.now)),
        access,
    }));

    let (status, cookie, page) = get(&app, &format!("/dashboard?{link_a}"), None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("<html lang=\"it\""), "the shop's locale");
    assert!(page.contains("Tasso di riacquisto"));
    assert!(page.contains(&format!(
        "<div class=\"tile\" data-metric=\"customers\"><div class=\"label\">Clienti</div><div class=\"value\">{}</div>",
        expected.customers
    )));
    assert!(page.contains("dati ancora insufficienti"), "lift on a small shop");
    assert!(
        page.contains("role=\"img\""),
        "charts are labelled for screen readers"
    );
    assert!(
        !page.contains("http://") && !page.contains("https://") && !page.contains("<script"),
        "no external asset"
    );
    let cookie = cookie.expect("a session").split(';').next().unwrap().to_string();

    // The session opens shop A again, and refuses shop B.
    let (status, _, again) = get(&app, "/dashboard", Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(again.contains(a.shop.as_str()));
    let (status, _, refused) = get(&app, "/dashboard?shop=other-shop.myshopify.com", Some(&cookie)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(refused.contains("another shop"));
    assert!(!refused.contains(a.shop.as_str()) && !refused.contains("other-shop"));

    // Shop A's link edited to name shop B is refused; B's own link shows B's (empty) figures.
    let swapped = link_a.replace(a.shop.as_str(), shop_b.as_str());
    let (status, _, _) = get(&app, &format!("/dashboard?{swapped}"), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, page_b) = get(&app, &format!("/dashboard?{link_b}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page_b.contains("<div class=\"value\">0</div>") && !page_b.contains(a.shop.as_str()));

    // Naming no shop at all: 400, saying what is missing.
    let (status, _, missing) = get(&app, "/dashboard", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        missing.contains("Which shop? The address names none: add ?shop="),
        "{missing}"
    );

    // Without any credential: 401, and the JSON answers the same.
    let (status, _, _) = get(&app, &format!("/dashboard?shop={}", a.shop), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, json) = get(&app, &format!("/dashboard/metrics.json?{link_a}"), None).await;
    assert_eq!(status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json, expected.to_json());
}
