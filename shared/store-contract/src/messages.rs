//! Planned messages: keyed planning, versioned updates, the due index and its leases.

use crate::fixtures::*;

/// Planning is keyed by (shop, customer, flow, subject, step): the first plan is stored with
/// version 1, a second plan of the same id (even with other details) stores nothing.
pub async fn plan_twice_stores_once(store: &dyn FlowStore) {
    let shop = unique_shop("plan");
    let first = message(&shop, "c1", thank_you::Step::ThankYou.into(), "o1", at(10));
    assert!(store.plan_message(&first).await.unwrap(), "first plan stores");
    let mut again = first.clone();
    again.due_at = at(99);
    again.reason = "planned again".into();
    assert!(
        !store.plan_message(&again).await.unwrap(),
        "second plan stores nothing"
    );

    let stored = Message {
        version: 1,
        ..first.clone()
    };
    assert_eq!(
        store
            .load_message(&shop, &customer_id("c1"), &first.id())
            .await
            .unwrap(),
        Some(stored.clone())
    );
    assert_eq!(
        store.customer_messages(&shop, &customer_id("c1")).await.unwrap(),
        vec![stored]
    );

    let next_step = message(&shop, "c1", thank_you::Step::Feedback.into(), "o1", at(20));
    assert!(
        store.plan_message(&next_step).await.unwrap(),
        "another step is another message"
    );
    assert_eq!(
        store
            .load_message(&shop, &customer_id("c1"), &message_id("thank-you#o1#missing"))
            .await
            .unwrap(),
        None
    );
}

/// `update_message` saves only over the version it was read at and returns the message as
/// stored, version bumped; a stale, future or unknown version is a Conflict and changes nothing.
pub async fn message_versions(store: &dyn FlowStore) {
    let shop = unique_shop("msg-versions");
    let cid = customer_id("c1");
    let planned = message(&shop, "c1", review_request::Step::Request.into(), "o1", at(10));
    store.plan_message(&planned).await.unwrap();
    let loaded = store
        .load_message(&shop, &cid, &planned.id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(loaded.version, 1);

    let mut claimed = loaded.clone();
    claimed.status = MessageStatus::Claimed;
    claimed.lease_until = Some(at(15));
    claimed.attempts = 1;
    let saved = store.update_message(&claimed).await.unwrap();
    assert_eq!(
        saved,
        Message {
            version: 2,
            ..claimed.clone()
        }
    );
    assert_eq!(
        store.load_message(&shop, &cid, &planned.id()).await.unwrap(),
        Some(saved.clone())
    );

    let mut stale = loaded.clone();
    stale.reason = "a second sender".into();
    assert_message_conflict(store.update_message(&stale).await, "a stale version");
    let mut future = saved.clone();
    future.version = 7;
    assert_message_conflict(store.update_message(&future).await, "a version from the future");
    let never_planned = message(&shop, "c1", review_request::Step::Request.into(), "o2", at(10));
    assert_message_conflict(store.update_message(&never_planned).await, "an unplanned message");
    let never_planned = Message {
        version: 1,
        ..never_planned
    };
    assert_message_conflict(store.update_message(&never_planned).await, "an unplanned message");
    assert_eq!(
        store.load_message(&shop, &cid, &planned.id()).await.unwrap(),
        Some(saved),
        "failed updates change nothing"
    );
    assert_eq!(store.customer_messages(&shop, &cid).await.unwrap().len(), 1);
}

/// One unreadable message (a poison pill: written by a newer version, or damaged) never
/// blocks its flow's queue: `due_entries` names it beside the readable ones, and once
/// quarantined it leaves the due index for good while the others stay. `corrupt` damages the
/// stored bytes of the message it is given, the way only the adapter itself can.
pub async fn unreadable_messages_are_named_and_quarantined<F, Fut>(store: &dyn FlowStore, corrupt: F)
where
    F: FnOnce(Message) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use aftersale_ports::DueEntry;
    let shop = unique_shop("poison");
    let t = fresh_epoch();
    let flow = Flow::DeliveryCheckIn;
    let poison = message(&shop, "poison", FlowStep::first(flow), "o-poison", t(1));
    let healthy = message(&shop, "healthy", FlowStep::first(flow), "o-healthy", t(2));
    for m in [&poison, &healthy] {
        assert!(store.plan_message(m).await.unwrap());
    }
    corrupt(poison.clone()).await;
    let ours = |entries: Vec<DueEntry>| -> Vec<DueEntry> {
        entries
            .into_iter()
            .filter(|e| match e {
                DueEntry::Message(m) => m.shop == shop,
                DueEntry::Undecodable(u) => u.shop == shop.as_str(),
            })
            .collect()
    };
    let due = ours(store.due_entries(flow, t(10), 100).await.unwrap());
    assert_eq!(due.len(), 2, "{due:?}");
    let unreadable = due
        .iter()
        .find_map(|e| match e {
            DueEntry::Undecodable(u) => Some(u.clone()),
            DueEntry::Message(_) => None,
        })
        .expect("the damaged message is named, not fatal");
    assert_eq!(
        (unreadable.customer.as_str(), unreadable.id.as_str()),
        ("poison", poison.id().as_str())
    );
    assert!(!unreadable.problem.is_empty());
    assert!(
        due.iter()
            .any(|e| matches!(e, DueEntry::Message(m) if m.customer_id.as_str() == "healthy"))
    );
    let readable: Vec<Message> = store
        .due_messages(flow, t(10), 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.shop == shop)
        .collect();
    assert_eq!(readable.len(), 1, "due_messages gives the readable ones");

    store.quarantine_message(&unreadable).await.unwrap();
    let due = ours(store.due_entries(flow, t(10), 100).await.unwrap());
    assert!(
        matches!(due.as_slice(), [DueEntry::Message(m)] if m.customer_id.as_str() == "healthy"),
        "only the healthy message is left due: {due:?}"
    );
    store.quarantine_message(&unreadable).await.unwrap();
}

