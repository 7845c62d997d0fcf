//! The history import's benchmark (README, "Benchmarks"): what `aftersale import shopify
//! --jsonl FILE` runs, on the embedded store, without the CLI around it, so that it builds in
//! release without the AWS SDK:
//!
//! ```sh
//! python3 infra/scripts/bulk_jsonl.py 100000 > /tmp/orders-100k.jsonl
//! cargo build --release -p aftersale-import --example import_bench
//! /usr/bin/time -v target/release/examples/import_bench /tmp/import-bench /tmp/orders-100k.jsonl
//! ```
//!
//! The wiring is the CLI's (`infra/src/local.rs`): a SQLite store in DATA_DIR, the engine
//! planning in process through the in-process bus (file outbox, no message is due), ingest,
//! and [`shopify::Run::stream`] over the file with a checkpoint every 100 orders. It prints
//! the import's summary with the wall time, orders and events a second, and microseconds an
//! event; `/usr/bin/time -v` adds the peak memory (maximum resident set size).

use aftersale_domain::ShopId;
use aftersale_engine::{Engine, InProcessBus, Senders, Settings};
use aftersale_import::file::FileLines;
use aftersale_import::{Quiet, shopify};
use aftersale_ingest::{Ingest, WebhookSecrets};
use aftersale_links::LinkSigner;
use aftersale_outbox::{FileAlerts, FileMailer, FileSms};
use aftersale_platform_api::{AdminApiDiscounts, EnvSecrets};
use aftersale_ports::{Clock, SystemClock};
use aftersale_store_sqlite::SqliteStore;
use aftersale_templates::Templates;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(file)) = (args.next(), args.next()) else {
        return Err(
            "usage: import_bench DATA_DIR EXPORT.jsonl (e.g. /tmp/import-bench /tmp/orders-100k.jsonl)"
                .into(),
        );
    };
    let (dir, file) = (PathBuf::from(dir), PathBuf::from(file));
    std::fs::create_dir_all(&dir)?;
    let store = Arc::new(SqliteStore::open_dir(&dir)?);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let outbox = dir.join("outbox");
    let senders = Senders {
        mailer: Arc::new(FileMailer::with_clock(&outbox, Arc::clone(&clock))),
        sms: Arc::new(FileSms::with_clock(&outbox, Arc::clone(&clock))),
        alerts: Arc::new(FileAlerts::with_clock(&outbox, Arc::clone(&clock))),
        discounts: Arc::new(AdminApiDiscounts::new(Arc::new(EnvSecrets))),
        catalogue: Arc::new(AdminApiDiscounts::new(Arc::new(EnvSecrets))),
    };
    let engine = Arc::new(Engine::new(
        Arc::clone(&store) as _,
        senders,
        Templates::builtin(),
        LinkSigner::new(&[7u8; 32])?,
        Arc::clone(&clock),
        Settings {
            outbox_marks_delivery: true,
            ..Settings::default()
        },
    ));
    let ingest = Ingest::new(
        Arc::clone(&store) as _,
        Arc::new(InProcessBus::new(engine)),
        clock,
        WebhookSecrets::default(),
    );
    let run = shopify::Run {
        ingest: &ingest,
        shop: ShopId::shopify("bench.myshopify.com")?,
        progress: &Quiet,
        checkpoint_every: 100,
        stop_at: None,
    };
    let started = Instant::now();
    let mut lines = FileLines::open(&file, 0).await?;
    let outcome = run
        .stream(&mut lines, shopify::file_checkpoint(&file.display().to_string()))
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    let s = outcome.summary();
    let events = s.imported + s.unchanged;
    println!(
        "{{\"orders\": {}, \"imported\": {}, \"unchanged\": {}, \"dead_lettered\": {}, \"seconds\": {seconds:.1}, \"orders_per_second\": {:.0}, \"events_per_second\": {:.0}, \"us_per_event\": {:.0}}}",
        s.orders,
        s.imported,
        s.unchanged,
        s.dead_lettered,
        s.orders as f64 / seconds,
        events as f64 / seconds,
        seconds * 1e6 / events.max(1) as f64,
    );
    Ok(())
}
