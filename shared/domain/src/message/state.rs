//! The moves a message can make, and the ones it refuses.
//!
//! ```text
//!  planned ──claim──▶ claimed ──start_sending──▶ sending ──sent──▶ sent
//!     ▲  ▲              │ │ │                      │ │
//!     │  └─defer/retry──┘ │ └─skip/hold_out─┐      │ └─fail──▶ failed
//!     └──────retry────────┼─────────────────┼──────┘
//!   planned ─skip/hold_out┴─▶ skipped / held out   claimed ─fail─▶ failed
//! ```
//! A final message (sent, skipped, failed, held out) never moves again, with one exception:
//! a win-back skipped because the customer ordered again is planned again when that order
//! stops counting ([`Message::plan_again`]). A refused move leaves the message as it was.

use super::{DeferReason, FailReason, Message, MessageStatus, Reason, ReplanReason, SkipReason};
use chrono::{DateTime, Utc};
use std::fmt;

/// A move, as named in a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Claim,
    StartSending,
    Sent,
    Retry,
    Defer,
    Skip,
    Fail,
    HoldOut,
    PlanAgain,
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transition::Claim => "claimed",
            Transition::StartSending => "sent to the provider",
            Transition::Sent => "marked sent",
            Transition::Retry => "retried",
            Transition::Defer => "deferred",
            Transition::Skip => "skipped",
            Transition::Fail => "failed",
            Transition::HoldOut => "held out",
            Transition::PlanAgain => "planned again",
        })
    }
}

/// A move the message's state does not allow. A bug or a race, never a customer's doing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {from} message cannot be {transition}")]
pub struct TransitionError {
    pub from: MessageStatus,
    pub transition: Transition,
}

impl Message {
    fn refuse(&self, transition: Transition) -> TransitionError {
        TransitionError {
            from: self.status,
            transition,
        }
    }

    fn only_from(&self, allowed: &[MessageStatus], transition: Transition) -> Result<(), TransitionError> {
        if allowed.contains(&self.status) {
            Ok(())
        } else {
            Err(self.refuse(transition))
        }
    }

    /// Takes a due message for sending until `lease_until`. A planned message, or one whose
    /// earlier sender's claim ran out by `now` without calling the provider.
    pub fn claim(&mut self, now: DateTime<Utc>, lease_until: DateTime<Utc>) -> Result<(), TransitionError> {
        let lease_over = self.lease_until.is_none_or(|until| until <= now);
        match self.status {
            MessageStatus::Planned => {}
            MessageStatus::Claimed if lease_over => {}
            _ => return Err(self.refuse(Transition::Claim)),
        }
        self.status = MessageStatus::Claimed;
        self.lease_until = Some(lease_until);
        Ok(())
    }

    /// About to call the provider with what was rendered. Past this the provider may have the
    /// message, so it is never sent again. Attempts count provider calls only: deferrals do
    /// not use up retries.
    pub fn start_sending(
        &mut self,
        to: String,
        rendered_subject: Option<String>,
    ) -> Result<(), TransitionError> {
        self.only_from(&[MessageStatus::Claimed], Transition::StartSending)?;
        self.status = MessageStatus::Sending;
        self.to = Some(to);
        self.rendered_subject = rendered_subject;
        self.attempts += 1;
        Ok(())
    }

    /// The provider took it, under `provider_id`.
    pub fn sent(&mut self, now: DateTime<Utc>, provider_id: String) -> Result<(), TransitionError> {
        self.only_from(&[MessageStatus::Sending], Transition::Sent)?;
        self.status = MessageStatus::Sent;
        self.reason = Reason::Sent;
        self.sent_at = Some(now);
        self.provider_id = Some(provider_id);
        self.lease_until = None;
        Ok(())
    }

    /// Try again at `until` after `problem`: from a sender (claimed, or sending when the
    /// provider said for sure it took nothing) or a message set aside before its claim.
    pub fn retry(&mut self, until: DateTime<Utc>, problem: String) -> Result<(), TransitionError> {
        use MessageStatus::*;
        self.only_from(&[Planned, Claimed, Sending], Transition::Retry)?;
        self.back_to_planned(until, Reason::Retrying(problem));
        Ok(())
    }

