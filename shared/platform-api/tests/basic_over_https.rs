//! Over HTTPS the client authenticates with HTTP Basic, as WooCommerce documents: a stand-in
//! site on a loopback TLS listener (a test CA's certificate for 127.0.0.1) checks the
//! `Authorization` header and that no OAuth parameter was sent, and refuses other keys with
//! WooCommerce's own 401 body.

use aftersale_platform_api::woocommerce::{TOPICS, WooClient, WooError, connect};
use axum::Router;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

const KEY: &str = "ck_basic_1";
const SECRET: &str = "cs_basic_1";

fn authorised(headers: &HeaderMap, uri: &Uri) -> bool {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:{SECRET}"))
    );
    let no_oauth = !uri.query().unwrap_or_default().contains("oauth_");
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str()) && no_oauth
}

fn refused() -> Response {
    let body = serde_json::json!({"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources.", "data": {"status": 401}});
    (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
}

async fn https_site(created: Arc<Mutex<Vec<serde_json::Value>>>) -> String {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tls/site.pem"))
            .unwrap()
            .map(Result::unwrap)
            .collect();
    let key = PrivateKeyDer::from_pem_file(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tls/site.pkcs8.pem"))
        .unwrap();
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let list_state = Arc::clone(&created);
    let app = Router::new().route(
        "/wp-json/wc/v3/webhooks",
        get(move |headers: HeaderMap, uri: Uri| {
            let hooks = Arc::clone(&list_state);
            async move {
                if !authorised(&headers, &uri) {
                    return refused();
                }
                let listed: Vec<serde_json::Value> = hooks.lock().unwrap().clone();
                axum::Json(listed).into_response()
            }
        })
        .post(move |headers: HeaderMap, uri: Uri, body: String| {
            let hooks = Arc::clone(&created);
            async move {
                if !authorised(&headers, &uri) {
                    return refused();
                }
                let body: serde_json::Value = serde_json::from_str(&body).unwrap();
                let mut hooks = hooks.lock().unwrap();
                let hook = serde_json::json!({"id": hooks.len() + 1, "status": "active", "topic": body["topic"], "delivery_url": body["delivery_url"]});
                hooks.push(hook.clone());
                (StatusCode::CREATED, axum::Json(hook)).into_response()
            }
        }),
    );
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    format!("https://127.0.0.1:{port}")
}

fn trusting_client() -> reqwest::Client {
    let ca = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tls/ca.pem")).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn over_https_the_keys_go_as_basic_auth_and_wrong_keys_are_explained() {
    let created = Arc::new(Mutex::new(Vec::new()));
    let site = https_site(Arc::clone(&created)).await;
    let client = WooClient::with_http(trusting_client(), &site, KEY, SECRET).unwrap();
    let report = connect(
        &client,
        "https://aftersale.example/webhooks/woocommerce",
        "whsec",
        &BTreeSet::new(),
    )
    .await
    .unwrap();
    assert_eq!(report.created(), TOPICS.len());
    assert_eq!(created.lock().unwrap().len(), 6);

    let wrong = WooClient::with_http(trusting_client(), &site, KEY, "cs_wrong").unwrap();
    let err = wrong.list_webhooks().await.unwrap_err();
    assert!(matches!(err, WooError::Unauthorized { .. }), "{err:?}");
    assert!(
        err.to_string().contains("Check the consumer key and secret"),
        "{err}"
    );
}
