//! The dashboard page: one self-contained HTML document (inline CSS and SVG, no script, no
//! external asset), so it works offline, prints, and reads on a phone. Every value is escaped.

use crate::words::Lang;
use aftersale_domain::{Money, ShopId};
use aftersale_metrics::report::{FlowFunnel, LiftFigure, MonthTrend, Report};
use aftersale_metrics::rollups::RecentDecision;
use std::fmt::Write;

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn number(lang: Lang, text: String) -> String {
    if lang == Lang::It {
        text.replace('.', ",")
    } else {
        text
    }
}

fn percent(lang: Lang, x: Option<f64>) -> String {
    x.map_or_else(|| "–".into(), |x| number(lang, format!("{:.1}%", x * 100.0)))
}

fn money(lang: Lang, list: &[Money]) -> String {
    if list.is_empty() {
        return "–".into();
    }
    list.iter()
        .map(|m| number(lang, format!("{} {}", m.amount, m.currency)))
        .collect::<Vec<_>>()
        .join(" · ")
}

const STYLE: &str = "body{font:16px/1.4 system-ui,sans-serif;margin:0;padding:1rem;color:#1b1b1b;background:#fafafa}\
h1{font-size:1.4rem;margin:.2rem 0 1rem}h2{font-size:1.1rem;margin:1.6rem 0 .6rem}\
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(9.5rem,1fr));gap:.6rem}\
.tile{background:#fff;border:1px solid #ddd;border-radius:.5rem;padding:.6rem}\
.tile .label{font-size:.8rem;color:#555}.tile .value{font-size:1.25rem;font-weight:600}\
.scroll{overflow-x:auto}table{border-collapse:collapse;background:#fff;font-size:.9rem}\
th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:right;white-space:nowrap}th:first-child,td:first-child{text-align:left}\
.note{font-size:.85rem;color:#555}svg{max-width:100%;height:auto;background:#fff;border:1px solid #ddd}\
.lift{font-weight:600}";

/// Renders the page for `shop`.
pub fn render(shop: &ShopId, lang: Lang, report: &Report, recent: &[RecentDecision]) -> String {
    let t = |k| lang.t(k);
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{} · {}</title><style>{STYLE}</style></head><body><main>\
         <h1>{} <small>{}</small></h1>",
        lang.code(),
        escape(t("title")),
        escape(shop.as_str()),
        escape(t("title")),
        escape(shop.as_str()),
    );
    tiles(&mut html, lang, report);
    points(&mut html, lang, report);
    trends(&mut html, lang, &report.months);
    cohorts(&mut html, lang, report);
    flows(&mut html, lang, report);
    recent_decisions(&mut html, lang, recent);
    html.push_str("</main></body></html>");
    html
}

fn tiles(html: &mut String, lang: Lang, r: &Report) {
    let t = |k| lang.t(k);
    let mut tiles: Vec<(String, String, &str)> = vec![
        (t("customers").into(), r.customers.to_string(), "customers"),
        (t("orders").into(), r.orders.to_string(), "orders"),
        (t("revenue").into(), money(lang, &r.revenue), "revenue"),
        (
            t("repeat_purchase_rate").into(),
            percent(lang, r.repeat_purchase_rate),
            "repeat_purchase_rate",
        ),
        (
            t("median_days").into(),
            r.median_days_to_second_order
                .map_or_else(|| "–".into(), |d| number(lang, format!("{d:.1}"))),
            "median_days_to_second_order",
        ),
        (
            t("aov_first").into(),
            money(lang, &r.aov_first_order),
            "aov_first_order",
        ),
        (
            t("aov_repeat").into(),
            money(lang, &r.aov_repeat_orders),
            "aov_repeat_orders",
        ),
    ];
    // By horizon (d30, d90, d365), not by name, where d365 would come before d90.
    let mut ltv: Vec<_> = r.ltv.iter().collect();
    ltv.sort_by_key(|(horizon, _)| horizon.trim_start_matches('d').parse::<u32>().unwrap_or(u32::MAX));
    for (horizon, value) in ltv {
        tiles.push((format!("{} {horizon}", t("ltv")), money(lang, value), "ltv"));
    }
    tiles.extend([
        (
            t("refund_rate").into(),
            percent(lang, r.refund_rate),
            "refund_rate",
        ),
        (
            t("review_rate").into(),
            percent(lang, r.review_rate),
            "review_rate",
        ),
        (
            t("nps").into(),
            r.nps
                .map_or_else(|| "–".into(), |n| number(lang, format!("{n:.1}"))),
            "nps",
        ),
        (t("csat").into(), percent(lang, r.csat), "csat"),
    ]);
    tile_section(html, tiles);
}

