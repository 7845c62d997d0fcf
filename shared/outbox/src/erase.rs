//! [`OutboxEraser`]: erases a customer's (or a shop's) copies from the local outbox, for the
//! platforms' privacy requests. An `.eml` file goes when its name is one of their sent
//! messages or its text holds one of their addresses or ids; a JSON line of `sms.jsonl` or
//! `alerts.jsonl` goes when it holds one. Files are rewritten aside and renamed, so a reader
//! never sees half a file.

use crate::sanitise;
use aftersale_ports::{PersonalFiles, StoreError, Traces};
use async_trait::async_trait;
use std::path::{Path, PathBuf};

/// The outbox under `dir`, as [`FileMailer`](crate::FileMailer), [`FileSms`](crate::FileSms)
/// and [`FileAlerts`](crate::FileAlerts) write it.
#[derive(Debug, Clone)]
pub struct OutboxEraser {
    dir: PathBuf,
}

impl OutboxEraser {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

#[async_trait]
impl PersonalFiles for OutboxEraser {
    async fn erase(&self, traces: &Traces) -> Result<u64, StoreError> {
        let dir = self.dir.clone();
        let needles: Vec<String> = traces.needles().map(str::to_string).collect();
        let file_ids: Vec<String> = traces.sent_ids.iter().map(|id| sanitise(id)).collect();
        tokio::task::spawn_blocking(move || erase_in(&dir, &needles, &file_ids))
            .await
            .map_err(|e| StoreError::Backend(format!("outbox eraser stopped: {e}")))?
            .map_err(|e| StoreError::Backend(format!("erasing from the local outbox: {e}")))
    }
}

fn erase_in(dir: &Path, needles: &[String], file_ids: &[String]) -> std::io::Result<u64> {
    let mut removed = 0;
    let email_dir = dir.join("email");
    match std::fs::read_dir(&email_dir) {
        Ok(entries) => {
            for entry in entries {
                let path = entry?.path();
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
                    .to_string();
                let named = file_ids.iter().any(|id| name.contains(id.as_str()));
                if named || holds_any(&String::from_utf8_lossy(&std::fs::read(&path)?), needles) {
                    std::fs::remove_file(&path)?;
                    removed += 1;
                }
            }
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    for lines in ["sms.jsonl", "alerts.jsonl"] {
        removed += drop_lines(&dir.join(lines), needles)?;
    }
    Ok(removed)
}

/// Rewrites a JSON-lines file without the lines holding a needle; returns how many went.
fn drop_lines(path: &Path, needles: &[String]) -> std::io::Result<u64> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(err) => return Err(err),
    };
    let kept: Vec<&str> = text.lines().filter(|line| !holds_any(line, needles)).collect();
    let removed = (text.lines().count() - kept.len()) as u64;
    if removed > 0 {
        let mut out = kept.join("\n");
        if !out.is_empty() {
            out.push('\n');
        }
        let partial = path.with_extension("jsonl.partial");
        std::fs::write(&partial, out)?;
        std::fs::rename(&partial, path)?;
    }
    Ok(removed)
}

/// Whether `text` holds one of `needles` as a whole token: not inside a longer run of letters
/// and digits, so erasing customer `42` leaves a line about order `1042` alone.
fn holds_any(text: &str, needles: &[String]) -> bool {
    needles.iter().any(|needle| holds_token(text, needle))
}

fn holds_token(text: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric());
    let lower = text.to_lowercase();
    let needle = needle.to_lowercase();
    lower.match_indices(&needle).any(|(at, _)| {
        let before = lower[..at].chars().next_back();
        let after = lower[at + needle.len()..].chars().next();
        !word(before) && !word(after)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_as_whole_tokens_only() {
        assert!(holds_token(r#"{"to":"+393331234567"}"#, "+393331234567"));
        assert!(holds_token("customer 42 rated 1", "42"));
        assert!(!holds_token("order 1042 rated 1", "42"));
        assert!(!holds_token("order 421", "42"));
        assert!(holds_token("To: Ada@Example.com", "ada@example.com"));
    }

    #[test]
    fn lines_and_files_of_others_stay() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("email")).unwrap();
        std::fs::write(
            dir.path().join("email/1-aa_aftersale.local.eml"),
            "To: ada@example.com\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("email/2-bb_aftersale.local.eml"),
            "To: bob@example.com\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("email/3-cc_aftersale.local.eml"),
            "To: x@example.com\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("sms.jsonl"),
            "{\"to\":\"+393331234567\"}\n{\"to\":\"+393330000000\"}\n",
        )
        .unwrap();
        let removed = erase_in(
            dir.path(),
            &["ada@example.com".into(), "+393331234567".into()],
            &[sanitise("cc@aftersale.local")],
        )
        .unwrap();
        assert_eq!(
            removed, 3,
            "two emails (by address and by message id) and one SMS line"
        );
        let left: Vec<String> = std::fs::read_dir(dir.path().join("email"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["2-bb_aftersale.local.eml"]);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("sms.jsonl")).unwrap(),
            "{\"to\":\"+393330000000\"}\n"
        );
    }
}
