//! An export already on disk (`aftersale import shopify --jsonl FILE`): the same stream as a
//! download, read with a small buffer, resumable from a byte offset.

use crate::ImportError;
use crate::shopify::Lines;
use aftersale_platform_api::shopify::bulk::Line;
use async_trait::async_trait;
use std::io::SeekFrom;
use std::path::Path;
use tokio::io::{AsyncBufReadExt, AsyncSeekExt, BufReader};

pub struct FileLines {
    reader: BufReader<tokio::fs::File>,
    offset: u64,
    buffer: Vec<u8>,
}

impl FileLines {
    pub async fn open(path: &Path, from: u64) -> Result<FileLines, ImportError> {
        let io = |e: std::io::Error| ImportError::File(format!("{}: {e}", path.display()));
        let mut file = tokio::fs::File::open(path).await.map_err(io)?;
        file.seek(SeekFrom::Start(from)).await.map_err(io)?;
        Ok(FileLines {
            reader: BufReader::with_capacity(256 * 1024, file),
            offset: from,
            buffer: Vec::new(),
        })
    }
}

#[async_trait]
impl Lines for FileLines {
    async fn next_line(&mut self) -> Result<Option<Line>, ImportError> {
        self.buffer.clear();
        let read = self
            .reader
            .read_until(b'\n', &mut self.buffer)
            .await
            .map_err(|e| ImportError::File(e.to_string()))?;
        if read == 0 {
            return Ok(None);
        }
        let start = self.offset;
        self.offset += read as u64;
        let text = self.buffer.strip_suffix(b"\n").unwrap_or(&self.buffer);
        Ok(Some(Line {
            text: String::from_utf8_lossy(text).into_owned(),
            start,
        }))
    }

    fn offset(&self) -> u64 {
        self.offset
    }
}
