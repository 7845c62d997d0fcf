//! `aftersale data-requests`: the customers' data requests a shop received, each with the
//! export Aftersale built for it, to hand to the customer.

use crate::StoreArgs;
use crate::backend::Backend;
use aftersale_domain::ShopId;
use aftersale_privacy::{DataRequest, list_requests};
use anyhow::Context;
use chrono::SecondsFormat;

pub async fn data_requests(store_args: &StoreArgs, shop: &str, as_json: bool) -> anyhow::Result<()> {
    let shop = ShopId::from_domain(shop).context("--shop")?;
    let store = Backend::open(store_args).await?.store;
    let requests = list_requests(store.as_ref(), &shop).await?;
    for request in &requests {
        if as_json {
            println!("{}", serde_json::to_string(request)?);
        } else {
            print!("{}", describe(request)?);
        }
    }
    if !as_json {
        eprintln!("{} data request(s) for {shop}", requests.len());
    }
    Ok(())
}

/// A heading, a one-line summary, then the whole export.
fn describe(request: &DataRequest) -> anyhow::Result<String> {
    let export = &request.export;
    let received = request.received_at.to_rfc3339_opts(SecondsFormat::Secs, true);
    let contact = export
        .profile
        .as_ref()
        .map(|p| {
            [p.email.as_deref(), p.phone.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ")
        })
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "no profile".into());
    let json = serde_json::to_string_pretty(export)?;
    let indented: String = json.lines().map(|line| format!("    {line}\n")).collect();
    Ok(format!(
        "request {} · customer {} ({contact}) · received {received}\n  \
         {} order(s), {} message(s), {} answer(s), {} referral record(s), {} points entr(ies), tier {}\n  \
         export:\n{indented}\n",
        request.request_id,
        request.customer_id,
        export.orders.len(),
        export.messages.len(),
        export.answers.len(),
        export.referrals.len(),
        export.points.len(),
        export
            .tier
            .as_ref()
            .and_then(|t| t.get("tier"))
            .and_then(|t| t.as_str())
            .unwrap_or("none"),
    ))
}