fn tile_section(html: &mut String, tiles: Vec<(String, String, &str)>) {
    html.push_str("<section class=\"tiles\">");
    for (label, value, key) in tiles {
        let _ = write!(
            html,
            "<div class=\"tile\" data-metric=\"{key}\"><div class=\"label\">{}</div><div class=\"value\">{}</div></div>",
            escape(&label),
            escape(&value)
        );
    }
    html.push_str("</section>");
}

/// Loyalty points, once the shop has any: issued, redeemed and expired over the range, and
/// what is outstanding at its end (the liability).
fn points(html: &mut String, lang: Lang, r: &Report) {
    let p = r.points;
    if p == aftersale_metrics::PointsFigures::default() {
        return;
    }
    let t = |k| lang.t(k);
    let _ = write!(html, "<h2>{}</h2>", escape(t("points")));
    tile_section(
        html,
        vec![
            (t("points_issued").into(), p.issued.to_string(), "points_issued"),
            (
                t("points_redeemed").into(),
                p.redeemed.to_string(),
                "points_redeemed",
            ),
            (
                t("points_expired").into(),
                p.expired.to_string(),
                "points_expired",
            ),
            (
                t("points_clawed_back").into(),
                p.clawed_back.to_string(),
                "points_clawed_back",
            ),
            (
                t("points_outstanding").into(),
                p.outstanding.to_string(),
                "points_outstanding",
            ),
            (
                t("points_outstanding_available").into(),
                p.outstanding_available.to_string(),
                "points_outstanding_available",
            ),
        ],
    );
}

/// A bar chart with a text alternative: the chart's title and a description listing every
/// value, so a screen reader hears the numbers, not "image".
fn bar_chart(html: &mut String, id: &str, title: &str, bars: &[(String, f64, String)]) {
    let max = bars.iter().map(|b| b.1).fold(0.0, f64::max).max(1.0);
    let (width, height, pad) = (640.0, 200.0, 24.0);
    let step = (width - 2.0 * pad) / bars.len().max(1) as f64;
    let description = bars
        .iter()
        .map(|(label, _, value)| format!("{label}: {value}"))
        .collect::<Vec<_>>()
        .join("; ");
    let _ = write!(
        html,
        "<figure><svg id=\"{id}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-labelledby=\"{id}-t {id}-d\">\
         <title id=\"{id}-t\">{}</title><desc id=\"{id}-d\">{}</desc>",
        escape(title),
        escape(&description)
    );
    for (i, (label, v, value)) in bars.iter().enumerate() {
        let h = (height - 2.0 * pad) * v / max;
        let x = pad + i as f64 * step;
        let _ = write!(
            html,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"#3d7a5c\"><title>{}</title></rect>",
            height - pad - h,
            (step * 0.8).max(1.0),
            escape(&format!("{label}: {value}"))
        );
        if bars.len() <= 13 || i % 3 == 0 {
            let _ = write!(
                html,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
                x + step * 0.4,
                height - 8.0,
                escape(label)
            );
        }
    }
    let _ = write!(html, "</svg><figcaption>{}</figcaption></figure>", escape(title));
}

fn trends(html: &mut String, lang: Lang, months: &[MonthTrend]) {
    let _ = write!(html, "<section><h2>{}</h2>", escape(lang.t("trends")));
    if months.is_empty() {
        let _ = write!(html, "<p>{}</p></section>", escape(lang.t("none_yet")));
        return;
    }
    let orders: Vec<(String, f64, String)> = months
        .iter()
        .map(|m| (m.month.clone(), m.orders as f64, m.orders.to_string()))
        .collect();
    bar_chart(html, "orders-chart", lang.t("orders_per_month"), &orders);
    // One chart per currency: amounts in different currencies are never drawn on one axis.
    let mut currencies: Vec<String> = months
        .iter()
        .flat_map(|m| m.revenue.iter().map(|r| r.currency.to_string()))
        .collect();
    currencies.sort();
    currencies.dedup();
    for currency in currencies {
        let bars: Vec<(String, f64, String)> = months
            .iter()
            .map(|m| {
                let amount = m.revenue.iter().find(|r| r.currency.as_str() == currency);
                let value = amount.map_or(0.0, |a| a.amount.to_string().parse().unwrap_or(0.0));
                let text = amount.map_or_else(|| format!("0 {currency}"), |a| number(lang, a.to_string()));
                (m.month.clone(), value, text)
            })
            .collect();
        bar_chart(
            html,
            &format!("revenue-chart-{currency}"),
            &format!("{} ({currency})", lang.t("revenue_per_month")),
            &bars,
        );
    }
    html.push_str("</section>");
}

