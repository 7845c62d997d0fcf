//! Why a message stands where it does, as types: the sender and the flows decide with these
//! and never with text. The words the outbox, the CLI and a privacy export show are their
//! [`Display`](fmt::Display), and that same text is what a stored message holds, so every
//! message stored before these types existed still loads (see [`Reason::parse`]).

use crate::AddressProblem;
use crate::order_state::VoidReason;
use crate::policy::SuppressionReason;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The last decision about a message, shown next to its status: `sent`, `skipped: refunded`,
/// `deferred: quiet hours`...
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum Reason {
    Planned,
    PlannedAgain(ReplanReason),
    Deferred(DeferReason),
    /// Waiting to try again after a problem: a provider's transient error, a discount code
    /// the shop's API did not create, a processing error. The problem is shown as it came.
    Retrying(String),
    Sent,
    Skipped(SkipReason),
    Failed(FailReason),
    HeldOut,
    /// Text no reason of this version reads as (written by hand or by a much older version):
    /// kept and shown exactly as stored, never acted on.
    Unrecognised(String),
}

/// Why a message was planned again after it had been decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplanReason {
    /// The shop's configuration (or a secret it names) changed: a message waiting on a
    /// discount code is due again now.
    ConfigurationChanged,
    /// The order that made a win-back sequence stop was refunded or cancelled.
    LaterOrderVoid,
}

/// Why a due message waits. It stays planned and comes back at the new due time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeferReason {
    QuietHours,
    FrequencyCap,
    /// A follow-up waits for the message it follows (the `prior` step) to go.
    WaitingFor {
        prior: String,
    },
    /// A follow-up keeps its gap after the message it follows (the `prior` step).
    WaitingAfter {
        prior: String,
    },
    /// A referral reward waits until the friend's order is fulfilled.
    FriendsOrderFulfilment,
    /// A referral reward waits until the friend's order is past its holding period.
    HoldingPeriod,
    /// A review request waits while the customer's make-it-right case for the order is open.
    CaseOpen,
    /// A care guide chosen once the products' types were known goes later than first planned.
    GuideDay,
}

/// Why a message will never go. Final.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    ShopUninstalled,
    FlowDisabled,
    OrderNotFound,
    /// The order it is about no longer counts (cancelled, refunded, deleted, unpaid).
    OrderVoid(VoidReason),
    /// A thank-you, check-in or win-back start that would arrive too late to make sense.
    TooLate,
    /// A replenishment reminder whose product ran out long ago.
    RanOutLongAgo,
    AlreadyReviewed,
    AlreadyAnswered,
    /// An early-access invitation once the launch is public.
    AlreadyPublic,
    OfferExpired,
    /// A follow-up whose `prior` step was never sent.
    PriorNotSent {
        prior: String,
    },
    CustomerNotFound,
    NoEmailAddress,
    NoPhoneNumber,
    BadEmailAddress(AddressProblem),
    Suppressed(SuppressionReason),
    NoConsent,
    OverFrequencyCap,
    SmsDisabled,
    /// A win-back sequence stops when the customer orders again; it is the one skip a later
    /// change can undo (see [`crate::Message::plan_again`]).
    OrderedAgain,
    /// A win-back sequence named for an order that was refunded or cancelled.
    LastOrderVoid,
    /// A replenishment reminder: the customer bought the product again.
    Reordered,
    CampaignNotFound,
    NotInInvitedTier,
    NotInTier,
    /// A "welcome to the tier" message for a tier the customer has since left.
    TierChanged {
        now: String,
    },
    FriendsOrderCancelled,
    FriendsOrderRefundedBeforeFulfilment,
    FriendsOrderRefundedWithinHoldingPeriod,
    FriendsOrderNeverFulfilled,
    /// The message hands out a discount code and the shop has no Admin API to create it.
    NoAdminApi,
    /// A points message with nothing left to say (the order's points were taken back).
    NoPoints,
    /// An expiry warning or expiry counted from an activity the customer has had since.
    PointsActiveSince,
    /// A points step that only moves the ledger (expiry): its warning was the message.
    LedgerOnly,
    /// A checkout reminder: the checkout (or its cart) became an order.
    CheckoutCompleted,
    /// A checkout reminder past the point where its recovery link still makes sense.
    CheckoutExpired,
    /// A cross-sell whose every candidate the customer already bought.
    NothingToSuggest,
    /// A care guide the shop has since taken out of its config (or renamed).
    GuideRemoved,
    /// No care guide covers the order's items once their product types are known.
    NoGuideForItems,
    /// A birthday message for a day that is no longer the customer's birthday.
    BirthdayChanged,
    /// This year's birthday bonus was already credited, on an earlier birthday.
    BirthdayBonusAlreadyGiven,
    /// A cross-sell replaced by the one of the customer's newer order.
    NewerOrder,
}

