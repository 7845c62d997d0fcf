//! SES event notifications (through the configuration set's SNS topic). Bounces and
//! complaints put addresses on the shop's suppression list, so nobody is written to after a
//! hard bounce or a spam complaint. Every delivery, open, click, bounce and complaint is also
//! recorded against the message it belongs to (named by the `X-Aftersale-Shop`,
//! `X-Aftersale-Customer` and `X-Aftersale-Message` headers the sender sets), for the flows'
//! funnels.

use aftersale_domain::policy::SuppressionReason;
use aftersale_domain::{CustomerId, MessageId, ShopId};
use aftersale_metrics::EngagementKind;
use aftersale_ports::{FlowStore, StoreError};
use chrono::{DateTime, Utc};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    #[error("not an SES notification: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("the bounced message carries no X-Aftersale-Shop header, so its shop is unknown")]
    NoShop,
    #[error("X-Aftersale-Shop header: {0}")]
    BadShop(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    /// Event publishing says `eventType`, identity notifications `notificationType`.
    event_type: Option<String>,
    notification_type: Option<String>,
    bounce: Option<Bounce>,
    complaint: Option<Complaint>,
    mail: Mail,
    delivery: Option<Stamped>,
    open: Option<Stamped>,
    click: Option<Stamped>,
}

/// The part of a delivery, open or click event that says when it happened.
#[derive(Deserialize)]
struct Stamped {
    timestamp: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    bounce_type: String,
    bounced_recipients: Vec<Recipient>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Complaint {
    complained_recipients: Vec<Recipient>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recipient {
    email_address: String,
}

#[derive(Deserialize)]
struct Mail {
    timestamp: Option<DateTime<Utc>>,
    #[serde(default)]
    headers: Vec<Header>,
}

impl Mail {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.trim())
    }
}

#[derive(Deserialize)]
struct Header {
    name: String,
    value: String,
}

/// Applies one notification. Returns how many addresses were suppressed: transient bounces,
/// deliveries, opens, clicks and rejects suppress nothing (but are recorded on the message).
pub async fn apply_ses_notification(
    store: &dyn FlowStore,
    message: &str,
    now: DateTime<Utc>,
) -> Result<usize, NotificationError> {
    let notification: Notification = serde_json::from_str(message)?;
    let kind = notification
        .event_type
        .clone()
        .or(notification.notification_type.clone())
        .unwrap_or_default();
    let shop = notification
        .mail
        .header("X-Aftersale-Shop")
        .ok_or(NotificationError::NoShop)?;
    let shop = ShopId::new(shop).map_err(|e| NotificationError::BadShop(e.to_string()))?;
    record_on_message(store, &shop, &kind, &notification, now).await?;
    let (reason, recipients) = match (kind.as_str(), notification.bounce, notification.complaint) {
        ("Bounce", Some(bounce), _) if bounce.bounce_type == "Permanent" => {
            (SuppressionReason::Bounce, bounce.bounced_recipients)
        }
        ("Complaint", _, Some(complaint)) => (SuppressionReason::Complaint, complaint.complained_recipients),
        _ => return Ok(0),
    };
    for recipient in &recipients {
        store
            .suppress(&shop, &recipient.email_address, reason, now)
            .await?;
    }
    Ok(recipients.len())
}

