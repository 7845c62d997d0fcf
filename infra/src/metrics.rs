//! `aftersale metrics`: the shop's retention figures, funnels and lift, as a readable table or
//! one JSON object; `aftersale metrics rebuild` recomputes the rollups from the records.

use crate::StoreArgs;
use aftersale_domain::Money;
use aftersale_metrics::report::{LiftFigure, Report};
use aftersale_metrics::{Range, rollups};
use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, Utc};

/// `--from` / `--to`: a UTC day, `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| format!("'{text}' is not a date such as 2026-03-31 (YYYY-MM-DD)"))
}

pub async fn show(
    store_args: &StoreArgs,
    shop: &str,
    range: Range,
    now: Option<DateTime<Utc>>,
    as_json: bool,
) -> anyhow::Result<()> {
    let shop = crate::parse_shop(shop).context("--shop")?;
    if let (Some(from), Some(to)) = (range.from, range.to)
        && from > to
    {
        bail!("--from {from} is after --to {to}: the range would be empty");
    }
    let store = crate::backend::Backend::open(store_args).await?.store;
    let report =
        aftersale_metrics::shop_report(store.as_ref(), &shop, range, now.unwrap_or_else(Utc::now)).await?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        print!("{}", table(&report));
    }
    Ok(())
}

pub async fn rebuild(store_args: &StoreArgs, shop: &str, as_json: bool) -> anyhow::Result<()> {
    let shop = crate::parse_shop(shop).context("--shop")?;
    let store = crate::backend::Backend::open(store_args).await?.store;
    let rebuilt = rollups::rebuild(store.as_ref(), &shop).await?;
    if as_json {
        println!("{}", serde_json::to_string(&rebuilt)?);
    } else {
        println!(
            "rebuilt the metrics of {shop} from {} customer(s) into {} rollup item(s)",
            rebuilt.customers, rebuilt.buckets
        );
    }
    Ok(())
}

fn money(list: &[Money]) -> String {
    if list.is_empty() {
        return "-".into();
    }
    list.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn share(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |x| format!("{:.1}%", x * 100.0))
}

/// The terminal view: the headline figures, cohorts, then one line per flow.
pub fn table(r: &Report) -> String {
    let mut out = String::new();
    let mut line = |label: &str, value: String| out.push_str(&format!("{label:<30} {value}\n"));
    line("customers", r.customers.to_string());
    line("orders", r.orders.to_string());
    line("revenue (net of refunds)", money(&r.revenue));
    line("repeat purchase rate", share(r.repeat_purchase_rate));
    line(
        "median days to second order",
        r.median_days_to_second_order
            .map_or_else(|| "-".into(), |d| format!("{d:.1}")),
    );
    line("AOV, first orders", money(&r.aov_first_order));
    line("AOV, repeat orders", money(&r.aov_repeat_orders));
    for (horizon, value) in &r.ltv {
        line(&format!("LTV {horizon}"), money(value));
    }
    line("refund rate", share(r.refund_rate));
    line("review rate", share(r.review_rate));
    line("NPS", r.nps.map_or_else(|| "-".into(), |n| format!("{n:.1}")));
    line("CSAT", share(r.csat));
    let p = r.points;
    if p != aftersale_metrics::PointsFigures::default() {
        line("points issued", p.issued.to_string());
        line("points redeemed", p.redeemed.to_string());
        line("points expired", p.expired.to_string());
        line("points taken back by refunds", p.clawed_back.to_string());
        line("points adjusted", p.adjusted.to_string());
        line(
            "points outstanding",
            format!(
                "{} ({} available, {} pending)",
                p.outstanding, p.outstanding_available, p.outstanding_pending
            ),
        );
    }
    if !r.cohorts.is_empty() {
        out.push_str("\ncohort    customers      m1      m2      m3      m6     m12\n");
        for c in &r.cohorts {
            out.push_str(&format!("{:<9} {:>9}", c.month, c.customers));
            for k in ["m1", "m2", "m3", "m6", "m12"] {
                out.push_str(&format!(" {:>7}", share(c.reordered.get(k).copied().flatten())));
            }
            out.push('\n');
        }
    }
    out.push_str(
        "\nflow               planned   sent  held  skip  defer  fail  deliv  open  click  unsub  compl  conv  attributed          lift (95% interval)\n",
    );
    for (flow, f) in &r.flows {
        let skipped: u64 = f.skipped.values().sum();
        let lift = match &f.lift {
            LiftFigure::NotEnoughData { sent, held_out } => {
                format!("not enough data yet ({sent} sent, {held_out} held out)")
            }
            LiftFigure::Measured {
                lift,
                incremental_revenue,
            } => format!(
                "{:+.1} pts ({:+.1} to {:+.1}), incremental {}",
                lift.difference * 100.0,
                lift.interval.0 * 100.0,
                lift.interval.1 * 100.0,
                money(incremental_revenue)
            ),
        };
        out.push_str(&format!(
            "{:<18} {:>7} {:>6} {:>5} {:>5} {:>6} {:>5} {:>6} {:>5} {:>6} {:>6} {:>6} {:>5}  {:<18}  {lift}\n",
            flow.as_str(),
            f.planned,
            f.sent,
            f.held_out,
            skipped,
            f.deferred,
            f.failed,
            f.delivered,
            f.opened,
            f.clicked,
            f.unsubscribed,
            f.complained,
            f.converted,
            money(&f.attributed_revenue),
        ));
    }
    out.push_str(
        "\nOpens are inflated by Apple Mail Privacy Protection: read clicks as the engagement figure.\n",
    );
    out
}

/// `aftersale dashboard-link`: a link to one shop's dashboard, signed with the deployment's
/// link key (the data dir's `link.key`, or `AFTERSALE_LINK_KEY` for a deployed one).
pub fn dashboard_link(
    store_args: &StoreArgs,
    shop: &str,
    hours: u32,
    public_url: &str,
) -> anyhow::Result<()> {
    let shop = crate::parse_shop(shop).context("--shop")?;
    if !public_url.starts_with("http://") && !public_url.starts_with("https://") {
        bail!("--public-url: '{public_url}' is not a web address such as https://dashboard.example");
    }
    store_args.check_present()?;
    let key = crate::local::link_key(store_args.data_dir())?;
    let access = aftersale_dashboard::Access::new(&key);
    let expires = Utc::now() + chrono::Duration::hours(i64::from(hours));
    println!(
        "{}/dashboard?{}",
        public_url.trim_end_matches('/'),
        access.link_query(&shop, expires.timestamp())
    );
    eprintln!(
        "valid until {}",
        expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    Ok(())
}
