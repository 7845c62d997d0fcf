//! `birthdays import` and `referrals`: the loyalty programme's own data. Platforms send no
//! birthdays, so merchants import them; referrals are listed with the verdict of the fraud
//! checks, so a merchant can see why a friend's order earned nothing.

use crate::StoreArgs;
use crate::backend::Backend;
use crate::local::{Local, LocalOptions};
use aftersale_domain::{CustomerId, ShopId};
use aftersale_engine::Referral;
use aftersale_ports::SystemClock;
use aftersale_ports::documents::{self, keys};
use anyhow::{Context, bail};
use chrono::SecondsFormat;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

/// One row of a birthdays file: `customer_id,MM-DD`.
#[derive(Debug, PartialEq, Eq)]
struct BirthdayRow {
    customer: CustomerId,
    month: u32,
    day: u32,
}

/// Reads the whole file first: one bad line rejects the file, naming every bad line, so an
/// import is all or nothing.
fn read_birthdays(text: &str) -> Result<Vec<BirthdayRow>, Vec<String>> {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || (number == 1 && line.starts_with("customer")) {
            continue;
        }
        let Some((id, date)) = line.split_once(',') else {
            errors.push(format!(
                "line {number}: expected `customer_id,MM-DD`, got `{line}`"
            ));
            continue;
        };
        let customer = match CustomerId::new(id.trim()) {
            Ok(customer) => customer,
            Err(err) => {
                errors.push(format!("line {number}: customer id: {err}"));
                continue;
            }
        };
        let parsed = date
            .trim()
            .split_once('-')
            .and_then(|(m, d)| Some((m.parse().ok()?, d.parse().ok()?)));
        match parsed {
            Some((month, day)) if chrono::NaiveDate::from_ymd_opt(2024, month, day).is_some() => {
                rows.push(BirthdayRow { customer, month, day });
            }
            _ => errors.push(format!(
                "line {number}: `{}` is not a day of the year as MM-DD",
                date.trim()
            )),
        }
    }
    if errors.is_empty() { Ok(rows) } else { Err(errors) }
}

pub async fn import_birthdays(
    store_args: &StoreArgs,
    shop: &str,
    file: &Path,
    as_json: bool,
) -> anyhow::Result<()> {
    let shop = ShopId::from_domain(shop).context("--shop")?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("--file: reading {}", file.display()))?;
    let rows = match read_birthdays(&text) {
        Ok(rows) => rows,
        Err(errors) => bail!("{}: nothing imported\n{}", file.display(), errors.join("\n")),
    };
    let options = LocalOptions::existing(store_args);
    let local = Local::open(&options, Arc::new(SystemClock)).await?;
    let mut greetings = 0;
    for row in &rows {
        let planned = local
            .engine
            .set_birthday(&shop, &row.customer, row.month, row.day)
            .await
            .with_context(|| format!("customer {}", row.customer))?;
        greetings += usize::from(planned.is_some());
    }
    if as_json {
        println!(
            "{}",
            json!({ "shop": shop, "imported": rows.len(), "greetings_planned": greetings })
        );
    } else {
        println!(
            "{} birthday(s) recorded for {shop}; {greetings} greeting(s) planned for customers in a VIP tier",
            rows.len()
        );
    }
    Ok(())
}

pub async fn referrals(store_args: &StoreArgs, shop: &str, as_json: bool) -> anyhow::Result<()> {
    let shop = ShopId::from_domain(shop).context("--shop")?;
    let store = Backend::open(store_args).await?.store;
    let referrals: Vec<(String, Referral)> =
        documents::list(store.as_ref(), &shop, keys::REFERRALS_PREFIX).await?;
    for (_, r) in &referrals {
        let placed = r.placed_at.to_rfc3339_opts(SecondsFormat::Secs, true);
        if as_json {
            println!(
                "{}",
                json!({
                    "shop": shop,
                    "order_id": r.order_id,
                    "code": r.code,
                    "advocate": r.advocate,
                    "friend": r.friend,
                    "placed_at": placed,
                    "verdict": r.verdict,
                })
            );
        } else {
            println!(
                "{placed}  order {:<20} code {:<18} advocate {:<20} {}",
                r.order_id, r.code, r.advocate, r.verdict
            );
        }
    }
    if !as_json {
        eprintln!("{} referred order(s) for {shop}", referrals.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_birthdays_file_is_read_whole_and_every_bad_line_is_named() {
        let rows = read_birthdays("customer_id,birthday\n115310627314723954,03-14\n\n# comment\n42, 12-31\n")
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[1].customer.as_str(), rows[1].month, rows[1].day),
            ("42", 12, 31)
        );
        let errors = read_birthdays("1,02-30\n2;03-01\n3,13-01\n4,1-5\n").unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("line 1: `02-30`"), "{errors:?}");
        assert!(errors[1].starts_with("line 2: expected"), "{errors:?}");
        assert!(errors[2].starts_with("line 3: `13-01`"), "{errors:?}");
    }
}