/// Why a message failed for good. Final; support is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailReason {
    /// A sender stopped while calling the provider (`after` says how: a crash, a panic, an
    /// error): the message may have gone, so it is never sent again.
    OutcomeUnknown {
        after: String,
    },
    Template(String),
    DiscountCode(String),
    /// The provider refused the message, or kept failing past the last retry.
    Provider(String),
    RewardWithoutFriendsOrder,
    RewardWithoutCode,
    ShareWithoutCode,
    WinBackWithoutLapse,
    OfferWithoutCode,
    ReminderWithoutOrderOrProduct,
}

impl FailReason {
    /// The sender was gone mid-send and no other cause is known.
    pub fn crashed_while_sending() -> Self {
        FailReason::OutcomeUnknown {
            after: "a crash while sending".into(),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Planned => f.write_str("planned"),
            Reason::PlannedAgain(why) => write!(f, "planned again: {why}"),
            Reason::Deferred(why) => write!(f, "deferred: {why}"),
            Reason::Retrying(problem) => write!(f, "retrying: {problem}"),
            Reason::Sent => f.write_str("sent"),
            Reason::Skipped(why) => write!(f, "skipped: {why}"),
            Reason::Failed(why) => write!(f, "failed: {why}"),
            Reason::HeldOut => f.write_str("held out"),
            Reason::Unrecognised(text) => f.write_str(text),
        }
    }
}

impl fmt::Display for ReplanReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReplanReason::ConfigurationChanged => "configuration changed",
            ReplanReason::LaterOrderVoid => "the later order no longer counts",
        })
    }
}

impl fmt::Display for DeferReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeferReason::QuietHours => f.write_str("quiet hours"),
            DeferReason::FrequencyCap => f.write_str("frequency cap"),
            DeferReason::WaitingFor { prior } => write!(f, "waiting for the {prior}"),
            DeferReason::WaitingAfter { prior } => write!(f, "waiting after the {prior}"),
            DeferReason::FriendsOrderFulfilment => {
                f.write_str("waiting for the friend's order to be fulfilled")
            }
            DeferReason::HoldingPeriod => f.write_str("holding period"),
            DeferReason::CaseOpen => f.write_str("make-it-right case open"),
            DeferReason::GuideDay => f.write_str("until the chosen care guide's day"),
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use SkipReason::*;
        let text = match self {
            OrderVoid(why) => return write!(f, "{why}"),
            PriorNotSent { prior } => return write!(f, "{prior} not sent"),
            BadEmailAddress(problem) => return write!(f, "email address {problem}"),
            Suppressed(why) => return write!(f, "suppressed: {}", why.as_str()),
            TierChanged { now } => return write!(f, "tier is now {now}"),
            ShopUninstalled => "shop uninstalled",
            FlowDisabled => "flow disabled",
            OrderNotFound => "order not found",
            TooLate => "too late",
            RanOutLongAgo => "too late: it ran out weeks ago",
            AlreadyReviewed => "already reviewed",
            AlreadyAnswered => "already answered",
            AlreadyPublic => "already public",
            OfferExpired => "offer expired",
            CustomerNotFound => "customer not found",
            NoEmailAddress => "no email address",
            NoPhoneNumber => "no phone number",
            NoConsent => "no consent",
            OverFrequencyCap => "over frequency cap",
            SmsDisabled => "SMS disabled in this deployment",
            OrderedAgain => "ordered again",
            LastOrderVoid => "its last order no longer counts (refunded or cancelled)",
            Reordered => "reordered",
            CampaignNotFound => "campaign not found",
            NotInInvitedTier => "no longer in an invited tier",
            NotInTier => "no longer in a tier",
            FriendsOrderCancelled => "the friend's order was cancelled",
            FriendsOrderRefundedBeforeFulfilment => "the friend's order was refunded before it was fulfilled",
            FriendsOrderRefundedWithinHoldingPeriod => {
                "the friend's order was refunded within the holding period"
            }
            FriendsOrderNeverFulfilled => "the friend's order was never fulfilled",
            NoAdminApi => "no [admin_api] configured to create the discount code",
            NoPoints => "no points to tell the customer about",
            PointsActiveSince => "the customer earned or spent points since",
            LedgerOnly => "points ledger updated; nothing to send",
            CheckoutCompleted => "checkout completed",
            CheckoutExpired => "checkout expired",
            NothingToSuggest => "nothing left to suggest",
            GuideRemoved => "care guide no longer configured",
            NoGuideForItems => "no care guide for these items",
            BirthdayChanged => "the customer's birthday is another day now",
            BirthdayBonusAlreadyGiven => "this year's birthday bonus was already given",
            NewerOrder => "a newer order's suggestion replaces it",
        };
        f.write_str(text)
    }
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use FailReason::*;
        let text = match self {
            OutcomeUnknown { after } => return write!(f, "outcome unknown after {after}; not resent"),
            Template(err) => return write!(f, "template: {err}"),
            DiscountCode(err) => return write!(f, "discount code: {err}"),
            Provider(err) => return f.write_str(err),
            RewardWithoutFriendsOrder => "reward without the friend's order",
            RewardWithoutCode => "reward without its code",
            ShareWithoutCode => "share message without its code",
            WinBackWithoutLapse => "win-back step without its lapse",
            OfferWithoutCode => "offer without its code",
            ReminderWithoutOrderOrProduct => "reminder without its order or product",
        };
        f.write_str(text)
    }
}

