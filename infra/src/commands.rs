//! The subcommands. Each opens what it needs, does one thing, and prints for people
//! (a table) or for programs (`--json`, one object per line).

use crate::backend::Backend;
use crate::local::{Local, LocalOptions};
use crate::{FlowArgs, SendArgs, StoreArgs};
use aftersale_domain::{CustomerId, OrderId, ShopId};
use aftersale_ingest::{ReplayOutcome, WebhookSecrets};
use aftersale_platform_api::woocommerce::authorize::AuthorizeApp;
use aftersale_ports::{Clock, DeadLetterStatus, OffsetClock, Store, SystemClock};
use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tracing::{info, warn};

/// What `serve` was asked for, besides the store and the flows' options.
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// Start a virtual clock here instead of the real time.
    pub now: Option<DateTime<Utc>>,
    pub secrets_file: Option<PathBuf>,
    pub tick_seconds: u64,
    /// Needed to open `/dashboard` when listening beyond loopback.
    pub dashboard_token: Option<String>,
}

pub async fn serve(
    serve: ServeOptions,
    store_args: &StoreArgs,
    flow_args: &FlowArgs,
    send: &SendArgs,
) -> anyhow::Result<()> {
    let ServeOptions {
        listen,
        now,
        secrets_file,
        tick_seconds,
        dashboard_token,
    } = serve;
    let options = LocalOptions {
        store: store_args,
        public_url: flow_args.public_url_for(listen),
        templates_dir: flow_args.templates.as_deref(),
        create_store: true,
        send: Some(send),
    };
    // One clock for everything this process does: ingest, due work, and checking links.
    let clock: Arc<dyn Clock> = match now {
        Some(at) => {
            info!(starts_at = %at, "running on a virtual clock");
            Arc::new(OffsetClock::starting_at(at))
        }
        None => Arc::new(SystemClock),
    };
    let local = Local::open(&options, clock).await?;
    let mut secrets = WebhookSecrets::from_env();
    if let Some(path) = secrets_file.as_deref() {
        crate::secrets_file::load_into(path, &mut secrets)?;
    }
    if secrets.shopify.is_none() {
        warn!("SHOPIFY_API_SECRET is not set: Shopify deliveries will be answered 503 until it is");
    }
    if secrets.woocommerce_default.is_none() && secrets.woocommerce_sites.is_empty() {
        warn!(
            "no WooCommerce secret (WOOCOMMERCE_WEBHOOK_SECRET or --secrets-file): WooCommerce deliveries will be refused"
        );
    }
    let mut access = aftersale_dashboard::Access::new(&local.link_key)
        .with_token(dashboard_token)
        .with_shopify_secret(
            std::env::var("SHOPIFY_API_SECRET")
                .ok()
                .filter(|s| !s.is_empty())
                .map(String::into_bytes),
        );
    // On loopback only this machine can connect; anywhere else the dashboard needs the token,
    // a signed link or a Shopify admin launch.
    access.open_on_loopback = listen.ip().is_loopback();
    if !access.open_on_loopback && !access.has_token() {
        warn!(
            "listening beyond loopback without --dashboard-token: /dashboard opens only through signed links and Shopify admin launches"
        );
    }
    let dashboard = Arc::new(aftersale_dashboard::Dashboard {
        store: Arc::clone(&local.store),
        clock: Arc::clone(local.engine.clock()),
        access,
    });
    let ingest = Arc::new(local.ingest(secrets).planning_after_replies());
    let shopify_app = crate::shops::shopify_app(
        Arc::clone(&local.store) as Arc<dyn Store>,
        Arc::clone(&local.tokens),
        Arc::clone(local.engine.clock()),
        Some(&options.public_url),
    );
    let woocommerce_connect = AuthorizeApp {
        store: Arc::clone(&local.store) as Arc<dyn aftersale_ports::Documents>,
        shops: Arc::clone(&local.store) as Arc<dyn aftersale_ports::ShopRegistry>,
        key: Arc::new(crate::woocommerce::sealing_key(store_args.data_dir())?),
        public_url: options.public_url.clone(),
    };
    let health = Arc::new(crate::ticker::TickHealth::new(std::time::Duration::from_secs(
        tick_seconds,
    )));
    let app = aftersale_ingest::router(Arc::clone(&ingest))
        .merge(aftersale_engine::feedback::router(Arc::clone(&local.engine)))
        .merge(crate::shops::routes(shopify_app))
        .merge(aftersale_platform_api::woocommerce::authorize::router(
            woocommerce_connect,
        ))
        .merge(crate::ticker::router(Arc::clone(&health)))
        .merge(aftersale_dashboard::router(dashboard));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let ticker = tokio::spawn(crate::ticker::run(Arc::clone(&local.engine), health));
    // What an earlier `serve` answered but had not planned when it stopped is planned first.
    let started_at = local.engine.clock().now();
    let planner = tokio::spawn({
        let ingest = Arc::clone(&ingest);
        async move {
            if let Err(err) = ingest.finish_unfinished(started_at).await {
                warn!(error = %err, "finishing an earlier run's unfinished events failed; tried again when idle");
            }
            ingest.plan_after_replies().await;
        }
    });
    info!(
        address = %listener.local_addr()?,
        data_dir = %store_args.data_dir().display(),
        outbox = %local.outbox_dir.display(),
        "aftersale is serving: POST /webhooks/shopify, POST /webhooks/woocommerce, GET /shopify/install, GET /shopify/callback, GET /woocommerce/connect, GET /l/{{token}}, GET /dashboard, GET /healthz"
    );
    crate::edge::serve(listener, app, shutdown_signal())
        .await
        .context("server failed")?;
    ticker.abort();
    planner.abort();
    ingest.plan_waiting_now().await;
    info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}

