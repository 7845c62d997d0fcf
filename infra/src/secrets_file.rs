//! The optional secrets file for local mode: per-site WooCommerce secrets.
//!
//! ```toml
//! [woocommerce.sites]
//! "shop.example" = "wc-secret-for-this-site"
//! ```

use aftersale_domain::ShopId;
use aftersale_ingest::{Secret, WebhookSecrets};
use anyhow::{Context, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    woocommerce: WooSection,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct WooSection {
    #[serde(default)]
    sites: BTreeMap<String, String>,
}

/// Adds the file's site secrets to `secrets`, naming the file and the entry on any error.
pub fn load_into(path: &Path, secrets: &mut WebhookSecrets) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading secrets file {}", path.display()))?;
    parse_into(&text, secrets).with_context(|| format!("in secrets file {}", path.display()))
}

fn parse_into(text: &str, secrets: &mut WebhookSecrets) -> anyhow::Result<()> {
    let file: File = toml::from_str(text)?;
    for (site, secret) in file.woocommerce.sites {
        let shop = ShopId::from_domain(&site).with_context(|| format!("woocommerce.sites.\"{site}\""))?;
        let Some(secret) = Secret::new(secret) else {
            bail!("woocommerce.sites.\"{site}\": the secret is empty");
        };
        secrets.woocommerce_sites.insert(shop, secret);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_are_normalised_and_loaded() {
        let mut secrets = WebhookSecrets::default();
        parse_into(
            "[woocommerce.sites]\n\"https://Shop.Example/\" = \"s1\"\n",
            &mut secrets,
        )
        .unwrap();
        let site = ShopId::new("shop.example").unwrap();
        assert_eq!(secrets.woocommerce_sites[&site].expose(), "s1");
    }

    #[test]
    fn bad_files_name_the_problem() {
        let mut secrets = WebhookSecrets::default();
        let empty = parse_into("[woocommerce.sites]\n\"shop.example\" = \"\"\n", &mut secrets).unwrap_err();
        assert!(format!("{empty:#}").contains("secret is empty"), "{empty:#}");
        let unknown = parse_into("[shopify]\nsecret = \"x\"\n", &mut secrets).unwrap_err();
        assert!(format!("{unknown:#}").contains("unknown field"), "{unknown:#}");
        let bad_site = parse_into("[woocommerce.sites]\n\"a#b\" = \"x\"\n", &mut secrets).unwrap_err();
        assert!(format!("{bad_site:#}").contains("not allowed"), "{bad_site:#}");
        let broken = parse_into("[woocommerce.sites\n", &mut secrets).unwrap_err();
        assert!(!format!("{broken:#}").is_empty());
    }
}
