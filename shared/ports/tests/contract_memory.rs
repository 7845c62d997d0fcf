//! The in-memory store keeps the same contract as the real adapters.

use aftersale_ports::{contract, memory::MemoryStore};

#[tokio::test]
async fn memory_store_keeps_the_store_contract() {
    contract::all(&MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_store_keeps_the_flow_store_contract() {
    contract::flows_all(&MemoryStore::new()).await;
}
