//! `aftersale recommendations --shop S [--json] [--relearn]`: the cross-sell pairs the shop's
//! messages choose from, learned from its counted orders. The learning is the engine's; this
//! module reads the flags and prints.

use crate::StoreArgs;
use crate::local::{Local, LocalOptions};
use aftersale_domain::flows::cross_sell::{Pair, ProductPairs};
use aftersale_engine::Recommendations;
use aftersale_ports::SystemClock;
use anyhow::Context;
use chrono::SecondsFormat;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::fmt::Write;
use std::sync::Arc;

/// Prints the pairs, learning them first when there are none, they are over a day old, the
/// shop's minimums changed, or `relearn` asks.
pub async fn show(store: &StoreArgs, shop: &str, relearn: bool, as_json: bool) -> anyhow::Result<()> {
    let shop = crate::parse_shop(shop).context("--shop")?;
    let local = Local::open(&LocalOptions::existing(store), Arc::new(SystemClock)).await?;
    let engine = &local.engine;
    let run = if relearn {
        engine.learn_cross_sell(&shop).await?
    } else {
        let config = local.store.load_config(&shop).await?.unwrap_or_default();
        engine
            .relearn_if_stale(&shop, &config, chrono::Utc::now())
            .await?
    };
    let mut found = engine.cross_sell_pairs(&shop).await?;
    found.run = Some(run);
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&to_json(shop.as_str(), &found))?
        );
    } else {
        print!("{}", table(shop.as_str(), &found));
    }
    Ok(())
}

/// A ratio to 4 places, without trailing zeros (`0.4545`, `2.6`, `1`).
fn four(value: Decimal) -> String {
    value.round_dp(4).normalize().to_string()
}

fn rows(found: &Recommendations) -> impl Iterator<Item = (&ProductPairs, &Pair)> {
    found
        .products
        .iter()
        .flat_map(|p| p.pairs.iter().map(move |pair| (p, pair)))
}

fn to_json(shop: &str, found: &Recommendations) -> Value {
    let run = found.run.as_ref();
    json!({
        "shop": shop,
        "learned_at": run.map(|r| r.learned_at.to_rfc3339_opts(SecondsFormat::Secs, true)),
        "orders": run.map(|r| r.orders),
        "customers": run.map(|r| r.customers),
        "min_orders": run.map(|r| r.thresholds.min_orders),
        "min_confidence": run.map(|r| r.thresholds.min_confidence.to_string()),
        "min_lift": run.map(|r| r.thresholds.min_lift.to_string()),
        "pairs": rows(found).map(|(p, pair)| json!({
            "product": p.product_id,
            "product_title": p.product.title,
            "complement": pair.complement_id,
            "complement_title": pair.complement.title,
            "kind": pair.kind.as_str(),
            "support": four(pair.support()),
            "confidence": four(pair.confidence()),
            "lift": four(pair.lift()),
            "counts": {
                "both": pair.both,
                "with_product": pair.with_product,
                "with_complement": pair.with_complement,
                "of": pair.base,
            },
        })).collect::<Vec<_>>(),
    })
}

/// Titles longer than this are cut on a terminal (the JSON keeps them whole).
const TITLE_WIDTH: usize = 28;

fn cell(title: &str, id: &str) -> String {
    let title: String = if title.chars().count() > TITLE_WIDTH {
        title.chars().take(TITLE_WIDTH - 1).chain(['…']).collect()
    } else {
        title.to_owned()
    };
    format!("{title} ({id})")
}

