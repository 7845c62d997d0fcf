//! Exactly-once sending under failure: a sender that dies after claiming, one that dies while
//! the provider has the message, and providers that fail for a while or for good.

mod support;

use aftersale_domain::{Flow, Message, MessageStatus};
use aftersale_engine::TickReport;
use aftersale_ports::SendError;
use support::*;

use MessageStatus::{Claimed, Failed, Planned, Sending, Sent};

/// Case 8 on either store: a claim whose sender died before calling the provider.
async fn a_claim_left_by_a_dead_sender_is_taken_over_after_its_lease(h: Harness) {
    h.place_order().await;
    let crashed_at = order_at() + minutes(1);
    h.set_clock(crashed_at);
    let planned = h.message(Flow::ThankYou, "thank-you").await;
    let claimed = h
        .store
        .update_message(&Message {
            status: Claimed,
            lease_until: Some(crashed_at + minutes(5)),
            attempts: planned.attempts + 1,
            ..planned
        })
        .await
        .unwrap();

    // While the lease holds, another tick leaves it alone.
    assert_eq!(h.tick(crashed_at + minutes(4)).await, idle());
    assert_eq!(h.message(Flow::ThankYou, "thank-you").await, claimed);
    assert!(h.mailer.sent().is_empty());

    // Once it has run out, the message is claimed again and sent, once.
    assert_eq!(h.tick(crashed_at + minutes(6)).await, sent(1));
    let message = h.message(Flow::ThankYou, "thank-you").await;
    assert_outcome(&message, Sent, "sent");
    assert_eq!(message.attempts, 2);
    assert_eq!(message.lease_until, None);
    assert_eq!(message.sent_at, Some(crashed_at + minutes(6)));
    assert_eq!(h.tick(crashed_at + minutes(7)).await, idle());
    assert_eq!(h.tick(crashed_at + hours(1)).await, idle());
    assert_eq!(h.emails(Flow::ThankYou, "thank-you").len(), 1);
    assert_eq!(h.mailer.sent().len(), 1);
    assert!(h.alerts.sent().is_empty());
}

#[tokio::test]
async fn a_crash_between_claim_and_send_is_recovered_by_the_lease_and_sent_once() {
    a_claim_left_by_a_dead_sender_is_taken_over_after_its_lease(Harness::new()).await;
}

#[tokio::test]
async fn a_crash_between_claim_and_send_is_recovered_on_the_sqlite_store() {
    a_claim_left_by_a_dead_sender_is_taken_over_after_its_lease(Harness::sqlite()).await;
}

/// Case 9 on either store: the sender died while the provider may have had the message.
async fn a_message_left_sending_is_failed_and_support_told(h: Harness) {
    h.place_order().await;
    let crashed_at = order_at() + minutes(1);
    h.set_clock(crashed_at);
    let planned = h.message(Flow::ThankYou, "thank-you").await;
    let sending = h
        .store
        .update_message(&Message {
            status: Sending,
            lease_until: Some(crashed_at + minutes(5)),
            attempts: planned.attempts + 1,
            to: Some(EMAIL.into()),
            ..planned
        })
        .await
        .unwrap();
    assert_eq!(h.tick(crashed_at + minutes(2)).await, idle());
    assert_eq!(h.message(Flow::ThankYou, "thank-you").await, sending);

    assert_eq!(
        h.tick(crashed_at + minutes(6)).await,
        TickReport { failed: 1, ..idle() }
    );
    let message = h.message(Flow::ThankYou, "thank-you").await;
    assert_outcome(
        &message,
        Failed,
        "failed: outcome unknown after a crash while sending; not resent",
    );
    assert_eq!(message.lease_until, None);
    assert!(h.mailer.sent().is_empty(), "never risk a second copy");
    let alerts = h.alerts.sent();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].0, "Aftersale: a message may not have been delivered");
    assert!(
        alerts[0]
            .1
            .contains(&format!("thank-you#{ORDER}#thank-you (order #9999) for customer")),
        "the shop's order number beside our id: {}",
        alerts[0].1
    );
    assert!(alerts[0].1.contains(SHOP) && alerts[0].1.contains(CUSTOMER));

    assert_eq!(h.tick(crashed_at + hours(1)).await, idle());
    assert!(h.mailer.sent().is_empty());
    assert_eq!(h.alerts.sent().len(), 1);
}

#[tokio::test]
async fn a_crash_while_sending_fails_the_message_loudly_instead_of_resending() {
    a_message_left_sending_is_failed_and_support_told(Harness::new()).await;
}

#[tokio::test]
async fn a_crash_while_sending_fails_the_message_loudly_on_the_sqlite_store() {
    a_message_left_sending_is_failed_and_support_told(Harness::sqlite()).await;
}

