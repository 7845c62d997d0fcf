use crate::after_reply::AfterReply;
use crate::capture::Captured;
use crate::secrets::WebhookSecrets;
use aftersale_domain::{EventKind, OrderRecord, Origin, Platform, ShopId, StoreEvent};
use aftersale_platforms::{Delivery, PayloadError, shopify, shopify_bulk, signature, woocommerce};
use aftersale_ports::erasure::without_personal_data;
use aftersale_ports::{
    Clock, DeadLetter, DeadLetterStatus, EventBus, PrivacyDesk, Recorded, ShopTokens, SiteSecrets, Store,
    StoreError,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use http::{HeaderMap, StatusCode};
use serde::Serialize;
use std::sync::Arc;
use tracing::{Instrument, info, info_span, warn};

/// Larger bodies are refused with 413 before any work. Shopify's biggest order payloads are
/// well under this; anything bigger is not a webhook we want to buffer.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The answer to a delivery. Bodies are fixed, short JSON: internals never reach the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reply {
    #[serde(skip)]
    pub status: StatusCode,
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "is_zero")]
    pub stored: usize,
    #[serde(skip_serializing_if = "is_zero")]
    pub duplicates: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Reply {
    fn plain(status: StatusCode, outcome: &'static str) -> Self {
        Self {
            status,
            outcome,
            stored: 0,
            duplicates: 0,
        }
    }

    /// 413, for a body over [`MAX_BODY_BYTES`].
    pub fn too_large() -> Self {
        Self::plain(StatusCode::PAYLOAD_TOO_LARGE, "body too large")
    }

    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

/// What replaying a dead letter did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayOutcome {
    Stored { events: usize },
    StillFailing { reason: String },
}

/// A delivery that passed its signature check (or needs none).
enum Verified {
    Signed,
    /// WooCommerce's unsigned `webhook_id=N` ping when a webhook is created.
    CreationPing,
}

/// Why a delivery is refused before it is read. Logged; the caller gets only a fixed reply.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("no secret is configured (SHOPIFY_API_SECRET)")]
    NotConfigured,
    #[error("no secret is configured for this site")]
    NoSiteSecret,
    #[error("site secret unavailable: {0}")]
    SecretsUnavailable(String),
    #[error("bad signature: {0}")]
    BadSignature(String),
}

/// Why a captured delivery would not be stored (`aftersale check-deliveries --verbose`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckFailure {
    #[error("body over {MAX_BODY_BYTES} bytes")]
    TooLarge,
    /// The signature, or no secret to check it with.
    #[error("{0}")]
    Refused(String),
    #[error("topic {0:?} is not handled")]
    UnknownTopic(String),
    #[error("unparsable body: {0}")]
    Unparsable(String),
}

/// Why a verified delivery could not be turned into events.
enum Unusable {
    UnknownTopic(String),
    Bad(String),
}

/// The ingest service: one instance per process, shared by every request.
pub struct Ingest {
    store: Arc<dyn Store>,
    bus: Arc<dyn EventBus>,
    clock: Arc<dyn Clock>,
    secrets: WebhookSecrets,
    /// Where Shopify Admin API tokens are kept, so `app/uninstalled` deletes the shop's.
    tokens: Option<Arc<dyn ShopTokens>>,
    privacy: Arc<dyn PrivacyDesk>,
    /// Secrets Aftersale set on WooCommerce sites itself (`aftersale woocommerce connect`).
    site_secrets: Option<Arc<dyn SiteSecrets>>,
    /// Events whose flows are planned after the reply (`serve`); `None` plans before it.
    after_reply: Option<AfterReply>,
}

impl Ingest {
    pub fn new(
        store: Arc<dyn Store>,
        bus: Arc<dyn EventBus>,
        clock: Arc<dyn Clock>,
        secrets: WebhookSecrets,
    ) -> Self {
        let privacy = Arc::new(crate::privacy::StoreOnlyDesk {
            store: Arc::clone(&store),
        });
        Self {
            store,
            bus,
            clock,
            secrets,
            tokens: None,
            privacy,
            site_secrets: None,
            after_reply: None,
        }
    }

    /// Plans an event's flows after its delivery is answered while other deliveries are in
    /// flight ([`crate::after_reply`]). The process must run [`Ingest::plan_after_replies`].
    pub fn planning_after_replies(mut self) -> Self {
        self.after_reply = Some(AfterReply::default());
        self
    }

