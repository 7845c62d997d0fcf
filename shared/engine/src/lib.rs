//! The flows at work. [`Engine::on_event`] plans messages from an order's state;
//! [`Engine::tick`] sends what is due after re-checking it; [`feedback`] answers the 1-tap
//! links in those messages. Lambda functions and `aftersale serve` share this code.

pub mod bounces;
mod bus;
pub mod cases;
mod context;
pub mod feedback;
mod flows;
mod pace;
mod planner;
mod refreshes;
mod sender;

pub use bus::InProcessBus;
pub use flows::{Birthday, BirthdayError, CampaignError, CampaignReport, PointsError, Referral, TierMember};
pub use flows::{LearnRun, RELEARN_AFTER, Recommendations};
pub use pace::{TickBudget, parse_concurrency, parse_margin, parse_rate};
pub use sender::TickReport;

use aftersale_domain::{CustomerId, Flow, ShopConfig, ShopId};
use aftersale_links::LinkSigner;
use aftersale_ports::lifecycle::ShardCache;
use aftersale_ports::{Clock, FlowStore, Mailer, SmsSender, StoreError, SupportAlerts};
use aftersale_templates::Templates;
use chrono::Duration;
use std::sync::Arc;
use tracing::warn;

/// Deployment-wide settings (per-shop ones live in [`ShopConfig`]).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Public base URL the 1-tap links point at (the feedback function's URL).
    pub link_base_url: String,
    /// How long a link keeps working.
    pub link_ttl: Duration,
    /// How long a sender may hold a message before another may take it over.
    pub lease: Duration,
    /// Messages per flow per tick.
    pub batch_size: usize,
    /// SES configuration set that routes bounces and complaints back to us.
    pub configuration_set: Option<String>,
    /// The flows this process runs (a flow's Lambda runs one; local mode runs all).
    pub flows: Vec<Flow>,
    /// The verified sender for shops whose config names none (`SENDER_ADDRESS` on AWS).
    pub default_sender: Option<aftersale_domain::Sender>,
    /// Off when the deployment has no SMS (`EnableSms=false`): SMS messages are skipped, visibly.
    pub sms_enabled: bool,
    /// Local mode: a message written to the outbox counts as delivered (there is no provider
    /// to report it); on AWS, SES delivery events do.
    pub outbox_marks_delivery: bool,
    /// Messages a tick works on at once. A customer's own messages still go one after
    /// another, so caps and follow-ups see each other. 1 is the old one-by-one tick.
    pub send_concurrency: usize,
    /// Emails a second at most, across the tick's concurrent senders: SES `MaxSendRate` on
    /// AWS (`AFTERSALE_EMAIL_RATE` overrides it). `None`: as fast as the concurrency goes.
    pub email_rate: Option<f64>,
    /// SMS a second at most (`AFTERSALE_SMS_RATE`); `None`: as fast as the concurrency goes.
    pub sms_rate: Option<f64>,
    /// A tick with a budget claims no new message once less than this is left, so the
    /// messages in flight finish before the deadline.
    pub tick_margin: std::time::Duration,
}

/// Enough to keep SES busy at a production account's rate (14 a second and more) while each
/// send waits ~50-100 ms on the network; small enough for SQLite's single writer.
pub const DEFAULT_SEND_CONCURRENCY: usize = 16;
/// Time for the messages in flight to finish: a provider call may take its SDK retries (a few
/// seconds) and a throttled one waits half of this before it is handed to the next tick.
pub const DEFAULT_TICK_MARGIN: std::time::Duration = std::time::Duration::from_secs(10);
/// SNS's default SMS rate per account (`MessagesPerSecond` unless raised by AWS support).
pub const DEFAULT_SMS_RATE: f64 = 20.0;

impl Default for Settings {
    fn default() -> Self {
        Self {
            link_base_url: "http://127.0.0.1:8787".into(),
            link_ttl: Duration::days(60),
            lease: Duration::minutes(5),
            batch_size: 200,
            configuration_set: None,
            flows: Flow::ALL.to_vec(),
            default_sender: None,
            sms_enabled: true,
            outbox_marks_delivery: false,
            send_concurrency: DEFAULT_SEND_CONCURRENCY,
            email_rate: None,
            sms_rate: None,
            tick_margin: DEFAULT_TICK_MARGIN,
        }
    }
}

/// Where messages go out.
pub struct Senders {
    pub mailer: Arc<dyn Mailer>,
    pub sms: Arc<dyn SmsSender>,
    pub alerts: Arc<dyn SupportAlerts>,
    /// Creates the discount codes of referrals and win-back offers in the shop.
    pub discounts: Arc<dyn aftersale_rewards::DiscountApis>,
    /// Reads the shops' product types, for care guides by product type.
    pub catalogue: Arc<dyn aftersale_ports::Catalogue>,
}

pub struct Engine {
    store: Arc<dyn FlowStore>,
    senders: Senders,
    templates: Templates,
    links: LinkSigner,
    clock: Arc<dyn Clock>,
    settings: Settings,
    /// Shared by every concurrent sender, across ticks: the account's rate is the process's.
    email_pace: pace::Pacer,
    sms_pace: pace::Pacer,
    /// The shop statistics' shards as last decoded: planning reads a whole statistic per
    /// order event, which changes one shard of it.
    stat_cache: ShardCache,
}

impl Engine {
    pub fn new(
        store: Arc<dyn FlowStore>,
        senders: Senders,
        templates: Templates,
        links: LinkSigner,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Self {
        Self {
            store,
            senders,
            templates,
            links,
            clock,
            email_pace: pace::Pacer::new(settings.email_rate),
            sms_pace: pace::Pacer::new(settings.sms_rate),
            stat_cache: ShardCache::default(),
            settings,
        }
    }

    pub fn store(&self) -> &Arc<dyn FlowStore> {
        &self.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Brings the customer's message figures (funnels, conversions, answers) up to date after
    /// a change. A failure leaves them for the customer's next change or `aftersale metrics
    /// rebuild`; it never fails the send or the answer that caused it.
    /// Inside [`Engine::batched`] the refresh waits for the batch's end (`refreshes.rs`).
    pub(crate) async fn refresh_metrics(&self, shop: &ShopId, customer: &CustomerId) {
        if refreshes::defer(shop, customer) {
            return;
        }
        if let Err(err) =
            aftersale_metrics::rollups::refresh_messages(self.store.as_ref(), shop, customer).await
        {
            warn!(error = %err, "metrics not updated; the next change or `aftersale metrics rebuild` catches up");
        }
    }

    async fn config(&self, shop: &ShopId) -> Result<ShopConfig, StoreError> {
        let mut config = self.store.load_config(shop).await?.unwrap_or_default();
        if config.sender.is_none() {
            config.sender.clone_from(&self.settings.default_sender);
        }
        Ok(config)
    }
}
