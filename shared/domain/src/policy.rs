//! The sending policy every flow obeys, decided when a message is due (not when planned):
//! the world may have changed since (refund, unsubscribe, bounce, a review already written).

use crate::flows::{self, follows};
use crate::{
    Channel, Consent, Customer, DeferReason, Flow, Message, MessageClass, OrderRecord, Platform, ShopConfig,
    SkipReason,
};
use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Why an address must not be written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionReason {
    Bounce,
    Complaint,
    Unsubscribed,
}

impl SuppressionReason {
    pub const ALL: [SuppressionReason; 3] = [
        SuppressionReason::Bounce,
        SuppressionReason::Complaint,
        SuppressionReason::Unsubscribed,
    ];

    /// Whether this suppression stops a message of `class`. An unsubscribe is the customer
    /// saying "no more surveys, review requests or offers": it never stops what concerns an
    /// order they place (transactional). A bounce or a complaint stops everything: the address
    /// does not work, or its owner called us spam.
    pub fn stops(self, class: MessageClass) -> bool {
        match self {
            SuppressionReason::Unsubscribed => class != MessageClass::Transactional,
            SuppressionReason::Bounce | SuppressionReason::Complaint => true,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SuppressionReason::Bounce => "bounced",
            SuppressionReason::Complaint => "complained",
            SuppressionReason::Unsubscribed => "unsubscribed",
        }
    }
}

/// Everything the decision looks at, gathered by the sender.
pub struct SendContext<'a> {
    pub message: &'a Message,
    pub now: DateTime<Utc>,
    pub config: &'a ShopConfig,
    pub platform: Platform,
    pub shop_installed: bool,
    pub order: Option<&'a OrderRecord>,
    pub customer: Option<&'a Customer>,
    /// Whether the customer or their address is on the suppression list.
    pub suppressed: Option<SuppressionReason>,
    /// The customer already answered what this message asks (survey, check-in, every
    /// product rated).
    pub answered: bool,
    /// For a follow-up (review reminder): where the message it follows stands, and the gap
    /// to leave after it.
    pub follows: Option<(FollowUp, Duration)>,
    /// When this customer's marketing messages were sent, for the cap.
    pub marketing_sent_at: &'a [DateTime<Utc>],
    /// When this customer's other time-bound marketing messages still to go are due
    /// ([`reservations`]): they are counted against the cap before open-ended ones.
    pub reserved_at: &'a [DateTime<Utc>],
}

/// Where the message a follow-up follows stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowUp {
    Sent(DateTime<Utc>),
    /// Still on its way (planned, deferred, retrying, being sent).
    Pending {
        due_at: DateTime<Utc>,
    },
    /// Skipped, failed or never planned: there is nothing to follow up.
    NotSent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Send {
        to: String,
    },
    Skip(SkipReason),
    Defer {
        until: DateTime<Utc>,
        reason: DeferReason,
    },
}

/// A capped message waits at most this long past its due time for room under the cap.
const MAX_CAP_DEFERRAL_DAYS: i64 = 14;

