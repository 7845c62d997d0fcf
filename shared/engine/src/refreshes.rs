//! One refresh of a customer's message figures per order event, however many messages the
//! event's flows plan or withdraw.
//!
//! Every plan stored and every plan withdrawn changes the customer's funnel figures, and a
//! refresh recomputes them from the customer's whole history: about ten store reads and a
//! write. A paid order plans several messages (thank-you, review request, replenishment,
//! win-back, ...), and refreshing after each one cost more store calls than the planning
//! itself. While [`Engine::batched`] runs its work, [`Engine::refresh_metrics`] only notes the
//! customer; the batch refreshes each noted customer once, after all of its work, so the
//! figures end where a refresh after every change would have left them.

use crate::Engine;
use aftersale_domain::{CustomerId, ShopId};
use std::cell::RefCell;
use std::collections::BTreeSet;

tokio::task_local! {
    /// The customers whose figures the running batch refreshes at its end.
    static PENDING: RefCell<BTreeSet<(ShopId, CustomerId)>>;
}

/// Notes the customer for the running batch's refresh. `false` outside a batch: the caller
/// refreshes now.
pub(crate) fn defer(shop: &ShopId, customer: &CustomerId) -> bool {
    PENDING
        .try_with(|pending| {
            pending.borrow_mut().insert((shop.clone(), customer.clone()));
        })
        .is_ok()
}

impl Engine {
    /// Runs `work` with the message-figure refreshes it asks for held back, then refreshes
    /// each customer it changed once, whether `work` succeeded or not (what it stored before
    /// failing is counted, as it was when every change refreshed at once).
    pub(crate) async fn batched<T>(&self, work: impl Future<Output = T>) -> T {
        let (result, pending) = PENDING
            .scope(RefCell::new(BTreeSet::new()), async {
                let result = work.await;
                (result, PENDING.with(RefCell::take))
            })
            .await;
        for (shop, customer) in pending {
            self.refresh_metrics(&shop, &customer).await;
        }
        result
    }
}
