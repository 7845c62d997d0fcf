//! Early access: a campaign is stored once, and a "you first" message is planned for every
//! customer whose tier is invited, at the morning of the lead day in their own zone.

use super::{Prepared, id_safe, instant, lifecycle_message};
use crate::Engine;
use aftersale_domain::lifecycle::early_access::{EarlyAccessCampaign, send_at, still_due};
use aftersale_domain::lifecycle::vip::TierName;
use aftersale_domain::{ConfigError, CustomerId, Flow, Message, ShopConfig, ShopId};
use aftersale_ports::StoreError;
use aftersale_ports::documents::{self, keys};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

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
    /// Customers in an invited tier, each with one planned message.
    pub invited: usize,
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
        // Everything held on customers, of which the tier documents name the members.
        let members: Vec<(String, serde_json::Value)> =
            documents::list(self.store.as_ref(), shop, "customer#").await?;
        let mut report = CampaignReport {
            campaign: campaign.name.clone(),
            invited: 0,
            first_send_at: None,
        };
        for (key, _) in members {
            let Some(customer) = key
                .strip_prefix("customer#")
                .and_then(|k| k.strip_suffix("#tier"))
                .and_then(|id| CustomerId::new(id).ok())
            else {
                continue;
            };
            let tier = self.current_tier(shop, &customer, &config, now).await?;
            if !campaign.is_for(tier.as_ref()) {
                continue;
            }
            let profile = self.store.load_customer(shop, &customer).await?;
            let tz = profile.and_then(|c| c.time_zone).unwrap_or(config.time_zone);
            let due = send_at(&campaign, tz).max(now);
            let mut message = lifecycle_message(
                shop,
                &customer,
                Flow::EarlyAccess,
                slug.clone(),
                "you-first",
                due,
                now,
            );
            message.details = BTreeMap::from([
                ("campaign".to_string(), campaign.name.clone()),
                ("campaign_key".to_string(), slug.clone()),
                ("message".to_string(), campaign.message.clone()),
                ("public_start_at".to_string(), instant(campaign.public_start)),
            ]);
            self.plan_once(message).await?;
            report.invited += 1;
            report.first_send_at = Some(report.first_send_at.map_or(due, |d: DateTime<Utc>| d.min(due)));
        }
        Ok(report)
    }

    pub(super) async fn recheck_early_access(
        &self,
        mut message: Message,
        config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Result<Prepared, StoreError> {
        let shop = &message.shop;
        let Some(campaign) = documents::load::<EarlyAccessCampaign, _>(
            self.store.as_ref(),
            shop,
            &keys::campaign(&message.subject),
        )
        .await?
        else {
            return Ok(Prepared::skip("campaign not found"));
        };
        if let Some(reason) = still_due(&campaign.value, now) {
            return Ok(Prepared::skip(reason));
        }
        let tier = self.current_tier(shop, &message.customer_id, config, now).await?;
        if !campaign.value.is_for(tier.as_ref()) {
            return Ok(Prepared::skip("no longer in an invited tier"));
        }
        if let Some(tier) = tier {
            message.details.insert("tier".into(), tier.as_str().into());
        }
        Ok(Prepared::Proceed(Box::new(message)))
    }
}
