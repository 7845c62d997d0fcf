//! Local mode's wiring: every function of the product in one process, on the embedded
//! store, with messages written to files under the data dir instead of sent.

use crate::backend::Backend;
use crate::{SendArgs, StoreArgs};
use aftersale_engine::{Engine, InProcessBus, Settings};
use aftersale_ingest::{Ingest, WebhookSecrets};
use aftersale_links::LinkSigner;
use aftersale_outbox::OutboxEraser;
use aftersale_platform_api::woocommerce::connection::StoredSiteSecrets;
use aftersale_ports::{Clock, Documents, FlowStore, SiteSecrets, SupportAlerts};
use aftersale_privacy::Desk;
use aftersale_templates::Templates;
use anyhow::Context;
use rand::RngCore;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct Local {
    pub store: Arc<dyn FlowStore>,
    pub tokens: Arc<dyn aftersale_ports::ShopTokens>,
    pub engine: Arc<Engine>,
    pub outbox_dir: PathBuf,
    /// The key links are signed with; the dashboard derives its own from it.
    pub link_key: Vec<u8>,
    /// The shop's alert channel (SNS topic or `outbox/alerts.jsonl`), for privacy requests.
    alerts: Arc<dyn SupportAlerts>,
    /// The webhook secrets `aftersale woocommerce connect` set on sites.
    site_secrets: Arc<dyn SiteSecrets>,
}

/// Options shared by the commands that run flows.
pub struct LocalOptions<'a> {
    pub store: &'a StoreArgs,
    pub public_url: String,
    pub templates_dir: Option<&'a Path>,
    /// Start the store if there is none (`serve`); other commands need one to exist.
    pub create_store: bool,
    /// How a command that sends (`serve`, `tick`) paces itself; the defaults otherwise.
    pub send: Option<&'a SendArgs>,
}

impl<'a> LocalOptions<'a> {
    /// For a command that works on an existing store and sends nothing with links.
    pub fn existing(store: &'a StoreArgs) -> Self {
        Self {
            store,
            public_url: aftersale_engine::Settings::default().link_base_url,
            templates_dir: None,
            create_store: false,
            send: None,
        }
    }
}

impl Local {
    pub async fn open(options: &LocalOptions<'_>, clock: Arc<dyn Clock>) -> anyhow::Result<Local> {
        let backend = if options.create_store {
            Backend::create(options.store).await?
        } else {
            Backend::open(options.store).await?
        };
        let data_dir = options.store.data_dir();
        std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
        let key = link_key(data_dir)?;
        let links = LinkSigner::new(&key).context("the link signing key")?;
        let link_key = key.clone();
        let mut templates = Templates::builtin();
        if let Some(dir) = options.templates_dir {
            templates = templates
                .with_overrides(dir)
                .with_context(|| format!("templates in {}", dir.display()))?;
        }
        // The Shopify app, when configured, lends its installed shops' tokens to discount codes.
        let installed = crate::shops::shopify_app(
            Arc::clone(&backend.store) as Arc<dyn aftersale_ports::Store>,
            Arc::clone(&backend.tokens),
            Arc::clone(&clock),
            Some(&options.public_url),
        )
        .ok()
        .map(|app| Arc::new(app) as Arc<dyn aftersale_platform_api::InstalledTokens>);
        let senders = backend.senders(options.store, Arc::clone(&clock), installed);
        let alerts = Arc::clone(&senders.alerts);
        let mut settings = Settings {
            link_base_url: options.public_url.trim_end_matches('/').to_string(),
            outbox_marks_delivery: true,
            ..Settings::default()
        };
        if let Some(send) = options.send {
            settings.send_concurrency = send.concurrency;
            settings.tick_margin = send.tick_margin;
            settings.email_rate = match send.email_rate {
                Some(rate) => Some(rate),
                None => backend.default_email_rate().await,
            };
            settings.sms_rate = send
                .sms_rate
                .or_else(|| backend.is_aws().then_some(aftersale_engine::DEFAULT_SMS_RATE));
        }
        let store = Arc::clone(&backend.store);
        let tokens = Arc::clone(&backend.tokens);
        let engine = Arc::new(Engine::new(
            Arc::clone(&store),
            senders,
            templates,
            links,
            clock,
            settings,
        ));
        let site_secrets = Arc::new(StoredSiteSecrets::new(
            Arc::clone(&store) as Arc<dyn Documents>,
            crate::woocommerce::sealing_key(data_dir)?,
        ));
        Ok(Local {
            store,
            tokens,
            engine,
            outbox_dir: data_dir.join("outbox"),
            link_key,
            alerts,
            site_secrets,
        })
    }

    /// The shop's alert channel.
    pub fn alerts(&self) -> Arc<dyn SupportAlerts> {
        Arc::clone(&self.alerts)
    }

    /// Ingest wired to plan flows in process as events arrive.
    pub fn ingest(&self, secrets: WebhookSecrets) -> Ingest {
        let bus = Arc::new(InProcessBus::new(Arc::clone(&self.engine)));
        let clock = Arc::clone(self.engine.clock());
        let desk = Desk::new(
            Arc::clone(&self.store),
            Arc::clone(&self.alerts),
            Arc::clone(&clock),
        )
        .with_files(Arc::new(OutboxEraser::new(&self.outbox_dir)));
        Ingest::new(
            Arc::clone(&self.store) as Arc<dyn aftersale_ports::Store>,
            bus,
            clock,
            secrets,
        )
        .with_tokens(Arc::clone(&self.tokens))
        .with_privacy(Arc::new(desk))
        .with_site_secrets(Arc::clone(&self.site_secrets))
    }
}

/// The key that signs 1-tap links: `AFTERSALE_LINK_KEY` (hex), else one generated on first
/// run and kept in the data dir, so links in sent messages keep working across restarts.
pub(crate) fn link_key(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    if let Ok(hex_key) = std::env::var("AFTERSALE_LINK_KEY") {
        return hex::decode(hex_key.trim())
            .context("AFTERSALE_LINK_KEY must be hex (64 characters for 32 bytes)");
    }
    let path = data_dir.join("link.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            owner_only(&path)?;
            hex::decode(text.trim()).with_context(|| format!("{} is not a hex key", path.display()))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            rand::rng().fill_bytes(&mut key);
            write_owner_only(&path, hex::encode(key).as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(key.to_vec())
        }
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

/// Whoever reads the key can forge links (unsubscribe anyone, answer for anyone): it is
/// created 0600, never readable by other local users.
#[cfg(unix)]
fn write_owner_only(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)
}

#[cfg(not(unix))]
fn write_owner_only(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

/// A key written 0644 by an older version is restricted on first use.
#[cfg(unix)]
fn owner_only(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {} to its owner", path.display()))?;
        tracing::warn!(path = %path.display(), "the link key was readable by other users; it is now 0600");
    }
    Ok(())
}

#[cfg(not(unix))]
fn owner_only(_path: &Path) -> anyhow::Result<()> {
    Ok(())
}
