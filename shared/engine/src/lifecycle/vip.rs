//! VIP tiers: re-evaluated on every order and refund event of the customer. Entering a
//! higher tier plans a recognition message; a refund lowers the tier only after the grace
//! period, and quietly. Tier members are also greeted on the anniversary of their first order.

use super::{Prepared, id_safe, instant, lifecycle_message, parse_instant};
use crate::Engine;
use aftersale_domain::lifecycle::history::PurchaseHistory;
use aftersale_domain::lifecycle::vip::{
    TierCause, TierChange, TierName, TierStatus, evaluate_tier, next_anniversary, tier_change,
};
use aftersale_domain::{EventKind, Flow, Message, ShopConfig, StoreEvent};
use aftersale_ports::StoreError;
use aftersale_ports::documents::{self, keys};
use chrono::{DateTime, Datelike, Duration, Utc};
use std::collections::BTreeMap;
use tracing::info;

impl Engine {
    pub(super) async fn evaluate_vip(
        &self,
        event: &StoreEvent,
        history: &PurchaseHistory,
        config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let cfg = &config.flows.vip;
        let shop = &event.shop;
        let customer = &history.customer;
        let key = keys::customer_tier(customer);
        let previous = documents::load::<TierStatus, _>(self.store.as_ref(), shop, &key)
            .await?
            .map(|v| v.value)
            .unwrap_or_default();
        let cause = match event.kind {
            EventKind::OrderRefunded(_) | EventKind::OrderCancelled(_) | EventKind::OrderDeleted { .. } => {
                TierCause::Refund
            }
            _ => TierCause::Order,
        };
        let evaluated = evaluate_tier(history, &cfg.tiers, now);
        let grace = Duration::days(cfg.grace_days.into());
        let change = tier_change(&previous, evaluated, &cfg.tiers, cause, now, grace);
        let mut planned = 0;
        if let TierChange::Entered(tier) = &change {
            // Planned before the tier is saved: a crash in between re-plans the same message.
            let trigger = event.order_id().map_or_else(|| instant(now), ToString::to_string);
            let mut message = lifecycle_message(
                shop,
                customer,
                Flow::Vip,
                id_safe(&format!("{}@{trigger}", tier.as_str())),
                "tier-entered",
                now,
                now,
            );
            message.details.insert("tier".into(), tier.as_str().into());
            planned += self.plan_once(message).await?;
        }
        let status = change.status(&previous);
        if status != previous {
            info!(customer = %customer, from = ?previous.tier, to = ?status.tier, "tier changed");
            documents::update::<TierStatus, _, _>(self.store.as_ref(), shop, &key, |_| Some(status.clone()))
                .await?;
        }
        if let (Some(tier), Some(first)) = (&status.tier, history.first_order_at()) {
            planned += self
                .plan_anniversary(event, history, tier, first, config, now)
                .await?;
        }
        Ok(planned)
    }

    async fn plan_anniversary(
        &self,
        event: &StoreEvent,
        history: &PurchaseHistory,
        tier: &TierName,
        first_order_at: DateTime<Utc>,
        config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let profile = self.store.load_customer(&event.shop, &history.customer).await?;
        let tz = profile.and_then(|c| c.time_zone).unwrap_or(config.time_zone);
        let Some(at) = next_anniversary(first_order_at, now, tz) else {
            return Ok(0);
        };
        let years = at.with_timezone(&tz).year() - first_order_at.with_timezone(&tz).year();
        let mut message = lifecycle_message(
            &event.shop,
            &history.customer,
            Flow::Vip,
            format!("anniversary-{}", at.with_timezone(&tz).year()),
            "anniversary",
            at,
            now,
        );
        message.details = BTreeMap::from([
            ("tier".to_string(), tier.as_str().to_string()),
            ("years".to_string(), years.to_string()),
            ("first_order_at".to_string(), instant(first_order_at)),
        ]);
        self.plan_once(message).await
    }

    /// Once this year's anniversary message goes, next year's is planned.
    pub(super) async fn plan_next_anniversary(
        &self,
        sent: &Message,
        config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some(first) = parse_instant(sent.details.get("first_order_at")) else {
            return Ok(());
        };
        let customer = self.store.load_customer(&sent.shop, &sent.customer_id).await?;
        let tz = customer.and_then(|c| c.time_zone).unwrap_or(config.time_zone);
        let Some(at) = next_anniversary(first, sent.due_at + Duration::days(2), tz) else {
            return Ok(());
        };
        let years = at.with_timezone(&tz).year() - first.with_timezone(&tz).year();
        let mut next = lifecycle_message(
            &sent.shop,
            &sent.customer_id,
            Flow::Vip,
            format!("anniversary-{}", at.with_timezone(&tz).year()),
            "anniversary",
            at,
            now,
        );
        next.details = sent.details.clone();
        next.details.insert("years".into(), years.to_string());
        self.plan_once(next).await.map(|_| ())
    }

    /// Recognition and greetings only make sense while the customer still holds a tier.
    pub(super) async fn recheck_vip(
        &self,
        message: Message,
        _config: &ShopConfig,
    ) -> Result<Prepared, StoreError> {
        let status = documents::load::<TierStatus, _>(
            self.store.as_ref(),
            &message.shop,
            &keys::customer_tier(&message.customer_id),
        )
        .await?
        .map(|v| v.value)
        .unwrap_or_default();
        let Some(current) = status.tier else {
            return Ok(Prepared::skip("no longer in a tier"));
        };
        let mut message = message;
        if message.step == "tier-entered"
            && message.details.get("tier") != Some(&current.as_str().to_string())
        {
            return Ok(Prepared::skip(format!("tier is now {}", current.as_str())));
        }
        message.details.insert("tier".into(), current.as_str().into());
        Ok(Prepared::Proceed(Box::new(message)))
    }
}
