//! Seeds an embedded store with a large generated shop for the metrics benchmark (README,
//! "Benchmarks"): `cargo run --release -p aftersale-store-sqlite --example seed_metrics_shop --
//! DATA_DIR CUSTOMERS`. Orders, messages and answers are stored the way ingest and the engine
//! store them, but the rollups are left empty. Then it times, in this process, what
//! `aftersale metrics rebuild` and `aftersale metrics --json` run (the same library calls):
//! the rebuild of every customer's facts and counters, and the figures read from the counters.
//!
//! It also measures what the rollups add to ingest: the last [`MEASURED_EVENTS`] events are
//! folded alternately as ingest folds them (the order record, then the customer's order facts
//! and counters, `rollups::refresh_orders`) and without the rollups, into the same store of
//! the same size, so drift (a growing file, a warmer cache) falls on both halves alike; then
//! [`MEASURED_MESSAGES`] message changes are timed with and without `refresh_messages`, what
//! the engine adds after planning or settling a message.

use aftersale_metrics::{Range, contract, history, rollups};
use aftersale_ports::{Answers, Messages};
use aftersale_store_sqlite::SqliteStore;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Events at the end of the history timed with and without the rollups (half each).
const MEASURED_EVENTS: usize = 20_000;
/// Message changes timed with and without the customer's message facts (half each).
const MEASURED_MESSAGES: usize = 10_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(customers)) = (args.next(), args.next()) else {
        return Err("usage: seed_metrics_shop DATA_DIR CUSTOMERS (e.g. /tmp/bench 100000)".into());
    };
    let customers: usize = customers
        .parse()
        .map_err(|_| format!("CUSTOMERS: '{customers}' is not a number"))?;
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir)?;
    let store = SqliteStore::open_dir(&dir)?;
    let started = Instant::now();
    let h = history::generate(1, customers);
    let shop = &h.shop;
    let mut events: Vec<_> = h.orders.iter().flat_map(|o| o.events(shop)).collect();
    events.sort_by_key(|e| e.occurred_at);
    let measured_from = events.len().saturating_sub(MEASURED_EVENTS);
    let (mut with_rollups, mut without) = (Duration::ZERO, Duration::ZERO);
    for (i, event) in events.iter().enumerate() {
        let started = Instant::now();
        let customer = contract::record(&store, event).await?;
        if i < measured_from {
            continue;
        }
        if i % 2 == 0 {
            without += started.elapsed();
        } else {
            if let Some(customer) = customer {
                rollups::refresh_orders(&store, shop, &customer).await?;
            }
            with_rollups += started.elapsed();
        }
    }
    let measured_messages_from = h.messages.len().saturating_sub(MEASURED_MESSAGES);
    let (mut messages_with, mut messages_without) = (Duration::ZERO, Duration::ZERO);
    for (i, m) in h.messages.iter().enumerate() {
        let started = Instant::now();
        let planned = m.planned(shop);
        store.plan_message(&planned).await?;
        let stored = store
            .load_message(shop, &planned.customer_id, &planned.id())
            .await?
            .ok_or("the message just planned is missing")?;
        store.update_message(&m.settled(stored)).await?;
        if i < measured_messages_from {
            continue;
        }
        if i % 2 == 0 {
            messages_without += started.elapsed();
        } else {
            rollups::refresh_messages(&store, shop, &planned.customer_id).await?;
            messages_with += started.elapsed();
        }
    }
    // Microseconds per event (or message change) in each half.
    let per = |total: Duration, count: usize| total.as_secs_f64() * 1e6 / (count.max(1) as f64 / 2.0);
    let measured = events.len() - measured_from;
    let measured_messages = h.messages.len() - measured_messages_from;
    let (event_with, event_without) = (per(with_rollups, measured), per(without, measured));
    let (message_with, message_without) = (
        per(messages_with, measured_messages),
        per(messages_without, measured_messages),
    );
    for a in &h.answers {
        store.record_answer(&a.answer(shop)).await?;
    }
    let seeded = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let rebuilt = rollups::rebuild(&store, shop).await?;
    let rebuild = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let report = aftersale_metrics::shop_report(&store, shop, Range::default(), h.now).await?;
    let figures = started.elapsed().as_secs_f64();
    println!(
        "{{\"shop\": \"{shop}\", \"customers\": {}, \"orders\": {}, \"events\": {}, \"messages\": {}, \"answers\": {}, \"now\": \"{}\", \"seed_seconds\": {seeded:.1}, \"rebuild_seconds\": {rebuild:.2}, \"counter_items\": {}, \"metrics_seconds\": {figures:.3}, \"event_fold_us\": {event_without:.0}, \"event_fold_with_rollups_us\": {event_with:.0}, \"message_change_us\": {message_without:.0}, \"message_change_with_rollups_us\": {message_with:.0}}}",
        report.customers,
        h.orders.len(),
        events.len(),
        h.messages.len(),
        h.answers.len(),
        h.now.to_rfc3339(),
        rebuilt.buckets,
    );
    Ok(())
}
