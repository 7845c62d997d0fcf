//! Shops' tokens in memory, where a test needs a [`ShopTokens`] without a vault.

use aftersale_domain::ShopId;
use aftersale_ports::{ShopToken, ShopTokens, StoreError};
use async_trait::async_trait;

/// Tokens in a map, lost with the process.
#[derive(Default)]
pub struct MemoryTokens {
    tokens: std::sync::Mutex<std::collections::HashMap<ShopId, ShopToken>>,
}

impl MemoryTokens {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<ShopId, ShopToken>> {
        self.tokens
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl ShopTokens for MemoryTokens {
    async fn load_token(&self, shop: &ShopId) -> Result<Option<ShopToken>, StoreError> {
        Ok(self.lock().get(shop).cloned())
    }

    async fn save_token(&self, shop: &ShopId, token: &ShopToken) -> Result<(), StoreError> {
        self.lock().insert(shop.clone(), token.clone());
        Ok(())
    }

    async fn delete_token(&self, shop: &ShopId) -> Result<(), StoreError> {
        self.lock().remove(shop);
        Ok(())
    }
}
