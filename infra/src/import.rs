//! `aftersale import shopify|woocommerce` and `aftersale woocommerce reconcile`: a shop's
//! history through the webhook path, on the embedded store (or DynamoDB), with the flows
//! planning in process exactly as `serve` does.

use crate::StoreArgs;
use crate::local::{Local, LocalOptions};
use crate::woocommerce::sealing_key;
use aftersale_domain::{Secret, ShopId};
use aftersale_import::checkpoint;
use aftersale_import::file::FileLines;
use aftersale_import::{Outcome, Summary, reconcile, shopify, woocommerce};
use aftersale_ingest::{Ingest, WebhookSecrets};
use aftersale_platform_api::shopify::{AdminClient, Endpoint, http_client, parse_shop};
use aftersale_platform_api::woocommerce::WooClient;
use aftersale_platform_api::woocommerce::connection::{self, site_id};
use aftersale_ports::{Store, SystemClock};
use anyhow::{Context, bail};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A checkpoint at least every this many Shopify orders.
const CHECKPOINT_EVERY: u64 = 100;

pub struct ShopifyArgs {
    pub shop: String,
    pub resume: bool,
    pub jsonl: Option<PathBuf>,
    pub poll_seconds: u64,
    pub access_token: Option<Secret>,
    pub public_url: Option<String>,
}

pub struct WooArgs {
    pub url: String,
    pub consumer_key: Option<Secret>,
    pub consumer_secret: Option<Secret>,
    pub resume: bool,
}

async fn local(store_args: &StoreArgs) -> anyhow::Result<(Local, Ingest)> {
    let local = Local::open(&LocalOptions::existing(store_args), Arc::new(SystemClock)).await?;
    let ingest = local.ingest(WebhookSecrets::default());
    Ok((local, ingest))
}

pub async fn shopify(store_args: &StoreArgs, args: ShopifyArgs, as_json: bool) -> anyhow::Result<()> {
    let shop = parse_shop(args.shop.trim()).with_context(|| {
        format!(
            "--shop {:?}: give the shop's permanent domain, e.g. demo.myshopify.com",
            args.shop
        )
    })?;
    let started = Instant::now();
    let (local, ingest) = local(store_args).await?;
    let progress = crate::progress::for_stderr();
    let run = shopify::Run {
        ingest: &ingest,
        shop: shop.clone(),
        progress: progress.as_ref(),
        checkpoint_every: CHECKPOINT_EVERY,
        stop_at: None,
    };
    let outcome = match &args.jsonl {
        Some(path) => {
            let checkpoint = match (
                args.resume,
                checkpoint::load(ingest.store().as_ref(), &shop, shopify::KIND).await?,
            ) {
                (true, Some(found)) => found,
                (true, None) => bail!("no import of {shop} to resume; run it without --resume"),
                (false, _) => shopify::file_checkpoint(&path.display().to_string()),
            };
            if checkpoint.finished {
                Outcome::Finished(checkpoint.summary)
            } else {
                let offset = match &checkpoint.position {
                    checkpoint::Position::ShopifyBulk { offset, .. } => *offset,
                    checkpoint::Position::WooPages { .. } => 0,
                };
                let mut lines = FileLines::open(path, offset).await?;
                run.stream(&mut lines, checkpoint).await?
            }
        }
        None => {
            let token = match args.access_token {
                Some(token) => token,
                None => shopify_token(&local, &shop, args.public_url.as_deref()).await?,
            };
            let http = http_client();
            let api = AdminClient::new(&http, &Endpoint::from_env(), &shop, &token);
            run.import(&api, args.resume, Duration::from_secs(args.poll_seconds.max(1)))
                .await?
        }
    };
    drop(progress);
    report(&shop, "shopify", outcome, started, as_json)
}

/// The token install stored (refreshed if it is about to expire).
async fn shopify_token(local: &Local, shop: &ShopId, public_url: Option<&str>) -> anyhow::Result<Secret> {
    let app = crate::shops::shopify_app(
        Arc::clone(&local.store) as Arc<dyn Store>,
        Arc::clone(&local.tokens),
        Arc::new(SystemClock),
        public_url.or(Some("http://127.0.0.1:8787")),
    )
    .context("the Shopify app's settings (or give a custom app's token with SHOPIFY_ACCESS_TOKEN)")?;
    Ok(app.access_token(shop).await?.access_token)
}

