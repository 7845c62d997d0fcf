//! Opening the store a command works on.

use crate::StoreArgs;
use aftersale_ports::Store;
use aftersale_store_sqlite::SqliteStore;
use anyhow::Context;
use std::sync::Arc;

pub fn open_store(args: &StoreArgs) -> anyhow::Result<Arc<dyn Store>> {
    let store = SqliteStore::open_dir(&args.data_dir)
        .with_context(|| format!("opening the embedded store in {}", args.data_dir.display()))?;
    Ok(Arc::new(store))
}
