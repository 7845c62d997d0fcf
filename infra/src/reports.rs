//! `answers` and `customers`: what customers told the shop through the 1-tap links, and who
//! is in which VIP tier, so a merchant never has to open the database.

use crate::StoreArgs;
use crate::local::{Local, LocalOptions};
use aftersale_domain::flows::vip::TierName;
use aftersale_domain::{Answer, AnswerKind, CustomerId, ShopId};
use aftersale_ports::{Clock, ManualClock, SystemClock};
use anyhow::{Context, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;

pub async fn answers(store_args: &StoreArgs, shop: Option<&str>, as_json: bool) -> anyhow::Result<()> {
    let shop = shop.map(crate::parse_shop).transpose().context("--shop")?;
    let store = crate::backend::Backend::open(store_args).await?.store;
    // Answers are kept per customer, and only a customer who was sent a message has links to
    // answer with: their messages name everyone who can have answered.
    let customers: BTreeSet<(ShopId, CustomerId)> = store
        .list_messages(shop.as_ref())
        .await?
        .into_iter()
        .map(|m| (m.shop, m.customer_id))
        .collect();
    let mut answers: Vec<Answer> = Vec::new();
    for (shop, customer) in &customers {
        answers.extend(store.customer_answers(shop, customer).await?);
    }
    answers.sort_by_key(|a| std::cmp::Reverse(a.answered_at));
    for a in &answers {
        let (question, value) = question_and_value(&a.answer);
        let at = a.answered_at.to_rfc3339_opts(SecondsFormat::Secs, true);
        if as_json {
            let mut line = json!({
                "shop": a.shop,
                "customer_id": a.customer_id,
                "order_id": a.order_id,
                "message_id": a.message_id,
                "question": question,
                "answered_at": at,
            });
            match &a.answer {
                AnswerKind::Csat { score } | AnswerKind::Nps { score } => line["score"] = json!(score),
                AnswerKind::Delivery { ok } => line["ok"] = json!(ok),
                AnswerKind::Rating { product_id, stars } => {
                    line["product_id"] = json!(product_id);
                    line["stars"] = json!(stars);
                }
            }
            println!("{line}");
        } else {
            println!(
                "{at}  {:<24} customer {:<20} order {:<16} {:<14} {value}",
                a.shop,
                a.customer_id,
                a.order_id
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| "-".into()),
                question,
            );
        }
    }
    if !as_json {
        eprintln!("{} answer(s)", answers.len());
    }
    Ok(())
}

/// The question's name and the answer as a person reads it.
fn question_and_value(answer: &AnswerKind) -> (&'static str, String) {
    match answer {
        AnswerKind::Csat { score } => ("csat", format!("{score}/5")),
        AnswerKind::Nps { score } => ("nps", format!("{score}/10")),
        AnswerKind::Delivery { ok: true } => ("delivery", "arrived well".into()),
        AnswerKind::Delivery { ok: false } => ("delivery", "something went wrong".into()),
        AnswerKind::Rating { product_id, stars } => {
            ("rating", format!("{stars}/5 stars, product {product_id}"))
        }
    }
}

pub async fn customers(
    store_args: &StoreArgs,
    shop: &str,
    tier: Option<&str>,
    now: Option<DateTime<Utc>>,
    as_json: bool,
) -> anyhow::Result<()> {
    let shop = crate::parse_shop(shop).context("--shop")?;
    let clock: Arc<dyn Clock> = match now {
        Some(at) => Arc::new(ManualClock::new(at)),
        None => Arc::new(SystemClock),
    };
    let local = Local::open(&LocalOptions::existing(store_args), clock).await?;
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
    let wanted = match tier {
        Some(name) => {
            let Some(rule) = configured
                .iter()
                .find(|r| r.name.as_str().eq_ignore_ascii_case(name.trim()))
            else {
                let names: Vec<&str> = configured.iter().map(|r| r.name.as_str()).collect();
                bail!(
                    "--tier: '{name}' is not a configured tier of {shop} (tiers: {})",
                    names.join(", ")
                );
            };
            Some(rule.name.clone())
        }
        None => None,
    };
    let members = local.engine.tier_members(&shop).await?;
    let members: Vec<_> = members
        .into_iter()
        .filter(|m| wanted.as_ref().is_none_or(|w: &TierName| &m.tier == w))
        .collect();
    for m in &members {
        let profile = local.store.load_customer(&shop, &m.customer).await?;
        let email = profile.as_ref().and_then(|c| c.email.clone());
        let name = profile
            .as_ref()
            .map(|c| {
                [c.first_name.as_deref(), c.last_name.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .filter(|n| !n.is_empty());
        if as_json {
            println!(
                "{}",
                json!({
                    "shop": shop,
                    "customer_id": m.customer,
                    "tier": m.tier,
                    "orders": m.orders,
                    "net_spend": { "amount": m.net_spend.amount.to_string(), "currency": m.net_spend.currency },
                    "email": email,
                    "name": name,
                })
            );
        } else {
            println!(
                "{:<20} {:<12} {:>3} order(s)  {:>12}  {}{}",
                m.customer,
                m.tier,
                m.orders,
                m.net_spend.to_string(),
                name.as_deref().unwrap_or(""),
                email.map(|e| format!(" <{e}>")).unwrap_or_default(),
            );
        }
    }
    if !as_json {
        match &wanted {
            Some(tier) => eprintln!("{} customer(s) in {tier} at {shop}", members.len()),
            None => eprintln!("{} customer(s) in a tier at {shop}", members.len()),
        }
    }
    Ok(())
}
