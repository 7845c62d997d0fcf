//! `aftersale check-deliveries FILE.jsonl`: runs a capture of deliveries through the signature
//! check, the parser and the normaliser, exactly as `serve` would, and stores nothing. Ops use
//! it to check a capture against a new secret or API version; benchmarks time it.

use crate::StoreArgs;
use crate::local::{Local, LocalOptions};
use aftersale_ingest::capture::read_line;
use aftersale_ingest::{Ingest, WebhookSecrets};
use aftersale_ports::{NoEventBus, SystemClock};
use anyhow::Context;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::Arc;

/// How many lines passed and failed.
#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub ok: u64,
    pub bad: u64,
}

/// Checks every line of `file`; with `verbose`, writes `line N: why` to `reasons` for each bad
/// one. Blank lines are skipped.
pub async fn check_file(
    ingest: &Ingest,
    file: &Path,
    verbose: bool,
    reasons: &mut dyn Write,
) -> anyhow::Result<Counts> {
    let input = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let mut counts = Counts::default();
    for (index, line) in BufReader::new(input).split(b'\n').enumerate() {
        let line = line.with_context(|| format!("reading {}", file.display()))?;
        let why = match std::str::from_utf8(&line) {
            Err(_) => Some("bad JSON: the line is not UTF-8".to_string()),
            Ok(text) if text.trim().is_empty() => continue,
            Ok(text) => match read_line(text) {
                Err(err) => Some(err.to_string()),
                Ok(delivery) => ingest.check(&delivery).await.err().map(|e| e.to_string()),
            },
        };
        match why {
            None => counts.ok += 1,
            Some(why) => {
                counts.bad += 1;
                if verbose {
                    writeln!(reasons, "line {}: {why}", index + 1)?;
                }
            }
        }
    }
    Ok(counts)
}

/// The ingest `serve` would run, for checking only: the webhook secrets from the environment
/// and `--secrets-file`, plus the site secrets `woocommerce connect` stored when there is a
/// store. Its store is never written: `Ingest::check` stores nothing.
pub async fn checker(store_args: &StoreArgs, secrets: WebhookSecrets) -> anyhow::Result<Ingest> {
    if store_args.check_present().is_ok() {
        let local = Local::open(&LocalOptions::existing(store_args), Arc::new(SystemClock)).await?;
        return Ok(local.ingest(secrets));
    }
    Ok(Ingest::new(
        Arc::new(aftersale_store_sqlite::SqliteStore::in_memory()?),
        Arc::new(NoEventBus),
        Arc::new(SystemClock),
        secrets,
    ))
}
