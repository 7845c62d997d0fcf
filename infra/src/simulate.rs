//! `aftersale simulate`: replays a customer's events on a virtual clock, through the same
//! ingest and flows as production, and prints what they would receive and when.

use aftersale_domain::{Message, MessageStatus, Reason};
use aftersale_engine::{Engine, InProcessBus, Senders, Settings};
use aftersale_ingest::{Ingest, Secret, WebhookSecrets};
use aftersale_links::LinkSigner;
use aftersale_outbox::{RecordingAlerts, RecordingMailer, RecordingSms};
use aftersale_platforms::signature::sign_base64;
use aftersale_ports::{Clock, ManualClock, Messages, ShopConfigs, attention_at};
use aftersale_rewards::FixedDiscounts;
use aftersale_rewards::MemoryDiscounts;
use aftersale_store_sqlite::SqliteStore;
use aftersale_templates::Templates;
use anyhow::{Context, bail};
use chrono::{DateTime, Duration, Utc};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SimEvent {
    at: DateTime<Utc>,
    platform: String,
    topic: String,
    shop: String,
    body: Option<serde_json::Value>,
    body_file: Option<String>,
}

/// Signs simulated deliveries so they take the real, verified path.
const SIM_SECRET: &str = "aftersale-simulation";

pub async fn run(
    events_file: &Path,
    config_file: Option<&Path>,
    days_after: u32,
    as_json: bool,
) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(events_file).with_context(|| format!("reading {}", events_file.display()))?;
    let base = events_file.parent().unwrap_or(Path::new("."));
    let mut events = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let event: SimEvent = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: not a simulation event", events_file.display(), n + 1))?;
        let body = match (&event.body, &event.body_file) {
            (Some(body), None) => serde_json::to_vec(body)?,
            (None, Some(file)) => std::fs::read(base.join(file))
                .with_context(|| format!("{}:{}: body_file {file}", events_file.display(), n + 1))?,
            _ => bail!(
                "{}:{}: give exactly one of body or body_file",
                events_file.display(),
                n + 1
            ),
        };
        events.push((event, body));
    }
    if events.is_empty() {
        bail!("{} holds no events", events_file.display());
    }
    events.sort_by_key(|(e, _)| e.at);

    let clock = Arc::new(ManualClock::new(events[0].0.at));
    let store = Arc::new(SqliteStore::in_memory()?);
    if let Some(file) = config_file {
        let (shop, config) = crate::flows::read_config(file, None)?;
        store.save_config(&shop, &config).await?;
    }
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
    let senders = Senders {
        mailer: Arc::new(RecordingMailer::new()),
        sms: Arc::new(RecordingSms::new()),
        alerts: Arc::new(RecordingAlerts::new()),
        // Like mail, discount codes are recorded, not created: a simulation must never touch
        // the real shop, and its timeline shows the codes as if the shop had accepted them.
        discounts: Arc::new(FixedDiscounts(Arc::new(MemoryDiscounts::new()))),
        // Nor is its catalogue read: care guides by product type never match in a simulation,
        // as locally without a token.
        catalogue: Arc::new(aftersale_ports::NoCatalogue),
    };
    let engine = Arc::new(Engine::new(
        store.clone(),
        senders,
        Templates::builtin(),
        LinkSigner::new(&key)?,
        clock.clone(),
        Settings::default(),
    ));
    let secrets = WebhookSecrets {
        shopify: Secret::new(SIM_SECRET),
        woocommerce_default: Secret::new(SIM_SECRET),
        ..WebhookSecrets::default()
    };
    let ingest = Ingest::new(
        store.clone(),
        Arc::new(InProcessBus::new(engine.clone())),
        clock.clone(),
        secrets,
    );

    let mut printer = Printer {
        as_json,
        seen: HashMap::new(),
    };
    let end = events.last().map(|(e, _)| e.at).unwrap_or_else(Utc::now) + Duration::days(days_after.into());
    for (n, (event, body)) in events.iter().enumerate() {
        run_until(&engine, &store, &clock, event.at, &mut printer).await?;
        clock.set(event.at);
        let reply = deliver(&ingest, event, body, n).await?;
        printer.line(
            event.at,
            "event",
            &format!("{} {} → {}", event.platform, event.topic, reply),
            None,
        );
        printer.report(&store, event.at).await?;
    }
    run_until(&engine, &store, &clock, end, &mut printer).await?;
    Ok(())
}

