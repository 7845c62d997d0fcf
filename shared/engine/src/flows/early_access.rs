//! Early access: a campaign is stored once, and a "you first" message is planned for every
//! customer whose tier is invited (or who holds a win-back's early access), at the morning of
//! the lead day in their own zone. A win-back that promises early access grants the pass when
//! it goes, and invites its holder to the launches already announced.

use super::{FlowJob, Prepared, id_safe, marketing_message, vip};
use crate::Engine;
use aftersale_domain::SkipReason;
use aftersale_domain::flows::early_access::{
    EarlyAccessCampaign, EarlyAccessPass, Payload, Step, send_at, still_due,
};
use aftersale_domain::flows::vip::TierName;
use aftersale_domain::policy::{self, Decision, SendContext};
use aftersale_domain::{
    ConfigError, CustomerId, Flow, Message, MessageClass, MessageStatus, Origin, Platform, ShopConfig, ShopId,
};
use aftersale_ports::StoreError;
use aftersale_ports::documents::{self, keys};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Early access plans on no order event: a campaign plans its messages when it is created
/// ([`Engine::create_campaign`]), a win-back's promise when it is kept.
pub(super) struct Job;

#[async_trait]
impl FlowJob for Job {
    fn flow(&self) -> Flow {
        Flow::EarlyAccess
    }

