//! `aftersale points`: a customer's ledger and balance, manual adjustments with a reason, and
//! double-points campaigns. The rules are the engine's; this module reads the flags and prints.

use crate::StoreArgs;
use crate::local::{Local, LocalOptions};
use aftersale_domain::points::{Balance, Campaign, Entry, Ledger, Source};
use aftersale_domain::{CustomerId, ShopId};
use aftersale_ports::SystemClock;
use anyhow::{Context, bail};
use chrono::SecondsFormat;
use serde_json::{Value, json};
use std::sync::Arc;

async fn open(store: &StoreArgs) -> anyhow::Result<Local> {
    Local::open(&LocalOptions::existing(store), Arc::new(SystemClock)).await
}

fn shop_and_customer(shop: Option<&str>, customer: Option<&str>) -> anyhow::Result<(ShopId, CustomerId)> {
    let shop = ShopId::from_domain(shop.context("--shop: name the shop (e.g. demo.myshopify.com)")?)
        .context("--shop")?;
    let customer = CustomerId::new(customer.context("--customer: name the customer (their platform id)")?)
        .context("--customer")?;
    Ok((shop, customer))
}

/// `aftersale points --shop S --customer C [--json]`.
pub async fn show(
    store: &StoreArgs,
    shop: Option<&str>,
    customer: Option<&str>,
    as_json: bool,
) -> anyhow::Result<()> {
    let (shop, customer) = shop_and_customer(shop, customer)?;
    let local = open(store).await?;
    let ledger = local.engine.points_ledger(&shop, &customer).await?;
    if as_json {
        println!("{}", ledger_json(&ledger));
    } else {
        print!("{}", ledger_text(&shop, &customer, &ledger));
    }
    Ok(())
}

/// `aftersale points adjust --shop S --customer C --points N --reason "…"`.
pub async fn adjust(
    store: &StoreArgs,
    shop: Option<&str>,
    customer: Option<&str>,
    points: i64,
    reason: &str,
    as_json: bool,
) -> anyhow::Result<()> {
    let (shop, customer) = shop_and_customer(shop, customer)?;
    let local = open(store).await?;
    // Who: the operator's login, so the ledger says who adjusted it.
    let by = std::env::var("USER").unwrap_or_else(|_| "owner".into());
    let (entry, ledger) = local
        .engine
        .adjust_points(&shop, &customer, points, &format!("cli:{by}"), reason)
        .await?;
    if as_json {
        println!(
            "{}",
            json!({ "entry": entry_json(&entry), "balance": ledger.balance() })
        );
    } else {
        let b = ledger.balance();
        println!(
            "{:+} points for {customer}: {}. Now {} available, {} pending.",
            entry.points,
            reason.trim(),
            b.available,
            b.pending
        );
    }
    Ok(())
}

/// `aftersale points campaign create --multiplier 2 --from … --to …`. Without `--shop`, the
/// store's one shop.
pub async fn create_campaign(
    store: &StoreArgs,
    shop: Option<&str>,
    multiplier: &str,
    from: &str,
    to: &str,
    as_json: bool,
) -> anyhow::Result<()> {
    let local = open(store).await?;
    let shop = match shop {
        Some(shop) => ShopId::from_domain(shop).context("--shop")?,
        None => only_shop(&local).await?,
    };
    let (campaign, created) = local
        .engine
        .create_points_campaign(&shop, multiplier, from, to)
        .await?;
    if as_json {
        println!(
            "{}",
            json!({ "shop": shop, "campaign": campaign_json(&campaign), "created": created })
        );
    } else {
        let verb = if created { "Created" } else { "Already there:" };
        println!("{verb} {}", campaign_text(&campaign));
    }
    Ok(())
}

/// `aftersale points campaign list --shop S`.
pub async fn list_campaigns(store: &StoreArgs, shop: Option<&str>, as_json: bool) -> anyhow::Result<()> {
    let local = open(store).await?;
    let shop = match shop {
        Some(shop) => ShopId::from_domain(shop).context("--shop")?,
        None => only_shop(&local).await?,
    };
    for campaign in local.engine.points_campaigns(&shop).await? {
        if as_json {
            println!("{}", campaign_json(&campaign));
        } else {
            println!("{}", campaign_text(&campaign));
        }
    }
    Ok(())
}

/// The shop a local store holds, when it holds exactly one (installed or seen in events).
async fn only_shop(local: &Local) -> anyhow::Result<ShopId> {
    let mut shops: Vec<ShopId> = local
        .store
        .list_shops()
        .await?
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    shops.extend(
        local
            .store
            .list_events(None)
            .await?
            .into_iter()
            .map(|e| e.event.shop),
    );
    shops.sort();
    shops.dedup();
    match shops.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("--shop: this store holds no shop yet; name it"),
        many => bail!(
            "--shop: this store holds {} shops ({}); name one",
            many.len(),
            many.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn instant(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The stable JSON shape: `available`, `pending`, `balance`, and `entries` with `kind`,
/// `points`, `source` and `at` (plus `id` and `bucket`).
pub fn ledger_json(ledger: &Ledger) -> Value {
    let Balance {
        available,
        pending,
        balance,
    } = ledger.balance();
    json!({
        "available": available,
        "pending": pending,
        "balance": balance,
        "entries": ledger.entries().iter().map(entry_json).collect::<Vec<_>>(),
    })
}

fn entry_json(entry: &Entry) -> Value {
    json!({
        "id": entry.id,
        "kind": entry.kind,
        "points": entry.points,
        "bucket": entry.bucket,
        "source": entry.source,
        "at": instant(entry.at),
    })
}

/// One line per entry, then the balance.
pub fn ledger_text(shop: &ShopId, customer: &CustomerId, ledger: &Ledger) -> String {
    let mut out = format!("Points of customer {customer} at {shop}\n");
    for entry in ledger.entries() {
        let kind = serde_json::to_value(entry.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        out.push_str(&format!(
            "{}  {:<15} {:>+7}  {}\n",
            instant(entry.at),
            kind,
            entry.points,
            source_text(&entry.source)
        ));
    }
    let b = ledger.balance();
    out.push_str(&format!(
        "Available {}  Pending {}  Balance {}\n",
        b.available, b.pending, b.balance
    ));
    out
}

fn source_text(source: &Source) -> String {
    match source {
        Source::Order { order, multiplier } if multiplier != "1" => format!("order {order} (x{multiplier})"),
        Source::Order { order, .. } => format!("order {order}"),
        Source::Refund { order, refund } => format!("refund {refund} of order {order}"),
        Source::Cancellation { order } => format!("order {order} cancelled or refunded in full"),
        Source::Bonus { bonus } => format!(
            "{} bonus",
            serde_json::to_value(bonus)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        ),
        Source::Review { order, product } => format!("review of product {product} (order {order})"),
        Source::Manual { by, reason } => format!("{by}: {reason}"),
        Source::Reward { code: Some(code), .. } => format!("reward code {code}"),
        Source::Reward {
            redemption,
            code: None,
        } => format!("reward {redemption}"),
        Source::Inactivity { since } => format!("no activity since {}", instant(*since)),
    }
}

fn campaign_json(campaign: &Campaign) -> Value {
    json!({
        "id": campaign.id,
        "multiplier": campaign.multiplier.to_string(),
        "from": instant(campaign.from),
        "to": instant(campaign.to),
    })
}

fn campaign_text(campaign: &Campaign) -> String {
    format!(
        "x{} points on orders from {} to {} (UTC; end excluded)",
        campaign.multiplier,
        instant(campaign.from),
        instant(campaign.to)
    )
}