    /// Deletes a shop's stored Admin API token when it uninstalls the app.
    pub fn with_tokens(mut self, tokens: Arc<dyn ShopTokens>) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// Whether the shop's install record says installed: after `app/uninstalled` it does only
    /// when the uninstall was a late one from before the current install, whose token stays.
    async fn shop_is_installed(&self, shop: &ShopId) -> Result<bool, StoreError> {
        Ok(self
            .store
            .load_shop(shop)
            .await?
            .is_some_and(|s| s.is_installed()))
    }

    /// Also accepts a WooCommerce site's deliveries signed with the secret stored when
    /// Aftersale connected the site.
    pub fn with_site_secrets(mut self, secrets: Arc<dyn SiteSecrets>) -> Self {
        self.site_secrets = Some(secrets);
        self
    }

    /// Hands the platforms' privacy requests (data requests, customer and shop redaction) to
    /// `desk` instead of erasing in the store alone.
    pub fn with_privacy(mut self, desk: Arc<dyn PrivacyDesk>) -> Self {
        self.privacy = desk;
        self
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// `POST /webhooks/shopify`.
    pub async fn shopify(&self, headers: &HeaderMap, body: &[u8]) -> Reply {
        self.receive(Platform::Shopify, headers, body).await
    }

    /// `POST /webhooks/woocommerce`.
    pub async fn woocommerce(&self, headers: &HeaderMap, body: &[u8]) -> Reply {
        self.receive(Platform::Woocommerce, headers, body).await
    }

    async fn receive(&self, platform: Platform, headers: &HeaderMap, body: &[u8]) -> Reply {
        if body.len() > MAX_BODY_BYTES {
            return Reply::too_large();
        }
        let _in_flight = self.after_reply.as_ref().map(AfterReply::enter);
        match self.verify(platform, headers, body).await {
            Ok(Verified::Signed) => self.accept(platform, headers, body).await,
            Ok(Verified::CreationPing) => {
                info!(platform = "woocommerce", "webhook creation ping acknowledged");
                Reply::plain(StatusCode::OK, "ping")
            }
            Err(refusal) => {
                warn!(platform = %platform, error = %refusal, "webhook refused");
                match refusal {
                    // Not bad input but a deployment without its secret: 503 makes Shopify
                    // retry for 48 hours, so nothing is lost while ops sets SHOPIFY_API_SECRET.
                    Refusal::NotConfigured => Reply::plain(StatusCode::SERVICE_UNAVAILABLE, "not configured"),
                    Refusal::SecretsUnavailable(_) => {
                        Reply::plain(StatusCode::SERVICE_UNAVAILABLE, "temporarily unavailable")
                    }
                    Refusal::NoSiteSecret | Refusal::BadSignature(_) => {
                        Reply::plain(StatusCode::UNAUTHORIZED, "invalid signature")
                    }
                }
            }
        }
    }

    /// Checks the delivery's signature with the configured secrets, before a byte of it is
    /// parsed. Reads secrets only; stores nothing.
    async fn verify(
        &self,
        platform: Platform,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Verified, Refusal> {
        match platform {
            Platform::Shopify => {
                let secret = self.secrets.shopify.as_ref().ok_or(Refusal::NotConfigured)?;
                signature::verify_base64(
                    secret.expose_bytes(),
                    body,
                    header(headers, "x-shopify-hmac-sha256"),
                )
                .map_err(|err| Refusal::BadSignature(err.to_string()))?;
                Ok(Verified::Signed)
            }
            Platform::Woocommerce => {
                let signature_header = header(headers, "x-wc-webhook-signature");
                if signature_header.is_none() && woocommerce::is_creation_ping(body) {
                    return Ok(Verified::CreationPing);
                }
                let site = header(headers, "x-wc-webhook-source").and_then(|s| ShopId::from_domain(s).ok());
                let mut secrets: Vec<Vec<u8>> = Vec::new();
                if let (Some(stored), Some(site)) = (&self.site_secrets, &site) {
                    let found = stored
                        .webhook_secret(site)
                        .await
                        .map_err(|err| Refusal::SecretsUnavailable(err.to_string()))?;
                    secrets.extend(found.map(|s| s.expose_bytes().to_vec()));
                }
                secrets.extend(
                    self.secrets
                        .woocommerce_for(site.as_ref())
                        .map(|s| s.expose_bytes().to_vec()),
                );
                if secrets.is_empty() {
                    return Err(Refusal::NoSiteSecret);
                }
                // Any of the site's secrets will do: each is compared in constant time.
                let mut refusal = None;
                let verified = secrets.iter().any(|secret| {
                    let checked = signature::verify_base64(secret, body, signature_header);
                    refusal = checked.as_ref().err().map(ToString::to_string);
                    checked.is_ok()
                });
                if verified {
                    Ok(Verified::Signed)
                } else {
                    Err(Refusal::BadSignature(refusal.unwrap_or_default()))
                }
            }
        }
    }

    /// What `aftersale check-deliveries` does with one captured delivery: the signature with
    /// the configured secrets, then parse and normalise, exactly as a live delivery would be.
    /// Stores nothing. Returns the events it would store.
    pub async fn check(&self, delivery: &Captured) -> Result<Vec<StoreEvent>, CheckFailure> {
        let (platform, headers, body) = (delivery.platform, &delivery.headers, &delivery.body[..]);
        if body.len() > MAX_BODY_BYTES {
            return Err(CheckFailure::TooLarge);
        }
        match self.verify(platform, headers, body).await {
            Ok(Verified::CreationPing) => Ok(Vec::new()),
            Ok(Verified::Signed) => parse(platform, headers, body).map_err(|unusable| match unusable {
                Unusable::UnknownTopic(topic) => CheckFailure::UnknownTopic(topic),
                Unusable::Bad(why) => CheckFailure::Unparsable(why),
            }),
            Err(refusal) => Err(CheckFailure::Refused(refusal.to_string())),
        }
    }

    /// Work after verification. Bad payloads become dead letters (200: the platform must not
    /// retry and disable the hook); storage failures are 503 so the platform retries.
    async fn accept(&self, platform: Platform, headers: &HeaderMap, body: &[u8]) -> Reply {
        let received_at = self.clock.now();
        match parse(platform, headers, body) {
            Ok(events) => match self.persist(&events, received_at).await {
                Ok((stored, duplicates)) => Reply {
                    status: StatusCode::OK,
                    outcome: "accepted",
                    stored,
                    duplicates,
                },
                Err(err) => {
                    warn!(platform = %platform, error = %err, "storage failed; asking the platform to retry");
                    Reply::plain(StatusCode::SERVICE_UNAVAILABLE, "temporarily unavailable")
                }
            },
            Err(Unusable::UnknownTopic(topic)) => {
                info!(platform = %platform, topic = %topic, "ignoring a topic Aftersale does not handle");
                Reply::plain(StatusCode::OK, "ignored")
            }
            Err(Unusable::Bad(reason)) => {
                let letter = dead_letter(platform, headers, body, reason, received_at);
                warn!(platform = %platform, dead_letter = %letter.id, reason = %letter.reason, "kept as dead letter");
                match self.store.put_dead_letter(&letter).await {
                    Ok(()) => Reply::plain(StatusCode::OK, "dead-lettered"),
                    Err(err) => {
                        warn!(error = %err, "could not store dead letter; asking the platform to retry");
                        Reply::plain(StatusCode::SERVICE_UNAVAILABLE, "temporarily unavailable")
                    }
                }
            }
        }
    }

    /// Records, applies and publishes each event. An event recorded by an attempt that died
    /// before finishing (`applied: false`) is applied again; folding is idempotent.
    async fn persist(
        &self,
        events: &[StoreEvent],
        received_at: DateTime<Utc>,
    ) -> Result<(usize, usize), StoreError> {
        let (mut stored, mut duplicates) = (0, 0);
        for event in events {
            if self.persist_event(event, received_at).await? {
                stored += 1;
            } else {
                duplicates += 1;
            }
        }
        Ok((stored, duplicates))
    }

    /// The one path of an event, live or imported: record (dedupe on its id), fold into the
    /// stored state, publish to the flows, mark applied. Returns `false` for a duplicate.
    pub(crate) async fn persist_event(
        &self,
        event: &StoreEvent,
        received_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let span =
            info_span!("event", shop = %event.shop, event_id = %event.event_id, kind = event.kind_name());
        let after_reply = self.after_reply.as_ref().filter(|_| is_activity(event));
        let work = async {
            // A privacy request is logged without the customer's details (see
            // `without_personal_data`); the work below still gets the whole request.
            match self
                .store
                .record_event(&without_personal_data(event), received_at)
                .await?
            {
                Recorded::Duplicate { applied: true } => {
                    info!("duplicate delivery");
                    return Ok(false);
                }
                Recorded::Duplicate { applied: false }
                    if after_reply.is_some_and(|q| q.is_waiting(event)) =>
                {
                    info!("duplicate delivery of an event waiting to be planned");
                    return Ok(false);
                }
                Recorded::Duplicate { applied: false } => info!("resuming an unfinished event"),
                Recorded::New => {}
            }
            let order =
                crate::apply::fold(self.store.as_ref(), self.privacy.as_ref(), event, received_at).await?;
            if let (EventKind::AppUninstalled | EventKind::ShopRedact, Some(tokens)) =
                (&event.kind, &self.tokens)
                && !self.shop_is_installed(&event.shop).await?
            {
                tokens.delete_token(&event.shop).await?;
                info!("the shop's Admin API token is deleted");
            }
            if let Some(queue) = after_reply
                && queue.others_in_flight()
                && queue.try_wait(event)
            {
                info!("stored; its figures and flows follow once the deliveries in flight are answered");
                return Ok(true);
            }
            self.figures_and_flows(event, order.as_ref()).await?;
            info!("stored");
            Ok(true)
        }
        .instrument(span);
        self.in_one_transaction(event, work).await
    }

    /// Runs an event's store calls in one transaction where the store has them. Privacy
    /// requests and uninstalls stand outside: an erasure checkpoints the log to erase old
    /// pages, which no transaction may be open for, and they are rare.
    async fn in_one_transaction<T>(
        &self,
        event: &StoreEvent,
        work: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let id = if is_activity(event) {
            self.store.begin_event_transaction().await?
        } else {
            None
        };
        let Some(id) = id else {
            return work.await;
        };
        let open = OpenTransaction {
            store: self.store.as_ref(),
            id: Some(id),
        };
        let result = aftersale_ports::event_transaction::within(id, work).await;
        match (open.end(), result) {
            (Ok(()), result) => result,
            (Err(err), Ok(_)) => Err(err),
            (Err(err), Err(first)) => {
                warn!(error = %err, "the failed event's transaction did not commit either");
                Err(first)
            }
        }
    }

    /// Plans the events waiting since their replies, as deliveries let it, for as long as the
    /// process runs. After a planning failed (the store was unavailable), once nothing has
    /// waited for a minute, finishes what is left unfinished: that reads every unfinished
    /// event (a Scan on DynamoDB), so it runs only when something is known to be left. Does
    /// nothing unless [`Ingest::planning_after_replies`].
    pub async fn plan_after_replies(&self) {
        let Some(queue) = &self.after_reply else {
            return;
        };
        let mut left_unfinished = false;
        loop {
            match queue.next(UNFINISHED_SWEEP).await {
                Some(event) => {
                    if let Err(err) = self.finish(&event, None).await {
                        warn!(shop = %event.shop, event_id = %event.event_id, error = %err,
                            "planning a stored event failed; it is finished once the queue is idle");
                        left_unfinished = true;
                    }
                    queue.done(&event);
                }
                None if left_unfinished => match self.finish_abandoned().await {
                    Ok(_) => left_unfinished = false,
                    Err(err) => {
                        warn!(error = %err, "finishing unfinished events failed; tried again in a minute")
                    }
                },
                None => {}
            }
        }
    }

    /// Plans every waiting event now, whatever is in flight: what a stopping `serve` does.
    pub async fn plan_waiting_now(&self) {
        let Some(queue) = &self.after_reply else {
            return;
        };
        while let Some(event) = queue.first() {
            if let Err(err) = self.finish(&event, None).await {
                warn!(shop = %event.shop, event_id = %event.event_id, error = %err,
                    "planning a stored event failed; the next start finishes it");
            }
            queue.done(&event);
        }
    }

    /// Finishes the events received before `received_before` whose work an earlier attempt
    /// left undone (a process killed after its reply, a planning that failed), oldest first,
    /// and returns how many. Privacy requests are kept without the customer's details, so
    /// only the platform's redelivery can finish one; they are left to it.
    pub async fn finish_unfinished(&self, received_before: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut finished = 0;
        for stored in self.store.unfinished_events(received_before).await? {
            let waiting = self
                .after_reply
                .as_ref()
                .is_some_and(|q| q.is_waiting(&stored.event));
            if !is_activity(&stored.event) || waiting {
                continue;
            }
            if self.finish(&stored.event, Some(stored.received_at)).await? {
                finished += 1;
            }
        }
        if finished > 0 {
            info!(finished, "finished events an earlier attempt left unfinished");
        }
        Ok(finished)
    }

    /// [`Ingest::finish_unfinished`] for the events no live process can still be working on:
    /// those received a minute ago or more. What `tick` does first.
    pub async fn finish_abandoned(&self) -> Result<usize, StoreError> {
        let before = self.clock.now() - chrono::Duration::from_std(UNFINISHED_SWEEP).unwrap_or_default();
        self.finish_unfinished(before).await
    }

    /// The rest of a stored event's work: the fold again when `refold_received_at` says so
    /// (it may not have finished), then its figures, publishing and marking it applied. Checked first in
    /// the same transaction: an event erased meanwhile (with its customer) or finished by a
    /// redelivery is left alone. Returns whether it did the work.
    async fn finish(
        &self,
        event: &StoreEvent,
        refold_received_at: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let span =
            info_span!("event", shop = %event.shop, event_id = %event.event_id, kind = event.kind_name());
        let work = async {
            match self.store.event_applied(&event.shop, &event.event_id).await? {
                Some(false) => {}
                Some(true) => return Ok(false),
                None => {
                    info!("erased before its flows were planned");
                    return Ok(false);
                }
            }
            let order = match (refold_received_at, event.order_id()) {
                (Some(received_at), _) => {
                    crate::apply::fold(self.store.as_ref(), self.privacy.as_ref(), event, received_at).await?
                }
                (None, Some(order_id)) => self
                    .store
                    .load_order(&event.shop, order_id)
                    .await?
                    .map(|found| found.value),
                (None, None) => None,
            };
            self.figures_and_flows(event, order.as_ref()).await?;
            info!("planned after the reply");
            Ok(true)
        }
        .instrument(span);
        self.in_one_transaction(event, work).await
    }

    /// What follows the fold, before or after the reply: the figures of the event's order
    /// (as stored after the fold), publishing to the flows, and marking the event applied.
    async fn figures_and_flows(
        &self,
        event: &StoreEvent,
        order: Option<&OrderRecord>,
    ) -> Result<(), StoreError> {
        if let Some(order) = order {
            crate::apply::update_figures(self.store.as_ref(), &event.shop, order).await?;
        }
        self.bus.publish(event).await?;
        self.store.mark_applied(event).await
    }

    /// The clock ingest runs on.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Runs a dead letter through today's parser. It was verified when it arrived, so the
    /// signature is not checked again (the secret may have been rotated since).
    pub async fn replay(&self, letter: &mut DeadLetter) -> Result<ReplayOutcome, StoreError> {
        let body = STANDARD
            .decode(&letter.body_base64)
            .map_err(|e| StoreError::Corrupt {
                what: format!("dead letter {}", letter.id),
                detail: e.to_string(),
            })?;
        let mut headers = HeaderMap::new();
        for (name, value) in &letter.headers {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::try_from(name.as_str()),
                http::HeaderValue::try_from(value.as_str()),
            ) {
                headers.append(name, value);
            }
        }
        letter.attempts += 1;
        let parsed = if letter.platform == Platform::Shopify && letter.topic == shopify_bulk::BULK_TOPIC {
            parse_bulk(&headers, &body)
        } else {
            parse(letter.platform, &headers, &body)
        };
        let outcome = match parsed {
            Ok(events) => {
                self.persist(&events, self.clock.now()).await?;
                letter.status = DeadLetterStatus::Replayed;
                ReplayOutcome::Stored { events: events.len() }
            }
            Err(Unusable::UnknownTopic(topic)) => {
                letter.reason = format!("topic '{topic}' is not handled");
                ReplayOutcome::StillFailing {
                    reason: letter.reason.clone(),
                }
            }
            Err(Unusable::Bad(reason)) => {
                letter.reason = reason;
                ReplayOutcome::StillFailing {
                    reason: letter.reason.clone(),
                }
            }
        };
        self.store.update_dead_letter(letter).await?;
        Ok(outcome)
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A piece of a Shopify bulk export the import kept (an order with its line items, or a line
/// as read): the import's own normaliser, and still history ([`Origin::Imported`]), so its
/// replay plans only what is still ahead, as the import would have.
fn parse_bulk(headers: &HeaderMap, body: &[u8]) -> Result<Vec<StoreEvent>, Unusable> {
    let shop = header(headers, "x-shopify-shop-domain")
        .ok_or_else(|| Unusable::Bad("header X-Shopify-Shop-Domain is missing".into()))
        .and_then(|raw| {
            ShopId::shopify(raw).map_err(|e| Unusable::Bad(format!("header X-Shopify-Shop-Domain: {e}")))
        })?;
    let order = shopify_bulk::BulkOrder::from_dead_letter(body).map_err(Unusable::Bad)?;
    let mut events =
        shopify_bulk::normalise_order(&shop, &order).map_err(|e| Unusable::Bad(e.to_string()))?;
    for event in &mut events {
        event.origin = Origin::Imported;
    }
    Ok(events)
}

fn parse(platform: Platform, headers: &HeaderMap, body: &[u8]) -> Result<Vec<StoreEvent>, Unusable> {
    let bad_payload = |e: PayloadError| Unusable::Bad(e.to_string());
    match platform {
        Platform::Shopify => {
            let topic_header = header(headers, "x-shopify-topic").unwrap_or_default();
            let topic = shopify::Topic::parse(topic_header)
                .ok_or_else(|| Unusable::UnknownTopic(topic_header.to_string()))?;
            let shop = header(headers, "x-shopify-shop-domain")
                .ok_or_else(|| Unusable::Bad("header X-Shopify-Shop-Domain is missing".into()))
                .and_then(|raw| {
                    ShopId::shopify(raw)
                        .map_err(|e| Unusable::Bad(format!("header X-Shopify-Shop-Domain: {e}")))
                })?;
            let event_id = shopify::event_id(
                header(headers, "x-shopify-event-id"),
                header(headers, "x-shopify-webhook-id"),
            )
            .map_err(|e| Unusable::Bad(format!("header X-Shopify-Event-Id: {e}")))?;
            let delivery = Delivery {
                shop,
                event_id,
                triggered_at: header(headers, "x-shopify-triggered-at")
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc)),
            };
            shopify::normalise(topic, &delivery, body).map_err(bad_payload)
        }
        Platform::Woocommerce => {
            let topic_header = header(headers, "x-wc-webhook-topic").unwrap_or_default();
            let topic = woocommerce::Topic::parse(topic_header)
                .ok_or_else(|| Unusable::UnknownTopic(topic_header.to_string()))?;
            let shop = header(headers, "x-wc-webhook-source")
                .ok_or_else(|| Unusable::Bad("header X-WC-Webhook-Source is missing".into()))
                .and_then(|raw| {
                    ShopId::from_domain(raw)
                        .map_err(|e| Unusable::Bad(format!("header X-WC-Webhook-Source: {e}")))
                })?;
            let delivery = Delivery {
                shop,
                event_id: None,
                triggered_at: None,
            };
            woocommerce::normalise(topic, &delivery, body).map_err(bad_payload)
        }
    }
}

/// Keeps the delivery whole. The id is a digest of platform, shop, topic, event id and body:
/// a platform's retry of the same bad delivery (same event id) is stored once, while two
/// topics Shopify sends with one body (`orders/create` and `orders/paid`) are kept apart and
/// can each be replayed.
pub(crate) fn dead_letter(
    platform: Platform,
    headers: &HeaderMap,
    body: &[u8],
    reason: String,
    received_at: DateTime<Utc>,
) -> DeadLetter {
    use sha2::{Digest, Sha256};
    let kept: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            name.starts_with("x-shopify-") || name.starts_with("x-wc-") || name == "content-type"
        })
        .filter_map(|(name, value)| Some((name.as_str().to_string(), value.to_str().ok()?.to_string())))
        .collect();
    let shop_header = match platform {
        Platform::Shopify => "x-shopify-shop-domain",
        Platform::Woocommerce => "x-wc-webhook-source",
    };
    let raw_shop = header(headers, shop_header).unwrap_or("unknown");
    // Filed under the shop's id when it has one, so the shop's redaction finds it.
    let shop = ShopId::from_domain(raw_shop).map_or_else(|_| raw_shop.to_string(), String::from);
    let (topic_header, event_headers): (&str, &[&str]) = match platform {
        Platform::Shopify => ("x-shopify-topic", &["x-shopify-event-id", "x-shopify-webhook-id"]),
        // WooCommerce has no event id; its delivery id changes with every attempt.
        Platform::Woocommerce => ("x-wc-webhook-topic", &[]),
    };
    let topic = header(headers, topic_header).unwrap_or_default().to_string();
    let event_id = event_headers
        .iter()
        .find_map(|name| header(headers, name))
        .unwrap_or_default();
    let mut digest = Sha256::new();
    for part in [platform.as_str(), &shop, &topic, event_id] {
        digest.update(part.as_bytes());
        digest.update([0]);
    }
    digest.update(body);
    let id: String = digest.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    DeadLetter {
        id: format!("dl-{id}"),
        shop,
        platform,
        topic,
        headers: kept,
        body_base64: STANDARD.encode(body),
        reason,
        received_at,
        status: DeadLetterStatus::Pending,
        attempts: 0,
    }
}

