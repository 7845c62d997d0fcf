//! When an advocate's reward is due: only once the friend's order is safely the shop's, i.e.
//! fulfilled and not refunded or cancelled within a holding period. Granting earlier would pay
//! out for orders that are returned, which is exactly what referral fraud relies on.

use chrono::{DateTime, TimeDelta, Utc};
use std::fmt;

/// What we know about the friend's order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FriendOrderState {
    pub fulfilled_at: Option<DateTime<Utc>>,
    /// The first refund, if any. Any refund counts, because a partly returned referral order
    /// is the pattern the holding period exists to catch.
    pub refunded_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
}

/// Why a reward will never be granted for this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    OrderCancelled,
    RefundedBeforeFulfilment,
    RefundedWithinHoldingPeriod,
}

impl fmt::Display for CancelReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OrderCancelled => "the friend's order was cancelled",
            Self::RefundedBeforeFulfilment => "the friend's order was refunded before it was fulfilled",
            Self::RefundedWithinHoldingPeriod => "the friend's order was refunded within the holding period",
        })
    }
}

/// What to do about the reward now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewardDecision {
    /// Not fulfilled yet: decide again when it is.
    AwaitFulfilment,
    /// Fulfilled; ask again at this time, when the holding period ends.
    Wait(DateTime<Utc>),
    Grant,
    Cancel(CancelReason),
}

/// Decides the reward for a friend's order at `now`. A refund at or before the end of the
/// holding period cancels; one after it does not, since the order was already safely ours.
pub fn reward_due(order: &FriendOrderState, now: DateTime<Utc>, holding_period: TimeDelta) -> RewardDecision {
    if order.cancelled_at.is_some() {
        return RewardDecision::Cancel(CancelReason::OrderCancelled);
    }
    let Some(fulfilled_at) = order.fulfilled_at else {
        return match order.refunded_at {
            Some(_) => RewardDecision::Cancel(CancelReason::RefundedBeforeFulfilment),
            None => RewardDecision::AwaitFulfilment,
        };
    };
    let hold_ends = fulfilled_at + holding_period;
    if order
        .refunded_at
        .is_some_and(|refunded_at| refunded_at <= hold_ends)
    {
        return RewardDecision::Cancel(CancelReason::RefundedWithinHoldingPeriod);
    }
    if now < hold_ends {
        RewardDecision::Wait(hold_ends)
    } else {
        RewardDecision::Grant
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, d, 10, 0, 0).single().expect("date")
    }

    fn fulfilled_on(d: u32) -> FriendOrderState {
        FriendOrderState {
            fulfilled_at: Some(day(d)),
            ..Default::default()
        }
    }

    fn decide(order: FriendOrderState, now: u32) -> RewardDecision {
        reward_due(&order, day(now), TimeDelta::days(14))
    }

    #[test]
    fn waits_for_fulfilment_then_for_the_holding_period() {
        assert_eq!(
            decide(FriendOrderState::default(), 2),
            RewardDecision::AwaitFulfilment
        );
        assert_eq!(decide(fulfilled_on(1), 2), RewardDecision::Wait(day(15)));
        assert_eq!(decide(fulfilled_on(1), 14), RewardDecision::Wait(day(15)));
    }

    #[test]
    fn grants_once_the_holding_period_is_over() {
        assert_eq!(decide(fulfilled_on(1), 15), RewardDecision::Grant);
        assert_eq!(decide(fulfilled_on(1), 30), RewardDecision::Grant);
    }

    #[test]
    fn a_refund_inside_the_holding_period_cancels() {
        let refunded = FriendOrderState {
            refunded_at: Some(day(8)),
            ..fulfilled_on(1)
        };
        let cancel = RewardDecision::Cancel(CancelReason::RefundedWithinHoldingPeriod);
        assert_eq!(decide(refunded, 9), cancel);
        assert_eq!(decide(refunded, 20), cancel);
        // The last moment of the period still counts as inside.
        let at_the_edge = FriendOrderState {
            refunded_at: Some(day(15)),
            ..fulfilled_on(1)
        };
        assert_eq!(decide(at_the_edge, 16), cancel);
        assert_eq!(
            CancelReason::RefundedWithinHoldingPeriod.to_string(),
            "the friend's order was refunded within the holding period"
        );
    }

    #[test]
    fn a_refund_after_the_holding_period_does_not_take_the_reward_back() {
        let late = FriendOrderState {
            refunded_at: Some(day(20)),
            ..fulfilled_on(1)
        };
        assert_eq!(decide(late, 21), RewardDecision::Grant);
    }

    #[test]
    fn refunds_before_fulfilment_and_cancellations_cancel() {
        let refunded = FriendOrderState {
            refunded_at: Some(day(2)),
            ..Default::default()
        };
        assert_eq!(
            decide(refunded, 3),
            RewardDecision::Cancel(CancelReason::RefundedBeforeFulfilment)
        );
        let cancelled = FriendOrderState {
            cancelled_at: Some(day(3)),
            ..fulfilled_on(1)
        };
        assert_eq!(
            decide(cancelled, 30),
            RewardDecision::Cancel(CancelReason::OrderCancelled)
        );
    }

    #[test]
    fn the_holding_period_is_configurable() {
        let order = fulfilled_on(1);
        assert_eq!(
            reward_due(&order, day(4), TimeDelta::days(3)),
            RewardDecision::Grant
        );
        assert_eq!(
            reward_due(&order, day(1), TimeDelta::zero()),
            RewardDecision::Grant
        );
    }
}
