//! The import function: a shop's history brought in on AWS, through the same
//! normalise -> record -> fold path as `aftersale import` (`aftersale_import`).
//!
//! Three ways in:
//! - **a job** on the import jobs topic: `{"job": "start", "shop": S}`, which the install
//!   publishes, starts Shopify's bulk export; `{"job": "continue", "shop": S}` goes on where
//!   the last run stopped;
//! - **`bulk_operation_finished`** from the domain events topic (Shopify's
//!   `bulk_operations/finish` webhook, verified and deduplicated by `shopify-webhook` like every
//!   other topic): the file is ready, stream it;
//! - **the reconcile schedule** (`{"reconcile": {...}}`): the WooCommerce sweep of every
//!   connected site.
//!
//! Streaming stops at an order boundary [`STOP_MARGIN`] before the invocation's deadline, with
//! the checkpoint saved, and publishes a `continue` job: the next invocation picks up from the
//! checkpoint. A run killed by its timeout instead (or failing) is retried by Lambda and resumes
//! from the last checkpoint too: nothing is lost, nothing counted twice.

use crate::{installed_app, optional, required, secret, store};
use aftersale_aws::{SnsAlerts, SnsEventBus, SsmSecrets, load_config};
use aftersale_domain::{EventKind, Platform, ShopId, StoreEvent};
use aftersale_import::checkpoint::{self, Position};
use aftersale_import::{ImportError, Outcome, Quiet, reconcile, shopify};
use aftersale_ingest::{Ingest, WebhookSecrets};
use aftersale_platform_api::sealed::SealingKey;
use aftersale_platform_api::shopify::bulk::BulkError;
use aftersale_platform_api::shopify::{AdminClient, Endpoint, http_client};
use aftersale_platform_api::woocommerce::WooClient;
use aftersale_platform_api::woocommerce::connection;
use aftersale_ports::{ShopStatus, Store, SupportAlerts, SystemClock};
use aftersale_shopify_app::{HistoryImport, ShopifyApp};
use anyhow::Context;
use aws_lambda_events::sns::SnsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tracing::{Instrument, info, info_span, warn};

/// How long before its deadline a run stops streaming: enough to save the checkpoint and
/// publish the `continue` job (a few store and SNS calls) with room to spare.
pub const STOP_MARGIN: Duration = Duration::from_secs(60);
/// A checkpoint at least every this many orders, as the CLI does.
const CHECKPOINT_EVERY: u64 = 100;

/// A message on the import jobs topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum ImportJob {
    /// Start the shop's bulk export (after install).
    Start { shop: ShopId },
    /// Go on from the checkpoint (a run that stopped before its deadline).
    Continue { shop: ShopId },
}

/// Publishes [`ImportJob`]s to the jobs topic (`IMPORT_JOBS_TOPIC_ARN`).
#[derive(Clone)]
pub struct ImportJobs {
    sns: aws_sdk_sns::Client,
    topic_arn: String,
}

impl ImportJobs {
    pub fn new(sns: aws_sdk_sns::Client, topic_arn: String) -> Self {
        Self { sns, topic_arn }
    }

    pub async fn publish(&self, job: &ImportJob) -> Result<(), String> {
        let message = serde_json::to_string(job).map_err(|e| e.to_string())?;
        self.sns
            .publish()
            .topic_arn(&self.topic_arn)
            .message(message)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "publishing the import job: {}",
                    aws_sdk_sns::error::DisplayErrorContext(&e)
                )
            })
    }
}

/// The install's side: a `start` job for the shop.
#[async_trait::async_trait]
impl HistoryImport for ImportJobs {
    async fn start(&self, shop: &ShopId) -> Result<(), String> {
        self.publish(&ImportJob::Start { shop: shop.clone() }).await
    }
}

/// What the function holds across invocations.
struct Importer {
    ingest: Ingest,
    app: Option<ShopifyApp>,
    jobs: ImportJobs,
    alerts: Arc<dyn SupportAlerts>,
    sealing: Option<SealingKey>,
    http: reqwest::Client,
    endpoint: Endpoint,
}

