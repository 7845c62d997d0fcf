//! The webhook secrets, each an [`aftersale_domain::Secret`] (redacted, constant-time,
//! zeroized on drop).

pub use aftersale_domain::Secret;
use aftersale_domain::ShopId;
use std::collections::HashMap;

/// The keys webhooks are signed with: Shopify's app client secret (one per app), and
/// WooCommerce's per-site secrets with an optional default for every site.
#[derive(Debug, Clone, Default)]
pub struct WebhookSecrets {
    pub shopify: Option<Secret>,
    pub woocommerce_default: Option<Secret>,
    pub woocommerce_sites: HashMap<ShopId, Secret>,
}

impl WebhookSecrets {
    /// Reads `SHOPIFY_API_SECRET` and `WOOCOMMERCE_WEBHOOK_SECRET`.
    pub fn from_env() -> Self {
        let read = |name: &str| std::env::var(name).ok().and_then(Secret::new);
        Self {
            shopify: read("SHOPIFY_API_SECRET"),
            woocommerce_default: read("WOOCOMMERCE_WEBHOOK_SECRET"),
            woocommerce_sites: HashMap::new(),
        }
    }

    pub fn woocommerce_for(&self, site: Option<&ShopId>) -> Option<&Secret> {
        site.and_then(|s| self.woocommerce_sites.get(s))
            .or(self.woocommerce_default.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2").unwrap();
        assert_eq!(format!("{s:?}"), "Secret(***)");
        let all = WebhookSecrets {
            shopify: Some(s),
            ..Default::default()
        };
        assert!(!format!("{all:?}").contains("hunter2"));
    }

    #[test]
    fn empty_secrets_are_refused() {
        assert!(Secret::new("").is_none());
    }

    #[test]
    fn a_site_secret_wins_over_the_default() {
        let site = ShopId::from_domain("https://shop.example").unwrap();
        let mut secrets = WebhookSecrets {
            woocommerce_default: Secret::new("default"),
            ..Default::default()
        };
        secrets
            .woocommerce_sites
            .insert(site.clone(), Secret::new("site").unwrap());
        assert_eq!(secrets.woocommerce_for(Some(&site)).unwrap().expose(), "site");
        let other = ShopId::new("other.example").unwrap();
        assert_eq!(secrets.woocommerce_for(Some(&other)).unwrap().expose(), "default");
    }
}
