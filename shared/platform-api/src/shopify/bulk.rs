//! Bulk operations: the shop's whole order history as one JSONL file, exported by Shopify in
//! the background.
//!
//! 1. `bulkOperationRunQuery` starts the export, with `groupObjects: true` written out (the
//!    default changed to false in 2025): an order's line items then follow it in the file,
//!    which is what lets the import hold one order at a time.
//! 2. The operation's `status` is polled (`node(id:)`) until it is `COMPLETED`, or the
//!    `bulk_operations/finish` webhook says so. `FAILED`, `CANCELED` and `EXPIRED` are errors
//!    that say what to do; `partialDataUrl` of a failed one is not imported, since a partial
//!    history would make tiers and statistics look real when they are not.
//! 3. The file is downloaded from the `url` the operation returns, as given (it is signed
//!    storage, not the Admin API: the access token is never sent there), streamed line by
//!    line, and resumable from a byte offset with an HTTP `Range` request.

use super::graphql::AdminClient;
use aftersale_ports::PlatformError;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;

const RUN_QUERY: &str = "mutation AftersaleBulkExport($query: String!) {
  bulkOperationRunQuery(query: $query, groupObjects: true) {
    bulkOperation { id status }
    userErrors { field message code }
  }
}";

const FIELDS: &str = "id status errorCode objectCount rootObjectCount fileSize url partialDataUrl query";

/// Why an export could not be had, in words a merchant can act on.
#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    #[error(transparent)]
    Platform(#[from] PlatformError),
    #[error(
        "another bulk export is running in this shop (started by another app run or another app); wait for it to finish and run the import again"
    )]
    InProgress,
    #[error("Shopify refused the export: {0}")]
    Refused(String),
    #[error(
        "Shopify's export failed ({code}); run the import again, and if it keeps failing, import a shorter period"
    )]
    Failed { code: String },
    #[error("the export was cancelled in Shopify; run the import again")]
    Canceled,
    #[error(
        "the export's download link has expired (Shopify keeps it 7 days); run the import again without --resume to export afresh"
    )]
    Expired,
    #[error(
        "downloading the export failed: {0}; run the import again with --resume to go on where it stopped"
    )]
    Download(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BulkStatus {
    Created,
    Running,
    Completed,
    Canceling,
    Canceled,
    Failed,
    Expired,
}

impl BulkStatus {
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            BulkStatus::Completed | BulkStatus::Canceled | BulkStatus::Failed | BulkStatus::Expired
        )
    }
}

/// A bulk operation as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkOperation {
    pub id: String,
    pub status: BulkStatus,
    #[serde(default)]
    pub error_code: Option<String>,
    /// Objects written so far (orders and line items).
    #[serde(default, deserialize_with = "count")]
    pub object_count: u64,
    /// Orders written so far.
    #[serde(default, deserialize_with = "count")]
    pub root_object_count: u64,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub query: Option<String>,
}

/// `UnsignedInt64` is a JSON string.
fn count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let raw = Value::deserialize(d)?;
    Ok(match raw {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_u64().unwrap_or(0),
        _ => 0,
    })
}

impl BulkOperation {
    /// The file to download once complete, or why there is none.
    pub fn result_url(&self) -> Result<Option<&str>, BulkError> {
        match self.status {
            BulkStatus::Completed => Ok(self.url.as_deref()),
            BulkStatus::Failed => Err(BulkError::Failed {
                code: self.error_code.clone().unwrap_or_else(|| "no error code".into()),
            }),
            BulkStatus::Canceled | BulkStatus::Canceling => Err(BulkError::Canceled),
            BulkStatus::Expired => Err(BulkError::Expired),
            BulkStatus::Created | BulkStatus::Running => Ok(None),
        }
    }
}

fn parse_operation(value: Option<&Value>) -> Result<Option<BulkOperation>, BulkError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone()).map(Some).map_err(|e| {
            BulkError::Platform(PlatformError::Unavailable(format!(
                "Shopify's bulk operation could not be read ({e})"
            )))
        }),
    }
}

/// Starts the export of `query`. If this app's previous export of the same query is still
/// running (an import interrupted while it waited), that one is adopted instead.
pub async fn start(api: &AdminClient<'_>, query: &str) -> Result<BulkOperation, BulkError> {
    let data = api.run(RUN_QUERY, json!({ "query": query })).await?;
    let payload = &data["bulkOperationRunQuery"];
    let errors = payload["userErrors"].as_array().cloned().unwrap_or_default();
    if let Some(first) = errors.first() {
        if first["code"] == "OPERATION_IN_PROGRESS" {
            return match current(api).await? {
                Some(op)
                    if !op.status.is_finished() && op.query.as_deref().map(squash) == Some(squash(query)) =>
                {
                    Ok(op)
                }
                _ => Err(BulkError::InProgress),
            };
        }
        let message = first["message"].as_str().unwrap_or("unknown error");
        return Err(BulkError::Refused(message.to_string()));
    }
    parse_operation(payload.get("bulkOperation"))?
        .ok_or_else(|| BulkError::Refused("no bulk operation was created".into()))
}

/// Queries compared without their whitespace.
fn squash(query: &str) -> String {
    query.split_whitespace().collect()
}

/// This app's most recent bulk query in the shop.
pub async fn current(api: &AdminClient<'_>) -> Result<Option<BulkOperation>, BulkError> {
    let query = format!("query AftersaleBulkCurrent {{ currentBulkOperation(type: QUERY) {{ {FIELDS} }} }}");
    let data = api.run(&query, json!({})).await?;
    parse_operation(data.get("currentBulkOperation"))
}

