//! SES, SNS and SSM adapters on moto, checked through what moto recorded.

use crate::support::{moto, unique};
use aftersale_aws::{SecretError, SesMailer, SnsAlerts, SnsEventBus, SnsSms, SsmSecrets};
use aftersale_domain::{Customer, CustomerId, EventId, EventKind, OrderId, Platform, ShopId, StoreEvent};
use aftersale_ports::{
    EventBus, Mailbox, Mailer, OutgoingEmail, OutgoingSms, SendError, SmsKind, SmsSender, SupportAlerts,
};
use aws_sdk_ssm::types::ParameterType;
use chrono::Utc;
use serde_json::Value;

fn email(from: &str, subject: &str) -> OutgoingEmail {
    OutgoingEmail {
        from: Mailbox::named("Bottega", from),
        to: Mailbox::new("laura@example.com"),
        subject: subject.into(),
        html: "<p>Com'è andata?</p>".into(),
        text: "Com'è andata?".into(),
        headers: vec![
            (
                "List-Unsubscribe".into(),
                "<https://feedback.example/u?t=signed>".into(),
            ),
            (
                "List-Unsubscribe-Post".into(),
                "List-Unsubscribe=One-Click".into(),
            ),
        ],
        configuration_set: Some("aftersale".into()),
    }
}

/// moto's records of one model, e.g. `("ses", "RawMessage")`.
fn records<'a>(data: &'a Value, service: &str, model: &str) -> &'a [Value] {
    data[service][model]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

#[tokio::test]
async fn ses_sends_a_raw_mime_message_with_both_parts_and_custom_headers() {
    let config = moto().sdk_config().await;
    let sender = format!("{}@shop.example", unique("hello"));
    aws_sdk_sesv2::Client::new(&config)
        .create_email_identity()
        .email_identity(&sender)
        .send()
        .await
        .unwrap();

    let subject = unique("Thank you");
    let sent = SesMailer::from_config(&config)
        .send_email(&email(&sender, &subject))
        .await
        .unwrap();

    let data = moto().data().await;
    let message = records(&data, "ses", "RawMessage")
        .iter()
        .find(|m| m["id"] == sent.0.as_str())
        .unwrap_or_else(|| panic!("message {sent} not recorded by moto"));
    assert_eq!(message["source"], sender.as_str());
    let raw = message["raw_data"].as_str().unwrap();
    assert!(
        raw.contains("List-Unsubscribe: <https://feedback.example/u?t=signed>"),
        "{raw}"
    );
    assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    assert!(raw.contains(&format!("Subject: {subject}")));
    assert!(raw.contains("multipart/alternative") && raw.contains("text/plain") && raw.contains("text/html"));
}

#[tokio::test]
async fn ses_refusing_an_unverified_sender_is_a_permanent_error_without_the_address() {
    let config = moto().sdk_config().await;
    let sender = format!("{}@unverified.example", unique("nobody"));
    let err = SesMailer::from_config(&config)
        .send_email(&email(&sender, "hi"))
        .await
        .unwrap_err();
    let SendError::Permanent(detail) = &err else {
        panic!("expected a permanent error, got {err:?}");
    };
    assert!(detail.contains("MessageRejected"), "{detail}");
    assert!(
        !detail.contains(&sender),
        "addresses never reach error text: {detail}"
    );
}

#[tokio::test]
async fn sns_sends_sms_to_e164_numbers_and_refuses_others() {
    let config = moto().sdk_config().await;
    let sms = SnsSms::from_config(&config);
    let body = unique("Your parcel is out for delivery");
    let sent = sms
        .send_sms(&OutgoingSms {
            to: "+393331234567".into(),
            body: body.clone(),
            kind: SmsKind::Transactional,
        })
        .await
        .unwrap();

    let data = moto().data().await;
    let recorded = records(&data, "sns", "SMS")
        .iter()
        .find(|m| m["message_id"] == sent.0.as_str())
        .unwrap_or_else(|| panic!("SMS {sent} not recorded by moto"));
    assert_eq!(recorded["phone_number"], "+393331234567");
    assert_eq!(recorded["message"], body.as_str());

    let national = OutgoingSms {
        to: "3331234567".into(),
        body: unique("never sent"),
        kind: SmsKind::Promotional,
    };
    assert!(sms.send_sms(&national).await.unwrap_err().is_permanent());
    let data = moto().data().await;
    assert!(
        records(&data, "sns", "SMS")
            .iter()
            .all(|m| m["message"] != national.body.as_str())
    );
}

