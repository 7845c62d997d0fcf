//! `campaign create` and `campaign list`: early-access launches the chosen VIP tiers hear of
//! first. The checks are the engine's; this module reads the input and names the flag at fault.

use crate::StoreArgs;
use crate::backend::Backend;
use crate::local::{Local, LocalOptions};
use aftersale_domain::flows::early_access::EarlyAccessCampaign;
use aftersale_domain::flows::vip::TierName;
use aftersale_domain::{ConfigError, ShopId};
use aftersale_engine::CampaignError;
use aftersale_ports::SystemClock;
use aftersale_ports::documents::{self, keys};
use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// What `campaign create` was asked for, as typed.
pub struct NewCampaign {
    pub shop: String,
    pub name: String,
    pub public_start: DateTime<Utc>,
    pub lead_days: u32,
    pub tiers: Vec<String>,
    /// The text, or the file holding it (clap asks for exactly one).
    pub message: Option<String>,
    pub message_file: Option<PathBuf>,
}

/// Parses `--public-start`, with an example of what is expected when it is not that.
pub fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|err| format!("not an RFC 3339 time such as 2026-10-15T09:00:00+02:00 ({err})"))
}

pub async fn create(store_args: &StoreArgs, new: NewCampaign, as_json: bool) -> anyhow::Result<()> {
    let shop = ShopId::from_domain(&new.shop).context("--shop")?;
    let (text, text_flag) = match (&new.message, &new.message_file) {
        (Some(text), None) => (text.clone(), "--message"),
        (None, Some(path)) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("--message-file: reading {}", path.display()))?,
            "--message-file",
        ),
        _ => bail!("give exactly one of --message or --message-file"),
    };
    let options = LocalOptions::existing(store_args);
    let local = Local::open(&options, Arc::new(SystemClock)).await?;
    // Without tiers every name would be "unknown"; say what is actually missing.
    let configured = local
        .store
        .load_config(&shop)
        .await?
        .map(|c| c.flows.vip.tiers)
        .unwrap_or_default();
    if configured.is_empty() {
        bail!(
            "{shop} has no VIP tiers configured (flows.vip.tiers): load a configuration that \
             defines them first (`aftersale config load FILE`)"
        );
    }
    let tiers = new.tiers.iter().map(|t| TierName(t.trim().to_string())).collect();
    let report = local
        .engine
        .create_campaign(&shop, &new.name, new.public_start, new.lead_days, tiers, &text)
        .await
        .map_err(|err| match err {
            CampaignError::Invalid(ConfigError::Invalid { field, problem }) => {
                let flag = match field {
                    "public_start" => "--public-start",
                    "lead_days" => "--lead-days",
                    "tiers" => "--tier",
                    "message" => text_flag,
                    "name" => "--name",
                    other => other,
                };
                anyhow!("{flag}: {problem}")
            }
            CampaignError::Exists(name) => {
                anyhow!("a campaign named '{name}' already exists for {shop}; choose another --name")
            }
            other => anyhow::Error::new(other).context("creating the campaign"),
        })?;
    if as_json {
        println!(
            "{}",
            json!({
                "shop": shop,
                "campaign": report.campaign,
                "invited": report.invited,
                "reachable": report.reachable,
                "unreachable": report.unreachable,
                "first_send_at": report.first_send_at.map(rfc3339),
            })
        );
    } else {
        println!(
            "campaign '{}' created for {shop}: public at {}, {} day(s) early for {}",
            report.campaign,
            rfc3339(new.public_start),
            new.lead_days,
            new.tiers.join(", ")
        );
        match report.first_send_at {
            Some(first) => {
                println!(
                    "{} customer(s) invited; the first \"you first\" message is due {}",
                    report.invited,
                    rfc3339(first)
                );
                println!("{}", reach_line(report.reachable, &report.unreachable));
            }
            None => println!("0 customers invited: nobody is in an invited tier yet"),
        }
    }
    Ok(())
}

pub async fn list(store_args: &StoreArgs, shop: &str, as_json: bool) -> anyhow::Result<()> {
    let shop = ShopId::from_domain(shop).context("--shop")?;
    let store = Backend::open(store_args).await?.store;
    let campaigns: Vec<(String, EarlyAccessCampaign)> =
        documents::list(store.as_ref(), &shop, keys::CAMPAIGNS_PREFIX).await?;
    let now = Utc::now();
    for (key, c) in &campaigns {
        let tiers: Vec<&str> = c.tiers.iter().map(TierName::as_str).collect();
        if as_json {
            println!(
                "{}",
                json!({
                    "shop": shop,
                    "key": key,
                    "name": c.name,
                    "public_start": rfc3339(c.public_start),
                    "lead_days": c.lead_days,
                    "tiers": tiers,
                    "message": c.message,
                    "public": c.public_start <= now,
                })
            );
        } else {
            println!(
                "{}  {:<7} {:<30} {:>2} day(s) early  tiers: {}",
                rfc3339(c.public_start),
                if c.public_start <= now { "public" } else { "ahead" },
                c.name,
                c.lead_days,
                tiers.join(", "),
            );
        }
    }
    if !as_json {
        eprintln!("{} campaign(s) for {shop}", campaigns.len());
    }
    Ok(())
}

/// "2 will be reached; 1 may not be: no consent (1)", as the sending policy sees it today.
fn reach_line(reachable: usize, unreachable: &BTreeMap<String, usize>) -> String {
    let blocked: usize = unreachable.values().sum();
    if blocked == 0 {
        return format!("{reachable} will be reached");
    }
    let reasons: Vec<String> = unreachable
        .iter()
        .map(|(reason, count)| format!("{reason} ({count})"))
        .collect();
    format!(
        "{reachable} will be reached; {blocked} may not be: {}",
        reasons.join(", ")
    )
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}
