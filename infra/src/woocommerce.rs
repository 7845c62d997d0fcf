//! `aftersale woocommerce connect|status`: a site's webhooks made by Aftersale through the
//! REST API, signed with a secret Aftersale generates and keeps sealed in the store, and
//! their health.

use crate::StoreArgs;
use crate::backend::Backend;
use aftersale_domain::{Platform, Secret};
use aftersale_platform_api::sealed::SealingKey;
use aftersale_platform_api::woocommerce::connection::{
    self, Connection, Credentials, new_webhook_secret, site_id,
};
use aftersale_platform_api::woocommerce::{
    WebhookChange, WooClient, connect as connect_site, status as site_status,
};
use aftersale_ports::ShopState;
use anyhow::{Context, bail};
use serde_json::json;
use std::path::Path;

/// The path webhooks are delivered to, under the public URL.
pub const DELIVERY_PATH: &str = "/webhooks/woocommerce";

/// The data dir's one sealing key, for everything secret the embedded store keeps (shops'
/// tokens, WooCommerce sites' credentials and webhook secrets): `AFTERSALE_SEALING_KEY` (hex),
/// else `sealing.key` in the data dir, created (mode 0600) on first use.
pub fn sealing_key_bytes(data_dir: &Path) -> anyhow::Result<[u8; 32]> {
    if let Ok(hex_key) = std::env::var("AFTERSALE_SEALING_KEY") {
        return hex::decode(hex_key.trim())
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .context("AFTERSALE_SEALING_KEY must be 64 hex characters (32 bytes)");
    }
    Ok(aftersale_store_sqlite::load_or_create_key(
        &data_dir.join(aftersale_store_sqlite::SEALING_KEY_FILE),
    )?)
}

/// [`sealing_key_bytes`] as the key credentials are sealed with.
pub fn sealing_key(data_dir: &Path) -> anyhow::Result<SealingKey> {
    Ok(SealingKey::from_bytes(&sealing_key_bytes(data_dir)?)?)
}

pub struct ConnectArgs {
    pub url: String,
    pub consumer_key: Option<Secret>,
    pub consumer_secret: Option<Secret>,
    pub public_url: Option<String>,
}

pub async fn connect(store_args: &StoreArgs, args: ConnectArgs, as_json: bool) -> anyhow::Result<()> {
    let site = site_id(&args.url).context("--url")?;
    let store = Backend::open(store_args).await?.store;
    let key = sealing_key(store_args.data_dir())?;
    let before = connection::load(store.as_ref(), &key, &site).await?;
    let delivery_url = match (&args.public_url, &before) {
        (Some(public), _) => format!("{}{DELIVERY_PATH}", public.trim().trim_end_matches('/')),
        (None, Some(before)) => before.delivery_url.clone(),
        (None, None) => bail!(
            "set AFTERSALE_PUBLIC_URL (or --public-url) to the address WooCommerce can reach Aftersale at, e.g. https://aftersale.example.com"
        ),
    };
    let (consumer_key, consumer_secret) = match (args.consumer_key, args.consumer_secret, &before) {
        (Some(k), Some(s), _) => (k, s),
        (None, None, Some(before)) => (
            before.credentials.consumer_key.clone(),
            before.credentials.consumer_secret.clone(),
        ),
        _ => bail!(
            "give --consumer-key and --consumer-secret: in WordPress, WooCommerce → Settings → Advanced → REST API → Add key, with Read/Write permission"
        ),
    };
    let client = WooClient::new(&args.url, consumer_key.expose(), consumer_secret.expose())?;
    // The same secret as before, so webhooks made earlier keep verifying.
    let (webhook_secret, known) = match &before {
        Some(b) if b.delivery_url == delivery_url => {
            (b.credentials.webhook_secret.clone(), b.webhook_ids.clone())
        }
        Some(b) => (b.credentials.webhook_secret.clone(), Default::default()),
        None => (new_webhook_secret(), Default::default()),
    };
    let report = connect_site(&client, &delivery_url, webhook_secret.expose(), &known).await?;
    let connection = Connection {
        site: client.site(),
        delivery_url: delivery_url.clone(),
        webhook_ids: report.ids(),
        // A reconnect (new keys, a repair) is the same connection: it counts from the first.
        connected_at: before.as_ref().map_or_else(chrono::Utc::now, |b| b.connected_at),
        credentials: Credentials {
            consumer_key,
            consumer_secret,
            webhook_secret,
        },
    };
    connection::save(store.as_ref(), &key, &connection).await?;
    // Listed from now on (`aftersale shops`, and the import function's reconcile schedule,
    // which sweeps the listed sites), not only once its first order has arrived.
    if store.load_shop(&site).await?.is_none() {
        let state = ShopState::installed(Platform::Woocommerce, connection.connected_at);
        store.save_shop(&site, &state).await?;
    }
    for (webhook, change) in &report.webhooks {
        let done = match change {
            WebhookChange::Created => "created".to_string(),
            WebhookChange::Reactivated { was } => format!("reactivated (was {was})"),
            WebhookChange::Adopted => "now signed with Aftersale's secret".to_string(),
            WebhookChange::Unchanged => "already there".to_string(),
        };
        if as_json {
            println!(
                "{}",
                json!({"site": connection.site, "topic": webhook.topic, "id": webhook.id, "status": webhook.status, "change": done, "delivery_url": webhook.delivery_url})
            );
        } else {
            println!(
                "{:<18} #{:<6} {:<9} {done}",
                webhook.topic, webhook.id, webhook.status
            );
        }
    }
    if !as_json {
        eprintln!(
            "{} connected: {} webhook(s) created, deliveries go to {delivery_url}",
            connection.site,
            report.created()
        );
    }
    Ok(())
}

pub async fn status(store_args: &StoreArgs, url: &str, as_json: bool) -> anyhow::Result<()> {
    let site = site_id(url).context("--url")?;
    let store = Backend::open(store_args).await?.store;
    let key = sealing_key(store_args.data_dir())?;
    let Some(connection) = connection::load(store.as_ref(), &key, &site).await? else {
        bail!(
            "{site} is not connected: run `aftersale woocommerce connect --url {url} --consumer-key ck_… --consumer-secret cs_…`"
        );
    };
    let client = WooClient::new(
        url,
        connection.credentials.consumer_key.expose(),
        connection.credentials.consumer_secret.expose(),
    )?;
    let mut unhealthy = 0;
    let connected_at = connection
        .connected_at
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    for (topic, webhook) in site_status(&client, &connection.delivery_url).await? {
        let (id, state) = match &webhook {
            Some(w) => (Some(w.id), w.status.clone()),
            None => (None, "missing".to_string()),
        };
        unhealthy += usize::from(state != "active");
        if as_json {
            println!(
                "{}",
                json!({"site": connection.site, "topic": topic, "id": id, "status": state, "connected_at": connected_at})
            );
        } else {
            let id = id.map_or_else(|| "-".to_string(), |id| format!("#{id}"));
            println!("{topic:<18} {id:<7} {state}");
        }
    }
    if !as_json {
        if unhealthy > 0 {
            eprintln!(
                "{unhealthy} webhook(s) not active: run `aftersale woocommerce connect --url {url}` to repair them"
            );
        } else {
            eprintln!(
                "every webhook of {} is active, delivering to {} (connected since {connected_at})",
                connection.site, connection.delivery_url
            );
        }
    }
    Ok(())
}