#[tokio::test]
async fn support_alerts_reach_the_topic() {
    let config = moto().sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&config);
    let topic = sns
        .create_topic()
        .name(unique("support"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let body = unique("3 dead letters pending");
    SnsAlerts::new(sns.clone(), &topic)
        .alert("Dead letters\npending", &body)
        .await
        .unwrap();

    let data = moto().data().await;
    let sent = records(&data, "sns", "Topic")
        .iter()
        .find(|t| t["arn"] == topic.as_str())
        .and_then(|t| t["sent_notifications"].as_array())
        .expect("the topic records its notifications");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0][1], body.as_str());
    assert_eq!(sent[0][2], "Dead letters pending");
}

#[tokio::test]
async fn events_are_published_with_attributes_that_filter_policies_route_on() {
    let config = moto().sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let topic = sns
        .create_topic()
        .name(unique("events"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let queue = sqs
        .create_queue()
        .queue_name(unique("review-request"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .unwrap();
    // What a flow's subscription in template.yaml looks like.
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .attributes(
            "FilterPolicy",
            r#"{"kind": ["order_deleted"], "platform": ["woocommerce"]}"#,
        )
        .send()
        .await
        .unwrap();

    let shop = ShopId::new("bottega.example").unwrap();
    let event = |id: &str, kind: EventKind| StoreEvent {
        origin: Default::default(),
        shop: shop.clone(),
        platform: Platform::Woocommerce,
        event_id: EventId::new(id).unwrap(),
        occurred_at: Utc::now(),
        kind,
    };
    let wanted = event(
        "e1",
        EventKind::OrderDeleted {
            order_id: OrderId::new("1001").unwrap(),
        },
    );
    let filtered_out = event(
        "e2",
        EventKind::CustomerUpdated(Customer::bare(CustomerId::new("7").unwrap())),
    );
    let bus = SnsEventBus::new(sns, &topic);
    bus.publish(&wanted).await.unwrap();
    bus.publish(&filtered_out).await.unwrap();

    let received = sqs
        .receive_message()
        .queue_url(&queue)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(
        received.len(),
        1,
        "the filter policy lets only order_deleted through"
    );
    let envelope: Value = serde_json::from_str(received[0].body().unwrap()).unwrap();
    let attributes = &envelope["MessageAttributes"];
    assert_eq!(attributes["kind"]["Value"], "order_deleted");
    assert_eq!(attributes["platform"]["Value"], "woocommerce");
    assert_eq!(attributes["shop"]["Value"], "bottega.example");
    let published: StoreEvent = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(published, wanted);
}

#[tokio::test]
async fn ssm_secure_strings_are_read_decrypted() {
    let config = moto().sdk_config().await;
    let name = format!("/aftersale/test/{}", unique("shopify-secret"));
    aws_sdk_ssm::Client::new(&config)
        .put_parameter()
        .name(&name)
        .value("s3cr3t-value")
        .r#type(ParameterType::SecureString)
        // The SDK retries a put that moto was slow to answer; overwriting keeps that retry from
        // failing with ParameterAlreadyExists for a write that had already succeeded.
        .overwrite(true)
        .send()
        .await
        .unwrap();
    let secrets = SsmSecrets::from_config(&config);
    assert_eq!(secrets.read(&name).await.unwrap(), "s3cr3t-value");
    assert!(matches!(
        secrets.read(&format!("{name}-missing")).await,
        Err(SecretError::NotFound { .. })
    ));
}