    /// Not now: the claimed message waits until `until`.
    pub fn defer(&mut self, until: DateTime<Utc>, reason: DeferReason) -> Result<(), TransitionError> {
        self.only_from(&[MessageStatus::Claimed], Transition::Defer)?;
        self.back_to_planned(until, Reason::Deferred(reason));
        Ok(())
    }

    /// Never: the message no longer makes sense. A planned one is skipped when a flow learns
    /// early (a new order ends a win-back), a claimed one at its send-time re-check.
    pub fn skip(&mut self, reason: SkipReason) -> Result<(), TransitionError> {
        self.only_from(
            &[MessageStatus::Planned, MessageStatus::Claimed],
            Transition::Skip,
        )?;
        self.status = MessageStatus::Skipped;
        self.reason = Reason::Skipped(reason);
        self.lease_until = None;
        Ok(())
    }

    /// Failed for good, by a sender that holds it.
    pub fn fail(&mut self, reason: FailReason) -> Result<(), TransitionError> {
        self.only_from(
            &[MessageStatus::Claimed, MessageStatus::Sending],
            Transition::Fail,
        )?;
        self.status = MessageStatus::Failed;
        self.reason = Reason::Failed(reason);
        self.lease_until = None;
        Ok(())
    }

    /// For the per-flow holdout group: this customer is one the flow's lift is measured
    /// against, so the message is not sent. It keeps its `due_at`, the instant it would
    /// have been sent, which the lift is counted from. Planned or claimed only: a message
    /// already with the provider cannot be held out.
    pub fn hold_out(&mut self) -> Result<(), TransitionError> {
        self.only_from(
            &[MessageStatus::Planned, MessageStatus::Claimed],
            Transition::HoldOut,
        )?;
        self.status = MessageStatus::HeldOut;
        self.reason = Reason::HeldOut;
        self.lease_until = None;
        Ok(())
    }

    /// Due again at `due_at`, because `reason`. A planned message is brought forward (its
    /// configuration changed); the only final one that comes back is a win-back sequence
    /// stopped by an order that has since stopped counting.
    pub fn plan_again(&mut self, due_at: DateTime<Utc>, reason: ReplanReason) -> Result<(), TransitionError> {
        let revivable =
            self.status == MessageStatus::Skipped && self.reason == Reason::Skipped(SkipReason::OrderedAgain);
        if self.status != MessageStatus::Planned && !revivable {
            return Err(self.refuse(Transition::PlanAgain));
        }
        self.back_to_planned(due_at, Reason::PlannedAgain(reason));
        Ok(())
    }

    fn back_to_planned(&mut self, due_at: DateTime<Utc>, reason: Reason) {
        self.status = MessageStatus::Planned;
        self.due_at = due_at;
        self.reason = reason;
        self.lease_until = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::reason::tests::reason;
    use crate::{Channel, CustomerId, DueBasis, MessageClass, ShopId};
    use MessageStatus::*;
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap() + Duration::minutes(minutes)
    }

    fn message(status: MessageStatus, reason: Reason, lease: Option<i64>) -> Message {
        Message {
            shop: ShopId::new("demo.myshopify.com").unwrap(),
            customer_id: CustomerId::new("c1").unwrap(),
            subject: "1001".into(),
            step: crate::flows::win_back::Step::Value.into(),
            order_id: None,
            class: MessageClass::Marketing,
            channel: Channel::Email,
            due_at: at(0),
            due_basis: DueBasis::Known,
            status,
            reason,
            planned_at: at(-60),
            lease_until: lease.map(at),
            attempts: 0,
            products: Vec::new(),
            payload: Default::default(),
            processing_errors: 0,
            to: None,
            rendered_subject: None,
            sent_at: None,
            provider_id: None,
            version: 3,
        }
    }

    fn any_message() -> impl Strategy<Value = Message> {
        (
            proptest::sample::select(MessageStatus::ALL.to_vec()),
            prop_oneof![reason(), Just(Reason::Skipped(SkipReason::OrderedAgain))],
            proptest::option::of(-30i64..30),
        )
            .prop_map(|(status, reason, lease)| message(status, reason, lease))
    }