pub fn decide(ctx: &SendContext<'_>) -> Decision {
    let message = ctx.message;
    let skip = Decision::Skip;
    if !ctx.shop_installed {
        return skip(SkipReason::ShopUninstalled);
    }
    if !flow_enabled(ctx.config, message.flow()) {
        return skip(SkipReason::FlowDisabled);
    }
    if message.order_id.is_some() {
        let Some(order) = ctx.order.filter(|o| o.snapshot.is_some()) else {
            return skip(SkipReason::OrderNotFound);
        };
        if let Some(reason) = order.void_reason() {
            return skip(SkipReason::OrderVoid(reason));
        }
    }
    if let Some(limit) = flows::rules(message.flow()).stale_after(message.step)
        && ctx.now - message.due_at > limit
    {
        return skip(SkipReason::TooLate);
    }
    if ctx.answered {
        return skip(if message.flow() == Flow::ReviewRequest {
            SkipReason::AlreadyReviewed
        } else {
            SkipReason::AlreadyAnswered
        });
    }
    if let Some((deadline, passed)) = deadline(message)
        && ctx.now >= deadline
    {
        return skip(passed);
    }
    let prior = follows(message.step, ctx.config).map_or("request", |(prior, _)| prior.as_str());
    match ctx.follows {
        Some((FollowUp::NotSent, _)) => return skip(SkipReason::PriorNotSent { prior: prior.into() }),
        Some((FollowUp::Pending { due_at }, gap)) => {
            return Decision::Defer {
                until: due_at.max(ctx.now) + gap,
                reason: DeferReason::WaitingFor { prior: prior.into() },
            };
        }
        // Catching up after downtime must not send a request and its reminder together.
        Some((FollowUp::Sent(sent_at), gap)) if ctx.now < sent_at + gap => {
            return Decision::Defer {
                until: sent_at + gap,
                reason: DeferReason::WaitingAfter { prior: prior.into() },
            };
        }
        _ => {}
    }
    let Some(customer) = ctx.customer else {
        return skip(SkipReason::CustomerNotFound);
    };
    let to = match message.channel {
        Channel::Email => customer.email.clone().ok_or(SkipReason::NoEmailAddress),
        Channel::Sms => customer.phone.clone().ok_or(SkipReason::NoPhoneNumber),
    };
    let to = match to {
        Ok(to) => to,
        Err(reason) => return skip(reason),
    };
    if message.channel == Channel::Email
        && let Err(problem) = crate::check_email_address(&to)
    {
        return skip(SkipReason::BadEmailAddress(problem));
    }
    if let Some(reason) = ctx.suppressed.filter(|reason| reason.stops(message.class)) {
        return skip(SkipReason::Suppressed(reason));
    }
    if !has_consent(ctx, customer) {
        return skip(SkipReason::NoConsent);
    }
    if message.class == MessageClass::Marketing
        && let Some(until) = cap_frees_at(ctx)
    {
        // A time-bound message keeps its moment: waiting for room would carry it past the
        // launch or the offer's end. It goes now or, when earlier sends fill the cap, not at all.
        if deadline(message).is_some() || until - message.due_at > Duration::days(MAX_CAP_DEFERRAL_DAYS) {
            return skip(SkipReason::OverFrequencyCap);
        }
        return Decision::Defer {
            until,
            reason: DeferReason::FrequencyCap,
        };
    }
    let quiet_applies = message.channel == Channel::Sms
        || (ctx.config.quiet_hours.apply_to_email && message.class != MessageClass::Transactional);
    if quiet_applies {
        let tz = customer.time_zone.unwrap_or(ctx.config.time_zone);
        let (start, end) = ctx.config.quiet_window();
        if let Some(until) = quiet_hours_end(ctx.now, tz, start, end) {
            return Decision::Defer {
                until,
                reason: DeferReason::QuietHours,
            };
        }
    }
    Decision::Send { to }
}

/// Whether the shop has the flow switched on.
pub fn flow_enabled(config: &ShopConfig, flow: Flow) -> bool {
    flows::rules(flow).enabled(config)
}

/// Transactional needs no marketing consent (only no explicit refusal for SMS); service
/// needs it when the shop says so, and always for SMS; marketing always needs it.
fn has_consent(ctx: &SendContext<'_>, customer: &Customer) -> bool {
    let raw = match ctx.message.channel {
        Channel::Email => customer.email_marketing,
        Channel::Sms => customer.sms_marketing,
    };
    let consent = match (raw, ctx.platform) {
        (Consent::Unknown, Platform::Woocommerce) => ctx.config.consent.woocommerce_default,
        (other, _) => other,
    };
    match (ctx.message.class, ctx.message.channel) {
        (MessageClass::Transactional, Channel::Email) => true,
        // Only the customer's own refusal counts here, not a shop's assumed marketing default.
        (MessageClass::Transactional, Channel::Sms) => raw != Consent::Denied,
        (MessageClass::Service, Channel::Email) if !ctx.config.consent.service_requires_consent => true,
        _ => consent == Consent::Granted,
    }
}

