//! `tick`, `outbox` and `config`: running and inspecting the flows locally.

use crate::local::{Local, LocalOptions};
use crate::{FlowArgs, SendArgs, StoreArgs};
use aftersale_domain::{Message, MessageStatus, Reason, ShopConfig, ShopId};
use aftersale_engine::TickBudget;
use aftersale_ports::ManualClock;
use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// What `tick` was asked for, besides the store, flows and sending options.
pub struct TickOptions {
    /// The instant to run as of; default now.
    pub now: Option<DateTime<Utc>>,
    pub listen: SocketAddr,
    /// Stop claiming when less than the margin of this is left.
    pub budget: Option<std::time::Duration>,
    pub json: bool,
}

pub async fn tick(
    store: &StoreArgs,
    flows: &FlowArgs,
    send: &SendArgs,
    tick: TickOptions,
) -> anyhow::Result<()> {
    let real_now = Utc::now();
    let now = tick.now.unwrap_or(real_now);
    let options = LocalOptions {
        store,
        public_url: flows.public_url_for(tick.listen),
        templates_dir: flows.templates.as_deref(),
        create_store: false,
        send: Some(send),
    };
    let local = Local::open(&options, Arc::new(ManualClock::new(now))).await?;
    // What a killed `serve` had answered but not planned is planned before anything is sent.
    // On DynamoDB finding it is a Scan, too much for every tick; there `serve` finishes it.
    if store.dynamodb_table.is_none() {
        let ingest = local.ingest(aftersale_ingest::WebhookSecrets::default());
        ingest
            .finish_abandoned()
            .await
            .context("finishing the events a stopped `serve` left unplanned")?;
    }
    // The budget counts from here, the way a Lambda's deadline counts from its invocation.
    let budget = match tick.budget {
        Some(budget) => TickBudget::of(budget, send.tick_margin),
        None => TickBudget::unlimited(),
    };
    let report = local.engine.tick_within(now, budget).await?;
    if tick.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "as of {now}: {} sent, {} skipped, {} deferred, {} retrying, {} failed",
            report.sent, report.skipped, report.deferred, report.retrying, report.failed
        );
        if report.throttled > 0 {
            println!(
                "the provider answered \"too fast\" {} time(s): the tick slowed down and sent again",
                report.throttled
            );
        }
        if report.errors > 0 {
            println!(
                "{} message(s) could not be processed: set aside with backoff, support told (see `outbox`)",
                report.errors
            );
        }
        if report.budget_exhausted {
            println!("stopped at the --budget: what is still due is left for the next tick");
        }
    }
    // Links expire on the clock that signed them; the server answering them must share it.
    let links_expire = now + aftersale_engine::Settings::default().link_ttl;
    if report.sent > 0 && links_expire <= real_now {
        eprintln!(
            "note: the links in these messages expire {} (60 days after --now), before today: to \
             follow them, the server must run on the same clock (`aftersale serve --now {}`)",
            links_expire.to_rfc3339_opts(SecondsFormat::Secs, true),
            now.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
    }
    Ok(())
}

/// One outbox line, as `--json` prints it.
pub fn message_json(m: &Message) -> serde_json::Value {
    json!({
        "shop": m.shop,
        "customer_id": m.customer_id,
        "order_id": m.order_id,
        "flow": m.flow(),
        "step": m.step,
        "class": m.class,
        "channel": m.channel,
        "to": m.to,
        "status": m.status,
        "reason": m.reason,
        "due_at": m.due_at.to_rfc3339(),
        "sent_at": m.sent_at.map(|t| t.to_rfc3339()),
        "subject": m.rendered_subject,
        "attempts": m.attempts,
        "products": m.products.iter().map(|p| &p.product_id).collect::<Vec<_>>(),
        "details": m.details(),
    })
}

/// A few words on what the plan decided a message says (run-out date, tier, offer, code), for
/// the table views. `--json` has every detail.
pub fn details_summary(m: &Message) -> String {
    let d = m.details();
    let get = |key: &str| d.get(key).map(String::as_str).filter(|v| !v.is_empty());
    // Instants are RFC 3339; the day is enough to read a timeline.
    let day = |key: &str| get(key).map(|v| v.get(..10).unwrap_or(v));
    let mut parts = Vec::new();
    if let Some(campaign) = get("campaign") {
        parts.push(format!("campaign {campaign}"));
    }
    if let Some(public) = day("public_start_at") {
        parts.push(format!("public {public}"));
    }
    if let Some(run_out) = day("run_out_at") {
        parts.push(format!("runs out {run_out}"));
    }
    if let Some(tier) = get("tier") {
        parts.push(format!("tier {tier}"));
    }
    if let Some(years) = get("years") {
        parts.push(format!("{years} year(s)"));
    }
    if let Some(segment) = get("segment") {
        parts.push(format!("segment {segment}"));
    }
    match get("incentive") {
        Some("discount") => parts.push(format!(
            "offer {} -{}%",
            get("offer_code").unwrap_or("?"),
            get("discount_percent").unwrap_or("?")
        )),
        Some("points") => parts.push(format!("offer {} points", get("points").unwrap_or("?"))),
        Some("early_access") => parts.push("offer early access".into()),
        _ => {}
    }
    // A cross-sell names its complement, and why it was chosen, once it fell due.
    if let Some(chosen_by) = get("chosen_by") {
        parts.push(format!(
            "suggests {} ({chosen_by})",
            get("complement_title").unwrap_or("?")
        ));
        if let Some(code) = get("offer_code") {
            parts.push(format!(
                "offer {code} -{}%",
                get("discount_percent").unwrap_or("?")
            ));
        }
    }
    if let Some(until) = day("offer_expires_at") {
        parts.push(format!("until {until}"));
    }
    if let Some(code) = get("code") {
        parts.push(format!("code {code}"));
    }
    if let Some(code) = get("reward_code") {
        parts.push(format!(
            "reward {code} -{}%",
            get("reward_percent").unwrap_or("?")
        ));
    }
    parts.join(", ")
}

