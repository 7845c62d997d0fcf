//! The behaviour every store must have, as promises any adapter runs against itself: in-memory,
//! SQLite and DynamoDB alike, so the embedded default and production agree. A dev-dependency
//! only.
//!
//! [`store_contract!`] makes one `#[tokio::test]` per promise in a module named after the
//! store, so a failure names both (`sqlite_on_disk::redact_shop`):
//!
//! ```text
//! aftersale_store_contract::store_contract!(my_store, Subject::new(MyStore::new()));
//! ```
//!
//! Each promise sets up its own data under fresh, unique shop ids and panics on the first
//! broken promise, so promises can share a database with each other and with other tests.
//! `due_messages` answers for every shop at once, so its promises use instants of their own,
//! each call further in the past than the one before (see `fixtures::fresh_epoch`): nothing
//! another promise left planned is ever older than what a due check expects to see first.
//!
//! One promise needs the adapter's help and is called by hand:
//! [`messages::unreadable_messages_are_named_and_quarantined`] damages a stored message the
//! way only the adapter can.

pub mod documents;
pub mod erasure;
mod fixtures;
pub mod flow_records;
pub mod install;
pub mod messages;
pub mod points;
pub mod records;
pub mod redaction;
pub mod statistics;

use std::any::Any;
use std::future::Future;
use std::pin::Pin;

/// What one promise's test runs on: the store, whatever must outlive it (a temporary
/// directory), and an optional check of the adapter's own invariants to run afterwards
/// (DynamoDB: every key starts with the shop).
pub struct Subject<S> {
    pub store: S,
    keep: Option<Box<dyn Any>>,
    after: Option<Pin<Box<dyn Future<Output = ()>>>>,
}

impl<S> Subject<S> {
    pub fn new(store: S) -> Self {
        Self {
            store,
            keep: None,
            after: None,
        }
    }

    /// Keeps `guard` alive as long as the store (the directory its database file is in).
    pub fn keeping(mut self, guard: impl Any) -> Self {
        self.keep = Some(Box::new(guard));
        self
    }

    /// Runs `check` once the promise has been kept.
    pub fn then_check(mut self, check: impl Future<Output = ()> + 'static) -> Self {
        self.after = Some(Box::pin(check));
        self
    }

    /// Runs the adapter's own check, if any, then lets go of what was kept.
    pub async fn finish(self) {
        if let Some(check) = self.after {
            check.await;
        }
        drop(self.keep);
    }
}

/// One `#[tokio::test]` per promise, in `mod $store`, each on a fresh `$subject` (an expression
/// of type [`Subject`], evaluated inside the async test, so it may `.await`; the module sees
/// its parent's items).
#[macro_export]
macro_rules! store_contract {
    ($store:ident, $subject:expr) => {
        $crate::__promises! { $store, $subject;
            records::event_dedupe,
            records::unfinished_events_are_found_until_applied_or_erased,
            records::events_are_listed_per_shop_oldest_first,
            records::tenants_never_collide,
            records::order_versions,
            records::customer_upsert,
            records::dead_letters,
            records::shop_registry,
            install::a_full_install_record_round_trips_and_is_listed,
            install::a_nonce_is_taken_once_and_only_for_its_own_shop,
            install::nonces_go_with_their_shop,
            documents::documents,
            documents::documents_are_listed_by_prefix,
            documents::documents_go_with_their_customer_and_shop,
            documents::documents_can_be_deleted,
            points::the_points_ledger_appends_once_per_entry_and_its_cache_matches,
            documents::documents_are_saved_together_or_not_at_all,
            messages::plan_twice_stores_once,
            messages::message_versions,
            messages::due_messages_by_flow_and_attention,
            messages::deferred_and_leased_messages_leave_due_until_then,
            messages::messages_per_customer_and_shop,
            flow_records::answers_replace_per_question,
            flow_records::suppressions_by_address,
            flow_records::shop_configs_round_trip,
            flow_records::flow_tenants_never_collide,
            redaction::redact_customer,
            redaction::redact_shop,
            redaction::redact_shop_removes_dead_letters,
            redaction::redact_customer_removes_messages_and_answers,
            redaction::redact_shop_removes_flow_data,
            erasure::redaction_leaves_no_trace_of_the_customer,
            erasure::erasure_leaves_no_trace_of_the_customer,
            statistics::concurrent_order_events_give_the_figures_of_a_serial_replay,
            statistics::statistics_written_before_sharding_are_merged_and_migrated,
            statistics::a_cached_read_of_the_statistics_is_never_behind_the_store,
            statistics::a_cached_read_after_the_shop_is_redacted_is_of_the_new_samples,
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __promises {
    ($store:ident, $subject:expr; $($module:ident :: $promise:ident),* $(,)?) => {
        mod $store {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                async fn $promise() {
                    let subject: $crate::Subject<_> = $subject;
                    $crate::$module::$promise(&subject.store).await;
                    subject.finish().await;
                }
            )*
        }
    };
}