// Reading stored text back. Each reason is read by rendering the candidates and comparing,
// so the text written and the text read can never drift apart.

impl Reason {
    /// Reads a stored reason. Never fails: text this version does not know is kept as
    /// [`Reason::Unrecognised`].
    pub fn parse(text: &str) -> Reason {
        let typed = match text {
            "planned" => Some(Reason::Planned),
            "sent" => Some(Reason::Sent),
            "held out" => Some(Reason::HeldOut),
            _ => None,
        };
        typed
            .or_else(|| {
                let (kind, rest) = text.split_once(": ")?;
                match kind {
                    "planned again" => ReplanReason::parse(rest).map(Reason::PlannedAgain),
                    "deferred" => DeferReason::parse(rest).map(Reason::Deferred),
                    "retrying" => Some(Reason::Retrying(rest.to_owned())),
                    "skipped" => SkipReason::parse(rest).map(Reason::Skipped),
                    "failed" => Some(Reason::Failed(FailReason::parse(rest))),
                    _ => None,
                }
            })
            .unwrap_or_else(|| Reason::Unrecognised(text.to_owned()))
    }
}

impl ReplanReason {
    fn parse(text: &str) -> Option<Self> {
        [ReplanReason::ConfigurationChanged, ReplanReason::LaterOrderVoid]
            .into_iter()
            .find(|r| r.to_string() == text)
    }
}

impl DeferReason {
    fn parse(text: &str) -> Option<Self> {
        use DeferReason::*;
        let fixed = [
            QuietHours,
            FrequencyCap,
            FriendsOrderFulfilment,
            HoldingPeriod,
            CaseOpen,
            GuideDay,
        ];
        if let Some(found) = fixed.into_iter().find(|r| r.to_string() == text) {
            return Some(found);
        }
        let step = |rest: &str| is_step(rest).then(|| rest.to_owned());
        if let Some(prior) = text.strip_prefix("waiting for the ").and_then(step) {
            return Some(WaitingFor { prior });
        }
        let prior = text.strip_prefix("waiting after the ").and_then(step)?;
        Some(WaitingAfter { prior })
    }
}

impl SkipReason {
    /// The reasons that carry nothing, in one list for reading them back.
    const FIXED: [SkipReason; 37] = {
        use SkipReason::*;
        [
            ShopUninstalled,
            FlowDisabled,
            OrderNotFound,
            TooLate,
            RanOutLongAgo,
            AlreadyReviewed,
            AlreadyAnswered,
            AlreadyPublic,
            OfferExpired,
            CustomerNotFound,
            NoEmailAddress,
            NoPhoneNumber,
            NoConsent,
            OverFrequencyCap,
            SmsDisabled,
            OrderedAgain,
            LastOrderVoid,
            Reordered,
            CampaignNotFound,
            NotInInvitedTier,
            NotInTier,
            FriendsOrderCancelled,
            FriendsOrderRefundedBeforeFulfilment,
            FriendsOrderRefundedWithinHoldingPeriod,
            FriendsOrderNeverFulfilled,
            NoAdminApi,
            NoPoints,
            PointsActiveSince,
            LedgerOnly,
            CheckoutCompleted,
            CheckoutExpired,
            NothingToSuggest,
            GuideRemoved,
            NoGuideForItems,
            BirthdayChanged,
            BirthdayBonusAlreadyGiven,
            NewerOrder,
        ]
    };