/// The invocations: SNS deliveries (jobs, or the finish event), or the reconcile schedule.
#[derive(Deserialize)]
#[serde(untagged)]
enum Invocation {
    Records(SnsEvent),
    Reconcile {
        #[serde(rename = "reconcile")]
        _reconcile: serde::de::IgnoredAny,
    },
}

/// One SNS message: a job, or a domain event.
#[derive(Deserialize)]
#[serde(untagged)]
enum Message {
    Job(ImportJob),
    Event(Box<StoreEvent>),
}

/// Runs the import function until the runtime stops it.
pub async fn run_import() -> Result<(), Error> {
    let importer = importer().await?;
    let importer = &importer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = deadline_instant(event.context.deadline);
        importer.handle(event.payload, deadline).await
    }))
    .await
}

async fn importer() -> anyhow::Result<Importer> {
    let config = load_config().await;
    let ssm = SsmSecrets::from_config(&config);
    let store = store(&config).await?;
    let sns = aws_sdk_sns::Client::new(&config);
    // Imported events are published like the webhooks' own, so the flows plan what is still
    // ahead (`Origin::Imported` plans nothing in the past).
    let bus = Arc::new(SnsEventBus::new(
        sns.clone(),
        required("DOMAIN_EVENTS_TOPIC_ARN")?,
    ));
    let ingest = Ingest::new(
        Arc::clone(&store) as Arc<dyn Store>,
        bus,
        Arc::new(SystemClock),
        WebhookSecrets::default(),
    );
    let app = match optional("SHOPIFY_API_KEY") {
        Some(_) => Some(installed_app(&config, &ssm).await?),
        None => None,
    };
    let sealing = match secret(&ssm, "AFTERSALE_SEALING_KEY", "AFTERSALE_SEALING_KEY_PARAM").await? {
        Some(hex_key) => Some(SealingKey::from_hex(&hex_key).context("the sealing key")?),
        None => None,
    };
    Ok(Importer {
        ingest,
        app,
        jobs: ImportJobs::new(sns.clone(), required("IMPORT_JOBS_TOPIC_ARN")?),
        alerts: Arc::new(SnsAlerts::new(sns, required("SUPPORT_ALERTS_TOPIC_ARN")?)),
        sealing,
        http: http_client(),
        endpoint: Endpoint::from_env(),
    })
}