/// An order, customer or checkout event, as against privacy requests and the app's own
/// install and uninstall: these run in one transaction, and may be planned after the reply.
fn is_activity(event: &StoreEvent) -> bool {
    event.order_id().is_some()
        || matches!(
            event.kind,
            EventKind::CustomerCreated(_) | EventKind::CustomerUpdated(_) | EventKind::CheckoutUpdated(_)
        )
}

/// How long the queue must be empty before [`Ingest::plan_after_replies`] looks for what a
/// failed planning left, and how old an unfinished event must be to be taken as abandoned:
/// a younger one may still be another delivery's work in progress.
const UNFINISHED_SWEEP: std::time::Duration = std::time::Duration::from_secs(60);

/// An open event transaction, ended however the event's future ends. A caller that hangs up
/// (Shopify gives up after 5 seconds) drops the future half-way; the transaction then still
/// commits what the event did, as a failed event's does, and the store's other callers, who
/// wait for it, go on.
struct OpenTransaction<'a> {
    store: &'a dyn Store,
    id: Option<u64>,
}

impl OpenTransaction<'_> {
    fn end(mut self) -> Result<(), StoreError> {
        self.id
            .take()
            .map_or(Ok(()), |id| self.store.end_event_transaction(id))
    }
}

impl Drop for OpenTransaction<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take()
            && let Err(err) = self.store.end_event_transaction(id)
        {
            warn!(error = %err, "an abandoned event's transaction did not commit");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::OpenTransaction;
    use aftersale_domain::ShopId;
    use aftersale_ports::documents::DocumentWrite;
    use aftersale_ports::{Documents, EventLog, Store};
    use aftersale_store_sqlite::SqliteStore;

    fn write(key: &str) -> DocumentWrite {
        DocumentWrite {
            key: key.into(),
            value: serde_json::json!({ "n": 1 }),
            expected_version: 0,
        }
    }

    /// An event whose future is dropped inside its transaction (its caller hung up) still
    /// commits what it wrote, and the store takes the next call.
    #[tokio::test]
    async fn an_abandoned_event_commits_and_frees_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_dir(dir.path()).unwrap();
        let shop = ShopId::shopify("abandoned.myshopify.com").unwrap();
        let id = store.begin_event_transaction().await.unwrap().unwrap();
        let abandoned = async {
            let _open = OpenTransaction {
                store: &store as &dyn Store,
                id: Some(id),
            };
            aftersale_ports::event_transaction::within(id, async {
                store.save_documents(&shop, &[write("inside")]).await.unwrap();
                std::future::pending::<()>().await;
            })
            .await;
        };
        let hung_up = tokio::time::timeout(std::time::Duration::from_millis(20), abandoned).await;
        assert!(hung_up.is_err(), "the event never finished");
        let next = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            store.save_documents(&shop, &[write("after")]).await.unwrap();
            store.list_documents(&shop, "").await.unwrap().len()
        });
        assert_eq!(
            next.await.expect("the store is free again"),
            2,
            "both writes are committed"
        );
    }
}