    /// Every move, with what it is called with.
    #[derive(Debug, Clone)]
    enum Move {
        Claim { now: i64 },
        StartSending,
        Sent { now: i64 },
        Retry { until: i64 },
        Defer { until: i64 },
        Skip,
        Fail,
        HoldOut,
        PlanAgain { due: i64 },
    }

    fn any_move() -> impl Strategy<Value = Move> {
        prop_oneof![
            (-30i64..30).prop_map(|now| Move::Claim { now }),
            Just(Move::StartSending),
            (0i64..60).prop_map(|now| Move::Sent { now }),
            (0i64..600).prop_map(|until| Move::Retry { until }),
            (0i64..600).prop_map(|until| Move::Defer { until }),
            Just(Move::Skip),
            Just(Move::Fail),
            Just(Move::HoldOut),
            (0i64..600).prop_map(|due| Move::PlanAgain { due }),
        ]
    }

    fn apply(m: &mut Message, step: &Move) -> Result<(), TransitionError> {
        match *step {
            Move::Claim { now } => m.claim(at(now), at(now + 10)),
            Move::StartSending => m.start_sending("ada@example.com".into(), Some("Hello".into())),
            Move::Sent { now } => m.sent(at(now), "ses-1".into()),
            Move::Retry { until } => m.retry(at(until), "Throttled".into()),
            Move::Defer { until } => m.defer(at(until), DeferReason::QuietHours),
            Move::Skip => m.skip(SkipReason::NoConsent),
            Move::Fail => m.fail(FailReason::Provider("Rejected".into())),
            Move::HoldOut => m.hold_out(),
            Move::PlanAgain { due } => m.plan_again(at(due), ReplanReason::LaterOrderVoid),
        }
    }

    /// The table the module's drawing shows: which moves each state allows.
    fn allowed(m: &Message, step: &Move) -> bool {
        match (step, m.status) {
            (Move::Claim { .. }, Planned) => true,
            (Move::Claim { now }, Claimed) => m.lease_until.is_none_or(|l| l <= at(*now)),
            (Move::StartSending, Claimed) => true,
            (Move::Sent { .. }, Sending) => true,
            (Move::Retry { .. }, Planned | Claimed | Sending) => true,
            (Move::Defer { .. }, Claimed) => true,
            (Move::Skip | Move::HoldOut, Planned | Claimed) => true,
            (Move::Fail, Claimed | Sending) => true,
            (Move::PlanAgain { .. }, Planned) => true,
            (Move::PlanAgain { .. }, Skipped) => m.reason == Reason::Skipped(SkipReason::OrderedAgain),
            _ => false,
        }
    }

    /// What must hold of any message a sequence of moves can reach.
    fn consistent(m: &Message) -> Result<(), TestCaseError> {
        let leased = matches!(m.status, Claimed | Sending);
        prop_assert!(
            leased || m.lease_until.is_none(),
            "only a held message has a lease: {m:?}"
        );
        match m.status {
            Sent => prop_assert!(m.reason == Reason::Sent && m.sent_at.is_some() && m.provider_id.is_some()),
            Skipped => prop_assert!(matches!(m.reason, Reason::Skipped(_))),
            Failed => prop_assert!(matches!(m.reason, Reason::Failed(_))),
            HeldOut => prop_assert!(m.reason == Reason::HeldOut && m.sent_at.is_none()),
            Planned | Claimed | Sending => {}
        }
        if m.status != Sent {
            prop_assert!(m.sent_at.is_none(), "never marked sent without being sent");
        }
        Ok(())
    }