fn cohorts(html: &mut String, lang: Lang, r: &Report) {
    let _ = write!(html, "<section><h2>{}</h2>", escape(lang.t("cohorts")));
    if r.cohorts.is_empty() {
        let _ = write!(html, "<p>{}</p></section>", escape(lang.t("none_yet")));
        return;
    }
    let _ = write!(
        html,
        "<div class=\"scroll\"><table id=\"cohorts\"><caption class=\"note\">{}</caption><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th>",
        escape(lang.t("cohorts")),
        escape(lang.t("cohort")),
        escape(lang.t("customers"))
    );
    for k in aftersale_metrics::report::COHORT_MONTHS {
        let _ = write!(html, "<th scope=\"col\">{} {k}</th>", escape(lang.t("by_month")));
    }
    html.push_str("</tr></thead><tbody>");
    for c in &r.cohorts {
        let _ = write!(
            html,
            "<tr><th scope=\"row\">{}</th><td>{}</td>",
            escape(&c.month),
            c.customers
        );
        for k in aftersale_metrics::report::COHORT_MONTHS {
            match c.reordered.get(&format!("m{k}")).copied().flatten() {
                Some(share) => {
                    // Darker green for a higher share; the number is always written too.
                    let light = 96.0 - share * 50.0;
                    let ink = if light < 60.0 { "#fff" } else { "#1b1b1b" };
                    let _ = write!(
                        html,
                        "<td style=\"background:hsl(150,45%,{light:.0}%);color:{ink}\">{}</td>",
                        escape(&percent(lang, Some(share)))
                    );
                }
                None => html.push_str("<td>–</td>"),
            }
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table></div></section>");
}

fn lift_text(lang: Lang, f: &FlowFunnel) -> (String, String) {
    match &f.lift {
        LiftFigure::NotEnoughData { sent, held_out } => (
            format!(
                "{} ({sent} {}, {held_out} {})",
                lang.t("not_enough"),
                lang.t("sent_word"),
                lang.t("held_out_word")
            ),
            "–".into(),
        ),
        LiftFigure::Measured {
            lift,
            incremental_revenue,
        } => (
            number(
                lang,
                format!(
                    "{:+.1} {} ({:+.1} … {:+.1})",
                    lift.difference * 100.0,
                    lang.t("pts"),
                    lift.interval.0 * 100.0,
                    lift.interval.1 * 100.0
                ),
            ),
            money(lang, incremental_revenue),
        ),
    }
}

fn flows(html: &mut String, lang: Lang, r: &Report) {
    let t = |k| lang.t(k);
    let _ = write!(
        html,
        "<section><h2>{}</h2><p class=\"note\">{}</p><div class=\"scroll\"><table id=\"funnels\"><thead><tr>",
        escape(t("flows")),
        escape(t("mpp_note"))
    );
    for key in [
        "flow",
        "planned",
        "sent",
        "held_out",
        "skipped",
        "deferred",
        "failed",
        "delivered",
        "opened",
        "clicked",
        "unsubscribed",
        "complained",
        "converted",
        "attributed",
        "incremental",
        "lift",
    ] {
        let _ = write!(html, "<th scope=\"col\">{}</th>", escape(t(key)));
    }
    html.push_str("</tr></thead><tbody>");
    for (flow, f) in &r.flows {
        let skipped: u64 = f.skipped.values().sum();
        let reasons = f
            .skipped
            .iter()
            .map(|(reason, n)| format!("{reason}: {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let (lift, incremental) = lift_text(lang, f);
        let _ = write!(
            html,
            "<tr data-flow=\"{flow}\"><th scope=\"row\">{flow}<br><span class=\"note\">{} {}% · {} {}</span></th>\
             <td>{}</td><td>{}</td><td>{}</td><td title=\"{}\">{skipped}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"lift\">{}</td></tr>",
            escape(t("holdout_share")),
            f.settings.holdout_percent,
            escape(t("window")),
            f.settings.attribution_days,
            f.planned,
            f.sent,
            f.held_out,
            escape(&reasons),
            f.deferred,
            f.failed,
            f.delivered,
            f.opened,
            f.clicked,
            f.unsubscribed,
            f.complained,
            f.converted,
            escape(&money(lang, &f.attributed_revenue)),
            escape(&incremental),
            escape(&lift),
        );
    }
    html.push_str("</tbody></table></div></section>");
}

fn recent_decisions(html: &mut String, lang: Lang, recent: &[RecentDecision]) {
    let _ = write!(html, "<section><h2>{}</h2>", escape(lang.t("recent")));
    if recent.is_empty() {
        let _ = write!(html, "<p>{}</p></section>", escape(lang.t("none_yet")));
        return;
    }
    let _ = write!(
        html,
        "<div class=\"scroll\"><table id=\"recent\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>",
        escape(lang.t("when")),
        escape(lang.t("flow")),
        escape(lang.t("reason"))
    );
    for d in recent {
        let kind = if d.deferred {
            lang.t("deferral")
        } else {
            lang.t("skip")
        };
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{} / {}</td><td>{kind}: {}</td></tr>",
            d.at.format("%Y-%m-%d %H:%M UTC"),
            d.flow,
            escape(&d.step),
            escape(&d.reason)
        );
    }
    html.push_str("</tbody></table></div></section>");
}