fn table(shop: &str, found: &Recommendations) -> String {
    let mut out = String::new();
    let Some(run) = &found.run else {
        return format!("No cross-sell pairs learned for {shop} yet.\n");
    };
    let t = &run.thresholds;
    let _ = writeln!(
        out,
        "Cross-sell pairs for {shop}, learned {} from {} counted orders of {} customers",
        run.learned_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        run.orders,
        run.customers
    );
    let _ = writeln!(
        out,
        "(a pair needs {} orders or customers, confidence {}, lift {})",
        t.min_orders, t.min_confidence, t.min_lift
    );
    let lines: Vec<[String; 7]> = rows(found)
        .map(|(p, pair)| {
            [
                cell(&p.product.title, &p.product_id),
                cell(&pair.complement.title, &pair.complement_id),
                pair.kind.as_str().replace('_', " "),
                four(pair.support()),
                four(pair.confidence()),
                four(pair.lift()),
                format!(
                    "{} of {} with it; {} with the complement; of {}",
                    pair.both, pair.with_product, pair.with_complement, pair.base
                ),
            ]
        })
        .collect();
    if lines.is_empty() {
        let _ = writeln!(out, "\nNo pair clears the minimums yet.");
        return out;
    }
    let header = [
        "PRODUCT",
        "COMPLEMENT",
        "KIND",
        "SUPPORT",
        "CONFIDENCE",
        "LIFT",
        "COUNTS",
    ]
    .map(String::from);
    let mut widths = [0usize; 7];
    for line in std::iter::once(&header).chain(&lines) {
        for (w, text) in widths.iter_mut().zip(line) {
            *w = (*w).max(text.chars().count());
        }
    }
    out.push('\n');
    for line in std::iter::once(&header).chain(&lines) {
        let mut row = String::new();
        for (i, (text, w)) in line.iter().zip(widths).enumerate() {
            let pad = w - text.chars().count();
            if (3..6).contains(&i) {
                let _ = write!(row, "{}{text}  ", " ".repeat(pad));
            } else {
                let _ = write!(row, "{text}{}  ", " ".repeat(pad));
            }
        }
        let _ = writeln!(out, "{}", row.trim_end());
    }
    let _ = writeln!(out, "\n{} pair(s)", lines.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aftersale_domain::flows::cross_sell::{PairKind, ProductInfo, Thresholds};
    use aftersale_engine::LearnRun;
    use chrono::TimeZone;

    fn found() -> Recommendations {
        let info = |t: &str| ProductInfo {
            title: t.into(),
            variant_id: None,
        };
        Recommendations {
            run: Some(LearnRun {
                learned_at: chrono::Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap(),
                orders: 26,
                customers: 20,
                thresholds: Thresholds {
                    min_orders: 5,
                    min_confidence: "0.05".parse().unwrap(),
                    min_lift: "1.2".parse().unwrap(),
                },
                products: 1,
            }),
            products: vec![ProductPairs {
                product_id: "beans".into(),
                product: info("Espresso beans, a very long name for one bag"),
                pairs: vec![Pair {
                    complement_id: "grinder".into(),
                    complement: info("Hand grinder"),
                    kind: PairKind::Together,
                    both: 10,
                    with_product: 10,
                    with_complement: 10,
                    base: 26,
                }],
            }],
        }
    }

    #[test]
    fn the_table_names_both_products_and_every_measure() {
        let text = table("demo.myshopify.com", &found());
        assert!(
            text.contains("learned 2026-12-01T10:00:00Z from 26 counted orders of 20 customers"),
            "{text}"
        );
        let row = text.lines().find(|l| l.contains("grinder")).unwrap();
        assert!(row.starts_with("Espresso beans, a very long… (beans)"), "{row}");
        for part in [
            "Hand grinder (grinder)",
            "together",
            "0.3846",
            "1",
            "2.6",
            "10 of 10 with it",
        ] {
            assert!(row.contains(part), "{part} in {row}");
        }
        assert_eq!(
            table(
                "s",
                &Recommendations {
                    run: None,
                    products: vec![]
                }
            ),
            "No cross-sell pairs learned for s yet.\n"
        );
    }

    #[test]
    fn the_json_has_the_pairs_with_counts() {
        let v = to_json("demo.myshopify.com", &found());
        let pair = &v["pairs"][0];
        assert_eq!(pair["product"], "beans");
        assert_eq!(pair["complement"], "grinder");
        assert_eq!(pair["kind"], "together");
        assert_eq!(pair["support"], "0.3846");
        assert_eq!(pair["lift"], "2.6");
        assert_eq!(pair["counts"]["of"], 26);
        assert_eq!(v["orders"], 26);
    }
}