pub async fn outbox(store: &StoreArgs, shop: Option<&str>, as_json: bool) -> anyhow::Result<()> {
    let sqlite = crate::backend::Backend::open(store).await?.store;
    let shop = shop.map(ShopId::from_domain).transpose().context("--shop")?;
    let messages = sqlite.list_messages(shop.as_ref()).await?;
    for m in &messages {
        if as_json {
            println!("{}", message_json(m));
        } else {
            let summary = details_summary(m);
            let line = format!(
                "{}  {:<20} {:<24} {:<6} {:<32} {}",
                m.due_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                m.customer_id,
                format!("{}/{}", m.flow(), m.step),
                m.channel,
                decision(m),
                m.rendered_subject.as_deref().unwrap_or(""),
            );
            if summary.is_empty() {
                println!("{}", line.trim_end());
            } else {
                println!("{}  [{summary}]", line.trim_end());
            }
        }
    }
    if !as_json {
        eprintln!(
            "{} message(s); sent email is under {}/outbox/email",
            messages.len(),
            store.data_dir().display()
        );
    }
    Ok(())
}

/// The status and its reason in one column: a reason that says its status is shown alone
/// ("skipped: refunded"), a bare "planned" is said once, not "planned planned", and any
/// other is put after the status ("planned (deferred: quiet hours)").
fn decision(m: &Message) -> String {
    use MessageStatus as S;
    let status = m.status.as_str();
    match (m.status, &m.reason) {
        (S::Planned, Reason::Planned) | (S::Sent, Reason::Sent) => status.to_owned(),
        (S::Planned, Reason::PlannedAgain(_))
        | (S::Skipped, Reason::Skipped(_))
        | (S::Failed, Reason::Failed(_))
        | (S::HeldOut, Reason::HeldOut) => m.reason.to_string(),
        // Text this version does not read is shown the way it always was.
        (_, Reason::Unrecognised(text)) if text.is_empty() || text == status => status.to_owned(),
        (_, Reason::Unrecognised(text)) if text.starts_with(status) => text.clone(),
        (_, reason) => format!("{status} ({reason})"),
    }
}

/// Reads and validates a configuration file for `shop` (or the shop the file names).
pub fn read_config(file: &Path, shop: Option<&str>) -> anyhow::Result<(ShopId, ShopConfig)> {
    read_config_for(file, shop, false)
}

/// [`read_config`], where `app_installed` says whether the shop is installed through the
/// Shopify app (its discount codes then need no `[admin_api]`).
fn read_config_for(
    file: &Path,
    shop: Option<&str>,
    app_installed: bool,
) -> anyhow::Result<(ShopId, ShopConfig)> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let shop = match shop {
        Some(s) => crate::parse_shop(s).context("--shop")?,
        None => {
            let value: toml::Value =
                toml::from_str(&text).with_context(|| format!("in {}", file.display()))?;
            let named = value.get("shop").and_then(|s| s.as_str()).with_context(|| {
                format!("{}: no `shop = \"...\"` in the file; pass --shop", file.display())
            })?;
            ShopId::from_domain(named).with_context(|| format!("{}: shop", file.display()))?
        }
    };
    let config = ShopConfig::from_toml_for(&text, &shop, app_installed)
        .with_context(|| format!("in {}", file.display()))?;
    Ok((shop, config))
}

pub fn config_check(file: &Path, shop: Option<&str>) -> anyhow::Result<()> {
    let (shop, config) = read_config(file, shop)?;
    println!("{} is valid for {shop}:", file.display());
    print!(
        "{}",
        toml::to_string_pretty(&config).context("printing the settings")?
    );
    Ok(())
}

/// Saves the configuration, then brings forward the shop's messages waiting on a discount
/// code: the fix may be this file, or a secret set before loading it.
pub async fn config_load(file: &Path, shop: Option<&str>, store: &StoreArgs) -> anyhow::Result<()> {
    // Every check but `[admin_api]`, which an app-installed shop does without.
    let (shop, config) = read_config_for(file, shop, true)?;
    let options = LocalOptions {
        create_store: true,
        ..LocalOptions::existing(store)
    };
    let local = Local::open(&options, Arc::new(aftersale_ports::SystemClock)).await?;
    let app_installed = local
        .store
        .load_shop(&shop)
        .await?
        .is_some_and(|s| s.has_app_install());
    if !app_installed {
        config
            .validate()
            .with_context(|| format!("in {}", file.display()))?;
    }
    local.store.save_config(&shop, &config).await?;
    println!("loaded {} for {shop}", file.display());
    let retried = local.engine.retry_after_config_change(&shop).await?;
    if retried > 0 {
        println!("{retried} message(s) waiting on a discount code will be retried at the next tick");
    }
    Ok(())
}
