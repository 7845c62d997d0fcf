//! Sending what is due: claim, re-check, render, send, record. Exactly once per message:
//! a claim is a conditional write, and a sender that dies mid-way leaves a lease behind.
//! An expired `claimed` lease means the provider was never called, so the message is
//! retried; an expired `sending` lease means the outcome is unknown, so the message is
//! failed loudly (and support told) rather than risk a second copy in someone's inbox.

use crate::Engine;
use crate::flows::{Held, Prepared};
use crate::pace::{Pacer, TickBudget};
use aftersale_domain::flows::{self, follows, locale_for};
use aftersale_domain::policy::SuppressionReason;
use aftersale_domain::policy::{Decision, FollowUp, SendContext, decide, reservations};
use aftersale_domain::{
    Channel, Customer, CustomerId, FailReason, Flow, Message, MessageClass, MessageId, MessageStatus,
    OrderRecord, Platform, ShopConfig, ShopId, SkipReason, TransitionError,
};
use aftersale_ports::{
    DueEntry, Mailbox, OutgoingEmail, OutgoingSms, SendError, SentId, SmsKind, StoreError, UndecodableMessage,
};
use aftersale_templates::{RenderedEmail, TemplateError};
use chrono::{DateTime, Duration, Utc};
use futures_util::{StreamExt, stream};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use tracing::{Instrument, info, info_span, warn};

/// Transient failures are retried this many times, with exponential backoff.
const MAX_ATTEMPTS: u32 = 8;
/// A message whose processing keeps failing tells support at its first failure and then
/// every this many (the backoff reaches a day after nine, so about weekly from then on).
const ALERT_EVERY_ERRORS: u32 = 7;

/// Tries of the write that records a sent message (0.2 + 0.4 + 0.8 + 1.6 s apart): the
/// provider has it, so a store that stumbles for a few seconds must not turn it into a failure.
const SENT_WRITE_TRIES: u32 = 5;

/// What one tick did, per outcome.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct TickReport {
    pub sent: usize,
    pub skipped: usize,
    pub deferred: usize,
    pub retrying: usize,
    pub failed: usize,
    /// Not sent on purpose: the customer is in the flow's holdout (control) group.
    pub held_out: usize,
    /// Taken by another sender between our read and our claim.
    pub lost_claims: usize,
    /// Messages whose processing failed or panicked (set aside with backoff, support told),
    /// and flows whose due queue could not be read. The rest of the tick went on.
    pub errors: usize,
    /// Unreadable messages taken out of the due index for good (support told).
    pub quarantined: usize,
    /// Provider answers "too fast" (SES `TooManyRequestsException`, "Maximum sending rate
    /// exceeded", SNS `Throttling`): the tick slowed down and sent again. Not failures.
    pub throttled: usize,
    /// The tick stopped claiming at its budget's margin: what is still due is left for the
    /// next tick.
    pub budget_exhausted: bool,
}

impl TickReport {
    fn add(&mut self, part: &TickReport) {
        self.sent += part.sent;
        self.skipped += part.skipped;
        self.deferred += part.deferred;
        self.retrying += part.retrying;
        self.failed += part.failed;
        self.held_out += part.held_out;
        self.lost_claims += part.lost_claims;
        self.errors += part.errors;
        self.quarantined += part.quarantined;
        self.throttled += part.throttled;
        self.budget_exhausted |= part.budget_exhausted;
    }
}

/// One tick's shared state: as of when it runs, its budget, and what its senders count.
struct Run {
    now: DateTime<Utc>,
    budget: TickBudget,
    started: tokio::time::Instant,
    throttled: AtomicUsize,
}

impl Run {
    /// When a claim is taken: the tick's instant plus the time it has run, so a lease taken
    /// minutes into a long tick still lasts its full length.
    fn claim_time(&self) -> DateTime<Utc> {
        self.now + Duration::from_std(self.started.elapsed()).unwrap_or_default()
    }
}

/// What one customer's messages of a batch did.
#[derive(Default)]
struct Part {
    report: TickReport,
    /// Whether any message moved (a batch where none did ends the flow's tick).
    progressed: bool,
}

