//! The data dir's one sealing key, `sealing.key`: 32 random bytes as hex, mode 0600, created on
//! first use. It seals everything secret the embedded store keeps (shops' Admin API tokens
//! here, WooCommerce sites' credentials and webhook secrets through
//! `aftersale_platform_api::sealed`), so there is one file to protect, back up apart from the
//! database, and rotate. Data dirs from before it had a second key, `token.key`, for the tokens
//! alone; [`crate::SealedTokens::open`] re-seals those and then removes it.

use ring::rand::{SecureRandom, SystemRandom};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The one key file in a data dir.
pub const SEALING_KEY_FILE: &str = "sealing.key";
/// The tokens' own key of older data dirs, re-sealed under [`SEALING_KEY_FILE`] and removed.
pub const LEGACY_TOKEN_KEY_FILE: &str = "token.key";
pub const KEY_LEN: usize = 32;

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`")]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("{path} does not hold a 32-byte hex key")]
    Malformed { path: PathBuf },
}

/// Reads the key in `path`, or creates it with mode 0600 (never wider, even for a moment: the
/// file is created with that mode). An existing key readable by others is refused, as ssh does.
pub fn load_or_create_key(path: &Path) -> Result<[u8; KEY_LEN], KeyFileError> {
    match read_key(path)? {
        Some(key) => Ok(key),
        None => create_key(path),
    }
}

/// The key in `path`, `None` when there is no such file.
pub fn read_key(path: &Path) -> Result<Option<[u8; KEY_LEN]>, KeyFileError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            check_private(path)?;
            hex::decode(text.trim())
                .ok()
                .and_then(|k| k.try_into().ok())
                .map(Some)
                .ok_or_else(|| KeyFileError::Malformed {
                    path: path.to_path_buf(),
                })
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(KeyFileError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn create_key(path: &Path) -> Result<[u8; KEY_LEN], KeyFileError> {
    let io = |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut key = [0u8; KEY_LEN];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| io(std::io::Error::other("no randomness for a key")))?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io)?;
    file.write_all(hex::encode(key).as_bytes()).map_err(io)?;
    // The key must be on disk before anything sealed under it is.
    file.sync_all().map_err(io)?;
    Ok(key)
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), KeyFileError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|source| KeyFileError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), KeyFileError> {
    Ok(())
}
