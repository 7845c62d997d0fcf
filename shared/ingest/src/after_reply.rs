//! Planning after the reply. While other deliveries are in flight, an event is recorded and
//! folded (the order is stored) before the platform hears 200, and its flows are planned once
//! the deliveries stop, as SNS and the flow functions do on AWS: a rush is answered at the
//! speed of storing, and the planning follows within [`MAX_WAIT`]. The store's `applied =
//! false` is the durable copy of what waits here, so a process killed with events waiting
//! finishes them when it starts again ([`crate::Ingest::finish_unfinished`]).

use aftersale_domain::StoreEvent;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Events kept waiting at most (a few MB); past it a delivery plans before it is answered.
pub(crate) const MAX_WAITING: usize = 4096;

/// How long the oldest event waits for the deliveries to stop. Past it, the waiting events
/// are planned while deliveries go on, and new deliveries plan before they are answered:
/// a rush longer than this runs at the speed of doing everything, never with a growing queue.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(2);

/// How long no delivery must have been in flight before planning starts: between two
/// deliveries of one rush, the connections' next requests are a few hundred microseconds
/// away, and a planning begun then would make them wait for the store.
pub(crate) const QUIET: Duration = Duration::from_millis(20);

/// The events waiting to be planned, and the deliveries being answered.
pub(crate) struct AfterReply {
    waiting: Mutex<VecDeque<Waiting>>,
    in_flight: AtomicUsize,
    /// When the last delivery in flight was answered.
    last_answered: Mutex<Instant>,
    /// An event joined the queue, or the last delivery in flight was answered.
    changed: Notify,
}

impl Default for AfterReply {
    fn default() -> Self {
        Self {
            waiting: Mutex::default(),
            in_flight: AtomicUsize::new(0),
            last_answered: Mutex::new(Instant::now()),
            changed: Notify::new(),
        }
    }
}

struct Waiting {
    event: StoreEvent,
    since: Instant,
}

impl Waiting {
    /// Whether this is `event`: the same id at the same shop.
    fn is(&self, event: &StoreEvent) -> bool {
        self.event.event_id == event.event_id && self.event.shop == event.shop
    }
}

/// A delivery being answered; dropped when it is.
pub(crate) struct InFlight<'a>(&'a AfterReply);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self.0.last_answered.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
            self.0.changed.notify_one();
        }
    }
}

