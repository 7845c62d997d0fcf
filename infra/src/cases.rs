//! `cases`: the make-it-right cases customers opened from the delivery check-in, for support
//! to work through: list them, mark one answered or resolved.

use crate::StoreArgs;
use crate::backend::Backend;
use aftersale_domain::OrderId;
use aftersale_engine::cases::{self, case_json};
use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};

/// What to mark, by order id.
pub enum Change {
    Answered(String),
    Resolved(String),
}

pub async fn run(
    store_args: &StoreArgs,
    shop: &str,
    change: Option<Change>,
    now: Option<DateTime<Utc>>,
    as_json: bool,
) -> anyhow::Result<()> {
    let shop = crate::parse_shop(shop).context("--shop")?;
    let store = Backend::open(store_args).await?.store;
    let now = now.unwrap_or_else(Utc::now);
    let order = |raw: &str, flag: &str| OrderId::new(raw.trim()).with_context(|| format!("--{flag}"));
    let changed = match &change {
        Some(Change::Answered(raw)) => {
            Some(cases::answer(store.as_ref(), &shop, &order(raw, "answered")?, now).await?)
        }
        Some(Change::Resolved(raw)) => {
            Some(cases::resolve(store.as_ref(), &shop, &order(raw, "resolved")?, now).await?)
        }
        None => None,
    };
    if let Some(case) = changed {
        if as_json {
            println!("{}", case_json(&shop, &case));
        } else {
            let verb = if case.is_resolved() {
                "resolved"
            } else {
                "answered"
            };
            let first = case
                .time_to_first_response()
                .map(|d| format!("; first response after {} min", d.num_minutes()))
                .unwrap_or_default();
            println!("case for order {} {verb}{first}", case.order_id);
        }
        return Ok(());
    }
    let all = cases::list(store.as_ref(), &shop).await?;
    for case in &all {
        if as_json {
            println!("{}", case_json(&shop, case));
            continue;
        }
        let status = match (case.resolved_at, case.answered_at) {
            (Some(_), _) => "resolved",
            (None, Some(_)) => "answered",
            (None, None) => "open",
        };
        let words = case.comment.as_deref().unwrap_or("");
        println!(
            "{}  order {:<20} {:<12} {:<9} {}",
            case.opened_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            case.order_id,
            case.kind.as_str(),
            status,
            words
        );
    }
    if !as_json {
        eprintln!("{} case(s) for {shop}", all.len());
    }
    Ok(())
}
