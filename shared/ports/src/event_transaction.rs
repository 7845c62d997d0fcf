//! One store transaction for all of an event's store calls, where the store has transactions
//! (the embedded store; DynamoDB and memory have none, and their calls stay one at a time).
//!
//! An order event makes about 50 store calls (fold, statistics, figures, planning). Each was
//! its own SQLite transaction, with its own commit, WAL locks and WAL frames, and the
//! readers read again every page a commit had touched: a third of `serve`'s CPU went to those
//! system calls (README, "Ingest under load"). Ingest opens one with
//! [`crate::EventLog::begin_event_transaction`] and runs the event's work [`within`] it; the
//! store tells the calls of that work (which see its uncommitted writes) from every other
//! task's (which wait for it to end) by the id this module keeps for the running task.

use std::future::Future;

tokio::task_local! {
    static OPEN: u64;
}

/// The id of the event transaction the running task is inside, if any.
pub fn current() -> Option<u64> {
    OPEN.try_with(|id| *id).ok()
}

/// Runs `work` as the task that owns the event transaction `id`.
pub async fn within<F: Future>(id: u64, work: F) -> F::Output {
    OPEN.scope(id, work).await
}
