/// A storage failure. `Conflict` is expected under concurrency and means "reload and retry";
/// everything else is the backend's problem and is reported, never swallowed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("concurrent update of {what}; reload and retry")]
    Conflict { what: String },
    #[error("stored {what} could not be read: {detail}")]
    Corrupt { what: String, detail: String },
    #[error("storage backend failed: {0}")]
    Backend(String),
}

impl StoreError {
    pub fn backend(err: impl std::fmt::Display) -> Self {
        StoreError::Backend(err.to_string())
    }
}
