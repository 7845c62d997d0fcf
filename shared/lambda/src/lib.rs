//! Cold start for every Aftersale Lambda: read the environment once, fetch secrets from SSM,
//! build the AWS adapters, and hand the same handlers `aftersale serve` uses to the runtime.
//! A function's `main.rs` is one call into here.

mod flow;
mod import;
mod ses_events;

pub use flow::{run_flow, run_flows};
pub use import::{ImportJob, ImportJobs, STOP_MARGIN, run_import};
pub use ses_events::run_ses_events;

use aftersale_aws::{
    DynamoDbStore, SesMailer, SnsAlerts, SnsEventBus, SnsSms, SsmSecrets, SsmShopTokens, load_config,
};
use aftersale_domain::{Flow, ShopId};
use aftersale_engine::{
    DEFAULT_SEND_CONCURRENCY, DEFAULT_SMS_RATE, DEFAULT_TICK_MARGIN, Engine, Senders, Settings,
    parse_concurrency, parse_margin, parse_rate,
};
use aftersale_ingest::{Ingest, Secret, WebhookSecrets};
use aftersale_links::LinkSigner;
use aftersale_platform_api::sealed::SealingKey;
use aftersale_platform_api::woocommerce::authorize::AuthorizeApp;
use aftersale_platform_api::woocommerce::connection::StoredSiteSecrets;
use aftersale_platform_api::{AdminApiDiscounts, SecretSource};
use aftersale_ports::{EventBus, NoEventBus, SystemClock};
use aftersale_privacy::Desk;
use aftersale_templates::Templates;
use anyhow::{Context, bail};
use aws_config::SdkConfig;
use std::sync::Arc;

/// JSON logs to stdout (CloudWatch), level from `RUST_LOG` (default info). Spans carry the
/// shop and event id; no code logs addresses, names or secrets.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_current_span(true)
        .with_ansi(false)
        .without_time()
        .init();
}

/// A variable `template.yaml` sets; its absence is a deployment error, named in the message.
fn required(name: &str) -> anyhow::Result<String> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Ok(value),
        _ => bail!("environment variable {name} is not set (template.yaml sets it)"),
    }
}