pub async fn events(
    store_args: &StoreArgs,
    shop: Option<&str>,
    customer: Option<&str>,
    as_json: bool,
) -> anyhow::Result<()> {
    let store = Backend::open(store_args).await?.store;
    let shop = shop.map(ShopId::from_domain).transpose().context("--shop")?;
    let customer = customer.map(CustomerId::new).transpose().context("--customer")?;
    let events = store.list_events(shop.as_ref()).await?;
    // Shipment and refund events name only the order; find its customer once per order.
    let mut customers: HashMap<(ShopId, OrderId), Option<String>> = HashMap::new();
    for stored in &events {
        let event = &stored.event;
        let customer_id = match (event.customer_id(), event.order_id()) {
            (Some(c), _) => Some(c.to_string()),
            (None, Some(order_id)) => {
                let key = (event.shop.clone(), order_id.clone());
                if !customers.contains_key(&key) {
                    let found = customer_of(store.as_ref(), &event.shop, order_id).await?;
                    customers.insert(key.clone(), found);
                }
                customers[&key].clone()
            }
            (None, None) => None,
        };
        if customer
            .as_ref()
            .is_some_and(|wanted| customer_id.as_deref() != Some(wanted.as_str()))
        {
            continue;
        }
        if as_json {
            let line = json!({
                "shop": event.shop,
                "platform": event.platform,
                "event_id": event.event_id,
                "kind": event.kind_name(),
                "order_id": event.order_id(),
                "customer_id": customer_id,
                "occurred_at": event.occurred_at.to_rfc3339(),
                "received_at": stored.received_at.to_rfc3339(),
                "data": serde_json::to_value(&event.kind)?.get("data").cloned(),
            });
            println!("{line}");
        } else {
            println!(
                "{}  {:<24} {:<12} {:<26} order={:<20} customer={}",
                event.occurred_at.to_rfc3339(),
                event.shop,
                event.platform,
                event.kind_name(),
                event
                    .order_id()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| "-".into()),
                customer_id.as_deref().unwrap_or("-"),
            );
        }
    }
    if !as_json {
        eprintln!("{} event(s)", events.len());
    }
    Ok(())
}

async fn customer_of(store: &dyn Store, shop: &ShopId, order_id: &OrderId) -> anyhow::Result<Option<String>> {
    let record = store.load_order(shop, order_id).await?;
    Ok(record.and_then(|r| r.value.customer_id().map(ToString::to_string)))
}

pub async fn dead_letters(store_args: &StoreArgs, as_json: bool) -> anyhow::Result<()> {
    let store = Backend::open(store_args).await?.store;
    let letters = store.list_dead_letters().await?;
    for letter in &letters {
        if as_json {
            println!("{}", serde_json::to_string(letter)?);
        } else {
            println!(
                "{}  {}  {:<11} {:<24} {:<28} {:?}  {}",
                letter.received_at.to_rfc3339(),
                letter.id,
                letter.platform,
                letter.shop,
                letter.topic,
                letter.status,
                letter.reason
            );
        }
    }
    if !as_json {
        eprintln!("{} dead letter(s)", letters.len());
    }
    Ok(())
}

pub async fn replay(store_args: &StoreArgs, only: Option<&str>, as_json: bool) -> anyhow::Result<()> {
    let store = Backend::open(store_args).await?.store;
    // Replayed events plan flows exactly as live ones do.
    let options = LocalOptions::existing(store_args);
    let ingest = Local::open(&options, Arc::new(SystemClock))
        .await?
        .ingest(WebhookSecrets::default());
    let mut letters = store.list_dead_letters().await?;
    letters.retain(|l| l.status == DeadLetterStatus::Pending && only.is_none_or(|id| id == l.id));
    if let Some(id) = only {
        anyhow::ensure!(!letters.is_empty(), "no pending dead letter with id {id}");
    }
    let (mut fixed, mut failing) = (0, 0);
    for letter in &mut letters {
        let outcome = ingest.replay(letter).await?;
        let (status, detail) = match &outcome {
            ReplayOutcome::Stored { events } => {
                fixed += 1;
                ("replayed", format!("{events} event(s) stored"))
            }
            ReplayOutcome::StillFailing { reason } => {
                failing += 1;
                ("failing", reason.clone())
            }
        };
        if as_json {
            println!(
                "{}",
                json!({ "id": letter.id, "status": status, "detail": detail })
            );
        } else {
            println!("{}  {status}: {detail}", letter.id);
        }
    }
    eprintln!("{fixed} replayed, {failing} still failing");
    Ok(())
}

pub async fn init_table(table: &str) -> anyhow::Result<()> {
    let config = aftersale_aws::load_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let status = aftersale_aws::create_table(&client, table)
        .await
        .with_context(|| format!("creating DynamoDB table {table}"))?;
    println!("{table}: {status:?}");
    Ok(())
}
