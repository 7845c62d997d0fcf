//! SES bounce and complaint notifications (through the configuration set's SNS topic) put
//! addresses on the shop's suppression list, so nobody is written to after a hard bounce or
//! a spam complaint.

use aftersale_domain::ShopId;
use aftersale_domain::policy::SuppressionReason;
use aftersale_ports::{StoreError, Suppressions};
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
    #[serde(default)]
    headers: Vec<Header>,
}

#[derive(Deserialize)]
struct Header {
    name: String,
    value: String,
}

/// Applies one notification. Returns how many addresses were suppressed: transient bounces,
/// deliveries and rejects suppress nothing.
pub async fn apply_ses_notification(
    store: &dyn Suppressions,
    message: &str,
    now: DateTime<Utc>,
) -> Result<usize, NotificationError> {
    let notification: Notification = serde_json::from_str(message)?;
    let kind = notification
        .event_type
        .or(notification.notification_type)
        .unwrap_or_default();
    let (reason, recipients) = match (kind.as_str(), notification.bounce, notification.complaint) {
        ("Bounce", Some(bounce), _) if bounce.bounce_type == "Permanent" => {
            (SuppressionReason::Bounce, bounce.bounced_recipients)
        }
        ("Complaint", _, Some(complaint)) => (SuppressionReason::Complaint, complaint.complained_recipients),
        _ => return Ok(0),
    };
    let shop = notification
        .mail
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("X-Aftersale-Shop"))
        .ok_or(NotificationError::NoShop)?;
    let shop = ShopId::new(shop.value.trim()).map_err(|e| NotificationError::BadShop(e.to_string()))?;
    for recipient in &recipients {
        store
            .suppress(&shop, &recipient.email_address, reason, now)
            .await?;
    }
    Ok(recipients.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aftersale_testkit::MemoryStore;

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
}