/// The invocation's deadline (milliseconds since the epoch) as an [`Instant`].
fn deadline_instant(deadline_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

impl Importer {
    /// Errors go back to Lambda, which retries (resuming from the checkpoint) and then parks
    /// the invocation in the dead-letter queue.
    async fn handle(&self, payload: Value, deadline: Instant) -> Result<Value, Error> {
        let invocation: Invocation = serde_json::from_value(payload).map_err(|e| {
            Error::from(format!(
                "unrecognised invocation (not SNS records nor the reconcile schedule): {e}"
            ))
        })?;
        match invocation {
            Invocation::Records(sns) => {
                let mut results = Vec::new();
                for record in sns.records {
                    let message: Message = serde_json::from_str(&record.sns.message).map_err(|e| {
                        Error::from(format!(
                            "SNS message is neither an import job nor a StoreEvent: {e}"
                        ))
                    })?;
                    results.push(self.message(message, deadline).await?);
                }
                Ok(json!({ "results": results }))
            }
            Invocation::Reconcile { .. } => Ok(self.reconcile_all().await?),
        }
    }

    async fn message(&self, message: Message, deadline: Instant) -> Result<Value, Error> {
        match message {
            Message::Job(ImportJob::Start { shop }) => {
                let span = info_span!("import", shop = %shop, step = "start");
                self.start(&shop).instrument(span).await
            }
            Message::Job(ImportJob::Continue { shop }) => {
                let span = info_span!("import", shop = %shop, step = "continue");
                self.stream(&shop, deadline).instrument(span).await
            }
            Message::Event(event) => match &event.kind {
                EventKind::BulkOperationFinished(finished) => {
                    let span = info_span!("import", shop = %event.shop, event_id = %event.event_id, step = "finished");
                    async {
                        if !self.is_our_export(&event.shop, &finished.operation_id).await? {
                            info!("a bulk operation that is not the pending import finished; ignored");
                            return Ok(json!({ "shop": event.shop, "ignored": "not the pending import" }));
                        }
                        self.stream(&event.shop, deadline).await
                    }
                    .instrument(span)
                    .await
                }
                _ => Ok(json!({ "shop": event.shop, "ignored": event.kind_name() })),
            },
        }
    }

    fn app(&self, shop: &ShopId) -> Result<&ShopifyApp, Error> {
        self.app.as_ref().ok_or_else(|| {
            Error::from(format!(
                "cannot import {shop}: the function has no Shopify app credentials (SHOPIFY_API_KEY)"
            ))
        })
    }

    fn run<'a>(&'a self, shop: &ShopId, stop_at: Option<Instant>) -> shopify::Run<'a> {
        shopify::Run {
            ingest: &self.ingest,
            shop: shop.clone(),
            progress: &Quiet,
            checkpoint_every: CHECKPOINT_EVERY,
            stop_at,
        }
    }

    async fn start(&self, shop: &ShopId) -> Result<Value, Error> {
        let token = self.app(shop)?.access_token(shop).await?;
        let api = AdminClient::new(&self.http, &self.endpoint, shop, &token.access_token);
        let started = self.run(shop, None).start_export(&api).await?;
        let Position::ShopifyBulk { operation_id, .. } = started.position else {
            unreachable!("a Shopify export's checkpoint is a bulk position");
        };
        info!(operation = %operation_id, "history export started; bulk_operations/finish will bring it in");
        Ok(json!({ "shop": shop, "started": operation_id }))
    }

    /// Whether `operation_id` is the export the shop's unfinished import waits for.
    async fn is_our_export(&self, shop: &ShopId, operation_id: &str) -> Result<bool, Error> {
        let found = checkpoint::load(self.ingest.store().as_ref(), shop, shopify::KIND).await?;
        Ok(found.is_some_and(|c| {
            !c.finished
                && matches!(&c.position, Position::ShopifyBulk { operation_id: id, .. } if id == operation_id)
        }))
    }

    /// Streams from the checkpoint until the end or the deadline's margin; continues itself.
    async fn stream(&self, shop: &ShopId, deadline: Instant) -> Result<Value, Error> {
        let token = self.app(shop)?.access_token(shop).await?;
        let api = AdminClient::new(&self.http, &self.endpoint, shop, &token.access_token);
        let stop_at = deadline.checked_sub(STOP_MARGIN).unwrap_or_else(Instant::now);
        match self.run(shop, Some(stop_at)).continue_export(&api).await {
            Ok(None) => Ok(json!({ "shop": shop, "waiting": "the export is still running" })),
            Ok(Some(Outcome::Paused(summary))) => {
                self.jobs
                    .publish(&ImportJob::Continue { shop: shop.clone() })
                    .await
                    .map_err(Error::from)?;
                info!(
                    orders = summary.orders,
                    "import paused before the deadline; continuing"
                );
                Ok(json!({ "shop": shop, "paused": summary }))
            }
            Ok(Some(Outcome::Finished(summary))) => {
                info!(
                    orders = summary.orders,
                    dead_lettered = summary.dead_lettered,
                    "import finished"
                );
                Ok(json!({ "shop": shop, "finished": summary }))
            }
            // The export itself ended badly: retrying cannot help; the owner is told what to do.
            Err(ImportError::Shopify(
                err @ (BulkError::Failed { .. } | BulkError::Canceled | BulkError::Expired),
            )) => {
                warn!(error = %err, "the history export ended without a file");
                let subject = format!("Aftersale: importing {shop}'s order history failed");
                let body = format!(
                    "{err}.\n\nRun `aftersale import shopify --shop {shop} --dynamodb-table <TableName>` to try again."
                );
                if let Err(alert) = self.alerts.alert(&subject, &body).await {
                    warn!(error = %alert, "the import alert could not be sent");
                }
                Ok(json!({ "shop": shop, "failed": err.to_string() }))
            }
            Err(err) => Err(err.into()),
        }
    }

    /// The WooCommerce sweep of every connected site, one after the other. A site that fails
    /// does not stop the others; the invocation fails at the end so the dead-letter alarm
    /// tells someone.
    async fn reconcile_all(&self) -> anyhow::Result<Value> {
        let key = self.sealing.as_ref().context(
            "the reconcile needs the sealing key (AFTERSALE_SEALING_KEY_PARAM) to open the sites' keys",
        )?;
        let store = self.ingest.store().as_ref();
        let mut reports = Vec::new();
        let mut failed = Vec::new();
        for (site, state) in store.list_shops().await? {
            if state.platform != Platform::Woocommerce || state.status != ShopStatus::Installed {
                continue;
            }
            let span = info_span!("reconcile", shop = %site);
            match self.reconcile(key, &site).instrument(span).await {
                Ok(Some(report)) => reports.push(json!({ "site": site, "report": report })),
                Ok(None) => {}
                Err(err) => {
                    warn!(shop = %site, error = %err, "reconcile failed");
                    failed.push(site.to_string());
                }
            }
        }
        if !failed.is_empty() {
            anyhow::bail!("reconcile failed for {}", failed.join(", "));
        }
        Ok(json!({ "reconciled": reports }))
    }

    /// One site's sweep, as `aftersale woocommerce reconcile` runs it; `None` if it was never
    /// connected through Aftersale (its webhooks were made by hand: nothing to repair with).
    async fn reconcile(&self, key: &SealingKey, site: &ShopId) -> anyhow::Result<Option<reconcile::Report>> {
        let store = self.ingest.store().as_ref();
        let Some(mut connection) = connection::load(store, key, site).await? else {
            return Ok(None);
        };
        let client = WooClient::new(
            &connection.site,
            connection.credentials.consumer_key.expose(),
            connection.credentials.consumer_secret.expose(),
        )?;
        let sweep = reconcile::Sweep {
            ingest: &self.ingest,
            client: &client,
            shop: site.clone(),
            alerts: self.alerts.as_ref(),
            delivery_url: connection.delivery_url.clone(),
            webhook_secret: connection.credentials.webhook_secret.clone(),
            known_webhooks: connection.webhook_ids.clone(),
            first_since: connection.connected_at,
        };
        let report = sweep.run().await?;
        if report.webhook_ids != connection.webhook_ids {
            connection.webhook_ids = report.webhook_ids.clone();
            connection::save(store, key, &connection).await?;
        }
        Ok(Some(report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_read_back_as_written_and_a_finish_event_is_not_a_job() {
        let shop = ShopId::new("demo.myshopify.com").unwrap();
        let job = ImportJob::Continue { shop: shop.clone() };
        let text = serde_json::to_string(&job).unwrap();
        assert_eq!(text, r#"{"job":"continue","shop":"demo.myshopify.com"}"#);
        assert!(matches!(serde_json::from_str(&text), Ok(Message::Job(j)) if j == job));
        let event = r#"{"shop":"demo.myshopify.com","platform":"shopify","event_id":"e1",
            "occurred_at":"2026-12-01T10:00:00Z","kind":"bulk_operation_finished",
            "data":{"operation_id":"gid://shopify/BulkOperation/1","status":"completed","error_code":null}}"#;
        assert!(matches!(serde_json::from_str(event), Ok(Message::Event(_))));
        assert!(serde_json::from_str::<Message>(r#"{"job":"explode","shop":"demo.myshopify.com"}"#).is_err());
    }
}
