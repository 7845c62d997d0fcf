//! A Shopify shop's history from a bulk export: start it (or adopt the one already running),
//! wait for it, then stream the JSONL file through the webhook path one order at a time,
//! saving a checkpoint as it goes.

use crate::checkpoint::{self, Checkpoint, Position};
use crate::{ImportError, Outcome, Progress, Summary};
use aftersale_domain::{Platform, ShopId};
use aftersale_ingest::Ingest;
use aftersale_platform_api::shopify::AdminClient;
use aftersale_platform_api::shopify::bulk::{self, BulkError, Download, Line};
use aftersale_platforms::shopify_bulk::{
    BULK_TOPIC, BulkOrder, Fed, ORDERS_QUERY, Reassembler, normalise_order,
};
use async_trait::async_trait;
use chrono::Utc;
use std::time::{Duration, Instant};
use tracing::info;

/// The checkpoint document's kind.
pub const KIND: &str = "shopify";

/// Where the lines of an export come from: Shopify's download, or a file already on disk.
#[async_trait]
pub trait Lines: Send {
    /// The next line and the byte offset it starts at, or `None` at the end.
    async fn next_line(&mut self) -> Result<Option<Line>, ImportError>;
    /// Where the next line starts.
    fn offset(&self) -> u64;
}

#[async_trait]
impl Lines for Download {
    async fn next_line(&mut self) -> Result<Option<Line>, ImportError> {
        Ok(Download::next_line(self).await?)
    }

    fn offset(&self) -> u64 {
        Download::offset(self)
    }
}

/// How an import runs.
pub struct Run<'a> {
    pub ingest: &'a Ingest,
    pub shop: ShopId,
    pub progress: &'a dyn Progress,
    /// A checkpoint at least every this many orders (and at the end).
    pub checkpoint_every: u64,
    /// Stop at the next order boundary after this instant, checkpoint saved (a Lambda's
    /// deadline); `None` runs to the end.
    pub stop_at: Option<Instant>,
}