    async fn recheck(
        &self,
        engine: &Engine,
        message: Message,
        config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Result<Prepared, StoreError> {
        recheck(engine, message, config, now).await
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    #[error("{0}")]
    Invalid(#[from] ConfigError),
    #[error("a campaign named '{0}' already exists for this shop")]
    Exists(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What creating a campaign did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CampaignReport {
    pub campaign: String,
    /// Customers in an invited tier or holding a win-back's early access, each with one
    /// planned message.
    pub invited: usize,
    /// Of those, the ones the sending policy would write to at their moment, as things stand.
    pub reachable: usize,
    /// The others, by the policy's reason (`no consent`, `over frequency cap`,
    /// `suppressed: bounced`...), with how many each.
    pub unreachable: BTreeMap<String, usize>,
    pub first_send_at: Option<DateTime<Utc>>,
}

impl Engine {
    /// Validates and stores the campaign, then plans its messages. Refuses a name already
    /// used, so running the command twice cannot announce a launch twice.
    pub async fn create_campaign(
        &self,
        shop: &ShopId,
        name: &str,
        public_start: DateTime<Utc>,
        lead_days: u32,
        tiers: Vec<TierName>,
        text: &str,
    ) -> Result<CampaignReport, CampaignError> {
        let config = self.config(shop).await?;
        let now = self.clock.now();
        let campaign = EarlyAccessCampaign::create(
            name,
            public_start,
            lead_days,
            tiers,
            text,
            &config.flows.vip.tiers,
            now,
        )?;
        let slug = id_safe(&campaign.name.to_lowercase());
        if !documents::insert(self.store.as_ref(), shop, &keys::campaign(&slug), &campaign).await? {
            return Err(CampaignError::Exists(campaign.name));
        }
        // Everything held on customers: the tier documents name the members, the pass
        // documents the holders of a win-back's early access.
        let documents: Vec<(String, serde_json::Value)> =
            documents::list(self.store.as_ref(), shop, "customer#").await?;
        let candidates: BTreeSet<CustomerId> = documents
            .iter()
            .filter_map(|(key, _)| {
                let rest = key.strip_prefix("customer#")?;
                let id = rest
                    .strip_suffix("#tier")
                    .or_else(|| rest.strip_suffix("#early-access"))?;
                CustomerId::new(id).ok()
            })
            .collect();
        let mut report = CampaignReport {
            campaign: campaign.name.clone(),
            invited: 0,
            reachable: 0,
            unreachable: BTreeMap::new(),
            first_send_at: None,
        };
        for customer in candidates {
            if !is_invited(self, shop, &customer, &campaign, &config, now).await? {
                continue;
            }
            let message = plan_you_first(self, shop, &customer, &campaign, &config, now).await?;
            report.invited += 1;
            report.first_send_at = Some(
                report
                    .first_send_at
                    .map_or(message.due_at, |d| d.min(message.due_at)),
            );
            match reach(self, &message, &config).await? {
                None => report.reachable += 1,
                Some(reason) => *report.unreachable.entry(reason.to_string()).or_default() += 1,
            }
        }
        Ok(report)
    }
}

/// Whether the customer hears of the campaign first: by their tier now, or by the early
/// access a win-back promised them.
async fn is_invited(
    engine: &Engine,
    shop: &ShopId,
    customer: &CustomerId,
    campaign: &EarlyAccessCampaign,
    config: &ShopConfig,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let tier = vip::current_tier(engine, shop, customer, config, now).await?;
    if campaign.is_for(tier.as_ref()) {
        return Ok(true);
    }
    let pass = documents::load::<EarlyAccessPass, _>(
        engine.store.as_ref(),
        shop,
        &keys::customer_early_access(customer),
    )
    .await?;
    Ok(pass.is_some_and(|p| p.value.covers(campaign)))
}

/// Plans the customer's "you first" for the campaign, at the morning of the lead day in
/// their zone (at once if that has passed). Planning twice stores once.
async fn plan_you_first(
    engine: &Engine,
    shop: &ShopId,
    customer: &CustomerId,
    campaign: &EarlyAccessCampaign,
    config: &ShopConfig,
    now: DateTime<Utc>,
) -> Result<Message, StoreError> {
    let profile = engine.store.load_customer(shop, customer).await?;
    let tz = profile.and_then(|c| c.time_zone).unwrap_or(config.time_zone);
    let due = send_at(campaign, tz).max(now);
    let slug = id_safe(&campaign.name.to_lowercase());
    let mut message = marketing_message(shop, customer, slug.clone(), Step::YouFirst.into(), due, now);
    message.payload = Payload {
        campaign: Some(campaign.name.clone()),
        campaign_key: Some(slug),
        message: Some(campaign.message.clone()),
        public_start_at: Some(campaign.public_start),
        tier: None,
    }
    .into();
    engine.plan_once(message.clone(), Origin::Live).await?;
    Ok(message)
}

/// Why the sending policy would not write `message` at its due time, as things stand
/// (consent, address, suppression, the cap with what is already sent or set to go
/// before it); `None` when it would.
async fn reach(
    engine: &Engine,
    message: &Message,
    config: &ShopConfig,
) -> Result<Option<SkipReason>, StoreError> {
    let shop = &message.shop;
    let customer = engine.store.load_customer(shop, &message.customer_id).await?;
    let suppressed = match customer.as_ref().and_then(|c| c.email.as_deref()) {
        Some(address) => engine.store.suppression(shop, address).await?,
        None => None,
    };
    let shop_state = engine.store.load_shop(shop).await?;
    let history = engine.store.customer_messages(shop, &message.customer_id).await?;
    let at = message.due_at;
    // Sent already, or time-bound and going before it: both count against its cap.
    let counted: Vec<DateTime<Utc>> = history
        .iter()
        .filter(|m| m.class == MessageClass::Marketing && m.id() != message.id())
        .filter_map(|m| match m.status {
            MessageStatus::Sent => m.sent_at,
            status if !status.is_final() && policy::deadline(m).is_some() && m.due_at <= at => Some(m.due_at),
            _ => None,
        })
        .collect();
    let decision = policy::decide(&SendContext {
        message,
        now: at,
        config,
        platform: shop_state.as_ref().map_or(Platform::Shopify, |s| s.platform),
        shop_installed: shop_state.as_ref().is_none_or(|s| s.is_installed()),
        order: None,
        customer: customer.as_ref(),
        suppressed,
        answered: false,
        follows: None,
        marketing_sent_at: &counted,
        reserved_at: &[],
    });
    Ok(match decision {
        Decision::Skip(reason) => Some(reason),
        // Quiet hours move it to the morning; it still arrives before the launch.
        Decision::Send { .. } | Decision::Defer { .. } => None,
    })
}

/// Keeps a win-back's promise of early access as it goes: the customer gets a pass for
/// the launches of the coming year, and a "you first" for those already announced.
pub(super) async fn grant_early_access(
    engine: &Engine,
    message: &Message,
    config: &ShopConfig,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let (shop, customer) = (&message.shop, &message.customer_id);
    let key = keys::customer_early_access(customer);
    let granted = EarlyAccessPass::granted(now);
    let pass = if documents::insert(engine.store.as_ref(), shop, &key, &granted).await? {
        granted
    } else {
        documents::load::<EarlyAccessPass, _>(engine.store.as_ref(), shop, &key)
            .await?
            .map_or(granted, |p| p.value)
    };
    let campaigns: Vec<(String, EarlyAccessCampaign)> =
        documents::list(engine.store.as_ref(), shop, keys::CAMPAIGNS_PREFIX).await?;
    for (_, campaign) in campaigns {
        if campaign.public_start > now && pass.covers(&campaign) {
            plan_you_first(engine, shop, customer, &campaign, config, now).await?;
        }
    }
    Ok(())
}

async fn recheck(
    engine: &Engine,
    mut message: Message,
    config: &ShopConfig,
    now: DateTime<Utc>,
) -> Result<Prepared, StoreError> {
    let shop = &message.shop;
    let Some(campaign) = documents::load::<EarlyAccessCampaign, _>(
        engine.store.as_ref(),
        shop,
        &keys::campaign(&message.subject),
    )
    .await?
    else {
        return Ok(Prepared::skip(SkipReason::CampaignNotFound));
    };
    if let Some(reason) = still_due(&campaign.value, now) {
        return Ok(Prepared::skip(reason));
    }
    let tier = vip::current_tier(engine, shop, &message.customer_id, config, now).await?;
    if !is_invited(engine, shop, &message.customer_id, &campaign.value, config, now).await? {
        return Ok(Prepared::skip(SkipReason::NotInInvitedTier));
    }
    if let Some(tier) = tier {
        message.payload.early_access_mut().tier = Some(tier);
    }
    Ok(Prepared::Proceed(Box::new(message)))
}
