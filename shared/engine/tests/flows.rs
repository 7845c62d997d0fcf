//! The thank-you flow and the sending policy, end to end: signed Shopify and WooCommerce
//! fixtures through ingest and the in-process bus, ticks on a manual clock, and what the
//! customer receives (or why not) read back from the store and the recording senders.

mod support;

use aftersale_domain::policy::SuppressionReason;
use aftersale_domain::{Channel, Flow, MessageClass, MessageStatus};
use aftersale_engine::TickReport;
use aftersale_engine::feedback::Method;
use aftersale_links::LinkAction;
use aftersale_ports::{OutgoingSms, SmsKind};
use aftersale_templates::Page;
use http::StatusCode;
use serde_json::json;
use support::*;

use MessageStatus::{Planned, Sent, Skipped};

/// Case 1, shared by the in-memory and SQLite runs.
async fn thank_you_now_and_survey_three_days_later(h: Harness) {
    h.place_order().await;
    let thank_you = h.message(Flow::ThankYou, "thank-you").await;
    assert_eq!(
        (thank_you.due_at, thank_you.class, thank_you.channel),
        (order_at(), MessageClass::Transactional, Channel::Email)
    );
    let survey = h.message(Flow::ThankYou, "feedback").await;
    assert_eq!(
        (survey.due_at, survey.class, survey.status),
        (order_at() + days(3), MessageClass::Service, Planned)
    );

    let sent_at = order_at() + minutes(1);
    assert_eq!(h.tick(sent_at).await, sent(1));
    let email = h.email(Flow::ThankYou, "thank-you");
    assert_eq!(email.to.address, EMAIL);
    assert_eq!(email.to.name.as_deref(), Some("John"));
    assert_eq!(
        (email.from.name.as_deref(), email.from.address.as_str()),
        (Some(SHOP), "hello@demo.myshopify.com")
    );
    assert_eq!(email.subject, "Thanks, John. We're preparing your order");
    assert!(
        email
            .text
            .starts_with("Thanks, John. We're preparing your order."),
        "{}",
        email.text
    );
    assert!(email.text.contains("- IPod Nano - 8GB"), "{}", email.text);
    assert!(email.text.contains("your order #9999 from demo.myshopify.com"));
    assert!(email.html.contains("<li>IPod Nano - 8GB</li>"), "{}", email.html);
    assert!(email.html.contains("lang=\"en\""));
    // Transactional: labelled so, and no unsubscribe (nor any other signed link).
    assert_eq!(header(&email, "X-Aftersale-Class"), Some("transactional"));
    assert_eq!(header(&email, "List-Unsubscribe"), None);
    assert_eq!(header(&email, "List-Unsubscribe-Post"), None);
    assert_eq!(
        header(&email, "X-Aftersale-Message"),
        Some(format!("thank-you#{ORDER}#thank-you").as_str())
    );
    assert!(links(&email.text).is_empty() && links(&email.html).is_empty());
    let thank_you = h.message(Flow::ThankYou, "thank-you").await;
    assert_outcome(&thank_you, Sent, "sent");
    assert_eq!(thank_you.to.as_deref(), Some(EMAIL));
    assert_eq!(thank_you.sent_at, Some(sent_at));
    assert_eq!(thank_you.attempts, 1);
    assert_eq!(
        thank_you.rendered_subject.as_deref(),
        Some("Thanks, John. We're preparing your order")
    );

    // Nothing more until the survey is due, then exactly the survey.
    assert_eq!(h.tick(order_at() + days(3) - minutes(1)).await, idle());
    assert_eq!(h.mailer.sent().len(), 1);
    assert_eq!(h.tick(order_at() + days(3)).await, sent(1));
    let survey = h.email(Flow::ThankYou, "feedback");
    assert_eq!(survey.to.address, EMAIL);
    assert_eq!(survey.subject, "How did we do, John?");
    assert_eq!(header(&survey, "X-Aftersale-Class"), None);
    assert_eq!(
        header(&survey, "List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );
    let unsubscribe = list_unsubscribe(&survey);
    assert!(unsubscribe.starts_with(&format!("{LINK_BASE}/l/")));
    let claims = h.claims(&unsubscribe);
    assert_eq!(claims.action, LinkAction::Unsubscribe);
    assert_eq!(
        (
            claims.shop.as_str(),
            claims.customer_id.as_str(),
            claims.message_id.as_str(),
            claims.order_id.as_deref()
        ),
        (
            SHOP,
            CUSTOMER,
            format!("thank-you#{ORDER}#feedback").as_str(),
            Some(ORDER)
        )
    );
    let mut expected: Vec<LinkAction> = (1..=5).map(|score| LinkAction::Csat { score }).collect();
    expected.extend((0..=10).map(|score| LinkAction::Nps { score }));
    expected.push(LinkAction::Unsubscribe);
    let text_links = links(&survey.text);
    assert_eq!(
        h.actions(&text_links),
        expected,
        "text part: 5 CSAT, 11 NPS, unsubscribe"
    );
    assert_eq!(
        text_links.last(),
        Some(&unsubscribe),
        "the visible link is the header's"
    );
    assert_eq!(
        h.actions(&links(&survey.html)),
        expected,
        "HTML part: the same links"
    );
    assert_outcome(&h.message(Flow::ThankYou, "feedback").await, Sent, "sent");

    // An NPS of 6 is a detractor: asked to confirm, then recorded, and support told.
    let nps_6 = text_links[5 + 6].clone();
    let confirm = h.follow(&nps_6, Method::Get).await;
    assert_eq!(
        page(&confirm),
        (
            StatusCode::OK,
            Page::ConfirmNps,
            "How likely are you to recommend demo.myshopify.com to a friend? You chose 6 out of 10 \
             (0 = not at all, 10 = absolutely). Send my answer Tapped the wrong number? Go back to \
             the email and tap the right one."
                .into()
        )
    );
    assert!(h.alerts.sent().is_empty());
    assert_eq!(
        page(&h.follow(&nps_6, Method::Post).await).2,
        "Thank you! Your answer has been recorded. We've told the team; someone will get in touch \
         with you soon. demo.myshopify.com"
    );
    let alerts = h.alerts.sent();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        alerts[0],
        (
            "Aftersale: a detractor".to_string(),
            format!("NPS 6/10 from shop {SHOP}, customer {CUSTOMER} <{EMAIL}>, order #9999.")
        )
    );

    assert_eq!(h.tick(order_at() + days(30)).await, idle());
    assert_eq!(h.mailer.sent().len(), 2);
}

#[tokio::test]
async fn a_shopify_order_gets_one_thank_you_now_and_a_survey_three_days_later() {
    thank_you_now_and_survey_three_days_later(Harness::new()).await;
}

#[tokio::test]
async fn a_shopify_order_gets_one_thank_you_and_a_survey_on_the_sqlite_store() {
    thank_you_now_and_survey_three_days_later(Harness::sqlite()).await;
}

#[tokio::test]
async fn an_italian_customer_gets_italian_messages_and_pages() {
    let h = Harness::new();
    let mut order = fixture_json("shopify/orders_create.json");
    order["customer_locale"] = json!("it");
    h.shopify("orders/create", &bytes(&order)).await;

    assert_eq!(h.tick(order_at() + minutes(1)).await, sent(1));
    let email = h.email(Flow::ThankYou, "thank-you");
    assert_eq!(email.to.address, EMAIL);
    assert_eq!(email.subject, "Grazie, John. Stiamo preparando il tuo ordine");
    assert!(
        email.text.contains("Ecco cosa stiamo impacchettando per te:"),
        "{}",
        email.text
    );
    assert!(email.html.contains("lang=\"it\""));
    assert_eq!(header(&email, "X-Aftersale-Class"), Some("transactional"));

    assert_eq!(h.tick(order_at() + days(3)).await, sent(1));
    let survey = h.email(Flow::ThankYou, "feedback");
    assert_eq!(survey.subject, "Com'è andata, John?");
    assert!(survey.text.contains("Annulla l'iscrizione"), "{}", survey.text);
    assert_eq!(
        header(&survey, "List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );
    let csat = links(&survey.text);
    assert_eq!(h.actions(&csat[..1]), [LinkAction::Csat { score: 1 }]);
    // The pages speak Italian too.
    let confirm = h.follow(&csat[4], Method::Get).await;
    assert_eq!(
        page(&confirm),
        (
            StatusCode::OK,
            Page::ConfirmCsat,
            "Quanto ti è piaciuto il tuo ordine #9999? Hai scelto 5 su 5 (1 = per niente, 5 = \
             moltissimo). Invia la risposta Hai toccato il numero sbagliato? Torna all'email e \
             tocca quello giusto."
                .into()
        )
    );
    let nps = links(&survey.text)[5 + 8].clone();
    assert_eq!(
        page(&h.follow(&nps, Method::Get).await).2,
        "Quanto è probabile che consigli demo.myshopify.com a un amico? Hai scelto 8 su 10 \
         (0 = per niente, 10 = sicuramente). Invia la risposta Hai toccato il numero sbagliato? \
         Torna all'email e tocca quello giusto."
    );
    let answered = h.follow(&csat[4], Method::Post).await;
    assert_eq!(
        page(&answered),
        (
            StatusCode::OK,
            Page::Answered,
            "Grazie! Abbiamo registrato la tua risposta. demo.myshopify.com".into()
        )
    );
    assert!(html(&answered).contains("<html lang=\"it\">"));

    let unsubscribe = list_unsubscribe(&survey);
    assert_eq!(
        page(&h.follow(&unsubscribe, Method::Get).await).2,
        "Non vuoi più ricevere email da demo.myshopify.com? Non riceverai più sondaggi, \
         richieste di recensione né offerte a questo indirizzo. Le email su un ordine che fai, \
         come la sua conferma, continueranno ad arrivarti. Annulla l'iscrizione Hai cambiato \
         idea? Chiudi pure questa pagina."
    );
    assert_eq!(
        page(&h.follow(&unsubscribe, Method::Post).await).2,
        "Iscrizione annullata Non riceverai più sondaggi, richieste di recensione né offerte da \
         demo.myshopify.com a questo indirizzo. Le email su un ordine che fai continueranno ad \
         arrivarti."
    );
}

#[tokio::test]
async fn duplicate_webhooks_and_duplicate_ticks_send_one_thank_you() {
    let h = Harness::new();
    let body = fixture("shopify/orders_create.json");
    let first = h.shopify_event("orders/create", "evt-create", &body).await;
    assert_eq!((first.stored, first.duplicates), (1, 0));
    let retry = h.shopify_event("orders/create", "evt-create", &body).await;
    assert_eq!((retry.stored, retry.duplicates), (0, 1));
    // Another event about the same order (paid) plans nothing new.
    let paid = h
        .shopify("orders/paid", &fixture("shopify/orders_paid.json"))
        .await;
    assert_eq!(paid.stored, 1);
    assert_eq!(h.messages().await.len(), 2, "thank-you and survey, once each");

    let now = order_at() + minutes(1);
    assert_eq!(h.tick(now).await, sent(1));
    assert_eq!(h.tick(now).await, idle(), "the same instant again");
    // The order delivered again after the send plans nothing again.
    h.shopify("orders/create", &body).await;
    assert_eq!(h.tick(now + minutes(1)).await, idle());
    assert_eq!(h.emails(Flow::ThankYou, "thank-you").len(), 1);
    assert_eq!(h.mailer.sent().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_ticks_at_the_same_instant_send_one_thank_you() {
    let h = Harness::new();
    h.place_order().await;
    let now = order_at() + minutes(1);
    let (a, b) = (h.engine.clone(), h.engine.clone());
    let (ra, rb) = tokio::join!(
        tokio::spawn(async move { a.tick(now).await.unwrap() }),
        tokio::spawn(async move { b.tick(now).await.unwrap() }),
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.sent + rb.sent, 1, "{ra:?} {rb:?}");
    assert_eq!(h.mailer.sent().len(), 1);
    assert_outcome(&h.message(Flow::ThankYou, "thank-you").await, Sent, "sent");
}

#[tokio::test]
async fn a_cancelled_order_gets_nothing_still_due() {
    let h = Harness::new();
    h.place_order().await;
    h.set_clock(at("2022-01-01T17:00:00Z"));
    h.shopify("orders/cancelled", &fixture("shopify/orders_cancelled.json"))
        .await;
    assert_eq!(
        h.tick(at("2022-01-01T17:01:00Z")).await,
        TickReport { skipped: 1, ..idle() }
    );
    assert_outcome(
        &h.message(Flow::ThankYou, "thank-you").await,
        Skipped,
        "skipped: cancelled",
    );
    h.tick(order_at() + days(3)).await;
    assert_outcome(
        &h.message(Flow::ThankYou, "feedback").await,
        Skipped,
        "skipped: cancelled",
    );
    assert!(h.mailer.sent().is_empty());
}

#[tokio::test]
async fn a_cancellation_after_the_thank_you_skips_the_survey() {
    let h = Harness::new();
    h.place_order().await;
    assert_eq!(h.tick(order_at() + minutes(1)).await, sent(1));
    h.set_clock(at("2022-01-01T17:00:00Z"));
    h.shopify("orders/cancelled", &fixture("shopify/orders_cancelled.json"))
        .await;
    h.tick(order_at() + days(3)).await;
    assert_eq!(
        h.outcomes().await,
        [
            ("thank-you/feedback".into(), Skipped, "skipped: cancelled".into()),
            ("thank-you/thank-you".into(), Sent, "sent".into()),
        ]
    );
    assert_eq!(h.mailer.sent().len(), 1);
}

/// `refunds/create` whose successful transactions add up to the order's 388.00.
fn full_refund() -> Vec<u8> {
    let mut refund = fixture_json("shopify/refunds_create.json");
    refund["transactions"][0]["amount"] = json!("378.00");
    refund["transactions"][1]["amount"] = json!("10.00");
    bytes(&refund)
}

#[tokio::test]
async fn a_full_refund_skips_the_survey() {
    let h = Harness::new();
    h.place_order().await;
    assert_eq!(h.tick(order_at() + minutes(1)).await, sent(1));
    h.set_clock(order_at() + days(1));
    h.shopify("refunds/create", &full_refund()).await;
    h.tick(order_at() + days(3)).await;
    assert_outcome(
        &h.message(Flow::ThankYou, "feedback").await,
        Skipped,
        "skipped: refunded",
    );
    assert_eq!(h.mailer.sent().len(), 1, "the thank-you only");
}

#[tokio::test]
async fn a_full_refund_before_the_tick_skips_the_thank_you_too() {
    let h = Harness::new();
    h.place_order().await;
    h.shopify("refunds/create", &full_refund()).await;
    h.tick(order_at() + days(3)).await;
    assert_eq!(
        h.outcomes().await,
        [
            ("thank-you/feedback".into(), Skipped, "skipped: refunded".into()),
            ("thank-you/thank-you".into(), Skipped, "skipped: refunded".into()),
        ]
    );
    assert!(h.mailer.sent().is_empty());
}

#[tokio::test]
async fn a_woocommerce_order_with_status_refunded_gets_nothing() {
    let h = Harness::new();
    h.set_clock(woo_order_at());
    let order = fixture_json("woocommerce/order_created.json");
    h.woo("order.created", &bytes(&order)).await;
    assert_eq!(h.messages().await.len(), 2);
    let mut refunded = order;
    refunded["status"] = json!("refunded");
    refunded["date_modified_gmt"] = json!("2017-03-22T20:00:00");
    h.set_clock(woo_order_at() + hours(1));
    h.woo("order.updated", &bytes(&refunded)).await;
    h.tick(woo_order_at() + hours(1)).await;
    h.tick(woo_order_at() + days(3)).await;
    assert_eq!(
        h.outcomes().await,
        [
            ("thank-you/feedback".into(), Skipped, "skipped: refunded".into()),
            ("thank-you/thank-you".into(), Skipped, "skipped: refunded".into()),
        ]
    );
    assert!(h.mailer.sent().is_empty());
}

#[tokio::test]
async fn a_partial_refund_keeps_the_flow_going() {
    let h = Harness::new();
    h.place_order().await;
    // The documented refund: 75.00 + 10.00 of 388.00.
    h.shopify("refunds/create", &fixture("shopify/refunds_create.json"))
        .await;
    assert_eq!(h.tick(order_at() + minutes(1)).await, sent(1));
    assert_eq!(h.tick(order_at() + days(3)).await, sent(1));
    assert_eq!(
        h.outcomes().await,
        [
            ("thank-you/feedback".into(), Sent, "sent".into()),
            ("thank-you/thank-you".into(), Sent, "sent".into()),
        ]
    );
}

#[tokio::test]
async fn unsubscribing_stops_service_messages_but_never_transactional_ones_and_a_get_changes_nothing() {
    let h = Harness::new();
    h.place_order().await;
    h.tick(order_at() + minutes(1)).await;
    assert_eq!(h.tick(order_at() + days(3)).await, sent(1));
    let survey = h.email(Flow::ThankYou, "feedback");
    let unsubscribe = list_unsubscribe(&survey);
    // The visible link in the footer is the same link as the header's.
    assert!(
        survey.text.contains(&format!("Unsubscribe: {unsubscribe}")),
        "{}",
        survey.text
    );

    // A GET (a mail scanner, or the customer opening the link) only shows the confirmation.
    let confirm = h.follow(&unsubscribe, Method::Get).await;
    assert_eq!(
        page(&confirm),
        (
            StatusCode::OK,
            Page::ConfirmUnsubscribe,
            "Stop emails from demo.myshopify.com? You'll no longer get surveys, review requests \
             or offers from us at this address. Emails about an order you place, such as its \
             confirmation, will still reach you. Unsubscribe Changed your mind? Just close this page."
                .into()
        )
    );
    assert!(has_confirm_button(&confirm));
    assert_eq!(h.store.suppression(&shop(), EMAIL).await.unwrap(), None);

    // The RFC 8058 one-click POST (or the button) unsubscribes (and again is harmless).
    for _ in 0..2 {
        let done = h.follow(&unsubscribe, Method::Post).await;
        assert_eq!(
            page(&done),
            (
                StatusCode::OK,
                Page::Unsubscribed,
                "You're unsubscribed You won't receive surveys, review requests or offers from \
                 demo.myshopify.com at this address any more. Emails about an order you place \
                 will still reach you."
                    .into()
            )
        );
    }
    assert_eq!(
        h.store.suppression(&shop(), EMAIL).await.unwrap(),
        Some(SuppressionReason::Unsubscribed)
    );
    // Opening the link again says it is done, with nothing left to press.
    let again = h.follow(&unsubscribe, Method::Get).await;
    assert_eq!(page(&again).1, Page::Unsubscribed);
    assert!(!has_confirm_button(&again));

    // The delivery check-in is about their order (transactional): it still goes out. The
    // review request is a service message: it does not.
    h.set_clock(delivered_at());
    h.deliver().await;
    assert_eq!(h.tick(delivered_at() + hours(24)).await, sent(1));
    assert_outcome(&h.message(Flow::DeliveryCheckIn, "check-in").await, Sent, "sent");
    h.tick(delivered_at() + days(14)).await;
    assert_outcome(
        &h.message(Flow::ReviewRequest, "request").await,
        Skipped,
        "skipped: suppressed: unsubscribed",
    );
    h.tick(delivered_at() + days(30)).await;
    assert_outcome(
        &h.message(Flow::ReviewRequest, "reminder").await,
        Skipped,
        "skipped: request not sent",
    );
    assert_eq!(h.mailer.sent().len(), 3, "thank-you, survey and check-in only");

    // The next order is thanked: an unsubscribe never stops transactional mail.
    let next_at = order_at() + days(40);
    h.set_clock(next_at);
    let mut order = fixture_json("shopify/orders_create.json");
    order["id"] = json!(820982911946154509u64);
    order["name"] = json!("#10000");
    order["created_at"] = json!(next_at.to_rfc3339());
    h.shopify("orders/create", &bytes(&order)).await;
    assert_eq!(h.tick(next_at + minutes(1)).await, sent(1));
    let thanks = h.emails(Flow::ThankYou, "thank-you");
    assert_eq!(thanks.len(), 2);
    assert_eq!(thanks[1].to.address, EMAIL);
    assert!(thanks[1].text.contains("#10000"), "{}", thanks[1].text);
    h.tick(next_at + days(3)).await;
    let surveys: Vec<_> = h
        .messages()
        .await
        .into_iter()
        .filter(|m| {
            m.flow() == Flow::ThankYou && m.step.as_str() == "feedback" && m.subject == "820982911946154509"
        })
        .collect();
    assert_eq!(surveys.len(), 1);
    assert_outcome(&surveys[0], Skipped, "skipped: suppressed: unsubscribed");
}

#[tokio::test]
async fn an_unsubscribe_stops_the_address_that_received_the_link_not_the_customers_new_one() {
    let h = Harness::new();
    h.place_order().await;
    h.tick(order_at() + minutes(1)).await;
    assert_eq!(h.tick(order_at() + days(3)).await, sent(1));
    let unsubscribe = list_unsubscribe(&h.email(Flow::ThankYou, "feedback"));

    // The customer changes their address before tapping the link sent to the old one.
    let mut update = fixture_json("shopify/customers_update.json");
    update["email"] = json!("john.new@example.com");
    h.set_clock(order_at() + days(3) + hours(1));
    h.shopify("customers/update", &bytes(&update)).await;
    h.follow(&unsubscribe, Method::Post).await;
    assert_eq!(
        h.store.suppression(&shop(), EMAIL).await.unwrap(),
        Some(SuppressionReason::Unsubscribed)
    );
    assert_eq!(
        h.store
            .suppression(&shop(), "john.new@example.com")
            .await
            .unwrap(),
        None
    );

    // The review request goes to the new address, which never unsubscribed.
    h.set_clock(delivered_at());
    h.deliver().await;
    h.tick(delivered_at() + hours(24)).await;
    h.tick(delivered_at() + days(14)).await;
    let request = h.message(Flow::ReviewRequest, "request").await;
    assert_outcome(&request, Sent, "sent");
    assert_eq!(request.to.as_deref(), Some("john.new@example.com"));
}

#[tokio::test]
async fn an_unsubscribe_never_weakens_a_bounce_on_file() {
    let h = Harness::new();
    h.place_order().await;
    h.tick(order_at() + minutes(1)).await;
    assert_eq!(h.tick(order_at() + days(3)).await, sent(1));
    let unsubscribe = list_unsubscribe(&h.email(Flow::ThankYou, "feedback"));
    h.store
        .suppress(&shop(), EMAIL, SuppressionReason::Bounce, h.now())
        .await
        .unwrap();
    assert_eq!(
        page(&h.follow(&unsubscribe, Method::Post).await).1,
        Page::Unsubscribed
    );
    assert_eq!(
        h.store.suppression(&shop(), EMAIL).await.unwrap(),
        Some(SuppressionReason::Bounce),
        "a bounce stops transactional mail too; an unsubscribe must not lift that"
    );
}

#[tokio::test]
async fn woocommerce_customers_without_consent_get_the_thank_you_but_no_survey() {
    let h = Harness::new();
    h.save_config(&woo_shop(), "[consent]\nservice_requires_consent = true\n")
        .await;
    h.set_clock(woo_order_at());
    h.woo("order.created", &fixture("woocommerce/order_created.json"))
        .await;
    assert_eq!(h.tick(woo_order_at() + minutes(1)).await, sent(1));
    let email = h.email(Flow::ThankYou, "thank-you");
    assert_eq!(
        (email.to.address.as_str(), email.to.name.as_deref()),
        (WOO_EMAIL, Some("John"))
    );
    assert_eq!(email.from.address, "hello@shop.example");
    assert_eq!(email.subject, "Thanks, John. We're preparing your order");
    assert!(email.text.contains("- Woo Single #1 x 2"), "{}", email.text);
    assert_eq!(header(&email, "X-Aftersale-Class"), Some("transactional"));

    assert_eq!(
        h.tick(woo_order_at() + days(3)).await,
        TickReport { skipped: 1, ..idle() }
    );
    let survey = h.message(Flow::ThankYou, "feedback").await;
    assert_eq!(survey.shop, woo_shop());
    assert_outcome(&survey, Skipped, "skipped: no consent");
    assert_eq!(h.mailer.sent().len(), 1);
}

#[tokio::test]
async fn a_bounced_address_is_never_written_to() {
    let h = Harness::new();
    // Stored by the normalised address: case and spaces do not matter.
    h.store
        .suppress(
            &shop(),
            " John@Example.com ",
            SuppressionReason::Bounce,
            order_at(),
        )
        .await
        .unwrap();
    h.place_order().await;
    h.tick(order_at() + minutes(1)).await;
    h.tick(order_at() + days(3)).await;
    assert_eq!(
        h.outcomes().await,
        [
            (
                "thank-you/feedback".into(),
                Skipped,
                "skipped: suppressed: bounced".into()
            ),
            (
                "thank-you/thank-you".into(),
                Skipped,
                "skipped: suppressed: bounced".into()
            ),
        ]
    );
    assert!(h.mailer.sent().is_empty());
}

#[tokio::test]
async fn an_sms_due_in_quiet_hours_waits_for_the_morning_in_the_shops_zone() {
    let h = Harness::new();
    h.save_config(
        &shop(),
        "time_zone = \"Europe/Rome\"\n[flows.thank_you]\nchannel = \"sms\"\n",
    )
    .await;
    // Placed at 23:00 in Rome; the customer has a mobile number and SMS consent.
    let mut order = fixture_json("shopify/orders_create.json");
    order["created_at"] = json!("2022-01-03T23:00:00+01:00");
    order["updated_at"] = json!("2022-01-03T23:00:00+01:00");
    order["customer"]["phone"] = json!("+393331234567");
    order["customer"]["sms_marketing_consent"] = json!({
        "state": "subscribed", "opt_in_level": "single_opt_in", "consent_updated_at": null
    });
    let placed = at("2022-01-03T22:00:00Z");
    h.set_clock(placed);
    h.shopify("orders/create", &bytes(&order)).await;
    let thank_you = h.message(Flow::ThankYou, "thank-you").await;
    assert_eq!((thank_you.channel, thank_you.due_at), (Channel::Sms, placed));

    assert_eq!(
        h.tick(placed).await,
        TickReport {
            deferred: 1,
            ..idle()
        }
    );
    let morning = at("2022-01-04T07:00:00Z"); // 08:00 in Rome
    let thank_you = h.message(Flow::ThankYou, "thank-you").await;
    assert_outcome(&thank_you, Planned, "deferred: quiet hours");
    assert_eq!(thank_you.due_at, morning);
    assert_eq!(h.tick(morning - minutes(1)).await, idle());
    assert!(h.sms.sent().is_empty());

    assert_eq!(h.tick(morning).await, sent(1));
    assert_eq!(
        h.sms.sent(),
        [OutgoingSms {
            to: "+393331234567".into(),
            body: "Thanks, John! We're preparing your demo.myshopify.com order. We'll take good care of it."
                .into(),
            kind: SmsKind::Transactional,
        }]
    );
    let thank_you = h.message(Flow::ThankYou, "thank-you").await;
    assert_outcome(&thank_you, Sent, "sent");
    assert_eq!(thank_you.to.as_deref(), Some("+393331234567"));
    assert!(h.mailer.sent().is_empty(), "the SMS channel replaces email");

    // The survey on the same channel is due at 23:00 too, and waits the same way.
    let survey_due = placed + days(3);
    h.tick(survey_due).await;
    assert_outcome(
        &h.message(Flow::ThankYou, "feedback").await,
        Planned,
        "deferred: quiet hours",
    );
    assert_eq!(h.tick(morning + days(3)).await, sent(1));
    let texts = h.sms.sent();
    assert_eq!(texts.len(), 2);
    assert_eq!(
        texts[1].body,
        "Hi John, it's demo.myshopify.com. How's your order going? We hope you love it!"
    );
}

#[tokio::test]
async fn the_same_person_ordering_in_a_shopify_and_a_woocommerce_shop_gets_one_message_per_shop() {
    let h = Harness::new();
    h.place_order().await;
    let mut woo = fixture_json("woocommerce/order_created.json");
    woo["billing"]["email"] = json!(EMAIL);
    woo["date_created_gmt"] = json!("2022-01-01T00:05:00");
    woo["date_modified_gmt"] = json!("2022-01-01T00:05:00");
    h.set_clock(order_at() + minutes(5));
    h.woo("order.created", &bytes(&woo)).await;
    h.woo("order.created", &bytes(&woo)).await; // redelivered

    let messages = h.messages().await;
    assert_eq!(messages.len(), 4);
    let shopify: Vec<_> = messages.iter().filter(|m| m.shop == shop()).collect();
    let woocommerce: Vec<_> = messages.iter().filter(|m| m.shop == woo_shop()).collect();
    assert_eq!((shopify.len(), woocommerce.len()), (2, 2));
    assert!(shopify.iter().all(|m| m.customer_id.as_str() == CUSTOMER));
    assert!(
        woocommerce
            .iter()
            .all(|m| m.order_id.as_ref().map(|o| o.as_str()) == Some(WOO_ORDER))
    );

    let now = order_at() + minutes(10);
    assert_eq!(h.tick(now).await, sent(2));
    assert_eq!(h.tick(now).await, idle());
    let mut senders: Vec<(String, String, String)> = h
        .emails(Flow::ThankYou, "thank-you")
        .into_iter()
        .map(|e| {
            (
                e.from.address,
                e.to.address,
                header_owned(&e.headers, "X-Aftersale-Message"),
            )
        })
        .collect();
    senders.sort();
    assert_eq!(
        senders,
        [
            (
                "hello@demo.myshopify.com".to_string(),
                EMAIL.to_string(),
                format!("thank-you#{ORDER}#thank-you")
            ),
            (
                "hello@shop.example".to_string(),
                EMAIL.to_string(),
                format!("thank-you#{WOO_ORDER}#thank-you")
            ),
        ]
    );

    assert_eq!(h.tick(now + days(3)).await, sent(2));
    assert_eq!(h.tick(now + days(30)).await, idle());
    assert_eq!(h.mailer.sent().len(), 4);
    assert!(
        h.messages()
            .await
            .iter()
            .all(|m| m.status == Sent && m.to.as_deref() == Some(EMAIL))
    );

    // Shops are separate tenants: unsubscribing from one leaves the other alone.
    let shopify_survey = h
        .emails(Flow::ThankYou, "feedback")
        .into_iter()
        .find(|e| e.from.address == "hello@demo.myshopify.com")
        .unwrap();
    h.follow(&list_unsubscribe(&shopify_survey), Method::Post).await;
    assert_eq!(
        h.store.suppression(&shop(), EMAIL).await.unwrap(),
        Some(SuppressionReason::Unsubscribed)
    );
    assert_eq!(h.store.suppression(&woo_shop(), EMAIL).await.unwrap(), None);
}

fn header_owned(headers: &[(String, String)], name: &str) -> String {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn an_uninstalled_shop_sends_nothing_more() {
    let h = Harness::new();
    h.place_order().await;
    h.shopify("app/uninstalled", &fixture("shopify/app_uninstalled.json"))
        .await;
    h.tick(order_at() + minutes(1)).await;
    h.tick(order_at() + days(3)).await;
    assert_eq!(
        h.outcomes().await,
        [
            (
                "thank-you/feedback".into(),
                Skipped,
                "skipped: shop uninstalled".into()
            ),
            (
                "thank-you/thank-you".into(),
                Skipped,
                "skipped: shop uninstalled".into()
            ),
        ]
    );
    assert!(h.mailer.sent().is_empty());
}

#[tokio::test]
async fn disabling_review_requests_in_the_shop_config_stops_new_and_planned_ones() {
    let h = Harness::new();
    h.place_order().await;
    h.set_clock(delivered_at());
    h.deliver().await;
    let planned: Vec<String> = h
        .messages()
        .await
        .iter()
        .filter(|m| m.flow() == Flow::ReviewRequest)
        .map(|m| m.step.to_string())
        .collect();
    assert_eq!(planned.len(), 2, "request and reminder: {planned:?}");

    h.save_config(&shop(), "[flows.review_request]\nenabled = false\n")
        .await;

    // A second order, delivered under the new config.
    let second = "820982911946154509";
    let mut order = fixture_json("shopify/orders_create.json");
    order["id"] = json!(820982911946154509u64);
    order["name"] = json!("#10000");
    h.shopify("orders/create", &bytes(&order)).await;
    let mut delivered = fixture_json("shopify/fulfillment_events_create.json");
    delivered["order_id"] = json!(820982911946154509u64);
    delivered["id"] = json!(1234568);
    h.shopify("fulfillment_events/create", &bytes(&delivered)).await;
    let mut second_steps: Vec<String> = h
        .messages()
        .await
        .iter()
        .filter(|m| m.order_id.as_ref().map(|o| o.as_str()) == Some(second))
        .map(|m| format!("{}/{}", m.flow(), m.step))
        .collect();
    second_steps.sort();
    assert_eq!(
        second_steps,
        [
            "delivery-check-in/check-in",
            "thank-you/feedback",
            "thank-you/thank-you"
        ]
    );

    h.tick(delivered_at() + days(14)).await;
    h.tick(delivered_at() + days(19)).await;
    let reviews: Vec<_> = h
        .messages()
        .await
        .into_iter()
        .filter(|m| m.flow() == Flow::ReviewRequest)
        .collect();
    assert_eq!(reviews.len(), 2);
    for review in &reviews {
        assert_eq!(review.order_id.as_ref().unwrap().as_str(), ORDER);
        assert_outcome(review, Skipped, "skipped: flow disabled");
    }
    assert!(h.emails(Flow::ReviewRequest, "request").is_empty());
    assert!(h.emails(Flow::ReviewRequest, "reminder").is_empty());
}

#[tokio::test]
async fn a_woocommerce_customer_who_never_refused_sms_gets_the_transactional_sms_thank_you() {
    let h = Harness::new();
    h.save_config(&woo_shop(), "[flows.thank_you]\nchannel = \"sms\"\n")
        .await;
    let mut order = fixture_json("woocommerce/order_created.json");
    order["billing"]["phone"] = json!("+14155552671");
    h.set_clock(woo_order_at());
    h.woo("order.created", &bytes(&order)).await;
    // 19:29 UTC, the shop's zone: outside quiet hours.
    h.tick(woo_order_at() + minutes(1)).await;
    assert_outcome(&h.message(Flow::ThankYou, "thank-you").await, Sent, "sent");
    assert_eq!(h.sms.sent().len(), 1);
    assert_eq!(h.sms.sent()[0].kind, SmsKind::Transactional);
    // The survey is a service message: by SMS it does need consent, which nobody gave.
    h.tick(woo_order_at() + days(3)).await;
    assert_outcome(
        &h.message(Flow::ThankYou, "feedback").await,
        Skipped,
        "skipped: no consent",
    );
}
