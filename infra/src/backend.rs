//! The backend a command works on: the embedded SQLite store by default, or DynamoDB (with
//! SES and SNS for sending) when `--dynamodb-table` is given.

use crate::StoreArgs;
use aftersale_aws::{DynamoDbStore, SesMailer, SnsAlerts, SnsSms, load_config};
use aftersale_engine::Senders;
use aftersale_outbox::{FileAlerts, FileMailer, FileSms};
use aftersale_platform_api::{AdminApiDiscounts, EnvSecrets, InstalledTokens};
use aftersale_ports::{Clock, FlowStore, ShopTokens};
use aftersale_store_sqlite::{SealedTokens, SqliteStore};
use anyhow::Context;
use aws_config::SdkConfig;
use std::sync::Arc;

pub struct Backend {
    pub store: Arc<dyn FlowStore>,
    /// Shops' Admin API tokens: SSM SecureStrings on AWS, sealed under the data dir's `sealing.key` locally.
    pub tokens: Arc<dyn ShopTokens>,
    /// Set when running on AWS (or an emulator at `AWS_ENDPOINT_URL`).
    aws: Option<SdkConfig>,
}

impl Backend {
    /// The store the command names, which must exist unless named explicitly (see
    /// [`StoreArgs::check_present`]).
    pub async fn open(args: &StoreArgs) -> anyhow::Result<Backend> {
        args.check_present()?;
        Self::create(args).await
    }

    /// The store, created if missing: for `serve` and `config load`, which start one.
    pub async fn create(args: &StoreArgs) -> anyhow::Result<Backend> {
        if let Some(table) = &args.dynamodb_table {
            let config = load_config().await;
            let store: Arc<dyn FlowStore> = Arc::new(DynamoDbStore::from_config(&config, table));
            return Ok(Backend {
                store,
                tokens: Arc::new(aftersale_aws::SsmShopTokens::from_config(&config)),
                aws: Some(config),
            });
        }
        let store = SqliteStore::open_dir(args.data_dir())
            .with_context(|| format!("opening the embedded store in {}", args.data_dir().display()))?;
        let key = crate::woocommerce::sealing_key_bytes(args.data_dir())?;
        let tokens = SealedTokens::open(store.clone(), args.data_dir(), &key)
            .await
            .with_context(|| format!("the shops' tokens in {}", args.data_dir().display()))?;
        Ok(Backend {
            store: Arc::new(store),
            tokens: Arc::new(tokens),
            aws: None,
        })
    }

    /// SES and SNS on AWS; files under the data dir's `outbox/` locally. Support alerts go to
    /// `SUPPORT_ALERTS_TOPIC_ARN` when set, else to `outbox/alerts.jsonl`.
    ///
    /// Discount codes are created in the shop with the installed Shopify app's token
    /// (`installed`, when the app is configured), else through the shop's `[admin_api]`, with
    /// the secrets it names read from environment variables on both backends: the deployed
    /// functions read them from SSM, but an engineer running this CLI against AWS exports them
    /// in their shell.
    /// The emails a second to pace at when no `--email-rate` is given: on AWS the account's
    /// `MaxSendRate` (1 a second, the sandbox's, when SES cannot say); locally none, files
    /// have no rate.
    pub async fn default_email_rate(&self) -> Option<f64> {
        let config = self.aws.as_ref()?;
        match SesMailer::from_config(config).max_send_rate().await {
            Ok(rate) => Some(rate),
            Err(err) => {
                tracing::warn!(error = %err, "SES did not give the account's sending rate; sending 1 email a second (--email-rate overrides)");
                Some(1.0)
            }
        }
    }

    /// Whether messages go to SES and SNS rather than to files.
    pub fn is_aws(&self) -> bool {
        self.aws.is_some()
    }

    pub fn senders(
        &self,
        args: &StoreArgs,
        clock: Arc<dyn Clock>,
        installed: Option<Arc<dyn InstalledTokens>>,
    ) -> Senders {
        let outbox = args.data_dir().join("outbox");
        let file_alerts = || Arc::new(FileAlerts::with_clock(&outbox, Arc::clone(&clock)));
        let discounts = AdminApiDiscounts::new(Arc::new(EnvSecrets));
        let discounts = Arc::new(match installed {
            Some(installed) => discounts.with_installed(installed),
            None => discounts,
        });
        match &self.aws {
            Some(config) => {
                let sns = aws_sdk_sns::Client::new(config);
                Senders {
                    mailer: Arc::new(SesMailer::from_config(config)),
                    sms: Arc::new(SnsSms::new(sns.clone())),
                    alerts: match std::env::var("SUPPORT_ALERTS_TOPIC_ARN") {
                        Ok(arn) if !arn.is_empty() => Arc::new(SnsAlerts::new(sns, arn)),
                        _ => file_alerts(),
                    },
                    discounts: discounts.clone(),
                    catalogue: discounts,
                }
            }
            None => Senders {
                mailer: Arc::new(FileMailer::with_clock(&outbox, Arc::clone(&clock))),
                sms: Arc::new(FileSms::with_clock(&outbox, Arc::clone(&clock))),
                alerts: file_alerts(),
                discounts: discounts.clone(),
                catalogue: discounts,
            },
        }
    }
}