fn optional(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A secret from `direct` (for local runs and tests) or else from the SSM parameter named by
/// `parameter`. Never logged.
async fn secret(ssm: &SsmSecrets, direct: &str, parameter: &str) -> anyhow::Result<Option<String>> {
    if let Some(value) = optional(direct) {
        return Ok(Some(value));
    }
    match optional(parameter) {
        Some(name) => Ok(Some(
            ssm.read(&name)
                .await
                .with_context(|| format!("reading SSM parameter {name}"))?,
        )),
        None => Ok(None),
    }
}

/// The shops' Admin API secrets, named in their `[admin_api]` config, from SSM (SecureStrings,
/// decrypted): read when a discount code is created, so a rotated token is picked up at once.
/// The function's role must allow `ssm:GetParameter` on those names (`template.yaml` grants
/// `parameter/aftersale/{stack}/*` to the flows that create discounts).
#[derive(Clone, Debug)]
struct SsmSecretSource {
    ssm: SsmSecrets,
    /// The stack's shop parameter prefix ([`aftersale_aws::shop_parameter_prefix`]).
    prefix: String,
}

#[async_trait::async_trait]
impl SecretSource for SsmSecretSource {
    async fn secret(&self, name: &str) -> Result<String, String> {
        // SecretError names the parameter, never its value.
        self.ssm.read(name).await.map_err(|err| err.to_string())
    }

    /// Each shop's secrets live under `{prefix}/{shop}/`: the stack's own keys, other stacks'
    /// parameters and other shops' tokens are out of a shop config's reach.
    fn may_read(&self, shop: &ShopId, name: &str) -> bool {
        shop_owns_parameter(&self.prefix, shop, name)
    }
}

/// Whether `name` is under `{prefix}/{shop}/` (and names something there).
fn shop_owns_parameter(prefix: &str, shop: &ShopId, name: &str) -> bool {
    name.strip_prefix(&format!("{prefix}/{shop}/"))
        .is_some_and(|rest| !rest.is_empty() && !rest.contains(".."))
}

async fn store(config: &SdkConfig) -> anyhow::Result<Arc<DynamoDbStore>> {
    Ok(Arc::new(DynamoDbStore::from_config(
        config,
        required("AFTERSALE_TABLE")?,
    )))
}

/// The webhook functions' ingest: DynamoDB, the domain-events topic, and the platform's secret.
pub async fn ingest() -> anyhow::Result<Ingest> {
    let config = load_config().await;
    let ssm = SsmSecrets::from_config(&config);
    let secrets = WebhookSecrets {
        shopify: secret(&ssm, "SHOPIFY_API_SECRET", "SHOPIFY_API_SECRET_PARAM")
            .await?
            .and_then(Secret::new),
        woocommerce_default: secret(
            &ssm,
            "WOOCOMMERCE_WEBHOOK_SECRET",
            "WOOCOMMERCE_WEBHOOK_SECRET_PARAM",
        )
        .await?
        .and_then(Secret::new),
        ..WebhookSecrets::default()
    };
    let bus: Arc<dyn EventBus> = match optional("DOMAIN_EVENTS_TOPIC_ARN") {
        Some(arn) => Arc::new(SnsEventBus::new(aws_sdk_sns::Client::new(&config), arn)),
        None => Arc::new(NoEventBus),
    };
    let store = store(&config).await?;
    // `app/uninstalled` deletes the shop's token (only Shopify sends it).
    let ingest = Ingest::new(
        Arc::clone(&store) as Arc<dyn aftersale_ports::Store>,
        bus,
        Arc::new(SystemClock),
        secrets,
    )
    .with_tokens(Arc::new(SsmShopTokens::from_config(&config)));
    // WooCommerce sites Aftersale connected itself sign with the secret it stored, sealed.
    let ingest = match secret(&ssm, "AFTERSALE_SEALING_KEY", "AFTERSALE_SEALING_KEY_PARAM").await? {
        Some(hex_key) => {
            let key = SealingKey::from_hex(&hex_key).context("the sealing key")?;
            let documents = Arc::clone(&store) as Arc<dyn aftersale_ports::Documents>;
            ingest.with_site_secrets(Arc::new(StoredSiteSecrets::new(documents, key)))
        }
        None => ingest,
    };
    // Data requests are announced on the support topic; without it the function still erases
    // on redact requests, but keeps no export for the merchant.
    Ok(match optional("SUPPORT_ALERTS_TOPIC_ARN") {
        Some(arn) => {
            let alerts = Arc::new(SnsAlerts::new(aws_sdk_sns::Client::new(&config), arn));
            ingest.with_privacy(Arc::new(Desk::new(store, alerts, Arc::new(SystemClock))))
        }
        None => ingest,
    })
}

/// The WooCommerce connect routes (`/woocommerce/connect`, `/callback`, `/return`) of the
/// woocommerce-webhook function, when `AFTERSALE_PUBLIC_URL` (the function's public address)
/// and the sealing key are configured.
pub async fn woocommerce_connect() -> anyhow::Result<Option<AuthorizeApp>> {
    let Some(public_url) = optional("AFTERSALE_PUBLIC_URL") else {
        return Ok(None);
    };
    let config = load_config().await;
    let ssm = SsmSecrets::from_config(&config);
    let hex_key = secret(&ssm, "AFTERSALE_SEALING_KEY", "AFTERSALE_SEALING_KEY_PARAM")
        .await?
        .context("AFTERSALE_PUBLIC_URL is set but no sealing key: set AFTERSALE_SEALING_KEY_PARAM")?;
    let store = store(&config).await?;
    Ok(Some(AuthorizeApp {
        store: Arc::clone(&store) as Arc<dyn aftersale_ports::Documents>,
        shops: store as Arc<dyn aftersale_ports::ShopRegistry>,
        key: Arc::new(SealingKey::from_hex(&hex_key).context("the sealing key")?),
        public_url,
    }))
}

/// The shopify-app function: DynamoDB (install records, nonces, the refresh lease), shops'
/// tokens as SSM SecureStrings, and the app's credentials: `SHOPIFY_API_KEY`, the secret from
/// `SHOPIFY_API_SECRET_PARAM` (or `SHOPIFY_API_SECRET`), `AFTERSALE_PUBLIC_URL`, optional
/// `SHOPIFY_SCOPES`; with `IMPORT_JOBS_TOPIC_ARN`, every install starts the history import.
pub async fn shopify_app() -> anyhow::Result<aftersale_shopify_app::ShopifyApp> {
    let config = load_config().await;
    let app = installed_app(&config, &SsmSecrets::from_config(&config)).await?;
    // Each install starts the shop's history import (the import function's `start` job).
    Ok(match optional("IMPORT_JOBS_TOPIC_ARN") {
        Some(arn) => {
            app.with_history_import(Arc::new(ImportJobs::new(aws_sdk_sns::Client::new(&config), arn)))
        }
        None => app,
    })
}

/// The dashboard function: DynamoDB, and the link key (`AFTERSALE_LINK_KEY_PARAM`) that
/// `aftersale dashboard-link` signs with, plus the Shopify app secret for admin launches.
/// Cookies are `Secure`: the function is only reachable over HTTPS.
pub async fn dashboard() -> anyhow::Result<aftersale_dashboard::Dashboard> {
    let config = load_config().await;
    let ssm = SsmSecrets::from_config(&config);
    let key = link_key(&ssm).await?;
    let shopify = secret(&ssm, "SHOPIFY_API_SECRET", "SHOPIFY_API_SECRET_PARAM").await?;
    let mut access =
        aftersale_dashboard::Access::new(&key).with_shopify_secret(shopify.map(String::into_bytes));
    access.secure_cookie = true;
    Ok(aftersale_dashboard::Dashboard {
        store: store(&config).await?,
        clock: Arc::new(SystemClock),
        access,
    })
}

/// The key that signs and checks 1-tap links: `AFTERSALE_LINK_KEY_PARAM` (an SSM SecureString
/// of 64 hex characters), or `AFTERSALE_LINK_KEY` itself, the variable local mode reads too.
async fn link_key(ssm: &SsmSecrets) -> anyhow::Result<Vec<u8>> {
    let key = secret(ssm, "AFTERSALE_LINK_KEY", "AFTERSALE_LINK_KEY_PARAM")
        .await?
        .context(
            "no link signing key: set AFTERSALE_LINK_KEY_PARAM to an SSM SecureString of 64 hex characters",
        )?;
    hex::decode(key.trim()).context("AFTERSALE_LINK_KEY must be hex (64 characters for 32 bytes)")
}

/// Discount codes: with the Shopify app's token for shops installed through it, else with the
/// `[admin_api]` secrets the shop's config names, from SSM. A function without
/// `SHOPIFY_API_KEY` (the stack's `ShopifyApiKey` left empty: no app) uses `[admin_api]` only;
/// with it, the rest of the app's settings must be right, or the cold start fails naming them,
/// instead of every installed shop's codes failing later.
async fn discounts(config: &SdkConfig, ssm: SsmSecrets) -> anyhow::Result<AdminApiDiscounts> {
    let app = match optional("SHOPIFY_API_KEY") {
        Some(_) => Some(installed_app(config, &ssm).await?),
        None => None,
    };
    let discounts = AdminApiDiscounts::new(Arc::new(SsmSecretSource {
        ssm,
        prefix: aftersale_aws::shop_parameter_prefix(),
    }));
    Ok(match app {
        Some(app) => discounts.with_installed(Arc::new(app)),
        None => discounts,
    })
}

/// The Shopify app as a function other than `shopify-app` needs it: to use (and refresh) the
/// shops' installed tokens. Same settings as [`shopify_app`].
async fn installed_app(
    config: &SdkConfig,
    ssm: &SsmSecrets,
) -> anyhow::Result<aftersale_shopify_app::ShopifyApp> {
    let secret = secret(ssm, "SHOPIFY_API_SECRET", "SHOPIFY_API_SECRET_PARAM").await?;
    let settings =
        aftersale_shopify_app::AppSettings::from_env(None, secret).context("the Shopify app's settings")?;
    Ok(aftersale_shopify_app::ShopifyApp::with_shopify(
        store(config).await?,
        Arc::new(SsmShopTokens::from_config(config)),
        Arc::new(SystemClock),
        settings,
    ))
}

/// The flow and feedback functions' engine: DynamoDB, SES, SNS, templates, link key, and the
/// shops' Admin APIs (secrets from SSM) for discount codes.
pub async fn engine(flows: Vec<Flow>) -> anyhow::Result<Engine> {
    let config = load_config().await;
    let ssm = SsmSecrets::from_config(&config);
    let key = link_key(&ssm).await?;
    let links = LinkSigner::new(&key).context("the link signing key")?;
    let sns = aws_sdk_sns::Client::new(&config);
    let mailer = SesMailer::from_config(&config);
    // One Admin API access for codes and the catalogue (care guides by product type).
    let admin_api = Arc::new(discounts(&config, ssm).await?);
    let senders = Senders {
        mailer: Arc::new(mailer.clone()),
        sms: Arc::new(SnsSms::new(sns.clone())),
        alerts: Arc::new(SnsAlerts::new(sns, required("SUPPORT_ALERTS_TOPIC_ARN")?)),
        discounts: admin_api.clone(),
        catalogue: admin_api,
    };
    // The feedback function runs no flow and never ticks: it needs no send rate.
    let email_rate = if flows.is_empty() {
        None
    } else {
        Some(email_rate(&mailer).await?)
    };
    let settings = Settings {
        link_base_url: link_base_url(&flows, optional("FEEDBACK_BASE_URL"))?,
        configuration_set: optional("SES_CONFIGURATION_SET"),
        default_sender: optional("SENDER_ADDRESS")
            .map(|s| aftersale_domain::Sender::parse(&s))
            .transpose()
            .map_err(|e| anyhow::anyhow!("SENDER_ADDRESS: {e}"))?,
        sms_enabled: optional("SMS_ENABLED").is_some_and(|v| v == "true"),
        flows,
        email_rate,
        sms_rate: Some(match optional("AFTERSALE_SMS_RATE") {
            Some(rate) => parse_rate(&rate).map_err(|e| anyhow::anyhow!("AFTERSALE_SMS_RATE: {e}"))?,
            None => DEFAULT_SMS_RATE,
        }),
        send_concurrency: match optional("AFTERSALE_SEND_CONCURRENCY") {
            Some(n) => {
                parse_concurrency(&n).map_err(|e| anyhow::anyhow!("AFTERSALE_SEND_CONCURRENCY: {e}"))?
            }
            None => DEFAULT_SEND_CONCURRENCY,
        },
        tick_margin: match optional("AFTERSALE_TICK_MARGIN_SECONDS") {
            Some(n) => parse_margin(&n).map_err(|e| anyhow::anyhow!("AFTERSALE_TICK_MARGIN_SECONDS: {e}"))?,
            None => DEFAULT_TICK_MARGIN,
        },
        ..Settings::default()
    };
    Ok(Engine::new(
        store(&config).await?,
        senders,
        Templates::builtin(),
        links,
        Arc::new(SystemClock),
        settings,
    ))
}

/// Where the links in messages point (`FEEDBACK_BASE_URL`). Every flow function signs links
/// and needs it. The feedback function (no flows) signs only the points page's reward
/// buttons, and the template cannot give it its own Function URL (a function's URL is not
/// known before the function exists), so without the setting those buttons are relative
/// (`/l/{token}`): the page is served from the same host they point at.
fn link_base_url(flows: &[Flow], configured: Option<String>) -> anyhow::Result<String> {
    let base = match configured {
        Some(base) => base,
        None if flows.is_empty() => String::new(),
        None => bail!("environment variable FEEDBACK_BASE_URL is not set (template.yaml sets it)"),
    };
    Ok(base.trim_end_matches('/').to_string())
}

/// The emails a second a tick may send: `AFTERSALE_EMAIL_RATE` when set, else the account's
/// `MaxSendRate` from SES (read once, at cold start). When SES cannot say (no `ses:GetAccount`
/// permission, an outage), the sandbox's 1 a second: slow, but never throttled.
async fn email_rate(ses: &SesMailer) -> anyhow::Result<f64> {
    if let Some(rate) = optional("AFTERSALE_EMAIL_RATE") {
        return parse_rate(&rate).map_err(|e| anyhow::anyhow!("AFTERSALE_EMAIL_RATE: {e}"));
    }
    match ses.max_send_rate().await {
        Ok(rate) => {
            tracing::info!(rate, "SES sending rate");
            Ok(rate)
        }
        Err(err) => {
            tracing::warn!(error = %err, "SES did not give the account's sending rate; sending 1 email a second (set AFTERSALE_EMAIL_RATE to override)");
            Ok(1.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_feedback_function_may_start_without_a_link_address() {
        let feedback = link_base_url(&[], None).unwrap();
        assert_eq!(feedback, "", "its reward buttons are relative to the page");
        let flow = link_base_url(&[Flow::CareGuide], None).unwrap_err().to_string();
        assert!(flow.contains("FEEDBACK_BASE_URL is not set"), "{flow}");
        let set = link_base_url(&[Flow::CareGuide], Some("https://links.example/".into())).unwrap();
        assert_eq!(set, "https://links.example");
    }

    #[test]
    fn a_shop_reads_only_parameters_under_its_own_prefix_in_its_own_stack() {
        let shop = ShopId::new("demo.myshopify.com").unwrap();
        let prefix = "/aftersale/prod";
        assert!(shop_owns_parameter(
            prefix,
            &shop,
            "/aftersale/prod/demo.myshopify.com/admin-token"
        ));
        for other in [
            "/aftersale/feedback/link-signing-key",
            "/aftersale/shopify/api-secret",
            "/aftersale/demo.myshopify.com/admin-token",
            "/aftersale/staging/demo.myshopify.com/admin-token",
            "/aftersale/prod/other.myshopify.com/admin-token",
            "/aftersale/prod/demo.myshopify.com/",
            "/aftersale/prod/demo.myshopify.com/../shopify/api-secret",
            "/aftersale/prod/demo.myshopify.com.evil/admin-token",
            "SHOPIFY_ADMIN_TOKEN",
        ] {
            assert!(!shop_owns_parameter(prefix, &shop, other), "{other}");
        }
        // Outside a stack (no prefix set): the default.
        assert!(shop_owns_parameter(
            aftersale_aws::DEFAULT_SHOP_PARAMETER_PREFIX,
            &shop,
            "/aftersale/demo.myshopify.com/admin-token"
        ));
    }
}