/// A batch split by customer, in the order the due index gave: the unit of concurrency.
fn by_customer(due: Vec<DueEntry>) -> Vec<Vec<DueEntry>> {
    let mut groups: Vec<Vec<DueEntry>> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    for entry in due {
        let key = match &entry {
            DueEntry::Message(message) => (message.shop.to_string(), message.customer_id.to_string()),
            DueEntry::Undecodable(poison) => (poison.shop.clone(), poison.customer.clone()),
        };
        match index.get(&key) {
            Some(&at) => groups[at].push(entry),
            None => {
                index.insert(key, groups.len());
                groups.push(vec![entry]);
            }
        }
    }
    groups
}

enum SendBody {
    Email(RenderedEmail),
    Sms(String),
}

/// Why processing one message stopped. Either way the message is set aside with backoff
/// (see [`Engine::set_aside`]) and the tick goes on.
#[derive(Debug, thiserror::Error)]
enum ProcessError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The message was in a state that does not allow the move: a bug, or a store that
    /// returned a message it should not have.
    #[error(transparent)]
    Transition(#[from] TransitionError),
}

/// What the decision looks at, read from the store by [`Engine::load_context`].
struct Loaded {
    /// The message, with the products already rated taken out (review requests).
    message: Message,
    platform: Platform,
    shop_installed: bool,
    record: Option<OrderRecord>,
    customer: Option<Customer>,
    suppressed: Option<SuppressionReason>,
    answered: bool,
    follows: Option<(FollowUp, Duration)>,
    marketing_sent_at: Vec<DateTime<Utc>>,
    reserved_at: Vec<DateTime<Utc>>,
}

/// The sending policy on what was loaded, and this deployment's own rule: no SMS where SMS
/// is switched off. Pure.
fn decide_now(loaded: &Loaded, config: &ShopConfig, now: DateTime<Utc>, sms_enabled: bool) -> Decision {
    let decision = decide(&SendContext {
        message: &loaded.message,
        now,
        config,
        platform: loaded.platform,
        shop_installed: loaded.shop_installed,
        order: loaded.record.as_ref(),
        customer: loaded.customer.as_ref(),
        suppressed: loaded.suppressed,
        answered: loaded.answered,
        follows: loaded.follows,
        marketing_sent_at: &loaded.marketing_sent_at,
        reserved_at: &loaded.reserved_at,
    });
    match decision {
        Decision::Send { .. } if loaded.message.channel == Channel::Sms && !sms_enabled => {
            Decision::Skip(SkipReason::SmsDisabled)
        }
        other => other,
    }
}

enum Outcome {
    Sent,
    Skipped,
    Deferred,
    Retrying,
    Failed,
    HeldOut,
    LostClaim,
}

impl Engine {
    /// Runs every due message of this process's flows as of `now`, with no deadline: see
    /// [`Engine::tick_within`].
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<TickReport, StoreError> {
        self.tick_within(now, TickBudget::unlimited()).await
    }

    /// Runs every due message of this process's flows as of `now`, batch by batch, until
    /// none is left due or the budget says stop.
    ///
    /// Up to [`Settings::send_concurrency`](crate::Settings) messages are worked on at once,
    /// at most one per customer (a customer's messages go in order, so caps and follow-ups
    /// see each other), every provider call paced at the channel's rate. Once less than the
    /// budget's margin is left no new message is claimed: the rest stays due for the next
    /// tick and the report says `budget_exhausted`.
    ///
    /// One message never stops the others: an error or a panic while processing it is
    /// caught, the message is set aside with backoff (see [`Engine::set_aside`]) and the
    /// tick goes on with the rest of its flow, the other flows and the other shops. A flow
    /// whose due queue cannot be read is counted in `errors` and the other flows still run.
    /// `Err` only when no flow could be read at all (the store is down).
    pub async fn tick_within(
        &self,
        now: DateTime<Utc>,
        budget: TickBudget,
    ) -> Result<TickReport, StoreError> {
        let run = Run {
            now,
            budget,
            started: tokio::time::Instant::now(),
            throttled: AtomicUsize::new(0),
        };
        let mut report = TickReport::default();
        let mut last_error = None;
        let mut flows_read = 0;
        for flow in self.settings.flows.clone() {
            match self.tick_flow(flow, &run, &mut report).await {
                Ok(()) => flows_read += 1,
                Err(err) => {
                    warn!(flow = %flow, error = %err, "could not read the flow's due messages");
                    report.errors += 1;
                    last_error = Some(err);
                }
            }
        }
        report.throttled = run.throttled.load(Ordering::Relaxed);
        match last_error {
            Some(err) if flows_read == 0 => Err(err),
            _ => Ok(report),
        }
    }