    fn parse(text: &str) -> Option<Self> {
        use SkipReason::*;
        if let Some(found) = Self::FIXED.into_iter().find(|r| r.to_string() == text) {
            return Some(found);
        }
        if let Some(void) = VoidReason::ALL.into_iter().find(|v| v.to_string() == text) {
            return Some(OrderVoid(void));
        }
        if let Some(prior) = text.strip_suffix(" not sent").filter(|p| is_step(p)) {
            return Some(PriorNotSent {
                prior: prior.to_owned(),
            });
        }
        if let Some(problem) = text.strip_prefix("email address ") {
            return AddressProblem::ALL
                .into_iter()
                .find(|p| p.to_string() == problem)
                .map(BadEmailAddress);
        }
        if let Some(why) = text.strip_prefix("suppressed: ") {
            return SuppressionReason::ALL
                .into_iter()
                .find(|r| r.as_str() == why)
                .map(Suppressed);
        }
        let now = text.strip_prefix("tier is now ").filter(|t| !t.is_empty())?;
        Some(TierChanged { now: now.to_owned() })
    }
}

impl FailReason {
    fn parse(text: &str) -> Self {
        use FailReason::*;
        let fixed = [
            RewardWithoutFriendsOrder,
            RewardWithoutCode,
            ShareWithoutCode,
            WinBackWithoutLapse,
            OfferWithoutCode,
            ReminderWithoutOrderOrProduct,
        ];
        if let Some(found) = fixed.into_iter().find(|r| r.to_string() == text) {
            return found;
        }
        if let Some(after) = text
            .strip_prefix("outcome unknown after ")
            .and_then(|t| t.strip_suffix("; not resent"))
        {
            return OutcomeUnknown {
                after: after.to_owned(),
            };
        }
        if let Some(err) = text.strip_prefix("template: ") {
            return Template(err.to_owned());
        }
        if let Some(err) = text.strip_prefix("discount code: ") {
            return DiscountCode(err.to_owned());
        }
        Provider(text.to_owned())
    }
}

/// A step name as follow-ups name the step they follow (`request`, `offer`): one word.
fn is_step(text: &str) -> bool {
    !text.is_empty() && !text.contains(char::is_whitespace)
}

impl From<String> for Reason {
    fn from(text: String) -> Self {
        Reason::parse(&text)
    }
}

impl From<&str> for Reason {
    fn from(text: &str) -> Self {
        Reason::parse(text)
    }
}

