//! The flows at work. [`Engine::on_event`] plans messages from an order's state;
//! [`Engine::tick`] sends what is due after re-checking it; [`feedback`] answers the 1-tap
//! links in those messages. Lambda functions and `aftersale serve` share this code.

pub mod bounces;
mod bus;
mod context;
pub mod feedback;
mod flows;
mod planner;
mod sender;

pub use bus::InProcessBus;
pub use flows::{Birthday, BirthdayError, CampaignError, CampaignReport, PointsError, Referral, TierMember};
pub use sender::TickReport;

use aftersale_domain::{CustomerId, Flow, ShopConfig, ShopId};
use aftersale_links::LinkSigner;
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
    pub default_sender: Option<String>,
    /// Off when the deployment has no SMS (`EnableSms=false`): SMS messages are skipped, visibly.
    pub sms_enabled: bool,
    /// Local mode: a message written to the outbox counts as delivered (there is no provider
    /// to report it); on AWS, SES delivery events do.
    pub outbox_marks_delivery: bool,
}

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
}

pub struct Engine {
    store: Arc<dyn FlowStore>,
    senders: Senders,
    templates: Templates,
    links: LinkSigner,
    clock: Arc<dyn Clock>,
    settings: Settings,
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
            settings,
        }
    }

    pub fn store(&self) -> &Arc<dyn FlowStore> {
        &self.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Brings the customer's message figures (funnels, conversions, answers) up to date after
    /// a change. A failure leaves them for the customer's next change or `aftersale metrics
    /// rebuild`; it never fails the send or the answer that caused it.
    pub(crate) async fn refresh_metrics(&self, shop: &ShopId, customer: &CustomerId) {
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
