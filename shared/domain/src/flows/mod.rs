//! One module per flow, each the single home of that flow's rules: its config and
//! validation, its `Step` enum, what it plans and when, and what makes a planned message
//! stale or a follow-up wait. `review_request.rs` answers "when is the review request sent?".
//!
//! This file is the glue: the [`Flow`] names, the per-flow config table ([`FlowsConfig`]),
//! the one list that finds a flow's rules ([`rules`]) and the planning of the flows that
//! follow an order ([`plan_for_order`]). Helpers shared by several flows live in small
//! sibling modules: `history` (a customer's paid orders), `schedule` (local send times),
//! `stats`, `step` (the `steps!` macro), `payload` (what a message carries, per flow).
//!
//! The flows that bring the second, third and tenth order (replenishment, win-back, VIP tiers,
//! early access, referral) plan from a customer's purchase history
//! ([`history::PurchaseHistory`]: paid orders, net of refunds) and the clock, so the same
//! history always yields the same plans and a plan can be re-checked against the newer
//! history when it falls due. The engine runs them (`aftersale_engine`'s `flows/`).

pub mod care_guide;
pub mod checkout_recovery;
pub mod cross_sell;
pub mod delivery_check_in;
pub mod early_access;
pub mod history;
pub mod make_it_right;
mod payload;
pub mod points;
pub mod referral;
pub mod replenishment;
pub mod review_request;
pub(crate) mod schedule;
mod stats;
mod step;
#[cfg(test)]
mod testkit;
pub mod thank_you;
pub mod vip;
pub mod win_back;

pub use payload::{Details, DiscountProgress, Payload, PayloadError};
pub use schedule::SEND_TIME;

use crate::{
    Answer, Channel, ConfigError, Customer, DueBasis, Message, MessageClass, MessageStatus, Order,
    OrderRecord, OrderStatus, ShopConfig, ShopId, SkipReason,
};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The flows that write to customers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flow {
    ThankYou,
    DeliveryCheckIn,
    ReviewRequest,
    Replenishment,
    WinBack,
    Vip,
    /// "You first" messages of a launch, run by the VIP function.
    EarlyAccess,
    Referral,
    /// Loyalty points messages, run by the VIP function (see `points`).
    Points,
    CheckoutRecovery,
    /// The code a customer gets for a minor problem they reported, run by the delivery
    /// check-in function.
    MakeItRight,
    /// A product's setup or care guide after delivery, run by the delivery check-in function.
    CareGuide,
    /// "Customers who loved X often add Y", learned from the shop's orders (see `cross_sell`).
    CrossSell,
}