impl Run<'_> {
    fn documents(&self) -> &dyn aftersale_ports::Documents {
        self.ingest.store().as_ref()
    }

    /// The whole import: export (unless `resume` finds one), wait, download, stream.
    pub async fn import(
        &self,
        api: &AdminClient<'_>,
        resume: bool,
        poll_every: Duration,
    ) -> Result<Outcome, ImportError> {
        let mut checkpoint = match (
            resume,
            checkpoint::load(self.documents(), &self.shop, KIND).await?,
        ) {
            (true, Some(found)) if found.finished => return Ok(Outcome::Finished(found.summary)),
            (true, Some(found)) => found,
            (true, None) => {
                return Err(ImportError::NothingToResume {
                    shop: self.shop.clone(),
                });
            }
            (false, _) => self.start_export(api).await?,
        };
        let Position::ShopifyBulk {
            operation_id,
            url,
            offset,
            lines,
        } = checkpoint.position.clone()
        else {
            return Err(ImportError::NothingToResume {
                shop: self.shop.clone(),
            });
        };
        let url = match url {
            Some(url) => url,
            None => {
                self.progress.stage("waiting for Shopify's export");
                let progress = self.progress;
                let done = bulk::wait(api, &operation_id, poll_every, |op| {
                    progress.expect(Some(op.root_object_count).filter(|n| *n > 0));
                })
                .await?;
                progress.expect(Some(done.root_object_count));
                // A shop without orders completes with no file at all.
                let Some(url) = done.url.clone() else {
                    checkpoint.finished = true;
                    checkpoint.saved_at = Utc::now();
                    checkpoint::save(self.documents(), &self.shop, KIND, &checkpoint).await?;
                    return Ok(Outcome::Finished(checkpoint.summary));
                };
                checkpoint.position = Position::ShopifyBulk {
                    operation_id: operation_id.clone(),
                    url: Some(url.clone()),
                    offset,
                    lines,
                };
                checkpoint::save(self.documents(), &self.shop, KIND, &checkpoint).await?;
                url
            }
        };
        self.progress.stage("importing orders");
        let mut download = Download::open(&url, offset).await?;
        self.stream(&mut download, checkpoint).await
    }

    /// Starts Shopify's export of every order (or adopts this app's export already running)
    /// and saves a fresh checkpoint on it: the first step of an import, and all the install
    /// does on AWS (the `bulk_operations/finish` webhook then calls [`Run::continue_export`]).
    pub async fn start_export(&self, api: &AdminClient<'_>) -> Result<Checkpoint, ImportError> {
        self.progress.stage("starting Shopify's export of every order");
        let op = bulk::start(api, ORDERS_QUERY).await?;
        info!(operation = %op.id, "bulk export started");
        let now = Utc::now();
        let fresh = Checkpoint {
            position: Position::ShopifyBulk {
                operation_id: op.id,
                url: None,
                offset: 0,
                lines: 0,
            },
            summary: Summary::default(),
            started_at: now,
            saved_at: now,
            finished: false,
        };
        checkpoint::save(self.documents(), &self.shop, KIND, &fresh).await?;
        Ok(fresh)
    }

    /// Goes on with the import the checkpoint describes, without polling: asks Shopify once
    /// for the operation's file if the checkpoint has none yet, then streams from where the
    /// last run stopped until the end or [`Run::stop_at`]. `None` when the export is still
    /// running (its `bulk_operations/finish` webhook will come). A finished import is
    /// `Finished` again, with nothing read.
    pub async fn continue_export(&self, api: &AdminClient<'_>) -> Result<Option<Outcome>, ImportError> {
        let Some(mut checkpoint) = checkpoint::load(self.documents(), &self.shop, KIND).await? else {
            return Err(ImportError::NothingToResume {
                shop: self.shop.clone(),
            });
        };
        if checkpoint.finished {
            return Ok(Some(Outcome::Finished(checkpoint.summary)));
        }
        let Position::ShopifyBulk {
            operation_id,
            url,
            offset,
            lines,
        } = checkpoint.position.clone()
        else {
            return Err(ImportError::NothingToResume {
                shop: self.shop.clone(),
            });
        };
        let url = match url {
            Some(url) => url,
            None => {
                let op = bulk::operation(api, &operation_id).await?;
                if !op.status.is_finished() {
                    return Ok(None);
                }
                let Some(url) = op.result_url()?.map(String::from) else {
                    // A shop without orders completes with no file at all.
                    checkpoint.finished = true;
                    checkpoint.saved_at = Utc::now();
                    checkpoint::save(self.documents(), &self.shop, KIND, &checkpoint).await?;
                    return Ok(Some(Outcome::Finished(checkpoint.summary)));
                };
                checkpoint.position = Position::ShopifyBulk {
                    operation_id,
                    url: Some(url.clone()),
                    offset,
                    lines,
                };
                checkpoint::save(self.documents(), &self.shop, KIND, &checkpoint).await?;
                url
            }
        };
        let mut download = Download::open(&url, offset).await?;
        self.stream(&mut download, checkpoint).await.map(Some)
    }

    /// Streams `source` (positioned at the checkpoint) through the webhook path.
    pub async fn stream(
        &self,
        source: &mut dyn Lines,
        mut checkpoint: Checkpoint,
    ) -> Result<Outcome, ImportError> {
        let Position::ShopifyBulk {
            operation_id,
            url,
            lines,
            ..
        } = checkpoint.position.clone()
        else {
            return Err(ImportError::NothingToResume {
                shop: self.shop.clone(),
            });
        };
        let mut summary = checkpoint.summary;
        let mut reassembler = Reassembler::starting_after(lines);
        let mut since_checkpoint = 0;
        let save =
            |checkpoint: &mut Checkpoint, summary: Summary, offset: u64, lines: u64, finished: bool| {
                checkpoint.position = Position::ShopifyBulk {
                    operation_id: operation_id.clone(),
                    url: url.clone(),
                    offset,
                    lines,
                };
                checkpoint.summary = summary;
                checkpoint.saved_at = Utc::now();
                checkpoint.finished = finished;
                checkpoint.clone()
            };
        while let Some(line) = source.next_line().await? {
            match reassembler.feed(&line.text) {
                Fed::Nothing => {}
                Fed::Bad(bad) => {
                    self.ingest
                        .dead_letter_import(
                            Platform::Shopify,
                            &self.shop,
                            BULK_TOPIC,
                            bad.text.as_bytes(),
                            bad.reason,
                        )
                        .await?;
                    summary.dead_lettered += 1;
                }
                Fed::Order(order) => {
                    self.order(&order, &mut summary).await?;
                    self.progress.advance(&summary);
                    since_checkpoint += 1;
                    // Everything before this line (the start of the next order) is stored.
                    let boundary_lines = reassembler.line() - 1;
                    let stop = self.stop_at.is_some_and(|at| Instant::now() >= at);
                    if since_checkpoint >= self.checkpoint_every || stop {
                        let saved = save(&mut checkpoint, summary, line.start, boundary_lines, false);
                        checkpoint::save(self.documents(), &self.shop, KIND, &saved).await?;
                        since_checkpoint = 0;
                    }
                    if stop {
                        return Ok(Outcome::Paused(summary));
                    }
                }
            }
        }
        if let Some(order) = reassembler.finish() {
            self.order(&order, &mut summary).await?;
            self.progress.advance(&summary);
        }
        let saved = save(
            &mut checkpoint,
            summary,
            source.offset(),
            reassembler.line(),
            true,
        );
        checkpoint::save(self.documents(), &self.shop, KIND, &saved).await?;
        Ok(Outcome::Finished(summary))
    }

    /// One order: its events through ingest, or the whole order to the dead letters.
    async fn order(&self, order: &BulkOrder, summary: &mut Summary) -> Result<(), ImportError> {
        summary.orders += 1;
        match normalise_order(&self.shop, order) {
            Ok(events) => summary.add(self.ingest.import_events(events).await?),
            Err(err) => {
                let reason = format!("line {}: {err}", order.line);
                self.ingest
                    .dead_letter_import(
                        Platform::Shopify,
                        &self.shop,
                        BULK_TOPIC,
                        &order.to_json(),
                        reason,
                    )
                    .await?;
                summary.dead_lettered += 1;
            }
        }
        Ok(())
    }
}

/// A checkpoint for an export file read from disk (`--jsonl`): no operation behind it.
pub fn file_checkpoint(path: &str) -> Checkpoint {
    let now = Utc::now();
    Checkpoint {
        position: Position::ShopifyBulk {
            operation_id: format!("file:{path}"),
            url: None,
            offset: 0,
            lines: 0,
        },
        summary: Summary::default(),
        started_at: now,
        saved_at: now,
        finished: false,
    }
}

impl From<BulkError> for ImportError {
    fn from(err: BulkError) -> Self {
        ImportError::Shopify(err)
    }
}