/// When a time-bound message stops making sense, and what to say once it has: an early-access
/// invitation at the public launch, a win-back offer or last call when the offer ends.
/// Open-ended messages have none.
pub fn deadline(message: &Message) -> Option<(DateTime<Utc>, SkipReason)> {
    if message.class != MessageClass::Marketing {
        return None;
    }
    flows::rules(message.flow()).deadline(message)
}

/// The moments `history`'s other time-bound marketing messages still to go will be sent
/// (their due time, or `now` when overdue), within a cap window of `now`. An open-ended
/// message makes room for them: it waits rather than push a launch or an offer over the cap.
pub fn reservations(
    history: &[Message],
    message: &Message,
    window: Duration,
    now: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    history
        .iter()
        .filter(|m| m.class == MessageClass::Marketing && !m.status.is_final() && m.id() != message.id())
        .filter(|m| deadline(m).is_some_and(|(end, _)| end > now))
        .map(|m| m.due_at.max(now))
        .filter(|at| *at - now < window)
        .collect()
}

/// When the cap next has room for this message, if it has none now. The cap holds in every
/// window of `window_days`: the sends already made count, and for an open-ended message so
/// do the time-bound messages reserved ahead of it.
fn cap_frees_at(ctx: &SendContext<'_>) -> Option<DateTime<Utc>> {
    let window = Duration::days(ctx.config.caps.window_days.into());
    let cap = ctx.config.caps.marketing_per_window as usize;
    let mut events: Vec<DateTime<Utc>> = ctx.marketing_sent_at.to_vec();
    if deadline(ctx.message).is_none() {
        events.extend_from_slice(ctx.reserved_at);
    }
    events.sort();
    if fits(ctx.now, &events, window, cap) {
        return None;
    }
    // Room can only open when a counted message leaves a window.
    events
        .iter()
        .map(|at| *at + window)
        .filter(|at| *at > ctx.now)
        .find(|at| fits(*at, &events, window, cap))
        .or_else(|| events.last().map(|at| *at + window))
}

/// Whether one more message at `at` keeps every window of length `window` around it at
/// `cap` messages or fewer. `events` is sorted.
fn fits(at: DateTime<Utc>, events: &[DateTime<Utc>], window: Duration, cap: usize) -> bool {
    let mut near: Vec<DateTime<Utc>> = events
        .iter()
        .copied()
        .filter(|e| (*e - at).abs() < window)
        .collect();
    near.push(at);
    near.sort();
    near.iter()
        .filter(|start| **start <= at && at - **start < window)
        .all(|start| {
            near.iter()
                .filter(|e| **e >= *start && **e - *start < window)
                .count()
                <= cap
        })
}

