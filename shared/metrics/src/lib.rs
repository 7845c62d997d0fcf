//! Metrics the owner can trust: retention figures, cohorts, per-flow funnels and lift against
//! a holdout. The figures come from rollups kept as events are folded and messages change
//! ([`rollups`]), never from a scan per view; [`report`] turns them into numbers, following the
//! README's definitions.

pub mod facts;
pub mod holdout;
pub mod lift;
mod names;
pub mod report;
pub mod rollups;
pub mod tally;

pub use facts::{Engagement, EngagementKind};
pub use report::{FlowSettings, PointsFigures, Range, Report};

use aftersale_domain::{Flow, ShopConfig, ShopId};
use aftersale_ports::{FlowStore, StoreError};
use chrono::{DateTime, Utc};

/// A flow's holdout and attribution window for a shop: its config, else the defaults.
pub fn settings_for(config: Option<&ShopConfig>, flow: Flow) -> FlowSettings {
    let (holdout, window) = config.map_or((None, None), |c| c.flows.measurement(flow));
    FlowSettings {
        holdout_percent: holdout.unwrap_or_else(|| holdout::default_holdout_percent(flow)),
        attribution_days: window.map_or_else(|| facts::default_attribution_days(flow), i64::from),
    }
}

/// The shop's figures over `range`, as of `now`.
pub async fn shop_report(
    store: &dyn FlowStore,
    shop: &ShopId,
    range: Range,
    now: DateTime<Utc>,
) -> Result<Report, StoreError> {
    let days = rollups::load_days(store, shop).await?;
    let config = store.load_config(shop).await?;
    Ok(report::report(&days, range, now.date_naive(), &|flow| {
        settings_for(config.as_ref(), flow)
    }))
}

#[cfg(feature = "testkit")]
pub mod contract;
#[cfg(feature = "testkit")]
pub mod history;
