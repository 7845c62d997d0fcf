//! The in-memory store keeps the same promises as the real adapters.

use aftersale_store_contract::{Subject, store_contract};
use aftersale_testkit::MemoryStore;

store_contract!(memory, Subject::new(MemoryStore::new()));