impl Flow {
    pub const ALL: [Flow; 13] = [
        Flow::ThankYou,
        Flow::DeliveryCheckIn,
        Flow::ReviewRequest,
        Flow::Replenishment,
        Flow::WinBack,
        Flow::Vip,
        Flow::EarlyAccess,
        Flow::Referral,
        Flow::Points,
        Flow::CheckoutRecovery,
        Flow::MakeItRight,
        Flow::CareGuide,
        Flow::CrossSell,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Flow::ThankYou => "thank-you",
            Flow::DeliveryCheckIn => "delivery-check-in",
            Flow::ReviewRequest => "review-request",
            Flow::Replenishment => "replenishment",
            Flow::WinBack => "win-back",
            Flow::Vip => "vip",
            Flow::EarlyAccess => "early-access",
            Flow::Referral => "referral",
            Flow::Points => "points",
            Flow::CheckoutRecovery => "checkout-recovery",
            Flow::MakeItRight => "make-it-right",
            Flow::CareGuide => "care-guide",
            Flow::CrossSell => "cross-sell",
        }
    }

    /// The flow named `name` (`win-back`), as the CLI and environment spell it.
    pub fn parse(name: &str) -> Option<Flow> {
        Flow::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

step::flow_steps! {
    ThankYou => thank_you,
    DeliveryCheckIn => delivery_check_in,
    ReviewRequest => review_request,
    Replenishment => replenishment,
    WinBack => win_back,
    Vip => vip,
    EarlyAccess => early_access,
    Referral => referral,
    Points => points,
    CheckoutRecovery => checkout_recovery,
    MakeItRight => make_it_right,
    CareGuide => care_guide,
    CrossSell => cross_sell,
}

impl fmt::Display for FlowStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Written as its name, as the outbox, exports and the CLI's JSON show it.
impl Serialize for FlowStep {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the sending policy asks a flow about its own messages when they fall due. Each flow
/// module implements it once (`Rules`); [`rules`] finds it. A step given to a flow's rules is
/// one of that flow's own (`Step::of` takes it out of the [`FlowStep`]).
pub trait FlowRules: Sync {
    /// Whether the shop has the flow switched on.
    fn enabled(&self, config: &ShopConfig) -> bool;

    /// How late a step may still go: past this it has lost its point and is skipped.
    fn stale_after(&self, _step: FlowStep) -> Option<Duration> {
        None
    }

    /// For a follow-up step, the step it follows (in the same subject) and the gap to leave
    /// after that one was sent.
    fn follows(&self, _step: FlowStep, _config: &ShopConfig) -> Option<(FlowStep, Duration)> {
        None
    }

    /// When a time-bound marketing message stops making sense, and what to say once it has.
    fn deadline(&self, _message: &Message) -> Option<(DateTime<Utc>, SkipReason)> {
        None
    }

    /// Whether the customer already answered what the message asks (`true` makes it moot);
    /// otherwise the message comes back narrowed to what they have not answered yet.
    fn answered(&self, message: Message, _answers: &[Answer]) -> (Message, bool) {
        (message, false)
    }

    /// The flow's holdout and attribution window as the shop set them (see [`measured!`]).
    /// The default: nobody held out, the default window.
    fn measurement(&self, _flows: &FlowsConfig) -> Measurement {
        Measurement::default()
    }

    /// Days after a message within which an order counts as its conversion, unless the shop
    /// sets `attribution_days`: a week for the messages about an order, two for those that sell.
    fn default_attribution_days(&self) -> i64 {
        7
    }
}

/// How a flow is measured against its holdout, as the shop configured it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Measurement {
    /// Percent of customers held out (`None`: the default).
    pub holdout_percent: Option<u8>,
    /// Days an order counts as the message's conversion (`None`: the flow's default).
    pub attribution_days: Option<u32>,
    /// The config keys of the two, for errors; `None` when the flow has no settings of its own.
    pub keys: Option<(&'static str, &'static str)>,
}

/// The [`Measurement`] of the `[flows.<section>]` settings, which have `holdout_percent` and
/// `attribution_days`.
macro_rules! measured {
    ($flows:expr, $section:ident) => {
        $crate::flows::Measurement {
            holdout_percent: $flows.$section.holdout_percent,
            attribution_days: $flows.$section.attribution_days,
            keys: Some((
                concat!("flows.", stringify!($section), ".holdout_percent"),
                concat!("flows.", stringify!($section), ".attribution_days"),
            )),
        }
    };
}
pub(crate) use measured;

/// The rules of `flow`. The one table from a flow's name to its module in the domain.
pub fn rules(flow: Flow) -> &'static dyn FlowRules {
    match flow {
        Flow::ThankYou => &thank_you::Rules,
        Flow::DeliveryCheckIn => &delivery_check_in::Rules,
        Flow::ReviewRequest => &review_request::Rules,
        Flow::Replenishment => &replenishment::Rules,
        Flow::WinBack => &win_back::Rules,
        Flow::Vip => &vip::Rules,
        Flow::EarlyAccess => &early_access::Rules,
        Flow::Referral => &referral::Rules,
        Flow::Points => &points::Rules,
        Flow::CheckoutRecovery => &checkout_recovery::Rules,
        Flow::MakeItRight => &make_it_right::Rules,
        Flow::CareGuide => &care_guide::Rules,
        Flow::CrossSell => &cross_sell::Rules,
    }
}

/// Each flow's settings, under `[flows.<flow>]` in a shop's config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct FlowsConfig {
    pub thank_you: thank_you::ThankYouConfig,
    pub delivery_check_in: delivery_check_in::DeliveryCheckInConfig,
    pub review_request: review_request::ReviewRequestConfig,
    pub replenishment: replenishment::ReplenishmentConfig,
    pub win_back: win_back::WinbackConfig,
    pub vip: vip::VipConfig,
    pub referral: referral::ReferralConfig,
    pub cross_sell: cross_sell::CrossSellConfig,
    pub checkout_recovery: checkout_recovery::CheckoutRecoveryConfig,
    pub make_it_right: make_it_right::MakeItRightConfig,
    pub care_guide: care_guide::CareGuideConfig,
}