/// The provider took the message, and the store stumbles on the write that says so: `landed`
/// when each failed write was stored anyway (its answer lost, as a timeout after the commit).
async fn a_sent_message_survives_a_store_that_stumbles_on_recording_it(writes: usize, landed: bool) {
    let store = std::sync::Arc::new(aftersale_testkit::MemoryStore::new());
    let h = Harness::with_store(store.clone());
    h.place_order().await;
    store.fail_sent_writes(writes, landed);
    assert_eq!(h.tick(order_at() + minutes(1)).await, sent(1));
    let message = h.message(Flow::ThankYou, "thank-you").await;
    assert_outcome(&message, Sent, "sent");
    assert!(message.provider_id.is_some());
    assert_eq!(h.tick(order_at() + hours(1)).await, idle());
    assert_eq!(h.mailer.sent().len(), 1, "sent once, never failed as unknown");
    assert!(h.alerts.sent().is_empty(), "{:?}", h.alerts.sent());
}

#[tokio::test]
async fn a_sent_message_is_recorded_when_the_store_fails_the_first_writes() {
    a_sent_message_survives_a_store_that_stumbles_on_recording_it(3, false).await;
}

#[tokio::test]
async fn a_sent_message_whose_recording_landed_unanswered_is_counted_sent() {
    a_sent_message_survives_a_store_that_stumbles_on_recording_it(1, true).await;
}

#[tokio::test]
async fn a_transient_provider_failure_is_retried_later_and_sent_once() {
    let h = Harness::new();
    h.place_order().await;
    h.mailer.fail_next(SendError::Transient("throttled".into()));
    let first = order_at() + minutes(1);
    assert_eq!(
        h.tick(first).await,
        TickReport {
            retrying: 1,
            ..idle()
        }
    );
    let message = h.message(Flow::ThankYou, "thank-you").await;
    assert_outcome(&message, Planned, "retrying: throttled");
    assert_eq!(message.due_at, first + minutes(10), "5 min × 2^attempts");
    assert_eq!(message.attempts, 1);
    assert!(h.mailer.sent().is_empty());

    assert_eq!(h.tick(first + minutes(9)).await, idle());
    assert_eq!(h.tick(first + minutes(10)).await, sent(1));
    let message = h.message(Flow::ThankYou, "thank-you").await;
    assert_outcome(&message, Sent, "sent");
    assert_eq!(message.attempts, 2);
    assert_eq!(h.tick(first + hours(1)).await, idle());
    assert_eq!(h.mailer.sent().len(), 1);
}

#[tokio::test]
async fn a_permanent_provider_failure_is_recorded_and_never_retried() {
    let h = Harness::new();
    h.place_order().await;
    h.mailer
        .fail_next(SendError::Permanent("address rejected".into()));
    let first = order_at() + minutes(1);
    assert_eq!(h.tick(first).await, TickReport { failed: 1, ..idle() });
    let message = h.message(Flow::ThankYou, "thank-you").await;
    assert_outcome(
        &message,
        Failed,
        "failed: permanent send failure: address rejected",
    );
    assert_eq!(h.tick(first + minutes(30)).await, idle());
    assert_eq!(h.tick(first + hours(47)).await, idle());
    assert!(h.emails(Flow::ThankYou, "thank-you").is_empty());
    assert_outcome(
        &h.message(Flow::ThankYou, "thank-you").await,
        Failed,
        "failed: permanent send failure: address rejected",
    );
    // The failure is the thank-you's alone: the survey still goes out when due.
    assert_eq!(h.tick(order_at() + days(3)).await, sent(1));
    assert_eq!(h.mailer.sent().len(), 1);
}

#[tokio::test]
async fn a_line_break_in_a_first_name_no_longer_fails_every_email_to_the_customer() {
    let h = Harness::new();
    let mut order = fixture_json("shopify/orders_create.json");
    order["customer"]["first_name"] = serde_json::json!("John\r\nBcc: eve@example.com");
    h.shopify("orders/create", &bytes(&order)).await;
    assert_eq!(h.tick(order_at() + minutes(1)).await, sent(1));
    assert_outcome(&h.message(Flow::ThankYou, "thank-you").await, Sent, "sent");
    let email = h.email(Flow::ThankYou, "thank-you");
    assert_eq!(email.to.address, EMAIL);
    // The subject is one line whatever the name holds; the mailers clean the display name.
    assert_eq!(
        email.subject,
        "Thanks, John Bcc: eve@example.com. We're preparing your order"
    );
}