impl AfterReply {
    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Waiting>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn enter(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self)
    }

    /// Whether a delivery other than the caller's is being answered.
    pub(crate) fn others_in_flight(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > 1
    }

    /// Whether this event (its shop and id) waits to be planned.
    pub(crate) fn is_waiting(&self, event: &StoreEvent) -> bool {
        self.queue().iter().any(|w| w.is(event))
    }

    /// Queues the event unless the queue is full or its oldest has waited [`MAX_WAIT`].
    pub(crate) fn try_wait(&self, event: &StoreEvent) -> bool {
        let mut queue = self.queue();
        let overdue = queue.front().is_some_and(|w| w.since.elapsed() >= MAX_WAIT);
        if queue.len() >= MAX_WAITING || overdue {
            return false;
        }
        queue.push_back(Waiting {
            event: event.clone(),
            since: Instant::now(),
        });
        drop(queue);
        self.changed.notify_one();
        true
    }

    /// The oldest waiting event, once no delivery has been in flight for [`QUIET`] or it has
    /// waited [`MAX_WAIT`]; `None` when nothing has waited for `idle`. It stays queued (a
    /// redelivery meanwhile is a duplicate) until [`AfterReply::done`].
    pub(crate) async fn next(&self, idle: Duration) -> Option<StoreEvent> {
        let idle_until = Instant::now() + idle;
        loop {
            // Registered before the check, so a change between the two is not missed.
            let changed = self.changed.notified();
            let front = self.queue().front().map(|w| (w.event.clone(), w.since));
            let wake_at = match front {
                Some((event, since)) => {
                    let overdue = since + MAX_WAIT;
                    let quiet_from = *self.last_answered.lock().unwrap_or_else(|p| p.into_inner()) + QUIET;
                    let now = Instant::now();
                    let quiet = self.in_flight.load(Ordering::Acquire) == 0 && now >= quiet_from;
                    if quiet || now >= overdue {
                        return Some(event);
                    }
                    if self.in_flight.load(Ordering::Acquire) == 0 {
                        quiet_from.min(overdue)
                    } else {
                        overdue
                    }
                }
                None if Instant::now() >= idle_until => return None,
                None => idle_until,
            };
            tokio::select! {
                () = changed => {}
                () = tokio::time::sleep_until(wake_at) => {}
            }
        }
    }

    /// Takes a planned (or given up) event off the queue.
    pub(crate) fn done(&self, event: &StoreEvent) {
        let mut queue = self.queue();
        if let Some(at) = queue.iter().position(|w| w.is(event)) {
            queue.remove(at);
        }
    }

    /// The oldest waiting event, at once.
    pub(crate) fn first(&self) -> Option<StoreEvent> {
        self.queue().front().map(|w| w.event.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aftersale_domain::{EventId, EventKind, Origin, Platform, ShopId};
    use chrono::Utc;

    fn event(id: &str) -> StoreEvent {
        StoreEvent {
            shop: ShopId::new("after-reply.myshopify.com").unwrap(),
            platform: Platform::Shopify,
            event_id: EventId::new(id).unwrap(),
            occurred_at: Utc::now(),
            origin: Origin::Live,
            kind: EventKind::AppUninstalled,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_event_waits_while_deliveries_are_in_flight_then_goes_first_in_first_out() {
        let queue = AfterReply::default();
        let flight = queue.enter();
        assert!(queue.try_wait(&event("a")));
        assert!(queue.try_wait(&event("b")));
        assert!(queue.is_waiting(&event("a")));
        assert!(
            tokio::time::timeout(Duration::from_millis(500), queue.next(Duration::from_secs(60)))
                .await
                .is_err(),
            "nothing is planned while a delivery is in flight"
        );
        drop(flight);
        let first = queue.next(Duration::from_secs(60)).await.unwrap();
        assert_eq!(first.event_id.as_str(), "a");
        assert!(queue.is_waiting(&first), "it stays queued until it is done");
        queue.done(&first);
        assert!(!queue.is_waiting(&first));
        assert_eq!(queue.next(Duration::ZERO).await.unwrap().event_id.as_str(), "b");
        queue.done(&event("b"));
        assert_eq!(
            queue.next(Duration::from_secs(1)).await,
            None,
            "idle: nothing waits"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_oldest_is_planned_after_the_longest_wait_even_while_deliveries_go_on() {
        let queue = AfterReply::default();
        let _flight = queue.enter();
        assert!(queue.try_wait(&event("a")));
        let started = Instant::now();
        let planned = queue.next(Duration::from_secs(60)).await.unwrap();
        assert_eq!(planned.event_id.as_str(), "a");
        assert!(started.elapsed() >= MAX_WAIT);
        assert!(
            !queue.try_wait(&event("b")),
            "past the longest wait, a delivery plans before its reply"
        );
    }

    #[tokio::test]
    async fn a_full_queue_takes_no_more() {
        let queue = AfterReply::default();
        for i in 0..MAX_WAITING {
            assert!(queue.try_wait(&event(&format!("e{i}"))));
        }
        assert!(!queue.try_wait(&event("one-more")));
        assert_eq!(queue.queue().len(), MAX_WAITING);
    }

    #[test]
    fn only_other_deliveries_count_as_in_flight() {
        let queue = AfterReply::default();
        let mine = queue.enter();
        assert!(!queue.others_in_flight());
        let other = queue.enter();
        assert!(queue.others_in_flight());
        drop(other);
        drop(mine);
        assert!(!queue.others_in_flight());
    }
}