async fn deliver(ingest: &Ingest, event: &SimEvent, body: &[u8], n: usize) -> anyhow::Result<String> {
    let signature = sign_base64(SIM_SECRET.as_bytes(), body);
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: &str| -> anyhow::Result<()> {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).context(name)?,
        );
        Ok(())
    };
    let reply = match event.platform.as_str() {
        "shopify" => {
            set("x-shopify-topic", &event.topic)?;
            set("x-shopify-shop-domain", &event.shop)?;
            set("x-shopify-event-id", &format!("sim-{n}"))?;
            set("x-shopify-triggered-at", &event.at.to_rfc3339())?;
            set("x-shopify-hmac-sha256", &signature)?;
            ingest.shopify(&headers, body).await
        }
        "woocommerce" => {
            set("x-wc-webhook-topic", &event.topic)?;
            set("x-wc-webhook-source", &format!("https://{}/", event.shop))?;
            set("x-wc-webhook-signature", &signature)?;
            ingest.woocommerce(&headers, body).await
        }
        other => bail!("unknown platform '{other}' (expected shopify or woocommerce)"),
    };
    Ok(reply.outcome.to_string())
}

/// Runs due work at each moment something falls due, up to `until`.
async fn run_until(
    engine: &Engine,
    store: &SqliteStore,
    clock: &ManualClock,
    until: DateTime<Utc>,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    loop {
        let next = store
            .list_messages(None)
            .await?
            .iter()
            .filter_map(attention_at)
            .filter(|at| *at <= until)
            .min();
        let Some(at) = next else { return Ok(()) };
        let at = at.max(clock.now());
        clock.set(at);
        engine.tick(at).await?;
        printer.report(store, at).await?;
    }
}

struct Printer {
    as_json: bool,
    /// What was last printed per message, to print only changes.
    seen: HashMap<String, (MessageStatus, Reason)>,
}

impl Printer {
    /// One timeline line; a message's line also shows what it says (`message`: its details).
    fn line(&self, at: DateTime<Utc>, what: &str, detail: &str, message: Option<&Message>) {
        if self.as_json {
            let mut line = json!({ "at": at.to_rfc3339(), "what": what, "detail": detail });
            if let Some(m) = message {
                line["details"] = json!(m.details());
            }
            println!("{line}");
        } else {
            let summary = message.map(crate::flows::details_summary).unwrap_or_default();
            let detail = if summary.is_empty() {
                detail.to_string()
            } else {
                format!("{detail}  [{summary}]")
            };
            println!("{}  {:<34} {}", at.format("%Y-%m-%d %H:%M"), what, detail);
        }
    }

    /// Prints what changed since the last report, stamped with when it changed (`now`).
    async fn report(&mut self, store: &SqliteStore, now: DateTime<Utc>) -> anyhow::Result<()> {
        let mut changes = Vec::new();
        for m in store.list_messages(None).await? {
            let key = format!("{}/{}/{}", m.shop, m.customer_id, m.id());
            let state = (m.status, m.reason.clone());
            if self.seen.get(&key) != Some(&state) {
                let what = format!("{}/{} ({})", m.flow(), m.step, m.channel);
                let detail = match (&m.status, &m.rendered_subject) {
                    (MessageStatus::Sent, Some(subject)) => format!("sent: \"{subject}\""),
                    (MessageStatus::Planned, _) if m.reason == Reason::Planned => {
                        format!("planned for {}", m.due_at.format("%Y-%m-%d %H:%M"))
                    }
                    _ => m.reason.to_string(),
                };
                self.seen.insert(key, state);
                changes.push((m.sent_at.unwrap_or(now), what, detail, m));
            }
        }
        changes.sort_by_key(|c| c.0);
        for (at, what, detail, message) in &changes {
            self.line(*at, what, detail, Some(message));
        }
        Ok(())
    }
}