#[tokio::test]
async fn a_doubtful_address_is_skipped_with_the_reason_and_nothing_is_sent() {
    let h = Harness::new();
    let mut order = fixture_json("shopify/orders_create.json");
    let doubtful = serde_json::json!("john@example.com(comment)");
    order["email"] = doubtful.clone();
    order["contact_email"] = doubtful.clone();
    order["customer"]["email"] = doubtful;
    h.shopify("orders/create", &bytes(&order)).await;
    h.tick(order_at() + minutes(1)).await;
    let message = h.message(Flow::ThankYou, "thank-you").await;
    assert_outcome(
        &message,
        MessageStatus::Skipped,
        "skipped: email address has a comment in parentheses",
    );
    assert!(h.mailer.sent().is_empty());
}

/// A second customer's order, so one tick has two thank-yous to send.
async fn place_second_order(h: &Harness) {
    let mut o = fixture_json("shopify/orders_create.json");
    o["id"] = serde_json::json!(820982911946154999u64);
    o["name"] = serde_json::json!("#1999");
    o["email"] = serde_json::json!("ada@example.com");
    o["contact_email"] = serde_json::json!("ada@example.com");
    o["customer"]["id"] = serde_json::json!(115310627314723999u64);
    o["customer"]["email"] = serde_json::json!("ada@example.com");
    let reply = h.shopify("orders/create", &bytes(&o)).await;
    assert_eq!((reply.outcome, reply.stored), ("accepted", 1));
}

#[tokio::test]
async fn a_panic_while_sending_one_message_fails_it_loudly_and_the_tick_goes_on() {
    let h = Harness::sqlite();
    h.place_order().await;
    place_second_order(&h).await;
    h.mailer.panic_on(EMAIL);
    let first = order_at() + minutes(1);
    let report = h
        .engine
        .tick(first)
        .await
        .expect("a panic does not abort the tick");
    assert_eq!(
        report,
        TickReport {
            sent: 1,
            errors: 1,
            ..idle()
        }
    );
    let sent = h.mailer.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].to.address, "ada@example.com",
        "the other customer still hears from us"
    );

    let thank_yous: Vec<Message> = h
        .messages()
        .await
        .into_iter()
        .filter(|m| m.step.as_str() == "thank-you" && m.to.as_deref() == Some(EMAIL))
        .collect();
    assert_eq!(thank_yous.len(), 1);
    assert_outcome(
        &thank_yous[0],
        Failed,
        "failed: outcome unknown after panic: scripted panic while sending; not resent",
    );
    let alerts = h.alerts.sent();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].0, "Aftersale: a message could not be processed");
    assert!(
        alerts[0].1.contains("The other messages went on"),
        "{}",
        alerts[0].1
    );

    // The next tick has nothing left to do, and says so without an error.
    assert_eq!(h.tick(first + minutes(10)).await, idle());
    assert_eq!(h.mailer.sent().len(), 1);
}

#[tokio::test]
async fn an_unreadable_message_is_quarantined_with_one_alert_and_the_queue_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = aftersale_store_sqlite::SqliteStore::open_dir(dir.path()).unwrap();
    let h = Harness::with_store(std::sync::Arc::new(store));
    h.place_order().await;
    place_second_order(&h).await;
    // A newer version wrote the first customer's thank-you in a form this one cannot read.
    let conn = rusqlite::Connection::open(dir.path().join("aftersale.db")).unwrap();
    let changed = conn
        .execute(
            "UPDATE messages SET body = '{\"flow\": \"from-the-future\"}' WHERE customer_id = ?1 AND id LIKE 'thank-you#%#thank-you'",
            [CUSTOMER],
        )
        .unwrap();
    assert_eq!(changed, 1);

    let first = order_at() + minutes(1);
    assert_eq!(
        h.tick(first).await,
        TickReport {
            sent: 1,
            quarantined: 1,
            ..idle()
        }
    );
    let sent = h.mailer.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to.address, "ada@example.com");
    let alerts = h.alerts.sent();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].0, "Aftersale: an unreadable message was set aside");
    assert!(
        alerts[0].1.contains(&format!("thank-you#{ORDER}#thank-you")) && alerts[0].1.contains(CUSTOMER),
        "{}",
        alerts[0].1
    );
    assert!(alerts[0].1.contains("will not be sent"), "{}", alerts[0].1);

    // It is out of the queue for good: later ticks neither stumble on it nor alert again.
    assert_eq!(h.tick(first + minutes(5)).await, idle());
    assert_eq!(h.tick(first + hours(2)).await, idle());
    assert_eq!(h.alerts.sent().len(), 1);
    let kept: String = conn
        .query_row(
            "SELECT body FROM messages WHERE customer_id = ?1 AND id LIKE 'thank-you#%#thank-you'",
            [CUSTOMER],
            |row| row.get(0),
        )
        .unwrap();
    assert!(
        kept.contains("from-the-future"),
        "the stored bytes are kept for inspection"
    );
}