impl FlowsConfig {
    /// Each flow's own checks. `has_support_email`: whether the shop names a support address
    /// (an SMS check-in needs one). Checks that need the shop's Admin API stay with the shop.
    pub fn validate(&self, has_support_email: bool) -> Result<(), ConfigError> {
        self.thank_you.validate()?;
        self.delivery_check_in.validate(has_support_email)?;
        self.review_request.validate()?;
        self.replenishment.validate()?;
        self.win_back.validate()?;
        self.vip.validate()?;
        self.referral.validate()?;
        self.cross_sell.validate()?;
        self.checkout_recovery.validate()?;
        self.make_it_right.validate()?;
        self.care_guide.validate()
    }
}

/// For a follow-up step, the step it follows and the gap to leave after it: a review
/// reminder follows its request, a second replenishment nudge its first, a win-back last call
/// the offer it recalls (a last call for an offer never made would be a first call).
pub fn follows(step: FlowStep, config: &ShopConfig) -> Option<(FlowStep, Duration)> {
    rules(step.flow()).follows(step, config)
}

/// The message every flow that follows an order (thank-you, delivery check-in, review
/// request) starts from, with the order it is about; `None` when the order's state calls for
/// no message at all (not seen yet, void, failed).
///
/// Those flows plan from the order's folded state, not from the triggering event, which
/// makes planning order-independent: whichever webhook arrives, the same messages come out,
/// and the store's insert-if-absent makes planning twice store once. A due time estimated
/// from fulfilment is replaced by a known one when the delivery event arrives
/// ([`reschedule`]).
pub fn order_message<'a>(
    shop: &ShopId,
    record: &'a OrderRecord,
    now: DateTime<Utc>,
) -> Option<(Message, &'a Order)> {
    let order = record.snapshot.as_ref()?;
    if record.is_void() || matches!(order.status, OrderStatus::Failed) {
        return None;
    }
    let base = Message {
        shop: shop.clone(),
        customer_id: order.customer.id.clone(),
        subject: order.id.to_string(),
        step: thank_you::Step::ThankYou.into(),
        order_id: Some(order.id.clone()),
        class: MessageClass::Transactional,
        channel: Channel::Email,
        due_at: now,
        due_basis: DueBasis::Known,
        status: MessageStatus::Planned,
        reason: "planned".into(),
        planned_at: now,
        lease_until: None,
        attempts: 0,
        products: Vec::new(),
        payload: Default::default(),
        processing_errors: 0,
        to: None,
        rendered_subject: None,
        sent_at: None,
        provider_id: None,
        version: 0,
    };
    Some((base, order))
}

/// A planned message with an estimated due time takes the new, known one. Returns the
/// updated message when something should change.
pub fn reschedule(existing: &Message, planned: &Message) -> Option<Message> {
    let better = existing.status == MessageStatus::Planned
        && existing.due_basis == DueBasis::Estimated
        && planned.due_basis == DueBasis::Known
        && existing.due_at != planned.due_at;
    better.then(|| Message {
        due_at: planned.due_at,
        due_basis: DueBasis::Known,
        ..existing.clone()
    })
}