/// Records the event on its message, when the mail names one that is still stored (a message
/// of a redacted customer is gone, and its events are dropped).
async fn record_on_message(
    store: &dyn FlowStore,
    shop: &ShopId,
    kind: &str,
    n: &Notification,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let (engagement, stamped) = match kind {
        "Delivery" => (EngagementKind::Delivered, n.delivery.as_ref()),
        "Open" => (EngagementKind::Opened, n.open.as_ref()),
        "Click" => (EngagementKind::Clicked, n.click.as_ref()),
        "Bounce" => (EngagementKind::Bounced, None),
        "Complaint" => (EngagementKind::Complained, None),
        _ => return Ok(()),
    };
    let (Some(customer), Some(id)) = (
        n.mail.header("X-Aftersale-Customer"),
        n.mail.header("X-Aftersale-Message"),
    ) else {
        return Ok(());
    };
    let (Ok(customer), Ok(id)) = (CustomerId::new(customer), MessageId::new(id)) else {
        return Ok(());
    };
    let Some(message) = store.load_message(shop, &customer, &id).await? else {
        return Ok(());
    };
    let at = stamped
        .and_then(|s| s.timestamp)
        .or(n.mail.timestamp)
        .unwrap_or(now);
    aftersale_metrics::rollups::record_engagement(store, &message, engagement, at).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aftersale_domain::{Channel, DueBasis, Flow, Message, MessageClass, MessageStatus, Reason};
    use aftersale_metrics::Range;
    use aftersale_ports::{Messages, Suppressions};
    use aftersale_testkit::MemoryStore;
    use chrono::TimeZone;

    fn notification(kind: &str, body: &str) -> String {
        format!(
            r#"{{"eventType":"{kind}",{body},"mail":{{"timestamp":"2026-12-01T10:00:00Z","messageId":"m1",
            "headers":[{{"name":"X-Aftersale-Shop","value":"demo.myshopify.com"}}]}}}}"#
        )
    }

    #[tokio::test]
    async fn hard_bounces_and_complaints_suppress_transient_bounces_do_not() {
        let store = MemoryStore::new();
        let shop = ShopId::new("demo.myshopify.com").unwrap();
        let now = Utc::now();
        let hard = notification(
            "Bounce",
            r#""bounce":{"bounceType":"Permanent","bouncedRecipients":[{"emailAddress":"Gone@Example.com"}]}"#,
        );
        assert_eq!(apply_ses_notification(&store, &hard, now).await.unwrap(), 1);
        assert_eq!(
            store.suppression(&shop, "gone@example.com").await.unwrap(),
            Some(SuppressionReason::Bounce)
        );

        let soft = notification(
            "Bounce",
            r#""bounce":{"bounceType":"Transient","bouncedRecipients":[{"emailAddress":"full@example.com"}]}"#,
        );
        assert_eq!(apply_ses_notification(&store, &soft, now).await.unwrap(), 0);
        assert_eq!(store.suppression(&shop, "full@example.com").await.unwrap(), None);

        let complaint = notification(
            "Complaint",
            r#""complaint":{"complainedRecipients":[{"emailAddress":"angry@example.com"}]}"#,
        );
        assert_eq!(apply_ses_notification(&store, &complaint, now).await.unwrap(), 1);
        assert_eq!(
            store.suppression(&shop, "angry@example.com").await.unwrap(),
            Some(SuppressionReason::Complaint)
        );
    }

    #[tokio::test]
    async fn bad_notifications_are_errors_not_silence() {
        let store = MemoryStore::new();
        assert!(matches!(
            apply_ses_notification(&store, "{", Utc::now()).await,
            Err(NotificationError::Malformed(_))
        ));
        let no_shop = r#"{"eventType":"Complaint","complaint":{"complainedRecipients":[{"emailAddress":"a@b.c"}]},"mail":{"headers":[]}}"#;
        assert!(matches!(
            apply_ses_notification(&store, no_shop, Utc::now()).await,
            Err(NotificationError::NoShop)
        ));
    }

    fn sent_message(shop: &ShopId, at: DateTime<Utc>) -> Message {
        Message {
            shop: shop.clone(),
            customer_id: CustomerId::new("7001").unwrap(),
            subject: "7001".into(),
            step: aftersale_domain::flows::win_back::Step::Value.into(),
            order_id: None,
            class: MessageClass::Marketing,
            channel: Channel::Email,
            due_at: at,
            due_basis: DueBasis::Known,
            status: MessageStatus::Planned,
            reason: Reason::Planned,
            planned_at: at,
            lease_until: None,
            attempts: 0,
            products: vec![],
            payload: Default::default(),
            processing_errors: 0,
            to: None,
            rendered_subject: None,
            sent_at: None,
            provider_id: None,
            version: 0,
        }
    }

    fn event(kind: &str, detail: &str) -> String {
        format!(
            r#"{{"eventType":"{kind}",{detail}"mail":{{"timestamp":"2026-12-01T10:00:00Z","messageId":"m1",
            "headers":[{{"name":"X-Aftersale-Shop","value":"demo.myshopify.com"}},
            {{"name":"X-Aftersale-Customer","value":"7001"}},
            {{"name":"X-Aftersale-Message","value":"win-back#7001#value"}}]}}}}"#
        )
    }

    #[tokio::test]
    async fn deliveries_opens_and_clicks_are_counted_on_the_message_s_flow() {
        let store = MemoryStore::new();
        let shop = ShopId::new("demo.myshopify.com").unwrap();
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
        let planned = sent_message(&shop, at);
        store.plan_message(&planned).await.unwrap();
        let stored = store
            .load_message(&shop, &planned.customer_id, &planned.id())
            .await
            .unwrap()
            .unwrap();
        store
            .update_message(&Message {
                status: MessageStatus::Sent,
                sent_at: Some(at),
                ..stored
            })
            .await
            .unwrap();
        let delivery = event("Delivery", r#""delivery":{"timestamp":"2026-12-01T10:00:05Z"},"#);
        let click = event(
            "Click",
            r#""click":{"timestamp":"2026-12-01T11:00:00Z","link":"https://x"},"#,
        );
        for n in [&delivery, &click, &click] {
            assert_eq!(
                apply_ses_notification(&store, n, at).await.unwrap(),
                0,
                "nothing suppressed"
            );
        }
        let complaint = event(
            "Complaint",
            r#""complaint":{"complainedRecipients":[{"emailAddress":"angry@example.com"}]},"#,
        );
        assert_eq!(apply_ses_notification(&store, &complaint, at).await.unwrap(), 1);
        let report = aftersale_metrics::shop_report(&store, &shop, Range::default(), at)
            .await
            .unwrap();
        let funnel = report.flow(Flow::WinBack).unwrap();
        assert_eq!(
            (
                funnel.sent,
                funnel.delivered,
                funnel.opened,
                funnel.clicked,
                funnel.complained
            ),
            (1, 1, 0, 1, 1),
            "a redelivered click counts once"
        );
        let json = report.to_json();
        assert_eq!(json["flows"]["win-back"]["clicked"], 1);
        // An event for a message that is not stored (its customer was redacted) is dropped.
        let unknown = event("Open", r#""open":{"timestamp":"2026-12-01T10:30:00Z"},"#)
            .replace("win-back#7001#value", "win-back#7001#offer");
        assert_eq!(apply_ses_notification(&store, &unknown, at).await.unwrap(), 0);
    }
}