/// One operation by id.
pub async fn operation(api: &AdminClient<'_>, id: &str) -> Result<BulkOperation, BulkError> {
    let query = format!(
        "query AftersaleBulkStatus($id: ID!) {{ node(id: $id) {{ ... on BulkOperation {{ {FIELDS} }} }} }}"
    );
    let data = api.run(&query, json!({ "id": id })).await?;
    parse_operation(data.get("node"))?
        .ok_or_else(|| BulkError::Refused(format!("Shopify knows no bulk operation {id}")))
}

/// Polls until the operation has finished; `seen` hears every status on the way. Returns the
/// completed operation, or the error its end means.
pub async fn wait(
    api: &AdminClient<'_>,
    id: &str,
    every: Duration,
    mut seen: impl FnMut(&BulkOperation),
) -> Result<BulkOperation, BulkError> {
    loop {
        let op = operation(api, id).await?;
        seen(&op);
        if op.status.is_finished() {
            op.result_url()?;
            return Ok(op);
        }
        tokio::time::sleep(every).await;
    }
}

/// One line of the file, with the byte offset it starts at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    pub start: u64,
}

/// The result file, streamed. Only one chunk and one partial line are held at a time.
pub struct Download {
    response: reqwest::Response,
    buffer: Vec<u8>,
    /// Offset of the first byte in `buffer`.
    offset: u64,
    /// Bytes still to drop before the first line (a server that ignored `Range`).
    skip: u64,
    done: bool,
}

impl Download {
    /// Opens `url` (as the operation gave it) at byte `from`.
    pub async fn open(url: &str, from: u64) -> Result<Download, BulkError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| BulkError::Download(e.to_string()))?;
        let mut request = client.get(url);
        if from > 0 {
            request = request.header(reqwest::header::RANGE, format!("bytes={from}-"));
        }
        let response = request
            .send()
            .await
            .map_err(|e| BulkError::Download(without_url(&e)))?;
        let status = response.status().as_u16();
        let skip = match status {
            206 => 0,
            200 => from,
            // Signed storage links answer 400/403 once expired; 404/410 once deleted.
            400 | 403 | 404 | 410 => return Err(BulkError::Expired),
            416 => 0,
            other => {
                return Err(BulkError::Download(format!(
                    "the file server answered HTTP {other}"
                )));
            }
        };
        Ok(Download {
            response,
            buffer: Vec::new(),
            offset: from,
            skip,
            done: status == 416,
        })
    }

    /// The next line, or `None` at the end of the file.
    pub async fn next_line(&mut self) -> Result<Option<Line>, BulkError> {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let bytes: Vec<u8> = self.buffer.drain(..=end).collect();
                let start = self.offset;
                self.offset += bytes.len() as u64;
                return Ok(Some(Line {
                    text: String::from_utf8_lossy(&bytes[..bytes.len() - 1]).into_owned(),
                    start,
                }));
            }
            if self.done {
                if self.buffer.is_empty() {
                    return Ok(None);
                }
                let bytes = std::mem::take(&mut self.buffer);
                let start = self.offset;
                self.offset += bytes.len() as u64;
                return Ok(Some(Line {
                    text: String::from_utf8_lossy(&bytes).into_owned(),
                    start,
                }));
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => {
                    let mut chunk = &chunk[..];
                    if self.skip > 0 {
                        let dropped = chunk.len().min(usize::try_from(self.skip).unwrap_or(usize::MAX));
                        chunk = &chunk[dropped..];
                        self.skip -= dropped as u64;
                    }
                    self.buffer.extend_from_slice(chunk);
                }
                Ok(None) => self.done = true,
                Err(e) => return Err(BulkError::Download(without_url(&e))),
            }
        }
    }

    /// Where the next line starts.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

/// A transport error without the signed URL (its query string is a credential).
fn without_url(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "the download timed out".into()
    } else if err.is_connect() {
        "the file server could not be reached".into()
    } else {
        "the connection broke off".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operation_reads_as_the_api_shows_it_and_its_end_says_what_to_do() {
        let op: BulkOperation = serde_json::from_value(json!({
            "id": "gid://shopify/BulkOperation/1", "status": "COMPLETED", "errorCode": null,
            "objectCount": "12", "rootObjectCount": "4", "fileSize": "2048",
            "url": "https://storage.example/export.jsonl?sig=1", "partialDataUrl": null
        }))
        .unwrap();
        assert_eq!(op.root_object_count, 4);
        assert_eq!(
            op.result_url().unwrap(),
            Some("https://storage.example/export.jsonl?sig=1")
        );
        let failed = BulkOperation {
            status: BulkStatus::Failed,
            error_code: Some("TIMEOUT".into()),
            ..op.clone()
        };
        assert_eq!(
            failed.result_url().unwrap_err().to_string(),
            "Shopify's export failed (TIMEOUT); run the import again, and if it keeps failing, import a shorter period"
        );
        let expired = BulkOperation {
            status: BulkStatus::Expired,
            ..op
        };
        assert!(matches!(expired.result_url(), Err(BulkError::Expired)));
    }

    #[test]
    fn the_export_mutation_sets_group_objects_explicitly() {
        assert!(RUN_QUERY.contains("groupObjects: true"));
    }
}