/// The customer's language for a message: theirs, else the shop's.
pub fn locale_for(customer: Option<&Customer>, config: &ShopConfig) -> String {
    customer
        .and_then(|c| c.locale.clone())
        .unwrap_or_else(|| config.locale.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message the order's state calls for, as the engine's order flows plan them.
    fn plan_for_order(
        shop: &ShopId,
        record: &OrderRecord,
        config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Vec<Message> {
        let Some((base, order)) = order_message(shop, record, now) else {
            return Vec::new();
        };
        let flows = &config.flows;
        let mut plans = thank_you::plan(&base, order, &flows.thank_you);
        if let Some(arrival) = delivery_check_in::arrival(record, &flows.delivery_check_in) {
            plans.extend(delivery_check_in::plan(&base, arrival, &flows.delivery_check_in));
            plans.extend(review_request::plan(
                &base,
                record,
                arrival,
                &flows.review_request,
            ));
        }
        plans
    }
    use crate::{
        EventId, EventKind, FulfillmentStatus, LineItem, OrderId, Platform, ReviewCycle, Shipment,
        ShipmentStatus, StoreEvent,
    };
    use chrono::TimeZone;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, day, 10, 0, 0).unwrap()
    }

    fn shop() -> ShopId {
        ShopId::new("demo.myshopify.com").unwrap()
    }

    fn item(id: &str, product: &str, price: &str, sku: &str) -> LineItem {
        testkit::line(id, product, sku, price)
    }

    fn record(items: Vec<LineItem>) -> OrderRecord {
        testkit::order_with_lines(items, FulfillmentStatus::Unfulfilled, at(1))
    }

    fn shipment(status: ShipmentStatus, day: u32) -> StoreEvent {
        let shipment = Shipment {
            order_id: OrderId::new("1001").unwrap(),
            fulfillment_id: None,
            status,
            tracking_number: None,
            tracking_url: None,
            carrier: None,
            estimated_delivery_at: None,
            happened_at: at(day),
        };
        let kind = if status == ShipmentStatus::Delivered {
            EventKind::OrderDelivered(shipment)
        } else {
            EventKind::ShipmentUpdated(shipment)
        };
        StoreEvent {
            origin: Default::default(),
            shop: shop(),
            platform: Platform::Shopify,
            event_id: EventId::new("e").unwrap(),
            occurred_at: at(day),
            kind,
        }
    }

    fn steps(plans: &[Message]) -> Vec<(String, String, DateTime<Utc>)> {
        plans
            .iter()
            .map(|m| (m.flow().to_string(), m.step.to_string(), m.due_at))
            .collect()
    }

    #[test]
    fn a_new_order_gets_a_thank_you_now_and_a_survey_in_three_days() {
        let plans = plan_for_order(
            &shop(),
            &record(vec![item("1", "p1", "10", "A")]),
            &ShopConfig::default(),
            at(1),
        );
        assert_eq!(
            steps(&plans),
            [
                ("thank-you".into(), "thank-you".into(), at(1)),
                ("thank-you".into(), "feedback".into(), at(4))
            ]
        );
        assert_eq!(plans[0].class, MessageClass::Transactional);
        assert_eq!(plans[1].class, MessageClass::Service);
    }

    #[test]
    fn fulfilment_estimates_arrival_and_delivery_makes_it_known() {
        let mut rec = record(vec![item("1", "p1", "10", "A")]);
        rec.apply(&shipment(ShipmentStatus::InTransit, 2));
        let config = ShopConfig::default();
        let plans = plan_for_order(&shop(), &rec, &config, at(2));
        let check_in = plans.iter().find(|m| m.flow() == Flow::DeliveryCheckIn).unwrap();
        assert_eq!(check_in.due_basis, DueBasis::Estimated);
        assert_eq!(
            check_in.due_at,
            at(6) + Duration::hours(24),
            "2nd + 4 transit days + 24 h"
        );

        rec.apply(&shipment(ShipmentStatus::Delivered, 4));
        let known = plan_for_order(&shop(), &rec, &config, at(4));
        let new_check_in = known.iter().find(|m| m.flow() == Flow::DeliveryCheckIn).unwrap();
        assert_eq!(new_check_in.due_at, at(5));
        let moved = reschedule(check_in, new_check_in).expect("estimate replaced");
        assert_eq!((moved.due_at, moved.due_basis), (at(5), DueBasis::Known));
        assert!(
            reschedule(&moved, new_check_in).is_none(),
            "a known time is not moved again"
        );
    }

    #[test]
    fn review_requests_pick_the_three_most_expensive_products_and_the_longest_cycle() {
        let mut rec = record(vec![
            item("1", "cheap", "5", "C"),
            item("2", "mid", "20", "M"),
            item("3", "top", "90", "T"),
            item("4", "top", "90", "T"),
            item("5", "beans", "15", "BEANS"),
        ]);
        rec.apply(&shipment(ShipmentStatus::Delivered, 3));
        let mut config = ShopConfig::default();
        config.flows.review_request.cycles = vec![ReviewCycle {
            name: "coffee".into(),
            product_ids: vec![],
            skus: vec!["BEANS".into()],
            delay_days: 5,
        }];
        let plans = plan_for_order(&shop(), &rec, &config, at(3));
        let asked: Vec<(&str, &str, DateTime<Utc>, Vec<&str>)> = plans
            .iter()
            .filter(|m| m.flow() == Flow::ReviewRequest)
            .map(|m| {
                let ids = m.products.iter().map(|p| p.product_id.as_str()).collect();
                (m.subject.as_str(), m.step.as_str(), m.due_at, ids)
            })
            .collect();
        assert_eq!(
            asked,
            [
                ("1001~5d", "request", at(3) + Duration::days(5), vec!["beans"]),
                ("1001~5d", "reminder", at(3) + Duration::days(10), vec!["beans"]),
                ("1001", "request", at(3) + Duration::days(14), vec!["top", "mid"]),
                ("1001", "reminder", at(3) + Duration::days(19), vec!["top", "mid"]),
            ],
            "each product at its own cycle: the coffee after 5 days, the durable goods after 14"
        );

        let mut only_coffee = record(vec![item("1", "beans", "15", "BEANS")]);
        only_coffee.apply(&shipment(ShipmentStatus::Delivered, 3));
        let plans = plan_for_order(&shop(), &only_coffee, &config, at(3));
        assert_eq!(
            plans
                .iter()
                .find(|m| m.step == review_request::Step::Request)
                .unwrap()
                .due_at,
            at(8)
        );
    }

    #[test]
    fn void_orders_and_disabled_flows_plan_nothing() {
        let mut rec = record(vec![item("1", "p1", "10", "A")]);
        rec.snapshot.as_mut().unwrap().status = OrderStatus::Cancelled;
        assert!(plan_for_order(&shop(), &rec, &ShopConfig::default(), at(1)).is_empty());
        let mut config = ShopConfig::default();
        config.flows.thank_you.enabled = false;
        assert!(plan_for_order(&shop(), &record(vec![]), &config, at(1)).is_empty());
    }

    /// Step names are in stored message ids, signed links and template file names: the
    /// enums must spell them exactly as the strings they replaced.
    #[test]
    fn every_flows_steps_keep_their_stored_names() {
        fn names<S: Copy + Into<FlowStep>>(steps: &[S]) -> Vec<String> {
            steps.iter().map(|s| (*s).into().to_string()).collect()
        }
        let all = [
            (Flow::ThankYou, names(thank_you::Step::ALL)),
            (Flow::DeliveryCheckIn, names(delivery_check_in::Step::ALL)),
            (Flow::ReviewRequest, names(review_request::Step::ALL)),
            (Flow::Replenishment, names(replenishment::Step::ALL)),
            (Flow::WinBack, names(win_back::Step::ALL)),
            (Flow::Vip, names(vip::Step::ALL)),
            (Flow::EarlyAccess, names(early_access::Step::ALL)),
            (Flow::Referral, names(referral::Step::ALL)),
            (Flow::Points, names(points::Step::ALL)),
            (Flow::CheckoutRecovery, names(checkout_recovery::Step::ALL)),
            (Flow::MakeItRight, names(make_it_right::Step::ALL)),
            (Flow::CareGuide, names(care_guide::Step::ALL)),
            (Flow::CrossSell, names(cross_sell::Step::ALL)),
        ];
        let spelled: Vec<String> = all
            .iter()
            .flat_map(|(flow, steps)| steps.iter().map(move |s| format!("{flow}/{s}")))
            .collect();
        assert_eq!(
            spelled,
            [
                "thank-you/thank-you",
                "thank-you/feedback",
                "delivery-check-in/check-in",
                "review-request/request",
                "review-request/reminder",
                "replenishment/reminder",
                "replenishment/follow-up",
                "win-back/value",
                "win-back/offer",
                "win-back/social-proof",
                "win-back/last-call",
                "vip/tier-entered",
                "vip/birthday",
                "vip/anniversary",
                "early-access/you-first",
                "referral/share",
                "referral/reward",
                "points/welcome",
                "points/available",
                "points/reward-code",
                "points/expiry-warning",
                "points/expiry",
                "points/birthday",
                "checkout-recovery/reminder",
                "checkout-recovery/second-reminder",
                "make-it-right/credit",
                "care-guide/guide",
                "cross-sell/suggest",
            ]
        );
        assert_eq!(
            serde_json::to_string(&win_back::Step::LastCall).unwrap(),
            "\"last-call\""
        );
        assert_eq!(
            win_back::Step::parse("social-proof"),
            Some(win_back::Step::SocialProof)
        );
        assert_eq!(win_back::Step::parse("Social-Proof"), None, "names are exact");
        assert_eq!(review_request::Step::parse(""), None);
    }

    #[test]
    fn each_flow_answers_for_its_own_rules() {
        let config = ShopConfig::default();
        let days = |d| Some(Duration::days(d));
        assert_eq!(
            rules(Flow::ThankYou).stale_after(thank_you::Step::ThankYou.into()),
            Some(Duration::hours(48))
        );
        assert_eq!(
            rules(Flow::ThankYou).stale_after(thank_you::Step::Feedback.into()),
            None
        );
        assert_eq!(
            rules(Flow::DeliveryCheckIn).stale_after(delivery_check_in::Step::CheckIn.into()),
            days(7)
        );
        assert_eq!(
            rules(Flow::WinBack).stale_after(win_back::Step::Value.into()),
            days(30)
        );
        assert_eq!(
            rules(Flow::WinBack).stale_after(win_back::Step::Offer.into()),
            None
        );
        assert_eq!(
            follows(review_request::Step::Reminder.into(), &config),
            Some((review_request::Step::Request.into(), Duration::days(5)))
        );
        assert_eq!(
            follows(replenishment::Step::FollowUp.into(), &config),
            Some((
                replenishment::Step::Reminder.into(),
                Duration::days(config.flows.replenishment.follow_up_after_days.into())
            ))
        );
        assert_eq!(
            follows(win_back::Step::LastCall.into(), &config),
            Some((win_back::Step::Offer.into(), Duration::days(1)))
        );
        assert_eq!(follows(win_back::Step::Offer.into(), &config), None);
        assert_eq!(follows(review_request::Step::Request.into(), &config), None);
        let mut config = ShopConfig::default();
        config.flows.vip.enabled = false;
        assert!(!rules(Flow::Vip).enabled(&config));
        assert!(
            !rules(Flow::EarlyAccess).enabled(&config),
            "early access is part of VIP"
        );
        assert!(rules(Flow::ThankYou).enabled(&config));
    }

    #[test]
    fn a_review_request_is_answered_once_every_product_is_rated_and_otherwise_asks_only_the_rest() {
        let mut rec = record(vec![item("1", "top", "90", "T"), item("2", "mid", "20", "M")]);
        rec.apply(&shipment(ShipmentStatus::Delivered, 3));
        let plans = plan_for_order(&shop(), &rec, &ShopConfig::default(), at(3));
        let reminder = plans
            .iter()
            .find(|m| m.step == review_request::Step::Reminder)
            .unwrap()
            .clone();
        let rating = |product: &str| Answer {
            shop: shop(),
            customer_id: reminder.customer_id.clone(),
            message_id: crate::MessageId::new("review-request#1001#request").unwrap(),
            order_id: reminder.order_id.clone(),
            answer: crate::AnswerKind::Rating {
                product_id: product.into(),
                stars: 1,
            },
            answered_at: at(20),
        };
        let rules = rules(Flow::ReviewRequest);

        let (untouched, answered) = rules.answered(reminder.clone(), &[]);
        assert!(!answered);
        assert_eq!(untouched, reminder);

        let (narrowed, answered) = rules.answered(reminder.clone(), &[rating("top")]);
        assert!(!answered, "one product is still unrated");
        let asked: Vec<_> = narrowed.products.iter().map(|p| p.product_id.as_str()).collect();
        assert_eq!(asked, ["mid"], "the 1-star product is never asked about again");

        let (whole, answered) = rules.answered(reminder.clone(), &[rating("top"), rating("mid")]);
        assert!(answered);
        assert_eq!(whole.products.len(), 2, "a moot message keeps what it asked");
    }

    #[test]
    fn a_survey_is_answered_by_its_own_link_only() {
        let plans = plan_for_order(
            &shop(),
            &record(vec![item("1", "p1", "10", "A")]),
            &ShopConfig::default(),
            at(1),
        );
        let (thank_you, survey) = (plans[0].clone(), plans[1].clone());
        let answer = |message: &Message| Answer {
            shop: shop(),
            customer_id: message.customer_id.clone(),
            message_id: message.id(),
            order_id: message.order_id.clone(),
            answer: crate::AnswerKind::Csat { score: 5 },
            answered_at: at(2),
        };
        let rules = rules(Flow::ThankYou);
        assert!(rules.answered(survey.clone(), &[answer(&survey)]).1);
        assert!(
            !rules.answered(survey.clone(), &[answer(&thank_you)]).1,
            "another message's link"
        );
        assert!(
            !rules.answered(thank_you.clone(), &[answer(&thank_you)]).1,
            "a thank-you asks nothing"
        );
    }
}
