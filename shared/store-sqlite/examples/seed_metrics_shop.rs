//! Seeds an embedded store with a large generated shop for the metrics benchmark (README,
//! "Benchmarks"): `cargo run --release -p aftersale-store-sqlite --example seed_metrics_shop --
//! DATA_DIR CUSTOMERS`. Orders, messages and answers are stored the way ingest and the engine
//! store them, but the rollups are left empty. Then it times, in this process, what
//! `aftersale metrics rebuild` and `aftersale metrics --json` run (the same library calls):
//! the rebuild of every customer's facts and counters, and the figures read from the counters.

use aftersale_metrics::{Range, contract, history, rollups};
use aftersale_ports::{Answers, Messages};
use aftersale_store_sqlite::SqliteStore;
use std::path::PathBuf;
use std::time::Instant;

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
    for event in &events {
        contract::record(&store, event).await?;
    }
    for m in &h.messages {
        let planned = m.planned(shop);
        store.plan_message(&planned).await?;
        let stored = store
            .load_message(shop, &planned.customer_id, &planned.id())
            .await?
            .ok_or("the message just planned is missing")?;
        store.update_message(&m.settled(stored)).await?;
    }
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
        "{{\"shop\": \"{shop}\", \"customers\": {}, \"orders\": {}, \"events\": {}, \"messages\": {}, \"answers\": {}, \"now\": \"{}\", \"seed_seconds\": {seeded:.1}, \"rebuild_seconds\": {rebuild:.2}, \"counter_items\": {}, \"metrics_seconds\": {figures:.3}}}",
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
