//! How fast a tick may call a provider, and for how long it may go on.
//!
//! - [`Pacer`]: spaces calls evenly at the account's rate (SES `MaxSendRate`, the SMS limit),
//!   shared by every concurrent sender of the engine. A throttled answer pauses every sender
//!   with exponential backoff and halves the pace; each accepted call wins some of it back.
//!   Even spacing rather than a burst bucket: SES counts its rate over the last second, so a
//!   tick that starts with a burst of 16 is throttled at once on a 14-a-second account.
//! - [`TickBudget`]: when the invocation must be done (the Lambda context's deadline, a local
//!   `tick --budget`), and the margin under which no new message is claimed, so a tick hands
//!   what is left to the next one instead of dying mid-batch.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// The first pause after a throttled answer; it doubles while answers stay throttled.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest pause after throttled answers in a row.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The slowest a throttled pace goes: one call every this long.
const SLOWEST: Duration = Duration::from_secs(2);
/// A throttled unlimited pace starts from this spacing (100 calls a second).
const UNLIMITED_THROTTLED: Duration = Duration::from_millis(10);

/// Spaces provider calls at most `rate` a second, slowing down after throttled answers.
#[derive(Debug)]
pub(crate) struct Pacer {
    /// The configured spacing; zero when no rate is set.
    base: Duration,
    state: Mutex<PaceState>,
}

#[derive(Debug)]
struct PaceState {
    /// The earliest instant the next call may start.
    next: Instant,
    /// The spacing now: `base`, or more after throttled answers.
    interval: Duration,
    throttled_in_a_row: u32,
}