    async fn tick_flow(&self, flow: Flow, run: &Run, report: &mut TickReport) -> Result<(), StoreError> {
        // Messages set aside in this tick move past `now`, so they never come back in it.
        loop {
            if !run.budget.may_claim() {
                report.budget_exhausted = true;
                return Ok(());
            }
            let due = self
                .store
                .due_entries(flow, run.now, self.settings.batch_size)
                .await?;
            if due.is_empty() {
                return Ok(());
            }
            let shops: BTreeSet<ShopId> = due
                .iter()
                .filter_map(|entry| match entry {
                    DueEntry::Message(message) => Some(message.shop.clone()),
                    DueEntry::Undecodable(_) => None,
                })
                .collect();
            let shops: Vec<ShopId> = shops.into_iter().collect();
            crate::flows::job(flow).before_batch(self, &shops, run.now).await;
            let mut done = stream::iter(by_customer(due))
                .map(|entries| self.run_customer(entries, run))
                .buffer_unordered(self.settings.send_concurrency.max(1));
            let mut progressed = false;
            while let Some(part) = done.next().await {
                progressed |= part.progressed;
                report.add(&part.report);
            }
            if !progressed {
                return Ok(());
            }
        }
    }

    /// One customer's due messages of a batch, in order. Stops claiming when the budget does.
    async fn run_customer(&self, entries: Vec<DueEntry>, run: &Run) -> Part {
        let mut part = Part::default();
        let report = &mut part.report;
        for entry in entries {
            if !run.budget.may_claim() {
                report.budget_exhausted = true;
                break;
            }
            let message = match entry {
                DueEntry::Message(message) => *message,
                DueEntry::Undecodable(poison) => {
                    part.progressed |= self.quarantine(&poison, report).await;
                    continue;
                }
            };
            let now = run.now;
            // Not the message id: its subject may be the customer's id, and logs outlive a redaction.
            let span = info_span!("message", shop = %message.shop, flow = message.flow().as_str(), step = %message.step, order = message.order_id.as_ref().map_or("-", |o| o.as_str()));
            let key = (message.shop.clone(), message.customer_id.clone(), message.id());
            let outcome = CatchPanic::new(self.process(message, run))
                .instrument(span.clone())
                .await;
            let outcome = match outcome {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(err)) => {
                    report.errors += 1;
                    part.progressed |= self
                        .set_aside(&key, &format!("error: {err}"), now)
                        .instrument(span)
                        .await;
                    continue;
                }
                Err(panic) => {
                    report.errors += 1;
                    part.progressed |= self
                        .set_aside(&key, &format!("panic: {panic}"), now)
                        .instrument(span)
                        .await;
                    continue;
                }
            };
            part.progressed |= !matches!(outcome, Outcome::LostClaim);
            let noteworthy = matches!(outcome, Outcome::Skipped | Outcome::Deferred);
            match outcome {
                Outcome::Sent => report.sent += 1,
                Outcome::Skipped => report.skipped += 1,
                Outcome::Deferred => report.deferred += 1,
                Outcome::Retrying => report.retrying += 1,
                Outcome::Failed => report.failed += 1,
                Outcome::HeldOut => report.held_out += 1,
                Outcome::LostClaim => report.lost_claims += 1,
            }
            if noteworthy {
                self.note_decision(&key, now).await;
            }
            self.refresh_metrics(&key.0, &key.1).await;
        }
        part
    }

    async fn process(&self, message: Message, run: &Run) -> Result<Outcome, ProcessError> {
        let now = run.now;
        if message.status == MessageStatus::Sending {
            let mut failed = message;
            failed.fail(FailReason::crashed_while_sending())?;
            return match self.store.update_message(&failed).await {
                Ok(saved) => {
                    warn!("a sender died while sending; marked failed instead of risking a duplicate");
                    let order = self.order_label(&saved).await;
                    self.alert(
                        "Aftersale: a message may not have been delivered",
                        &format!("Message {}{order} for customer {} in {} was being sent when its sender stopped. It was not resent, to avoid a duplicate.", saved.id(), saved.customer_id, saved.shop),
                    )
                    .await;
                    Ok(Outcome::Failed)
                }
                Err(StoreError::Conflict { .. }) => Ok(Outcome::LostClaim),
                Err(err) => Err(err.into()),
            };
        }
        let mut claim = message;
        claim.claim(now, run.claim_time() + self.settings.lease)?;
        let claimed = match self.store.update_message(&claim).await {
            Ok(saved) => saved,
            Err(StoreError::Conflict { .. }) => return Ok(Outcome::LostClaim),
            Err(err) => return Err(err.into()),
        };
        self.decide_and_send(claimed, run).await
    }

    /// A claimed message's way out: the flow's re-check, then load context → decide (pure,
    /// [`decide`]) → render → deliver → record. Whatever stops it on the way is recorded by
    /// [`Engine::settle`].
    async fn decide_and_send(&self, message: Message, run: &Run) -> Result<Outcome, ProcessError> {
        let now = run.now;
        let config = self.config(&message.shop).await?;
        let message = match self.recheck(message.clone(), &config, now).await? {
            Prepared::Proceed(checked) => *checked,
            Prepared::Held(held) => return self.settle(message, held).await,
        };
        let loaded = self.load_context(message, &config, now).await?;
        let decision = decide_now(&loaded, &config, now, self.settings.sms_enabled);
        let Loaded {
            message,
            customer,
            record,
            ..
        } = loaded;
        if matches!(decision, Decision::Send { .. }) && self.in_holdout(&message, &config) {
            return self.hold_out(message).await;
        }
        self.after_decision(&message, &decision, &config, now).await?;
        let to = match decision {
            Decision::Skip(reason) => return self.settle(message, Held::Skip(reason)).await,
            Decision::Defer { until, reason } => {
                let held = Held::Defer {
                    until,
                    reason,
                    payload: None,
                };
                return self.settle(message, held).await;
            }
            Decision::Send { to } => to,
        };
        let message = match self.before_send(message.clone(), &config, now).await? {
            Prepared::Proceed(ready) => *ready,
            Prepared::Held(held) => return self.settle(message, held).await,
        };
        let customer = customer.expect("decide sends only to a known customer");
        let points = self.points_line(&message, &config, now).await;
        let body = match self.render_message(&message, &customer, record.as_ref(), &config, points, now) {
            Ok(body) => body,
            Err(err) => {
                warn!(error = %err, "template failed");
                let mut failed = message;
                failed.fail(FailReason::Template(err.to_string()))?;
                return self.save(failed, Outcome::Failed).await;
            }
        };
        let pace = self.pace(message.channel);
        // The turn is taken before the message is marked `sending`: a sender that dies while
        // it waits leaves a claim (retried), not an unknown outcome (failed).
        pace.turn().await;
        let sending = match self.start_sending(message, to.clone(), &body).await? {
            Some(sending) => sending,
            None => return Ok(Outcome::LostClaim),
        };
        let held_since = tokio::time::Instant::now();
        let mut result = self.deliver(&sending, &customer, &to, &body, &config, now).await;
        // "Too fast" means the provider took nothing: slow every sender down and send again,
        // while the budget and half the lease allow (the message is ours until the lease ends).
        while let Err(SendError::Throttled(problem)) = &result {
            pace.throttled();
            run.throttled.fetch_add(1, Ordering::Relaxed);
            let lease_left = held_since.elapsed() < self.settings.lease.to_std().unwrap_or_default() / 2;
            if !(run.budget.may_wait() && lease_left) {
                break;
            }
            info!(problem = %problem, "throttled; sending again after a pause");
            pace.turn().await;
            result = self.deliver(&sending, &customer, &to, &body, &config, now).await;
        }
        if result.is_ok() {
            pace.accepted();
        }
        self.record_delivery(sending, result, now).await
    }

    /// The pace of a channel's provider calls.
    fn pace(&self, channel: Channel) -> &Pacer {
        match channel {
            Channel::Email => &self.email_pace,
            Channel::Sms => &self.sms_pace,
        }
    }

    /// Everything the decision looks at, read up front: the shop, the order, the customer,
    /// their suppression, history and answers.
    async fn load_context(
        &self,
        message: Message,
        config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Result<Loaded, StoreError> {
        let shop = &message.shop;
        let shop_state = self.store.load_shop(shop).await?;
        let record = match &message.order_id {
            Some(order_id) => self.store.load_order(shop, order_id).await?.map(|v| v.value),
            None => None,
        };
        let customer = self.store.load_customer(shop, &message.customer_id).await?;
        let destination = customer.as_ref().and_then(|c| match message.channel {
            Channel::Email => c.email.clone(),
            Channel::Sms => c.phone.clone(),
        });
        let suppressed = match &destination {
            Some(address) => self.store.suppression(shop, address).await?,
            None => None,
        };
        let history = self.store.customer_messages(shop, &message.customer_id).await?;
        let answers = self.store.customer_answers(shop, &message.customer_id).await?;
        // What the customer already answered: a survey filled in, every product rated (a
        // reminder after a 1-star answer asks only about the others).
        let (message, answered) = flows::rules(message.flow()).answered(message, &answers);
        let follows = follows(message.step, config).map(|(prior, gap)| {
            let request = history
                .iter()
                .find(|m| m.step == prior && m.subject == message.subject);
            let state = match request {
                Some(m) if m.status == MessageStatus::Sent => {
                    m.sent_at.map_or(FollowUp::NotSent, FollowUp::Sent)
                }
                Some(m) if !m.status.is_final() => FollowUp::Pending { due_at: m.due_at },
                _ => FollowUp::NotSent,
            };
            (state, gap)
        });
        let marketing_sent_at = history
            .iter()
            .filter(|m| m.class == MessageClass::Marketing && m.status == MessageStatus::Sent)
            .filter_map(|m| m.sent_at)
            .collect();
        let reserved_at = reservations(
            &history,
            &message,
            Duration::days(config.caps.window_days.into()),
            now,
        );
        Ok(Loaded {
            platform: shop_state.as_ref().map_or(Platform::Shopify, |s| s.platform),
            shop_installed: shop_state.as_ref().is_none_or(|s| s.is_installed()),
            message,
            record,
            customer,
            suppressed,
            answered,
            follows,
            marketing_sent_at,
            reserved_at,
        })
    }

    /// The message's subject and body in the customer's language, from the shop's templates.
    fn render_message(
        &self,
        message: &Message,
        customer: &Customer,
        record: Option<&OrderRecord>,
        config: &ShopConfig,
        points: Option<Value>,
        now: DateTime<Utc>,
    ) -> Result<SendBody, TemplateError> {
        let shop = message.shop.as_str();
        let locale = locale_for(Some(customer), config);
        let context = self.render_context(message, customer, record, config, points, now);
        let (flow, step) = (message.flow().as_str(), message.step.as_str());
        Ok(match message.channel {
            Channel::Email => {
                SendBody::Email(self.templates.render_email(shop, flow, step, &locale, &context)?)
            }
            Channel::Sms => SendBody::Sms(self.templates.render_sms(shop, flow, step, &locale, &context)?),
        })
    }

    /// Records that the provider is about to be called. Past this write the provider may
    /// have the message: it is never sent again. `None` when another sender took it.
    async fn start_sending(
        &self,
        message: Message,
        to: String,
        body: &SendBody,
    ) -> Result<Option<Message>, ProcessError> {
        let subject = match body {
            SendBody::Email(email) => Some(email.subject.clone()),
            SendBody::Sms(_) => None,
        };
        let mut sending = message;
        sending.start_sending(to, subject)?;
        match self.store.update_message(&sending).await {
            Ok(saved) => Ok(Some(saved)),
            Err(StoreError::Conflict { .. }) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// Hands the rendered message to the provider: SES (or the outbox) for email, SNS for SMS.
    async fn deliver(
        &self,
        sending: &Message,
        customer: &Customer,
        to: &str,
        body: &SendBody,
        config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Result<SentId, SendError> {
        let shop = &sending.shop;
        match body {
            SendBody::Email(email) => {
                let (name, address) = config.sender_for(shop);
                // The shop header lets bounce and complaint notifications find their suppression list.
                let mut headers = vec![
                    ("X-Aftersale-Message".to_string(), sending.id().to_string()),
                    ("X-Aftersale-Shop".to_string(), shop.to_string()),
                    // With the message id, names the message SES events are recorded on.
                    (
                        "X-Aftersale-Customer".to_string(),
                        sending.customer_id.to_string(),
                    ),
                ];
                match self.unsubscribe_url(sending, now) {
                    Some(url) => {
                        headers.push(("List-Unsubscribe".into(), format!("<{url}>")));
                        headers.push((
                            "List-Unsubscribe-Post".into(),
                            "List-Unsubscribe=One-Click".into(),
                        ));
                    }
                    None => headers.push(("X-Aftersale-Class".into(), "transactional".into())),
                }
                let outgoing = OutgoingEmail {
                    from: Mailbox { name, address },
                    to: Mailbox {
                        name: customer.first_name.clone(),
                        address: to.to_owned(),
                    },
                    subject: email.subject.clone(),
                    html: email.html.clone(),
                    text: email.text.clone(),
                    headers,
                    configuration_set: self.settings.configuration_set.clone(),
                };
                self.senders.mailer.send_email(&outgoing).await
            }
            SendBody::Sms(text) => {
                let kind = if sending.class == MessageClass::Marketing {
                    SmsKind::Promotional
                } else {
                    SmsKind::Transactional
                };
                self.senders
                    .sms
                    .send_sms(&OutgoingSms {
                        to: to.to_owned(),
                        body: text.clone(),
                        kind,
                    })
                    .await
            }
        }
    }

    /// Records what the provider said: sent, retried with backoff after a transient error
    /// (at most [`MAX_ATTEMPTS`] calls), due again in a minute when still throttled (never
    /// failed for it), or failed for good.
    async fn record_delivery(
        &self,
        mut sending: Message,
        result: Result<SentId, SendError>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, ProcessError> {
        match result {
            Ok(id) => {
                info!("sent");
                sending.sent(now, id.to_string())?;
                let outcome = self.save_sent(&sending).await?;
                if self.settings.outbox_marks_delivery && matches!(outcome, Outcome::Sent) {
                    self.count_outbox_delivery(&sending, now).await;
                }
                Ok(outcome)
            }
            // Never a failure, whatever the attempts: the provider took nothing.
            Err(SendError::Throttled(err)) => {
                warn!(error = %err, "still throttled; left for the next tick");
                sending.retry(
                    now + Duration::minutes(1),
                    format!("throttled by the provider: {err}"),
                )?;
                self.save(sending, Outcome::Retrying).await
            }
            Err(SendError::Transient(err)) if sending.attempts < MAX_ATTEMPTS => {
                warn!(error = %err, attempts = sending.attempts, "send failed; will retry");
                let backoff = Duration::minutes(5 * 2i64.pow(sending.attempts.min(7)));
                sending.retry(now + backoff, err.to_string())?;
                self.save(sending, Outcome::Retrying).await
            }
            Err(err) => {
                warn!(error = %err, "send failed for good");
                sending.fail(FailReason::Provider(err.to_string()))?;
                self.save(sending, Outcome::Failed).await
            }
        }
    }

    /// Takes an unreadable message out of the due index for good and tells support, so the
    /// rest of its flow's queue goes on. Returns whether it moved.
    async fn quarantine(&self, poison: &UndecodableMessage, report: &mut TickReport) -> bool {
        let UndecodableMessage {
            shop,
            customer,
            id,
            problem,
        } = poison;
        warn!(shop = %shop, message = %id, problem = %problem, "an unreadable message was quarantined");
        if let Err(err) = self.store.quarantine_message(poison).await {
            warn!(error = %err, "could not quarantine the unreadable message");
            report.errors += 1;
            return false;
        }
        report.quarantined += 1;
        self.alert(
            "Aftersale: an unreadable message was set aside",
            &format!(
                "Message {id} for customer {customer} in {shop} could not be read ({problem}). It was taken out of the sending queue and will not be sent; the stored data is kept for inspection. The other messages went on."
            ),
        )
        .await;
        true
    }

    /// Takes a message whose processing failed or panicked out of this tick's way. Still
    /// planned or claimed: it is retried with backoff (5 minutes doubling, at most a day),
    /// the problem shown in the outbox, support told at the first failure and then every
    /// [`ALERT_EVERY_ERRORS`] (about weekly once the backoff is a day), never every tick.
    /// Already `sending`: the provider may have it, so it is failed loudly, never resent.
    /// Returns whether the message moved.
    async fn set_aside(
        &self,
        key: &(ShopId, CustomerId, MessageId),
        problem: &str,
        now: DateTime<Utc>,
    ) -> bool {
        let (shop, customer, id) = key;
        warn!(problem, "processing a message failed; setting it aside");
        let message = match self.store.load_message(shop, customer, id).await {
            Ok(Some(message)) => message,
            Ok(None) => return false,
            Err(err) => {
                warn!(error = %err, "could not reload the message to set it aside");
                return false;
            }
        };
        let mut saved = message;
        let alert = match saved.status {
            status if status.is_final() => return true,
            MessageStatus::Sending => {
                let after = problem.to_owned();
                if let Err(err) = saved.fail(FailReason::OutcomeUnknown { after }) {
                    warn!(error = %err, "could not set the message aside");
                    return false;
                }
                true
            }
            _ => {
                let retry = &mut saved;
                retry.processing_errors += 1;
                let errors = retry.processing_errors;
                let backoff = (Duration::minutes(5) * 2i32.pow(errors.min(10))).min(Duration::hours(24));
                if let Err(err) = retry.retry(now + backoff, problem.to_owned()) {
                    warn!(error = %err, "could not set the message aside");
                    return false;
                }
                errors == 1 || errors.is_multiple_of(ALERT_EVERY_ERRORS)
            }
        };
        let id = saved.id();
        let reason = saved.reason.clone();
        if let Err(err) = self.store.update_message(&saved).await {
            warn!(error = %err, "could not set the message aside");
            return false;
        }
        if alert {
            self.alert(
                "Aftersale: a message could not be processed",
                &format!(
                    "Message {id} for customer {customer} in {shop}: {reason}. The other messages went on."
                ),
            )
            .await;
        }
        true
    }

    /// Records why a message does not go now: skipped, deferred, retried or failed.
    async fn settle(&self, mut message: Message, held: Held) -> Result<Outcome, ProcessError> {
        let outcome = match held {
            Held::Skip(reason) => {
                info!(reason = %reason, "skipped");
                message.skip(reason)?;
                Outcome::Skipped
            }
            Held::Defer {
                until,
                reason,
                payload,
            } => {
                info!(until = %until, reason = %reason, "deferred");
                message.defer(until, reason)?;
                if let Some(payload) = payload {
                    message.payload = *payload;
                }
                Outcome::Deferred
            }
            Held::Retry {
                until,
                problem,
                payload,
            } => {
                info!(until = %until, problem = %problem, "retrying later");
                message.retry(until, problem)?;
                message.payload = *payload;
                Outcome::Deferred
            }
            Held::Fail(reason) => {
                message.fail(reason)?;
                let reason = &message.reason;
                warn!(reason = %reason, "failed");
                let order = self.order_label(&message).await;
                self.alert(
                    "Aftersale: a message failed",
                    &format!(
                        "Message {}{order} for customer {} in {}: {reason}",
                        message.id(),
                        message.customer_id,
                        message.shop
                    ),
                )
                .await;
                Outcome::Failed
            }
        };
        self.save(message, outcome).await
    }

    /// Local mode: the outbox has no provider to report a delivery, so a message written to
    /// it counts as delivered in the funnel (on AWS, SES delivery events do). A failure here
    /// never fails the send: the message is out. Only noted: the tick refreshes the customer's
    /// figures once after the message, so a send recomputes them once, not twice.
    async fn count_outbox_delivery(&self, sent: &Message, now: DateTime<Utc>) {
        let counted = match self
            .store
            .load_message(&sent.shop, &sent.customer_id, &sent.id())
            .await
        {
            Ok(Some(stored)) => aftersale_metrics::rollups::note_engagement(
                self.store.as_ref(),
                &stored,
                aftersale_metrics::EngagementKind::Delivered,
                now,
            )
            .await
            .map(drop),
            Ok(None) => Ok(()),
            Err(err) => Err(err),
        };
        if let Err(err) = counted {
            warn!(error = %err, "delivery not counted in the funnel");
        }
    }

    /// Lists a skip or deferral among the shop's recent decisions (the dashboard shows them).
    async fn note_decision(&self, key: &(ShopId, CustomerId, MessageId), now: DateTime<Utc>) {
        let noted = match self.store.load_message(&key.0, &key.1, &key.2).await {
            Ok(Some(message)) => {
                aftersale_metrics::rollups::note_decision(self.store.as_ref(), &message, now).await
            }
            Ok(None) => Ok(()),
            Err(err) => Err(err),
        };
        if let Err(err) = noted {
            warn!(error = %err, "decision not listed on the dashboard");
        }
    }

    /// Whether the customer is in the message's flow's control group (a pure hash of shop,
    /// flow and customer, so the same customer is held out of every run of the flow).
    fn in_holdout(&self, message: &Message, config: &ShopConfig) -> bool {
        let percent = aftersale_metrics::settings_for(Some(config), message.flow()).holdout_percent;
        aftersale_metrics::holdout::is_held_out(&message.shop, message.flow(), &message.customer_id, percent)
    }

    /// Records the message as held out and never sends it: it keeps its `due_at`, the instant
    /// it was due, and lift compares these customers' orders with those of the customers who
    /// got it.
    async fn hold_out(&self, mut message: Message) -> Result<Outcome, ProcessError> {
        message.hold_out()?;
        info!("held out: control group");
        self.save(message, Outcome::HeldOut).await
    }

    /// Records a message the provider took. A passing store error must not lose that write:
    /// the message would stay `sending` and be failed as "outcome unknown" although it went.
    /// So the write is tried again, and a conflict asks whether an earlier try of this very
    /// write landed (its answer lost on the way back) before calling the claim lost.
    async fn save_sent(&self, sent: &Message) -> Result<Outcome, ProcessError> {
        let mut tries = 1;
        loop {
            match self.store.update_message(sent).await {
                Ok(_) => return Ok(Outcome::Sent),
                Err(StoreError::Conflict { .. }) => {
                    let stored = self
                        .store
                        .load_message(&sent.shop, &sent.customer_id, &sent.id())
                        .await?;
                    let landed = stored.is_some_and(|m| {
                        m.status == MessageStatus::Sent && m.provider_id == sent.provider_id
                    });
                    return Ok(if landed { Outcome::Sent } else { Outcome::LostClaim });
                }
                Err(err) if tries < SENT_WRITE_TRIES => {
                    warn!(error = %err, tries, "recording a sent message failed; trying again");
                    tokio::time::sleep(std::time::Duration::from_millis(100 << tries)).await;
                    tries += 1;
                }
                Err(err) => return Err(err.into()),
            }
        }
    }

    async fn save(&self, message: Message, outcome: Outcome) -> Result<Outcome, ProcessError> {
        match self.store.update_message(&message).await {
            Ok(_) => Ok(outcome),
            Err(StoreError::Conflict { .. }) => Ok(Outcome::LostClaim),
            Err(err) => Err(err.into()),
        }
    }

    /// How an alert names a message's order: " (order #1001)", by the number the shop shows,
    /// which is what support searches for in the shop's admin; the id when the number is
    /// unknown; nothing for messages about no order.
    pub(crate) async fn order_label(&self, message: &Message) -> String {
        let Some(order_id) = &message.order_id else {
            return String::new();
        };
        let name = self.order_number(message).await.unwrap_or_else(|err| {
            warn!(error = %err, "order number unavailable for an alert");
            None
        });
        format!(" (order {})", name.unwrap_or_else(|| order_id.to_string()))
    }

    /// The number the shop shows for a message's order ("#1001"), when known.
    pub(crate) async fn order_number(&self, message: &Message) -> Result<Option<String>, StoreError> {
        let Some(order_id) = &message.order_id else {
            return Ok(None);
        };
        let record = self.store.load_order(&message.shop, order_id).await?;
        Ok(record.and_then(|r| r.value.snapshot).and_then(|order| order.name))
    }

    pub(crate) async fn alert(&self, subject: &str, body: &str) {
        if let Err(err) = self.senders.alerts.alert(subject, body).await {
            warn!(error = %err, "support alert failed");
        }
    }
}

/// A future that turns a panic while it is polled into an `Err` carrying the panic's
/// message, so one message's bug cannot unwind through a whole tick.
struct CatchPanic<F> {
    inner: Pin<Box<F>>,
}

impl<F> CatchPanic<F> {
    fn new(inner: F) -> Self {
        Self {
            inner: Box::pin(inner),
        }
    }
}

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.inner.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(payload) => Poll::Ready(Err(panic_message(payload.as_ref()))),
        }
    }
}

/// The text a panic was raised with (`panic!("...")`, an overflow, an `expect`).
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poison(customer: &str, id: &str) -> DueEntry {
        DueEntry::Undecodable(UndecodableMessage {
            shop: "demo.myshopify.com".into(),
            customer: customer.into(),
            id: id.into(),
            problem: "test".into(),
        })
    }

    fn ids(group: &[DueEntry]) -> Vec<&str> {
        group
            .iter()
            .map(|entry| match entry {
                DueEntry::Undecodable(poison) => poison.id.as_str(),
                DueEntry::Message(_) => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn a_batch_is_split_by_customer_keeping_the_due_order_within_each() {
        let groups = by_customer(vec![
            poison("c1", "a"),
            poison("c2", "b"),
            poison("c1", "c"),
            poison("c3", "d"),
            poison("c2", "e"),
        ]);
        let groups: Vec<Vec<&str>> = groups.iter().map(|g| ids(g)).collect();
        assert_eq!(groups, vec![vec!["a", "c"], vec!["b", "e"], vec!["d"]]);
    }
}