/// If `now` falls in the quiet window in `tz`, the instant it ends.
pub fn quiet_hours_end(
    now: DateTime<Utc>,
    tz: Tz,
    start: NaiveTime,
    end: NaiveTime,
) -> Option<DateTime<Utc>> {
    if start == end {
        return None;
    }
    let local = now.with_timezone(&tz);
    let time = local.time();
    let wraps = start > end;
    let quiet = if wraps {
        time >= start || time < end
    } else {
        time >= start && time < end
    };
    if !quiet {
        return None;
    }
    let mut end_date = local.date_naive();
    if wraps && time >= start {
        end_date = end_date.succ_opt()?;
    }
    let end_local = end_date.and_time(end);
    // On a DST gap the end does not exist locally; an hour later always does.
    let resolved = tz.from_local_datetime(&end_local).earliest().or_else(|| {
        tz.from_local_datetime(&(end_local + Duration::hours(1)))
            .earliest()
    })?;
    Some(resolved.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Currency, CustomerId, DueBasis, EventId, EventKind, FulfillmentStatus, MessageStatus, Money, Order,
        OrderId, OrderStatus, Refund, RefundEvent, ShopId, StoreEvent,
    };
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, h, m, 0).unwrap()
    }

    fn customer() -> Customer {
        let mut c = Customer::bare(CustomerId::new("7").unwrap());
        c.email = Some("laura@example.com".into());
        c.phone = Some("+393331234567".into());
        c.email_marketing = Consent::Granted;
        c.sms_marketing = Consent::Granted;
        c
    }

    fn order_record(status: OrderStatus) -> OrderRecord {
        let eur = Currency::new("EUR").unwrap();
        let mut record = OrderRecord::new(OrderId::new("1001").unwrap());
        record.snapshot = Some(Order {
            id: OrderId::new("1001").unwrap(),
            name: None,
            customer: customer(),
            created_at: at(9, 0),
            updated_at: at(9, 0),
            status,
            fulfillment: FulfillmentStatus::Unfulfilled,
            line_items: vec![],
            subtotal: Money::parse("50", eur).unwrap(),
            total: Money::parse("50", eur).unwrap(),
            total_discounts: Money::zero(eur),
            discount_codes: vec![],
            refunds: vec![],
            shipping_country: None,
            shipping_address: None,
            client_ip: None,
            checkout_token: None,
            cart_token: None,
        });
        record
    }

    fn message(flow: Flow, step: &str, class: MessageClass, channel: Channel) -> Message {
        Message {
            shop: ShopId::new("demo.myshopify.com").unwrap(),
            customer_id: CustomerId::new("7").unwrap(),
            subject: "1001".into(),
            step: crate::FlowStep::parse(flow, step).expect("a step of the flow"),
            order_id: Some(OrderId::new("1001").unwrap()),
            class,
            channel,
            due_at: at(10, 0),
            due_basis: DueBasis::Known,
            status: MessageStatus::Claimed,
            reason: "planned".into(),
            planned_at: at(9, 0),
            lease_until: None,
            attempts: 1,
            products: vec![],
            payload: Default::default(),
            processing_errors: 0,
            to: None,
            rendered_subject: None,
            sent_at: None,
            provider_id: None,
            version: 1,
        }
    }

    struct Case {
        message: Message,
        now: DateTime<Utc>,
        config: ShopConfig,
        platform: Platform,
        installed: bool,
        order: OrderRecord,
        customer: Customer,
        suppressed: Option<SuppressionReason>,
        answered: bool,
        follows: Option<(FollowUp, Duration)>,
        sent: Vec<DateTime<Utc>>,
        reserved: Vec<DateTime<Utc>>,
    }

    impl Case {
        fn new(message: Message) -> Self {
            Self {
                message,
                now: at(10, 0),
                config: ShopConfig::default(),
                platform: Platform::Shopify,
                installed: true,
                order: order_record(OrderStatus::Processing),
                customer: customer(),
                suppressed: None,
                answered: false,
                follows: None,
                sent: vec![],
                reserved: vec![],
            }
        }

        fn decide(&self) -> Decision {
            decide(&SendContext {
                message: &self.message,
                now: self.now,
                config: &self.config,
                platform: self.platform,
                shop_installed: self.installed,
                order: Some(&self.order),
                customer: Some(&self.customer),
                suppressed: self.suppressed,
                answered: self.answered,
                follows: self.follows,
                marketing_sent_at: &self.sent,
                reserved_at: &self.reserved,
            })
        }
    }

    fn thank_you() -> Case {
        Case::new(message(
            Flow::ThankYou,
            "thank-you",
            MessageClass::Transactional,
            Channel::Email,
        ))
    }

    /// The decision that shows as `skipped: {text}` in the outbox.
    fn skipped(text: &str) -> Decision {
        match crate::Reason::parse(&format!("skipped: {text}")) {
            crate::Reason::Skipped(reason) => Decision::Skip(reason),
            other => panic!("{text:?} is no skip reason: {other:?}"),
        }
    }

    /// The reason that shows as `deferred: {text}` in the outbox.
    fn deferred(text: &str) -> DeferReason {
        match crate::Reason::parse(&format!("deferred: {text}")) {
            crate::Reason::Deferred(reason) => reason,
            other => panic!("{text:?} is no deferral: {other:?}"),
        }
    }

    #[test]
    fn a_normal_thank_you_is_sent_to_the_customers_email() {
        assert_eq!(
            thank_you().decide(),
            Decision::Send {
                to: "laura@example.com".into()
            }
        );
    }

    #[test]
    fn a_doubtful_address_is_skipped_with_the_reason_before_any_send() {
        let mut case = thank_you();
        case.customer.email = Some("laura@example.com(comment)".into());
        assert_eq!(
            case.decide(),
            skipped("email address has a comment in parentheses")
        );
        case.customer.email = Some("làura@example.com".into());
        assert_eq!(
            case.decide(),
            skipped(
                "email address has characters outside plain ASCII (international addresses are not supported)"
            )
        );
    }

    #[test]
    fn cancelled_refunded_and_deleted_orders_are_skipped() {
        let mut case = thank_you();
        case.order = order_record(OrderStatus::Cancelled);
        assert_eq!(case.decide(), skipped("cancelled"));
        case.order = order_record(OrderStatus::Processing);
        let refund = StoreEvent {
            origin: Default::default(),
            shop: ShopId::new("demo.myshopify.com").unwrap(),
            platform: Platform::Shopify,
            event_id: EventId::new("r").unwrap(),
            occurred_at: at(9, 30),
            kind: EventKind::OrderRefunded(RefundEvent {
                order_id: OrderId::new("1001").unwrap(),
                refund: Refund {
                    id: "r1".into(),
                    created_at: at(9, 30),
                    amount: Money::parse("50", Currency::new("EUR").unwrap()).unwrap(),
                    reason: None,
                },
            }),
        };
        case.order.apply(&refund);
        assert_eq!(case.decide(), skipped("refunded"));
        case.order = order_record(OrderStatus::Processing);
        case.order.deleted = true;
        assert_eq!(case.decide(), skipped("order deleted"));
    }

    #[test]
    fn a_partial_refund_keeps_the_flow_going() {
        let mut case = thank_you();
        case.order.refunds.push(Refund {
            id: "r1".into(),
            created_at: at(9, 30),
            amount: Money::parse("10", Currency::new("EUR").unwrap()).unwrap(),
            reason: None,
        });
        assert!(case.order.is_partially_refunded());
        assert!(matches!(case.decide(), Decision::Send { .. }));
    }

    #[test]
    fn uninstalled_disabled_suppressed_and_answered_are_skipped() {
        let mut case = thank_you();
        case.installed = false;
        assert_eq!(case.decide(), skipped("shop uninstalled"));
        let mut case = thank_you();
        case.config.flows.thank_you.enabled = false;
        assert_eq!(case.decide(), skipped("flow disabled"));
        let mut case = thank_you();
        case.suppressed = Some(SuppressionReason::Bounce);
        assert_eq!(case.decide(), skipped("suppressed: bounced"));
        let mut case = Case::new(message(
            Flow::ReviewRequest,
            "request",
            MessageClass::Service,
            Channel::Email,
        ));
        case.answered = true;
        assert_eq!(case.decide(), skipped("already reviewed"));
        let mut case = Case::new(message(
            Flow::ReviewRequest,
            "reminder",
            MessageClass::Service,
            Channel::Email,
        ));
        case.follows = Some((FollowUp::NotSent, Duration::days(5)));
        assert_eq!(case.decide(), skipped("request not sent"));
        case.follows = Some((FollowUp::Pending { due_at: at(10, 10) }, Duration::days(5)));
        assert_eq!(
            case.decide(),
            Decision::Defer {
                until: at(10, 10) + Duration::days(5),
                reason: deferred("waiting for the request")
            }
        );
        case.follows = Some((FollowUp::Sent(at(9, 0)), Duration::days(5)));
        assert_eq!(
            case.decide(),
            Decision::Defer {
                until: at(9, 0) + Duration::days(5),
                reason: deferred("waiting after the request")
            }
        );
        case.follows = Some((FollowUp::Sent(at(9, 0) - Duration::days(6)), Duration::days(5)));
        assert!(matches!(case.decide(), Decision::Send { .. }));
    }

    #[test]
    fn an_unsubscribe_stops_service_and_marketing_but_never_transactional_messages() {
        let classes = [
            (MessageClass::Transactional, Flow::ThankYou, "thank-you"),
            (MessageClass::Transactional, Flow::DeliveryCheckIn, "check-in"),
            (MessageClass::Service, Flow::ThankYou, "feedback"),
            (MessageClass::Service, Flow::ReviewRequest, "request"),
            (MessageClass::Marketing, Flow::WinBack, "offer"),
        ];
        for (class, flow, step) in classes {
            let mut case = Case::new(message(flow, step, class, Channel::Email));
            case.suppressed = Some(SuppressionReason::Unsubscribed);
            let expected = if class == MessageClass::Transactional {
                Decision::Send {
                    to: "laura@example.com".into(),
                }
            } else {
                skipped("suppressed: unsubscribed")
            };
            assert_eq!(case.decide(), expected, "{flow}/{step}");
        }
    }

    #[test]
    fn bounces_and_complaints_stop_every_class() {
        for reason in [SuppressionReason::Bounce, SuppressionReason::Complaint] {
            for class in [
                MessageClass::Transactional,
                MessageClass::Service,
                MessageClass::Marketing,
            ] {
                assert!(reason.stops(class), "{reason:?} {class:?}");
                let mut case = Case::new(message(Flow::ThankYou, "thank-you", class, Channel::Email));
                case.suppressed = Some(reason);
                assert_eq!(
                    case.decide(),
                    skipped(&format!("suppressed: {}", reason.as_str())),
                    "{reason:?} {class:?}"
                );
            }
        }
    }

    #[test]
    fn a_late_thank_you_is_skipped_not_sent() {
        let mut case = thank_you();
        case.now = at(10, 0) + Duration::days(3);
        assert_eq!(case.decide(), skipped("too late"));
    }

    #[test]
    fn consent_rules_follow_class_and_channel() {
        let mut case = Case::new(message(
            Flow::ThankYou,
            "feedback",
            MessageClass::Service,
            Channel::Email,
        ));
        case.customer.email_marketing = Consent::Denied;
        assert!(
            matches!(case.decide(), Decision::Send { .. }),
            "service email needs no marketing consent by default"
        );
        case.config.consent.service_requires_consent = true;
        assert_eq!(case.decide(), skipped("no consent"));

        let mut case = Case::new(message(
            Flow::ThankYou,
            "feedback",
            MessageClass::Marketing,
            Channel::Email,
        ));
        case.platform = Platform::Woocommerce;
        case.customer.email_marketing = Consent::Unknown;
        assert_eq!(
            case.decide(),
            skipped("no consent"),
            "WooCommerce default is denied"
        );
        case.config.consent.woocommerce_default = Consent::Granted;
        assert!(matches!(case.decide(), Decision::Send { .. }));

        let mut case = Case::new(message(
            Flow::ThankYou,
            "thank-you",
            MessageClass::Transactional,
            Channel::Sms,
        ));
        case.now = at(12, 0);
        case.customer.sms_marketing = Consent::Denied;
        assert_eq!(
            case.decide(),
            skipped("no consent"),
            "an explicit SMS refusal is respected"
        );
        case.customer.phone = None;
        assert_eq!(case.decide(), skipped("no phone number"));
    }

    #[test]
    fn the_marketing_cap_defers_then_gives_up() {
        let mut case = Case::new(message(
            Flow::WinBack,
            "value",
            MessageClass::Marketing,
            Channel::Email,
        ));
        case.sent = vec![at(10, 0) - Duration::days(20), at(10, 0) - Duration::days(5)];
        assert_eq!(
            case.decide(),
            Decision::Defer {
                until: at(10, 0) + Duration::days(10),
                reason: deferred("frequency cap")
            }
        );
        case.sent = vec![at(10, 0) - Duration::days(1), at(10, 0) - Duration::hours(1)];
        assert_eq!(case.decide(), skipped("over frequency cap"));
        case.sent = vec![at(10, 0) - Duration::days(40), at(10, 0) - Duration::days(35)];
        assert!(
            matches!(case.decide(), Decision::Send { .. }),
            "old sends are outside the window"
        );
    }

    fn winback(step: &str) -> Case {
        let mut case = Case::new(message(
            Flow::WinBack,
            step,
            MessageClass::Marketing,
            Channel::Email,
        ));
        case.message.order_id = None;
        case.message.payload.win_back_mut().offer_expires_at =
            Some(Utc.with_ymd_and_hms(2026, 12, 5, 22, 59, 59).unwrap());
        case
    }

    #[test]
    fn a_time_bound_message_past_its_deadline_is_skipped_with_that_reason() {
        let mut case = winback("last-call");
        case.now = Utc.with_ymd_and_hms(2026, 12, 5, 23, 0, 0).unwrap();
        assert_eq!(case.decide(), skipped("offer expired"));
        case.now = Utc.with_ymd_and_hms(2026, 12, 5, 22, 0, 0).unwrap();
        assert!(matches!(case.decide(), Decision::Send { .. }));

        let mut launch = Case::new(message(
            Flow::EarlyAccess,
            "you-first",
            MessageClass::Marketing,
            Channel::Email,
        ));
        launch.message.order_id = None;
        launch.message.payload.early_access_mut().public_start_at =
            Some(Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap());
        assert_eq!(launch.decide(), skipped("already public"));
    }

    #[test]
    fn a_last_call_for_an_offer_never_sent_is_skipped_and_waits_for_a_pending_one() {
        let mut case = winback("last-call");
        case.follows = Some((FollowUp::NotSent, Duration::days(1)));
        assert_eq!(case.decide(), skipped("offer not sent"));
        case.follows = Some((FollowUp::Pending { due_at: at(10, 0) }, Duration::days(1)));
        assert_eq!(
            case.decide(),
            Decision::Defer {
                until: at(10, 0) + Duration::days(1),
                reason: deferred("waiting for the offer")
            }
        );
    }

    #[test]
    fn the_cap_never_moves_a_time_bound_message_it_skips_it_at_its_moment() {
        let mut case = winback("offer");
        case.sent = vec![at(10, 0) - Duration::days(20), at(10, 0) - Duration::days(5)];
        assert_eq!(
            case.decide(),
            skipped("over frequency cap"),
            "deferring it 10 days would carry it past the offer's end"
        );
        case.sent.pop();
        assert!(matches!(case.decide(), Decision::Send { .. }));
        case.reserved = vec![at(10, 0) + Duration::days(1)];
        assert!(
            matches!(case.decide(), Decision::Send { .. }),
            "time-bound messages do not yield to each other"
        );
    }

    #[test]
    fn an_open_ended_message_makes_room_for_the_time_bound_ones_ahead() {
        let mut case = Case::new(message(
            Flow::Replenishment,
            "reminder",
            MessageClass::Marketing,
            Channel::Email,
        ));
        case.sent = vec![at(10, 0) - Duration::days(20)];
        assert!(matches!(case.decide(), Decision::Send { .. }), "one of two used");
        // A launch invitation is due in three days: sending now would leave it no room.
        case.reserved = vec![at(10, 0) + Duration::days(3)];
        assert_eq!(
            case.decide(),
            Decision::Defer {
                until: at(10, 0) + Duration::days(10),
                reason: deferred("frequency cap")
            },
            "it waits until the old send leaves the window"
        );
        case.sent = vec![at(10, 0) - Duration::days(5)];
        assert_eq!(
            case.decide(),
            skipped("over frequency cap"),
            "25 days is too long to wait"
        );
    }

    #[test]
    fn reservations_are_the_other_time_bound_marketing_messages_still_to_go() {
        let now = at(10, 0);
        let this = winback("social-proof").message;
        let mut offer = winback("offer").message;
        offer.due_at = now + Duration::days(2);
        offer.status = MessageStatus::Planned;
        let mut sent_offer = offer.clone();
        sent_offer.step = flows::win_back::Step::LastCall.into();
        sent_offer.status = MessageStatus::Sent;
        let mut far = offer.clone();
        far.subject = "other".into();
        far.due_at = now + Duration::days(40);
        let mut open_ended = offer.clone();
        open_ended.step = flows::win_back::Step::Value.into();
        open_ended.payload = Default::default();
        let history = [this.clone(), offer, sent_offer, far, open_ended];
        assert_eq!(
            reservations(&history, &this, Duration::days(30), now),
            [now + Duration::days(2)]
        );
    }

    #[test]
    fn sms_in_quiet_hours_is_deferred_to_the_morning_in_the_customers_zone() {
        let mut case = Case::new(message(
            Flow::ThankYou,
            "thank-you",
            MessageClass::Transactional,
            Channel::Sms,
        ));
        case.customer.time_zone = Some(chrono_tz::Europe::Rome);
        case.now = Utc.with_ymd_and_hms(2026, 12, 1, 22, 30, 0).unwrap(); // 23:30 in Rome
        case.message.due_at = case.now;
        assert_eq!(
            case.decide(),
            Decision::Defer {
                until: Utc.with_ymd_and_hms(2026, 12, 2, 7, 0, 0).unwrap(), // 08:00 in Rome
                reason: deferred("quiet hours")
            }
        );
        case.now = Utc.with_ymd_and_hms(2026, 12, 1, 5, 0, 0).unwrap(); // 06:00 in Rome
        case.message.due_at = case.now;
        assert!(
            matches!(case.decide(), Decision::Defer { until, .. } if until == Utc.with_ymd_and_hms(2026, 12, 1, 7, 0, 0).unwrap())
        );
        case.now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        case.message.due_at = case.now;
        assert!(matches!(case.decide(), Decision::Send { .. }));
        // Without the customer's zone the shop's is used.
        case.customer.time_zone = None;
        case.config.time_zone = chrono_tz::America::New_York;
        case.now = Utc.with_ymd_and_hms(2026, 12, 1, 3, 0, 0).unwrap(); // 22:00 in New York
        case.message.due_at = case.now;
        assert!(matches!(case.decide(), Decision::Defer { .. }));
    }

    #[test]
    fn email_ignores_quiet_hours_unless_asked() {
        let mut case = Case::new(message(
            Flow::ThankYou,
            "feedback",
            MessageClass::Service,
            Channel::Email,
        ));
        case.now = Utc.with_ymd_and_hms(2026, 12, 1, 23, 0, 0).unwrap();
        case.message.due_at = case.now;
        assert!(matches!(case.decide(), Decision::Send { .. }));
        case.config.quiet_hours.apply_to_email = true;
        assert!(matches!(case.decide(), Decision::Defer { .. }));
    }

    #[test]
    fn quiet_hours_survive_a_dst_change() {
        // Europe/Rome springs forward on 2026-03-29 at 02:00; a window ending 02:30 does not exist that night.
        let start = NaiveTime::from_hms_opt(22, 0, 0).unwrap();
        let end = NaiveTime::from_hms_opt(2, 30, 0).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 3, 28, 23, 0, 0).unwrap(); // 00:00 local
        let until = quiet_hours_end(now, chrono_tz::Europe::Rome, start, end).unwrap();
        assert!(until > now);
        assert!(until - now <= Duration::hours(3));
    }
}