impl Pacer {
    /// At most `per_second` calls a second; `None` does not space calls (only throttled
    /// answers slow them down).
    pub(crate) fn new(per_second: Option<f64>) -> Self {
        let base = per_second.map_or(Duration::ZERO, |rate| Duration::from_secs_f64(1.0 / rate));
        Self {
            base,
            state: Mutex::new(PaceState {
                next: Instant::now(),
                interval: base,
                throttled_in_a_row: 0,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PaceState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for this caller's turn. Turns are handed out in call order, one `interval`
    /// apart, so concurrent senders share the rate instead of each using all of it.
    pub(crate) async fn turn(&self) {
        let slot = {
            let mut state = self.state();
            let slot = state.next.max(Instant::now());
            state.next = slot + state.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// The provider said "too fast": pause every sender (100 ms doubling up to 5 s while it
    /// goes on) and halve the pace.
    pub(crate) fn throttled(&self) {
        let mut state = self.state();
        let backoff = FIRST_BACKOFF
            .saturating_mul(2u32.saturating_pow(state.throttled_in_a_row))
            .min(MAX_BACKOFF);
        state.throttled_in_a_row = state.throttled_in_a_row.saturating_add(1);
        state.next = state.next.max(Instant::now() + backoff);
        state.interval = state
            .interval
            .saturating_mul(2)
            .max(UNLIMITED_THROTTLED)
            .min(SLOWEST.max(self.base));
    }

    /// The provider took a call: the pace recovers by a sixteenth of the way back each time.
    pub(crate) fn accepted(&self) {
        let mut state = self.state();
        state.throttled_in_a_row = 0;
        if state.interval > self.base {
            let faster = state.interval - (state.interval - self.base) / 16;
            // An unlimited pace goes back to unspaced once it is nearly there.
            state.interval = if faster < Duration::from_micros(100) {
                self.base
            } else {
                faster
            };
        }
    }

    /// The spacing now (for tests and the tick's log).
    #[cfg(test)]
    pub(crate) fn interval(&self) -> Duration {
        self.state().interval
    }
}

/// How long a tick may run: until `deadline`, claiming nothing new once less than `margin`
/// is left. Without a deadline a tick runs until nothing is due.
#[derive(Debug, Clone, Copy)]
pub struct TickBudget {
    deadline: Option<Instant>,
    margin: Duration,
}

impl TickBudget {
    /// No deadline (a test, `serve`'s loop).
    pub fn unlimited() -> Self {
        Self {
            deadline: None,
            margin: Duration::ZERO,
        }
    }

    /// Done by `deadline`, with `margin` kept for the messages in flight to finish.
    pub fn until(deadline: Instant, margin: Duration) -> Self {
        Self {
            deadline: Some(deadline),
            margin,
        }
    }

    /// `remaining` from now (a Lambda context's deadline, `tick --budget 30s`).
    pub fn of(remaining: Duration, margin: Duration) -> Self {
        Self::until(Instant::now() + remaining, margin)
    }

    /// Whether a new message may still be claimed.
    pub fn may_claim(&self) -> bool {
        self.left().is_none_or(|left| left > self.margin)
    }

    /// Whether a message already with us may still wait out a throttled provider: until
    /// half the margin is left, so it can still be handed back before the deadline.
    pub(crate) fn may_wait(&self) -> bool {
        self.left().is_none_or(|left| left > self.margin / 2)
    }

    fn left(&self) -> Option<Duration> {
        self.deadline
            .map(|deadline| deadline.saturating_duration_since(Instant::now()))
    }
}

/// Reads a rate setting (`AFTERSALE_EMAIL_RATE`, `--email-rate`): messages a second, a
/// positive number such as `14` or `0.5`.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 && rate <= 1_000_000.0 => Ok(rate),
        _ => Err(format!(
            "'{text}' is not a rate: give messages per second, a positive number such as 14 or 0.5"
        )),
    }
}

/// Messages a tick works on at once: 1 to 256.
pub fn parse_concurrency(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=256).contains(&n) => Ok(n),
        _ => Err(format!(
            "'{text}' is not a concurrency: give a whole number from 1 to 256"
        )),
    }
}

/// Whole seconds a tick keeps for its messages in flight: 1 to 300.
pub fn parse_margin(text: &str) -> Result<std::time::Duration, String> {
    match text.trim().parse::<u64>() {
        Ok(n) if (1..=300).contains(&n) => Ok(std::time::Duration::from_secs(n)),
        _ => Err(format!(
            "'{text}' is not a margin: give whole seconds from 1 to 300"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sending_settings_are_checked_and_named_in_the_error() {
        assert_eq!(parse_concurrency("16"), Ok(16));
        assert_eq!(parse_margin("10"), Ok(std::time::Duration::from_secs(10)));
        assert_eq!(
            parse_concurrency("0"),
            Err("'0' is not a concurrency: give a whole number from 1 to 256".into())
        );
        assert!(parse_concurrency("many").is_err() && parse_concurrency("1000").is_err());
        assert_eq!(
            parse_margin("2.5"),
            Err("'2.5' is not a margin: give whole seconds from 1 to 300".into())
        );
    }

    #[test]
    fn rates_are_positive_numbers_and_anything_else_is_refused_by_name() {
        assert_eq!(parse_rate("14"), Ok(14.0));
        assert_eq!(parse_rate(" 0.5 "), Ok(0.5));
        for bad in ["0", "-3", "fast", "", "inf", "NaN", "1e9"] {
            let err = parse_rate(bad).unwrap_err();
            assert!(err.contains(&format!("'{bad}' is not a rate")), "{err}");
        }
    }

    // Real time, with rates high enough to keep each test well under a second; only lower
    // bounds are asserted, as a loaded machine only ever makes waits longer.

    #[tokio::test]
    async fn turns_are_spaced_at_the_rate_whoever_asks() {
        let pacer = Pacer::new(Some(20.0));
        let start = Instant::now();
        for _ in 0..5 {
            pacer.turn().await;
        }
        // The first turn is at once, the next four 50 ms apart.
        assert!(
            start.elapsed() >= Duration::from_millis(200),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_share_the_rate() {
        let pacer = std::sync::Arc::new(Pacer::new(Some(100.0)));
        let start = Instant::now();
        let mut callers = Vec::new();
        for _ in 0..8 {
            let pacer = pacer.clone();
            callers.push(tokio::spawn(async move {
                for _ in 0..5 {
                    pacer.turn().await;
                }
            }));
        }
        for caller in callers {
            caller.await.unwrap();
        }
        // 40 turns at 100 a second: the last one 39 × 10 ms after the first, not 5 × 10 ms
        // as it would be if each caller had the whole rate.
        assert!(
            start.elapsed() >= Duration::from_millis(390),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn a_throttled_answer_pauses_and_slows_down_and_successes_win_it_back() {
        let pacer = Pacer::new(Some(10.0));
        pacer.turn().await;
        pacer.throttled();
        assert_eq!(pacer.interval(), Duration::from_millis(200));
        let start = Instant::now();
        pacer.turn().await;
        assert!(start.elapsed() >= Duration::from_millis(100), "paused");
        pacer.throttled();
        pacer.throttled();
        assert_eq!(pacer.interval(), Duration::from_millis(800));
        for _ in 0..200 {
            pacer.accepted();
        }
        assert!(
            pacer.interval() < Duration::from_millis(101),
            "{:?}",
            pacer.interval()
        );
        assert!(
            pacer.interval() >= Duration::from_millis(100),
            "never faster than the rate"
        );
    }

    #[test]
    fn backoff_doubles_while_throttled_and_is_capped() {
        let pacer = Pacer::new(None);
        let pause = |pacer: &Pacer| pacer.state().next.saturating_duration_since(Instant::now());
        pacer.throttled();
        assert!(pause(&pacer) <= FIRST_BACKOFF && pause(&pacer) > FIRST_BACKOFF / 2);
        pacer.throttled();
        assert!(pause(&pacer) > FIRST_BACKOFF, "doubled: {:?}", pause(&pacer));
        for _ in 0..10 {
            pacer.throttled();
        }
        assert!(pause(&pacer) <= MAX_BACKOFF && pause(&pacer) > MAX_BACKOFF / 2);
        assert_eq!(pacer.interval(), SLOWEST);
    }

    #[tokio::test]
    async fn an_unlimited_pace_does_not_wait_until_throttled_and_recovers_to_unspaced() {
        let pacer = Pacer::new(None);
        let start = Instant::now();
        for _ in 0..100 {
            pacer.turn().await;
        }
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "{:?}",
            start.elapsed()
        );
        pacer.throttled();
        assert_eq!(pacer.interval(), UNLIMITED_THROTTLED);
        for _ in 0..200 {
            pacer.accepted();
        }
        assert_eq!(pacer.interval(), Duration::ZERO);
    }

    #[tokio::test]
    async fn a_budget_stops_claims_at_the_margin_and_waits_at_half_of_it() {
        let budget = TickBudget::of(Duration::from_secs(3), Duration::from_secs(2));
        assert!(budget.may_claim() && budget.may_wait());
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert!(!budget.may_claim(), "under 2 s left");
        assert!(budget.may_wait(), "over 1 s left");
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert!(!budget.may_wait(), "under 1 s left, half the margin");
        assert!(TickBudget::unlimited().may_claim() && TickBudget::unlimited().may_wait());
    }
}