/// The client of a site: keys given, else those `woocommerce connect` stored.
async fn woo_client(
    local: &Local,
    store_args: &StoreArgs,
    url: &str,
    key: Option<Secret>,
    secret: Option<Secret>,
) -> anyhow::Result<(WooClient, Option<connection::Connection>)> {
    let site = site_id(url).context("--url")?;
    let sealing = sealing_key(store_args.data_dir())?;
    let stored = connection::load(local.store.as_ref(), &sealing, &site).await?;
    let (key, secret) = match (key, secret, &stored) {
        (Some(k), Some(s), _) => (k, s),
        (None, None, Some(c)) => (
            c.credentials.consumer_key.clone(),
            c.credentials.consumer_secret.clone(),
        ),
        _ => bail!(
            "{site} is not connected: give --consumer-key and --consumer-secret (WooCommerce → Settings → Advanced → REST API, Read permission is enough), or run `aftersale woocommerce connect --url {url}` first"
        ),
    };
    Ok((WooClient::new(url, key.expose(), secret.expose())?, stored))
}

pub async fn woocommerce(store_args: &StoreArgs, args: WooArgs, as_json: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    let (local, ingest) = local(store_args).await?;
    let (client, _) = woo_client(
        &local,
        store_args,
        &args.url,
        args.consumer_key,
        args.consumer_secret,
    )
    .await?;
    let shop = site_id(&args.url).context("--url")?;
    let progress = crate::progress::for_stderr();
    let run = woocommerce::Run {
        ingest: &ingest,
        client: &client,
        shop: shop.clone(),
        progress: progress.as_ref(),
    };
    let outcome = run.import(args.resume).await?;
    drop(progress);
    report(&shop, "woocommerce", outcome, started, as_json)
}

fn report(
    shop: &ShopId,
    platform: &str,
    outcome: Outcome,
    started: Instant,
    as_json: bool,
) -> anyhow::Result<()> {
    let Summary {
        orders,
        customers,
        imported,
        unchanged,
        dead_lettered,
    } = outcome.summary();
    let duration = started.elapsed();
    let finished = matches!(outcome, Outcome::Finished(_));
    if as_json {
        println!(
            "{}",
            json!({
                "shop": shop, "platform": platform, "finished": finished,
                "orders": orders, "customers": customers,
                "imported": imported, "unchanged": unchanged, "dead_lettered": dead_lettered,
                "duration_ms": duration.as_millis() as u64,
            })
        );
    } else {
        println!(
            "{shop}: {orders} order(s) and {customers} customer(s) read; {imported} event(s) imported, {unchanged} unchanged, {dead_lettered} dead-lettered, in {:.1} s",
            duration.as_secs_f64()
        );
        if dead_lettered > 0 {
            println!("`aftersale dead-letters` lists what could not be read, with the reason");
        }
        if !finished {
            println!("stopped before the end: run it again with --resume to go on");
        }
    }
    Ok(())
}

pub async fn reconcile(store_args: &StoreArgs, url: &str, as_json: bool) -> anyhow::Result<()> {
    let (local, ingest) = local(store_args).await?;
    let (client, stored) = woo_client(&local, store_args, url, None, None).await?;
    let Some(mut connection) = stored else {
        bail!("{url} is not connected: run `aftersale woocommerce connect --url {url}` first");
    };
    let shop = site_id(url).context("--url")?;
    let alerts = local.alerts();
    let sweep = reconcile::Sweep {
        ingest: &ingest,
        client: &client,
        shop: shop.clone(),
        alerts: alerts.as_ref(),
        delivery_url: connection.delivery_url.clone(),
        webhook_secret: connection.credentials.webhook_secret.clone(),
        known_webhooks: connection.webhook_ids.clone(),
        first_since: connection.connected_at,
    };
    let report = sweep.run().await?;
    if report.webhook_ids != connection.webhook_ids {
        connection.webhook_ids = report.webhook_ids.clone();
        connection::save(
            local.store.as_ref(),
            &sealing_key(store_args.data_dir())?,
            &connection,
        )
        .await?;
    }
    if as_json {
        println!(
            "{}",
            serde_json::to_string(&json!({ "site": shop, "report": report }))?
        );
    } else {
        println!(
            "{shop}: {} order(s) changed since {}; {} had changes no webhook had delivered (now stored)",
            report.orders_seen,
            report.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            report.missed_orders
        );
        for hook in &report.repaired_webhooks {
            println!("webhook {hook}: active again");
        }
        if report.alerted {
            println!("the shop's owner was alerted");
        }
    }
    Ok(())
}