impl From<Reason> for String {
    fn from(reason: Reason) -> String {
        reason.to_string()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Free text as problems carry it (no `: ` or `;`, so it cannot look like a prefix).
    fn problem() -> impl Strategy<Value = String> {
        "[A-Z][a-z0-9 ]{0,20}"
    }

    fn step() -> impl Strategy<Value = String> {
        "[a-z][a-z-]{0,12}"
    }

    fn skip_reason() -> impl Strategy<Value = SkipReason> {
        prop_oneof![
            proptest::sample::select(SkipReason::FIXED.to_vec()),
            proptest::sample::select(VoidReason::ALL.to_vec()).prop_map(SkipReason::OrderVoid),
            step().prop_map(|prior| SkipReason::PriorNotSent { prior }),
            proptest::sample::select(AddressProblem::ALL.to_vec()).prop_map(SkipReason::BadEmailAddress),
            proptest::sample::select(SuppressionReason::ALL.to_vec()).prop_map(SkipReason::Suppressed),
            "[a-z]{1,10}".prop_map(|now| SkipReason::TierChanged { now }),
        ]
    }

    fn defer_reason() -> impl Strategy<Value = DeferReason> {
        prop_oneof![
            Just(DeferReason::QuietHours),
            Just(DeferReason::FrequencyCap),
            Just(DeferReason::FriendsOrderFulfilment),
            Just(DeferReason::HoldingPeriod),
            Just(DeferReason::CaseOpen),
            Just(DeferReason::GuideDay),
            step().prop_map(|prior| DeferReason::WaitingFor { prior }),
            step().prop_map(|prior| DeferReason::WaitingAfter { prior }),
        ]
    }

    fn fail_reason() -> impl Strategy<Value = FailReason> {
        use FailReason::*;
        prop_oneof![
            proptest::sample::select(vec![
                RewardWithoutFriendsOrder,
                RewardWithoutCode,
                ShareWithoutCode,
                WinBackWithoutLapse,
                OfferWithoutCode,
                ReminderWithoutOrderOrProduct,
            ]),
            problem().prop_map(|after| OutcomeUnknown { after }),
            problem().prop_map(Template),
            problem().prop_map(DiscountCode),
            problem().prop_map(Provider),
        ]
    }

    pub(crate) fn reason() -> impl Strategy<Value = Reason> {
        prop_oneof![
            Just(Reason::Planned),
            Just(Reason::Sent),
            Just(Reason::HeldOut),
            proptest::sample::select(vec![
                ReplanReason::ConfigurationChanged,
                ReplanReason::LaterOrderVoid
            ])
            .prop_map(Reason::PlannedAgain),
            defer_reason().prop_map(Reason::Deferred),
            problem().prop_map(Reason::Retrying),
            skip_reason().prop_map(Reason::Skipped),
            fail_reason().prop_map(Reason::Failed),
        ]
    }

    proptest! {
        /// What is stored is the text shown, and reading it back gives the same reason.
        #[test]
        fn every_reason_reads_back_from_the_text_it_shows(reason in reason()) {
            let stored = serde_json::to_string(&reason).unwrap();
            prop_assert_eq!(&stored, &serde_json::to_string(&reason.to_string()).unwrap());
            let read: Reason = serde_json::from_str(&stored).unwrap();
            prop_assert_eq!(read, reason);
        }
    }

    #[test]
    fn the_texts_stored_by_earlier_versions_read_as_typed_reasons() {
        let cases = [
            ("planned", Reason::Planned),
            ("sent", Reason::Sent),
            (
                "skipped: ordered again",
                Reason::Skipped(SkipReason::OrderedAgain),
            ),
            (
                "skipped: refunded",
                Reason::Skipped(SkipReason::OrderVoid(VoidReason::Refunded)),
            ),
            (
                "skipped: suppressed: unsubscribed",
                Reason::Skipped(SkipReason::Suppressed(SuppressionReason::Unsubscribed)),
            ),
            (
                "skipped: email address has no @",
                Reason::Skipped(SkipReason::BadEmailAddress(AddressProblem::NoAt)),
            ),
            (
                "skipped: request not sent",
                Reason::Skipped(SkipReason::PriorNotSent {
                    prior: "request".into(),
                }),
            ),
            ("deferred: quiet hours", Reason::Deferred(DeferReason::QuietHours)),
            (
                "deferred: waiting for the friend's order to be fulfilled",
                Reason::Deferred(DeferReason::FriendsOrderFulfilment),
            ),
            (
                "deferred: waiting after the offer",
                Reason::Deferred(DeferReason::WaitingAfter {
                    prior: "offer".into(),
                }),
            ),
            (
                "retrying: discount code: the shop's API answered 503",
                Reason::Retrying("discount code: the shop's API answered 503".into()),
            ),
            (
                "failed: outcome unknown after a crash while sending; not resent",
                Reason::Failed(FailReason::crashed_while_sending()),
            ),
            (
                "failed: template: undefined value",
                Reason::Failed(FailReason::Template("undefined value".into())),
            ),
            (
                "failed: rejected: address blacklisted",
                Reason::Failed(FailReason::Provider("rejected: address blacklisted".into())),
            ),
            (
                "planned again: configuration changed",
                Reason::PlannedAgain(ReplanReason::ConfigurationChanged),
            ),
        ];
        for (text, expected) in cases {
            let read: Reason = serde_json::from_value(serde_json::json!(text)).unwrap();
            assert_eq!(read, expected, "{text}");
            assert_eq!(read.to_string(), text, "shown as it was stored");
        }
    }

    #[test]
    fn text_no_reason_knows_is_kept_as_it_is() {
        for text in [
            "",
            "claimed by sender 3",
            "skipped: a reason from the future",
            "deferred: ",
        ] {
            let read = Reason::parse(text);
            assert_eq!(read, Reason::Unrecognised(text.into()));
            assert_eq!(read.to_string(), text);
        }
    }
}