/// `due_messages(flow, now, limit)`: that flow's messages needing attention at `now` (planned
/// and due, or claimed/sending with `lease_until <= now`), by attention time, at most `limit`;
/// never final ones, unexpired leases, messages due later or other flows' messages.
pub async fn due_messages_by_flow_and_attention(store: &dyn FlowStore) {
    let shop = unique_shop("due");
    let t = fresh_epoch();
    let flow = Flow::ThankYou;
    let plan = |customer: &str, flow: Flow, due: DateTime<Utc>| {
        message(
            &shop,
            customer,
            FlowStep::first(flow),
            &format!("o-{customer}"),
            due,
        )
    };
    let mut changes = Vec::new();
    for (customer, due, status, lease) in [
        ("late", t(20), MessageStatus::Planned, None),
        ("early", t(5), MessageStatus::Planned, None),
        ("future", t(100), MessageStatus::Planned, None),
        ("sent", t(0), MessageStatus::Sent, None),
        ("skipped", t(1), MessageStatus::Skipped, None),
        ("failed", t(2), MessageStatus::Failed, None),
        ("lease-gone", t(3), MessageStatus::Claimed, Some(t(8))),
        ("sending-gone", t(4), MessageStatus::Sending, Some(t(9))),
        ("lease-live", t(2), MessageStatus::Claimed, Some(t(60))),
        ("sending-live", t(2), MessageStatus::Sending, Some(t(31))),
    ] {
        let planned = plan(customer, flow, due);
        assert!(store.plan_message(&planned).await.unwrap());
        if status != MessageStatus::Planned {
            let stored = store
                .load_message(&shop, &planned.customer_id, &planned.id())
                .await
                .unwrap()
                .unwrap();
            changes.push(Message {
                status,
                lease_until: lease,
                ..stored
            });
        }
    }
    for change in &changes {
        store.update_message(change).await.unwrap();
    }
    assert!(
        store
            .plan_message(&plan("other-flow", Flow::ReviewRequest, t(1)))
            .await
            .unwrap()
    );

    let customers =
        |due: &[Message]| -> Vec<String> { due.iter().map(|m| m.customer_id.to_string()).collect() };
    let due = store.due_messages(flow, t(30), 100).await.unwrap();
    assert_eq!(
        customers(&due),
        ["early", "lease-gone", "sending-gone", "late"],
        "due, expired leases, in attention order; not final, leased, later or other flows"
    );
    assert!(due.windows(2).all(|w| attention_at(&w[0]) <= attention_at(&w[1])));
    for found in &due {
        assert_eq!(
            Some(found),
            store
                .load_message(&shop, &found.customer_id, &found.id())
                .await
                .unwrap()
                .as_ref(),
            "due messages are returned as stored"
        );
    }
    assert_eq!(
        customers(&store.due_messages(flow, t(30), 2).await.unwrap()),
        ["early", "lease-gone"],
        "the limit keeps the oldest"
    );
    assert_eq!(
        customers(&store.due_messages(flow, t(30), 0).await.unwrap()),
        Vec::<String>::new()
    );
    assert_eq!(
        customers(&store.due_messages(flow, t(5), 100).await.unwrap()),
        ["early"],
        "due exactly at its due time"
    );
    assert!(store.due_messages(flow, t(4), 100).await.unwrap().is_empty());
    assert_eq!(
        customers(&store.due_messages(flow, t(60), 100).await.unwrap()),
        [
            "early",
            "lease-gone",
            "sending-gone",
            "late",
            "sending-live",
            "lease-live"
        ],
        "a lease ending exactly now has ended"
    );
    assert_eq!(
        customers(&store.due_messages(Flow::ReviewRequest, t(30), 100).await.unwrap()),
        ["other-flow"]
    );
    assert!(
        store
            .due_messages(Flow::DeliveryCheckIn, t(30), 100)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A deferred message (due moved later) and a claimed one (lease running) leave the due list
/// until their new time; a finished one leaves it for good.
pub async fn deferred_and_leased_messages_leave_due_until_then(store: &dyn FlowStore) {
    let shop = unique_shop("defer");
    let t = fresh_epoch();
    let flow = Flow::DeliveryCheckIn;
    let planned = message(&shop, "c1", FlowStep::first(flow), "o1", t(10));
    store.plan_message(&planned).await.unwrap();
    let ours = |due: Vec<Message>| -> Vec<Message> { due.into_iter().filter(|m| m.shop == shop).collect() };

    let stored = store
        .load_message(&shop, &planned.customer_id, &planned.id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ours(store.due_messages(flow, t(10), 100).await.unwrap()),
        vec![stored.clone()]
    );

    let deferred = Message {
        due_at: t(70),
        reason: "deferred: quiet hours".into(),
        ..stored
    };
    let deferred = store.update_message(&deferred).await.unwrap();
    assert!(
        ours(store.due_messages(flow, t(30), 100).await.unwrap()).is_empty(),
        "deferred"
    );
    assert!(ours(store.due_messages(flow, t(69), 100).await.unwrap()).is_empty());
    assert_eq!(
        ours(store.due_messages(flow, t(70), 100).await.unwrap()),
        vec![deferred.clone()]
    );

    let claimed = Message {
        status: MessageStatus::Claimed,
        lease_until: Some(t(75)),
        attempts: 1,
        ..deferred
    };
    let claimed = store.update_message(&claimed).await.unwrap();
    assert!(
        ours(store.due_messages(flow, t(74), 100).await.unwrap()).is_empty(),
        "leased"
    );
    assert_eq!(
        ours(store.due_messages(flow, t(75), 100).await.unwrap()),
        vec![claimed.clone()],
        "an expired lease needs attention again"
    );

    let sent = Message {
        status: MessageStatus::Sent,
        reason: "sent".into(),
        lease_until: None,
        sent_at: Some(t(74)),
        to: Some("c1@example.com".into()),
        provider_id: Some("provider-1".into()),
        ..claimed
    };
    let sent = store.update_message(&sent).await.unwrap();
    assert!(
        ours(store.due_messages(flow, t(100_000), 100).await.unwrap()).is_empty(),
        "final"
    );
    assert_eq!(
        store
            .load_message(&shop, &planned.customer_id, &planned.id())
            .await
            .unwrap(),
        Some(sent)
    );
}

/// `customer_messages` is one customer of one shop; `list_messages(Some(shop))` every customer
/// of that shop, final messages included; `list_messages(None)` every shop. All by due time.
pub async fn messages_per_customer_and_shop(store: &dyn FlowStore) {
    let a = unique_shop("list-msg-a");
    let b = unique_shop("list-msg-b");
    let a_late = message(&a, "c1", thank_you::Step::Feedback.into(), "o1", at(30));
    let a_early = message(&a, "c1", thank_you::Step::ThankYou.into(), "o1", at(10));
    let a_other = message(&a, "c2", review_request::Step::Request.into(), "o2", at(20));
    let b_same = message(&b, "c1", thank_you::Step::ThankYou.into(), "o1", at(5));
    for m in [&a_late, &a_early, &a_other, &b_same] {
        assert!(store.plan_message(m).await.unwrap());
    }
    let a_early = store
        .load_message(&a, &customer_id("c1"), &a_early.id())
        .await
        .unwrap()
        .unwrap();
    let a_early = store
        .update_message(&Message {
            status: MessageStatus::Sent,
            reason: "sent".into(),
            ..a_early
        })
        .await
        .unwrap();
    let v1 = |m: &Message| Message {
        version: 1,
        ..m.clone()
    };

    assert_eq!(
        store.customer_messages(&a, &customer_id("c1")).await.unwrap(),
        vec![a_early.clone(), v1(&a_late)]
    );
    assert_eq!(
        store.customer_messages(&b, &customer_id("c1")).await.unwrap(),
        vec![v1(&b_same)]
    );
    assert!(
        store
            .customer_messages(&a, &customer_id("c3"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.list_messages(Some(&a)).await.unwrap(),
        vec![a_early.clone(), v1(&a_other), v1(&a_late)]
    );

    let everything = store.list_messages(None).await.unwrap();
    let ours: Vec<Message> = everything
        .iter()
        .filter(|m| m.shop == a || m.shop == b)
        .cloned()
        .collect();
    assert_eq!(ours, vec![v1(&b_same), a_early, v1(&a_other), v1(&a_late)]);
    assert!(
        everything.windows(2).all(|w| w[0].due_at <= w[1].due_at),
        "by due time"
    );
}