    proptest! {
        /// Each move is taken exactly when the state allows it; a refusal names the state and
        /// the move and changes nothing.
        #[test]
        fn a_move_is_taken_only_where_the_state_allows_it(start in any_message(), step in any_move()) {
            let mut m = start.clone();
            let expected = allowed(&start, &step);
            match apply(&mut m, &step) {
                Ok(()) => prop_assert!(expected, "{step:?} taken from {:?}", start.status),
                Err(err) => {
                    prop_assert!(!expected, "{step:?} refused from {:?}: {err}", start.status);
                    prop_assert_eq!(err.from, start.status);
                    prop_assert_eq!(&m, &start, "a refused move changes nothing");
                }
            }
        }

        /// From a freshly planned message, any sequence of moves keeps the message consistent,
        /// calls the provider at most once, and a final message moves no more (except a
        /// win-back ordered-again skip, planned again).
        #[test]
        fn any_sequence_of_moves_keeps_a_message_consistent(steps in proptest::collection::vec(any_move(), 0..24)) {
            let mut m = message(Planned, Reason::Planned, None);
            let mut sent = 0;
            for step in &steps {
                let before = m.clone();
                if apply(&mut m, step).is_ok() {
                    prop_assert!(!before.status.is_final() || matches!(step, Move::PlanAgain { .. }),
                        "{step:?} moved a final {:?} message", before.status);
                    if m.status == Sent {
                        sent += 1;
                    }
                    prop_assert_eq!(m.attempts, before.attempts + u32::from(matches!(step, Move::StartSending)));
                }
                consistent(&m)?;
            }
            prop_assert!(sent <= 1, "sent {sent} times");
        }

        /// Held out keeps the instant it would have been sent, from planned or claimed.
        #[test]
        fn a_held_out_message_keeps_its_due_time_and_is_final(claimed in any::<bool>(), lease in -30i64..30) {
            let mut m = message(Planned, Reason::Deferred(DeferReason::QuietHours), None);
            if claimed {
                m.claim(at(lease), at(lease + 10)).unwrap();
            }
            let due = m.due_at;
            m.hold_out().unwrap();
            prop_assert_eq!((m.status, &m.reason, m.due_at, m.lease_until), (HeldOut, &Reason::HeldOut, due, None));
            prop_assert!(m.status.is_final());
            prop_assert!(m.start_sending("a@example.com".into(), None).is_err());
            prop_assert!(m.hold_out().is_err());
        }
    }

    #[test]
    fn a_refusal_says_what_was_refused_from_where() {
        let mut m = message(Sent, Reason::Sent, None);
        let err = m.start_sending("ada@example.com".into(), None).unwrap_err();
        assert_eq!(err.to_string(), "a sent message cannot be sent to the provider");
        let mut m = message(Claimed, Reason::Planned, Some(10));
        let err = m.claim(at(5), at(15)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a claimed message cannot be claimed",
            "its lease still runs"
        );
    }

    #[test]
    fn held_out_is_stored_as_held_out_and_read_back() {
        let m = message(HeldOut, Reason::HeldOut, None);
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(
            (json["status"].as_str(), json["reason"].as_str()),
            (Some("held_out"), Some("held out"))
        );
        assert_eq!(serde_json::from_value::<Message>(json).unwrap(), m);
    }

    /// A message stored before reasons were typed (the JSON body both stores keep) loads,
    /// with its reason typed and shown as it was.
    #[test]
    fn a_message_stored_by_the_previous_version_loads() {
        let stored = r#"{"shop":"demo.myshopify.com","customer_id":"c1","flow":"win-back","subject":"1001",
            "step":"value","order_id":null,"class":"marketing","channel":"email",
            "due_at":"2026-11-02T09:00:00Z","due_basis":"known","status":"skipped",
            "reason":"skipped: ordered again","planned_at":"2026-11-02T08:00:00Z","lease_until":null,
            "attempts":0,"to":null,"rendered_subject":null,"sent_at":null,"provider_id":null,"version":3}"#;
        let mut m: Message = serde_json::from_str(stored).unwrap();
        assert_eq!(m.reason, Reason::Skipped(SkipReason::OrderedAgain));
        assert_eq!(m.id().as_str(), "win-back#1001#value");
        m.plan_again(at(90), ReplanReason::LaterOrderVoid).unwrap();
        assert_eq!(
            serde_json::to_value(&m).unwrap()["reason"],
            "planned again: the later order no longer counts"
        );
    }
}
