//! After the parcel: the delivery check-in and the review request, the 1-tap links in them,
//! and links that were tampered with or have expired.

mod support;

use aftersale_domain::{AnswerKind, Channel, CustomerId, DueBasis, Flow, MessageClass, MessageStatus};
use aftersale_engine::TickReport;
use aftersale_engine::feedback::{LinkResponse, Method};
use aftersale_links::LinkAction;
use aftersale_ports::SendError;
use aftersale_templates::Page;
use http::StatusCode;
use support::*;

use MessageStatus::{Planned, Sent, Skipped};

fn customer() -> CustomerId {
    CustomerId::new(CUSTOMER).unwrap()
}

async fn answers(h: &Harness) -> Vec<AnswerKind> {
    h.store
        .customer_answers(&shop(), &customer())
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.answer)
        .collect()
}

/// Thank-you and survey sent, then the delivery event arrives.
async fn ordered_and_delivered(h: &Harness) {
    h.place_order().await;
    assert_eq!(h.tick(order_at() + minutes(1)).await, sent(1));
    assert_eq!(h.tick(order_at() + days(3)).await, sent(1));
    h.set_clock(delivered_at() + minutes(5));
    h.deliver().await;
}

#[tokio::test]
async fn a_delivered_parcel_gets_a_check_in_a_day_later_and_a_problem_opens_the_make_it_right_form() {
    let h = Harness::new();
    ordered_and_delivered(&h).await;
    let check_in = h.message(Flow::DeliveryCheckIn, "check-in").await;
    assert_eq!(
        (
            check_in.due_at,
            check_in.due_basis,
            check_in.class,
            check_in.channel
        ),
        (
            delivered_at() + hours(24),
            DueBasis::Known,
            MessageClass::Transactional,
            Channel::Email
        )
    );

    h.tick(delivered_at() + hours(24) - minutes(1)).await;
    assert!(h.emails(Flow::DeliveryCheckIn, "check-in").is_empty());
    assert_eq!(h.tick(delivered_at() + hours(24)).await, sent(1));
    let email = h.email(Flow::DeliveryCheckIn, "check-in");
    assert_eq!(email.to.address, EMAIL);
    assert_eq!(email.subject, "Did everything arrive OK, John?");
    assert!(
        email
            .text
            .contains("Your order #9999 from demo.myshopify.com should have reached you."),
        "{}",
        email.text
    );
    assert_eq!(header(&email, "X-Aftersale-Class"), Some("transactional"));
    assert_eq!(header(&email, "List-Unsubscribe"), None);
    let ok = link_after(&email.text, "Yes, all good:");
    let problem = link_after(&email.text, "Something went wrong:");
    assert_eq!(
        h.actions(&[ok.clone(), problem.clone()]),
        [
            LinkAction::Delivery { ok: true },
            LinkAction::Delivery { ok: false }
        ]
    );
    assert_eq!(
        h.actions(&links(&email.html)),
        h.actions(&[ok.clone(), problem.clone()])
    );
    assert_outcome(&h.message(Flow::DeliveryCheckIn, "check-in").await, Sent, "sent");

    h.set_clock(delivered_at() + hours(30));
    // A GET (the customer's tap, or a mail scanner) only asks to confirm.
    let confirm = h.follow(&problem, Method::Get).await;
    assert_eq!(
        page(&confirm),
        (
            StatusCode::OK,
            Page::ConfirmDelivery,
            "Did your order #9999 arrive OK? Your answer: Something went wrong. Confirm, and \
             we'll tell the team: someone will get in touch with you. Tell demo.myshopify.com \
             Tapped the wrong answer? Go back to the email and tap the right one."
                .into()
        )
    );
    assert!(has_confirm_button(&confirm));
    assert!(answers(&h).await.is_empty() && h.alerts.sent().is_empty());

    // The confirm button POSTs: recorded, and the page asks what happened. Support hears
    // once, from the case the form opens (tests/make_it_right.rs), not from the answer too.
    for _ in 0..2 {
        let sorry = h.follow(&problem, Method::Post).await;
        assert_eq!(
            page(&sorry),
            (
                StatusCode::OK,
                Page::DeliveryProblem,
                "We're sorry Tell us what happened and we'll make it right. \
                 It arrived damaged Something is missing I received the wrong item It arrived late \
                 Something else Anything you'd like to add? (optional) Send to demo.myshopify.com \
                 demo.myshopify.com"
                    .into()
            )
        );
    }
    assert!(h.alerts.sent().is_empty(), "{:?}", h.alerts.sent());
    assert_eq!(answers(&h).await, [AnswerKind::Delivery { ok: false }]);

    // Changing their mind replaces the answer and alerts nobody.
    let fine = h.follow(&ok, Method::Get).await;
    assert_eq!(
        page(&fine).2,
        "Did your order #9999 arrive OK? Your answer: Yes, all good. Confirm \
         Tapped the wrong answer? Go back to the email and tap the right one."
    );
    let fine = h.follow(&ok, Method::Post).await;
    assert_eq!(
        page(&fine),
        (
            StatusCode::OK,
            Page::Answered,
            "Thank you! Your answer has been recorded. demo.myshopify.com".into()
        )
    );
    assert_eq!(answers(&h).await, [AnswerKind::Delivery { ok: true }]);
    assert!(h.alerts.sent().is_empty());
}

#[tokio::test]
async fn without_make_it_right_a_problem_alerts_support_once_however_often_it_is_confirmed() {
    let h = Harness::new();
    h.save_config(&shop(), "[flows.make_it_right]\nenabled = false\n")
        .await;
    ordered_and_delivered(&h).await;
    assert_eq!(h.tick(delivered_at() + hours(24)).await, sent(1));
    let email = h.email(Flow::DeliveryCheckIn, "check-in");
    let problem = link_after(&email.text, "Something went wrong:");
    h.set_clock(delivered_at() + hours(30));
    for _ in 0..2 {
        let sorry = h.follow(&problem, Method::Post).await;
        assert_eq!(
            page(&sorry),
            (
                StatusCode::OK,
                Page::DeliveryProblem,
                "We're sorry We've told the team; someone will get in touch with you soon. \
                 demo.myshopify.com"
                    .into()
            )
        );
    }
    let alerts = h.alerts.sent();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].0, "Aftersale: a delivery went wrong");
    assert_eq!(
        alerts[0].1,
        format!(
            "Something went wrong with the delivery: shop {SHOP}, customer {CUSTOMER} <{EMAIL}>, order #9999."
        )
    );
    assert!(!alerts[0].1.contains(ORDER), "the shop's number, not our id");
}

#[tokio::test]
async fn an_italian_check_in_answer_is_confirmed_and_thanked_in_italian_with_the_support_address() {
    let h = Harness::new();
    h.save_config(
        &shop(),
        "shop_name = \"Torrefazione Demo\"\nsupport_email = \"aiuto@demo.example\"\n",
    )
    .await;
    let mut order = fixture_json("shopify/orders_create.json");
    order["customer_locale"] = serde_json::json!("it");
    h.shopify("orders/create", &bytes(&order)).await;
    h.tick(order_at() + minutes(1)).await;
    h.tick(order_at() + days(3)).await;
    h.set_clock(delivered_at() + minutes(5));
    h.deliver().await;
    assert_eq!(h.tick(delivered_at() + hours(24)).await, sent(1));
    let email = h.email(Flow::DeliveryCheckIn, "check-in");
    let ok = link_after(&email.text, "Sì, tutto bene:");
    let problem = link_after(&email.text, "C'è stato un problema:");

    let confirm = h.follow(&problem, Method::Get).await;
    assert_eq!(
        page(&confirm).2,
        "Il tuo ordine #9999 è arrivato bene? La tua risposta: C'è stato un problema. Conferma e \
         avviseremo il team: ti ricontatteremo noi. Avvisa Torrefazione Demo Hai toccato la \
         risposta sbagliata? Torna all'email e tocca quella giusta."
    );
    assert!(html(&confirm).contains("<html lang=\"it\">"));
    let sorry = h.follow(&problem, Method::Post).await;
    assert_eq!(
        page(&sorry),
        (
            StatusCode::OK,
            Page::DeliveryProblem,
            "Ci dispiace Raccontaci cos'è successo e rimedieremo. \
             È arrivato danneggiato Manca qualcosa Ho ricevuto l'articolo sbagliato È arrivato in \
             ritardo Altro Vuoi aggiungere qualcosa? (facoltativo) Invia a Torrefazione Demo Puoi \
             anche scriverci a aiuto@demo.example. Torrefazione Demo"
                .into()
        )
    );
    assert!(html(&sorry).contains("href=\"mailto:aiuto@demo.example\""));
    assert_eq!(
        page(&h.follow(&ok, Method::Get).await).2,
        "Il tuo ordine #9999 è arrivato bene? La tua risposta: Sì, tutto bene. Conferma Hai \
         toccato la risposta sbagliata? Torna all'email e tocca quella giusta."
    );
    assert_eq!(
        page(&h.follow(&ok, Method::Post).await).2,
        "Grazie! Abbiamo registrato la tua risposta. Torrefazione Demo"
    );
}

#[tokio::test]
async fn a_fulfilment_estimates_the_check_in_and_the_delivery_event_reschedules_it() {
    let h = Harness::new();
    h.place_order().await;
    h.tick(order_at() + minutes(1)).await;
    // Fulfilled (pending, no carrier status) at the order's time: arrival estimated 4 days on.
    h.set_clock(order_at() + hours(2));
    h.shopify(
        "fulfillments/create",
        &fixture("shopify/fulfillments_create.json"),
    )
    .await;
    let estimated_arrival = order_at() + days(4);
    let check_in = h.message(Flow::DeliveryCheckIn, "check-in").await;
    assert_eq!(
        (check_in.due_at, check_in.due_basis),
        (estimated_arrival + hours(24), DueBasis::Estimated)
    );
    let request = h.message(Flow::ReviewRequest, "request").await;
    assert_eq!(
        (request.due_at, request.due_basis),
        (estimated_arrival + days(14), DueBasis::Estimated)
    );

    // The carrier reports delivery earlier than estimated: known times replace the estimates.
    h.set_clock(delivered_at() + minutes(5));
    h.deliver().await;
    h.deliver().await; // a second delivery event changes nothing more
    let check_in = h.message(Flow::DeliveryCheckIn, "check-in").await;
    assert_eq!(
        (check_in.due_at, check_in.due_basis, check_in.status),
        (delivered_at() + hours(24), DueBasis::Known, Planned)
    );
    let request = h.message(Flow::ReviewRequest, "request").await;
    assert_eq!(
        (request.due_at, request.due_basis),
        (delivered_at() + days(14), DueBasis::Known)
    );
    let reminder = h.message(Flow::ReviewRequest, "reminder").await;
    assert_eq!(
        (reminder.due_at, reminder.due_basis),
        (delivered_at() + days(19), DueBasis::Known)
    );

    h.tick(order_at() + days(3)).await; // the survey
    assert_eq!(h.tick(delivered_at() + hours(24)).await, sent(1));
    assert_eq!(h.emails(Flow::DeliveryCheckIn, "check-in").len(), 1);
    assert_eq!(h.tick(estimated_arrival + hours(24)).await, idle());
    assert_eq!(h.emails(Flow::DeliveryCheckIn, "check-in").len(), 1);
}

#[tokio::test]
async fn a_completed_woocommerce_order_gets_a_check_in_after_the_configured_transit_time() {
    let h = Harness::new();
    h.save_config(&woo_shop(), "[flows.delivery_check_in]\ntransit_days = 3\n")
        .await;
    h.set_clock(woo_order_at());
    h.woo("order.created", &fixture("woocommerce/order_created.json"))
        .await;
    h.woo("order.updated", &fixture("woocommerce/order_updated.json"))
        .await;
    let completed = at("2017-03-22T19:30:35Z");
    let check_in = h.message(Flow::DeliveryCheckIn, "check-in").await;
    assert_eq!(check_in.shop, woo_shop());
    assert_eq!(
        (check_in.due_at, check_in.due_basis),
        (completed + days(3) + hours(24), DueBasis::Estimated)
    );
    h.tick(woo_order_at() + minutes(5)).await;
    h.tick(woo_order_at() + days(3)).await;
    assert_eq!(h.tick(completed + days(4)).await, sent(1));
    let email = h.email(Flow::DeliveryCheckIn, "check-in");
    assert_eq!(
        (email.to.address.as_str(), email.subject.as_str()),
        (WOO_EMAIL, "Did everything arrive OK, John?")
    );
}

const REVIEW_CONFIG: &str = r#"
[flows.review_request]
delay_days = 10
review_url = "https://reviews.example/{shop}/p/{product_id}?variant={variant_id}&sku={sku}"
"#;
const REVIEW_URL: &str =
    "https://reviews.example/demo.myshopify.com/p/632910392?variant=808950810&sku=IPOD2008PINK";

/// A shop with 10-day reviews; the order delivered and its check-in sent.
async fn reviews_due_in_ten_days() -> Harness {
    let h = Harness::new();
    h.save_config(&shop(), REVIEW_CONFIG).await;
    ordered_and_delivered(&h).await;
    assert_eq!(h.tick(delivered_at() + hours(24)).await, sent(1));
    h
}

fn request_due() -> chrono::DateTime<chrono::Utc> {
    delivered_at() + days(10)
}

/// Sends the request and returns its five star links.
async fn send_request(h: &Harness) -> Vec<String> {
    h.tick(request_due() - minutes(1)).await;
    assert!(h.emails(Flow::ReviewRequest, "request").is_empty());
    assert_eq!(h.tick(request_due()).await, sent(1));
    let email = h.email(Flow::ReviewRequest, "request");
    let stars: Vec<String> = links(&email.text).into_iter().take(5).collect();
    let expected: Vec<LinkAction> = (1..=5)
        .map(|stars| LinkAction::Rating {
            product_id: PRODUCT.into(),
            stars,
        })
        .collect();
    assert_eq!(h.actions(&stars), expected);
    stars
}

#[tokio::test]
async fn a_review_request_goes_out_n_days_after_delivery_and_five_stars_open_the_review_page() {
    let h = reviews_due_in_ten_days().await;
    let request = h.message(Flow::ReviewRequest, "request").await;
    assert_eq!(
        (request.due_at, request.class, request.due_basis),
        (request_due(), MessageClass::Service, DueBasis::Known)
    );
    assert_eq!(request.products.len(), 1, "both lines are the same product");
    let product = &request.products[0];
    assert_eq!(
        (
            product.product_id.as_str(),
            product.variant_id.as_deref(),
            product.sku.as_deref(),
            product.title.as_str()
        ),
        (
            PRODUCT,
            Some("808950810"),
            Some("IPOD2008PINK"),
            "IPod Nano - 8GB"
        )
    );
    assert_eq!(
        h.message(Flow::ReviewRequest, "reminder").await.due_at,
        request_due() + days(5)
    );

    let stars = send_request(&h).await;
    let email = h.email(Flow::ReviewRequest, "request");
    assert_eq!(email.to.address, EMAIL);
    assert_eq!(email.subject, "John, how are you finding the IPod Nano - 8GB?");
    assert_eq!(
        header(&email, "List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );
    assert_eq!(header(&email, "X-Aftersale-Class"), None);
    assert_eq!(
        h.claims(&list_unsubscribe(&email)).action,
        LinkAction::Unsubscribe
    );
    assert!(
        email
            .text
            .contains(&format!("Or write a few words: {REVIEW_URL}")),
        "{}",
        email.text
    );
    assert!(
        email.html.contains(&REVIEW_URL.replace('&', "&amp;")),
        "{}",
        email.html
    );

    h.set_clock(request_due() + hours(3));
    let confirm = h.follow(&stars[4], Method::Get).await;
    assert_eq!(
        page(&confirm),
        (
            StatusCode::OK,
            Page::ConfirmRating,
            "How would you rate IPod Nano - 8GB? You chose ★★★★★ 5 out of 5 stars. Send my rating \
             Tapped the wrong star? Go back to the email and tap the right one."
                .into()
        )
    );
    assert!(has_confirm_button(&confirm));
    assert!(answers(&h).await.is_empty(), "a GET records nothing");
    assert_eq!(
        h.follow(&stars[4], Method::Post).await,
        LinkResponse::Redirect(REVIEW_URL.into())
    );
    assert_eq!(
        answers(&h).await,
        [AnswerKind::Rating {
            product_id: PRODUCT.into(),
            stars: 5
        }]
    );
    assert!(h.alerts.sent().is_empty(), "a happy customer alerts nobody");

    // Every product rated: the reminder has nothing left to ask.
    assert_eq!(
        h.tick(request_due() + days(5)).await,
        TickReport { skipped: 1, ..idle() }
    );
    assert_outcome(
        &h.message(Flow::ReviewRequest, "reminder").await,
        Skipped,
        "skipped: already reviewed",
    );
    assert_eq!(h.emails(Flow::ReviewRequest, "reminder").len(), 0);
}

#[tokio::test]
async fn a_low_rating_alerts_support_and_still_offers_the_review_page() {
    let h = reviews_due_in_ten_days().await;
    let stars = send_request(&h).await;
    h.set_clock(request_due() + hours(3));
    let confirm = h.follow(&stars[1], Method::Get).await;
    assert_eq!(
        page(&confirm).2,
        "How would you rate IPod Nano - 8GB? You chose ★★☆☆☆ 2 out of 5 stars. Send my rating \
         Tapped the wrong star? Go back to the email and tap the right one."
    );
    assert!(h.alerts.sent().is_empty(), "a GET alerts nobody");
    for _ in 0..2 {
        let response = h.follow(&stars[1], Method::Post).await;
        assert_eq!(
            page(&response),
            (
                StatusCode::OK,
                Page::RatingLow,
                "We're sorry Thank you for your rating of IPod Nano - 8GB. We've told the team; \
                 someone will get in touch with you soon. Would you share a few words with other \
                 customers? Write a review demo.myshopify.com"
                    .into()
            )
        );
        // Never gate reviews: the page links to the review form it promises.
        assert!(
            html(&response).contains(&format!("href=\"{}\"", REVIEW_URL.replace('&', "&amp;"))),
            "{}",
            html(&response)
        );
    }
    let alerts = h.alerts.sent();
    assert_eq!(alerts.len(), 1, "the same tap twice alerts once: {alerts:?}");
    assert_eq!(alerts[0].0, "Aftersale: a low rating");
    assert_eq!(
        alerts[0].1,
        format!(
            "2/5 stars for \"IPod Nano - 8GB\" (product {PRODUCT}) from shop {SHOP}, customer {CUSTOMER} <{EMAIL}>, order #9999."
        )
    );
    assert_eq!(
        answers(&h).await,
        [AnswerKind::Rating {
            product_id: PRODUCT.into(),
            stars: 2
        }]
    );

    h.tick(request_due() + days(5)).await;
    assert_outcome(
        &h.message(Flow::ReviewRequest, "reminder").await,
        Skipped,
        "skipped: already reviewed",
    );
}

#[tokio::test]
async fn an_unanswered_request_gets_one_reminder_never_in_the_same_tick_when_catching_up() {
    let h = reviews_due_in_ten_days().await;
    // No tick ran for days: both the request and its reminder are overdue.
    let back = request_due() + days(6);
    assert_eq!(
        h.tick(back).await,
        TickReport {
            sent: 1,
            deferred: 1,
            ..idle()
        }
    );
    assert_eq!(h.emails(Flow::ReviewRequest, "request").len(), 1);
    assert!(h.emails(Flow::ReviewRequest, "reminder").is_empty());
    let reminder = h.message(Flow::ReviewRequest, "reminder").await;
    assert_outcome(&reminder, Planned, "deferred: waiting after the request");
    assert_eq!(reminder.due_at, back + days(5));

    assert_eq!(h.tick(back + days(5) - minutes(1)).await, idle());
    assert_eq!(h.tick(back + days(5)).await, sent(1));
    let email = h.email(Flow::ReviewRequest, "reminder");
    assert_eq!(email.subject, "John, a quick word about the IPod Nano - 8GB?");
    assert_eq!(
        header(&email, "List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );
    assert_outcome(&h.message(Flow::ReviewRequest, "reminder").await, Sent, "sent");
    assert_eq!(h.tick(back + days(60)).await, idle());
    assert_eq!(h.emails(Flow::ReviewRequest, "request").len(), 1);
    assert_eq!(h.emails(Flow::ReviewRequest, "reminder").len(), 1);
}

#[tokio::test]
async fn a_reminder_waits_for_a_request_that_is_being_retried() {
    let h = reviews_due_in_ten_days().await;
    // Catching up, and the provider throttles the request: it will be retried in 10 minutes.
    let back = request_due() + days(6);
    h.mailer.fail_next(SendError::Transient("throttled".into()));
    h.tick(back).await;
    assert_outcome(
        &h.message(Flow::ReviewRequest, "request").await,
        Planned,
        "retrying: throttled",
    );
    let reminder = h.message(Flow::ReviewRequest, "reminder").await;
    assert_eq!(
        reminder.status, Planned,
        "the reminder must wait for its request, not give up: {reminder:#?}"
    );

    assert_eq!(h.tick(back + minutes(10)).await, sent(1));
    assert_eq!(h.emails(Flow::ReviewRequest, "request").len(), 1);
    h.tick(back + minutes(10) + days(5)).await;
    assert_outcome(&h.message(Flow::ReviewRequest, "reminder").await, Sent, "sent");
    assert_eq!(h.emails(Flow::ReviewRequest, "reminder").len(), 1);
}

/// One character of a token changed at `index`.
fn tampered(url: &str, index: usize) -> String {
    let token = token(url);
    let mut chars: Vec<char> = token.chars().collect();
    chars[index] = if chars[index] == 'A' { 'B' } else { 'A' };
    let edited: String = chars.into_iter().collect();
    format!("{LINK_BASE}/l/{edited}")
}

const FORGED: &str =
    "This link is not valid Please use the link exactly as it appears in the original message.";

#[tokio::test]
async fn tampered_and_expired_links_get_a_clear_page_and_change_nothing() {
    let h = Harness::new();
    h.place_order().await;
    h.tick(order_at() + minutes(1)).await;
    let survey_sent = order_at() + days(3);
    assert_eq!(h.tick(survey_sent).await, sent(1));
    let survey = h.email(Flow::ThankYou, "feedback");
    let csat_1 = links(&survey.text)[0].clone();
    assert_eq!(h.claims(&csat_1).action, LinkAction::Csat { score: 1 });
    let unsubscribe = list_unsubscribe(&survey);

    // One character changed, in the claims or in the signature.
    let dot = token(&csat_1).find('.').unwrap();
    for index in [5, dot + 3] {
        for method in [Method::Get, Method::Post] {
            let response = h.follow(&tampered(&csat_1, index), method).await;
            assert_eq!(
                page(&response),
                (StatusCode::BAD_REQUEST, Page::Invalid, FORGED.into()),
                "index {index}"
            );
        }
    }
    let response = h.follow(&tampered(&unsubscribe, 5), Method::Post).await;
    assert_eq!(
        page(&response),
        (StatusCode::BAD_REQUEST, Page::Invalid, FORGED.into())
    );
    // Cut short (a mail client wrapped the line): damaged, and said so in the visitor's language.
    let cut = format!("{LINK_BASE}/l/{}", &token(&csat_1)[..dot]);
    assert_eq!(
        page(&h.follow(&cut, Method::Get).await).2,
        "This link is not valid This link is incomplete or damaged. Please open it again from the original message."
    );
    assert_eq!(
        page(&h.follow_in(&cut, Method::Get, "it-IT,it;q=0.9,en;q=0.5").await).2,
        "Questo link non è valido Questo link è incompleto o danneggiato. Aprilo di nuovo dal messaggio originale."
    );
    assert!(answers(&h).await.is_empty());
    assert!(h.alerts.sent().is_empty(), "a forged CSAT 1 alerts nobody");
    assert_eq!(h.store.suppression(&shop(), EMAIL).await.unwrap(), None);

    // Links work for 60 days from sending; then the page names the shop to write to.
    h.set_clock(survey_sent + days(60));
    for (url, method) in [
        (&csat_1, Method::Post),
        (&unsubscribe, Method::Post),
        (&csat_1, Method::Get),
    ] {
        let response = h.follow(url, method).await;
        assert_eq!(
            page(&response),
            (
                StatusCode::GONE,
                Page::Expired,
                "This link has expired If you still want to answer, please get in touch with demo.myshopify.com."
                    .into()
            )
        );
        assert!(!has_confirm_button(&response));
    }
    assert!(answers(&h).await.is_empty());
    assert!(h.alerts.sent().is_empty());
    assert_eq!(h.store.suppression(&shop(), EMAIL).await.unwrap(), None);

    // The genuine link, in time, is answered (and a CSAT of 1 tells support).
    h.set_clock(survey_sent + days(59));
    let response = h.follow(&csat_1, Method::Post).await;
    assert_eq!(
        page(&response),
        (
            StatusCode::OK,
            Page::Answered,
            "Thank you! Your answer has been recorded. We've told the team; someone will get in \
             touch with you soon. demo.myshopify.com"
                .into()
        )
    );
    assert_eq!(answers(&h).await, [AnswerKind::Csat { score: 1 }]);
    assert_eq!(h.alerts.sent().len(), 1);
    assert_eq!(h.alerts.sent()[0].0, "Aftersale: an unhappy customer");
    assert_eq!(
        h.alerts.sent()[0].1,
        format!("CSAT 1/5 from shop {SHOP}, customer {CUSTOMER} <{EMAIL}>, order #9999.")
    );
}

#[tokio::test]
async fn an_expired_link_of_an_italian_customer_speaks_italian() {
    let h = Harness::new();
    h.save_config(&shop(), "shop_name = \"Torrefazione Demo\"\n")
        .await;
    let mut order = fixture_json("shopify/orders_create.json");
    order["customer_locale"] = serde_json::json!("it");
    h.shopify("orders/create", &bytes(&order)).await;
    h.tick(order_at() + minutes(1)).await;
    assert_eq!(h.tick(order_at() + days(3)).await, sent(1));
    let csat = links(&h.email(Flow::ThankYou, "feedback").text);
    h.set_clock(order_at() + days(63));
    assert_eq!(
        page(&h.follow(&csat[2], Method::Get).await),
        (
            StatusCode::GONE,
            Page::Expired,
            "Questo link è scaduto Se vuoi ancora rispondere, scrivi a Torrefazione Demo.".into()
        )
    );
}

/// Every signed link of the survey, the check-in and the review request.
async fn every_link_sent(h: &Harness) -> Vec<String> {
    h.mailer
        .sent()
        .iter()
        .flat_map(|email| {
            let mut all = links(&email.text);
            all.extend(links(&email.html));
            if header(email, "List-Unsubscribe").is_some() {
                all.push(list_unsubscribe(email));
            }
            all
        })
        .collect()
}

#[tokio::test]
async fn a_mail_scanner_fetching_every_link_answers_nothing_alerts_nobody_and_unsubscribes_nobody() {
    let h = reviews_due_in_ten_days().await;
    send_request(&h).await;
    let all = every_link_sent(&h).await;
    assert!(
        all.len() > 40,
        "survey, check-in and request links: {}",
        all.len()
    );
    h.set_clock(request_due() + minutes(1));
    for url in &all {
        let response = h.follow(url, Method::Get).await;
        assert!(has_confirm_button(&response), "{url}: {response:?}");
        assert_eq!(page(&response).0, StatusCode::OK);
    }
    assert!(answers(&h).await.is_empty());
    assert!(h.alerts.sent().is_empty(), "{:?}", h.alerts.sent());
    assert_eq!(h.store.suppression(&shop(), EMAIL).await.unwrap(), None);
}

const REDACT: &str = r#"{"shop_id": 1, "shop_domain": "demo.myshopify.com", "customer": {"id": 115310627314723954, "email": "john@example.com", "phone": null}, "orders_to_redact": [820982911946154508]}"#;

#[tokio::test]
async fn after_customers_redact_old_links_get_a_neutral_page_and_change_nothing() {
    old_links_after_customers_redact(Harness::new()).await;
}

#[tokio::test]
async fn after_customers_redact_old_links_change_nothing_on_the_sqlite_store() {
    old_links_after_customers_redact(Harness::sqlite()).await;
}

async fn old_links_after_customers_redact(h: Harness) {
    h.save_config(&shop(), "locale = \"it\"\nshop_name = \"Torrefazione Demo\"\n")
        .await;
    h.place_order().await;
    h.tick(order_at() + minutes(1)).await;
    assert_eq!(h.tick(order_at() + days(3)).await, sent(1));
    let survey = h.email(Flow::ThankYou, "feedback");
    let csat_1 = links(&survey.text)[0].clone();
    let unsubscribe = list_unsubscribe(&survey);
    h.shopify("customers/redact", REDACT.as_bytes()).await;

    h.set_clock(order_at() + days(4));
    let neutral = "Questo link non è più attivo Qui non c'è più nulla a cui rispondere. Se ti serve \
                   qualcosa, scrivi a Torrefazione Demo.";
    for (url, method) in [
        (&csat_1, Method::Get),
        (&csat_1, Method::Post),
        (&unsubscribe, Method::Get),
        (&unsubscribe, Method::Post),
    ] {
        let response = h.follow(url, method).await;
        assert_eq!(
            page(&response),
            (StatusCode::GONE, Page::Unavailable, neutral.into()),
            "{method:?}"
        );
        assert!(!has_confirm_button(&response));
    }
    // In the shop's language: the customer's own is erased with them.
    h.save_config(&shop(), "shop_name = \"Torrefazione Demo\"\n")
        .await;
    assert_eq!(
        page(&h.follow(&csat_1, Method::Post).await).2,
        "This link no longer works There is nothing to answer here any more. If you need \
         anything, please get in touch with Torrefazione Demo."
    );
    assert!(answers(&h).await.is_empty(), "no answer for an erased customer");
    assert!(h.alerts.sent().is_empty());
    assert_eq!(h.store.suppression(&shop(), EMAIL).await.unwrap(), None);
}

#[tokio::test]
async fn a_one_star_rating_in_italian_offers_the_review_page_too() {
    let h = Harness::new();
    h.save_config(
        &shop(),
        &format!("shop_name = \"Torrefazione Demo\"\n{REVIEW_CONFIG}"),
    )
    .await;
    let mut order = fixture_json("shopify/orders_create.json");
    order["customer_locale"] = serde_json::json!("it");
    h.shopify("orders/create", &bytes(&order)).await;
    h.tick(order_at() + minutes(1)).await;
    h.tick(order_at() + days(3)).await;
    h.set_clock(delivered_at() + minutes(5));
    h.deliver().await;
    h.tick(delivered_at() + hours(24)).await;
    let stars = send_request(&h).await;
    h.set_clock(request_due() + hours(1));

    let confirm = h.follow(&stars[0], Method::Get).await;
    assert_eq!(
        page(&confirm),
        (
            StatusCode::OK,
            Page::ConfirmRating,
            "Come valuti IPod Nano - 8GB? Hai scelto ★☆☆☆☆ 1 stella su 5. Invia la valutazione \
             Hai toccato la stella sbagliata? Torna all'email e tocca quella giusta."
                .into()
        )
    );
    let rated = h.follow(&stars[0], Method::Post).await;
    assert_eq!(
        page(&rated),
        (
            StatusCode::OK,
            Page::RatingLow,
            "Ci dispiace Grazie per la tua valutazione di IPod Nano - 8GB. Abbiamo avvisato il \
             team: ti contatteremo presto. Ti va di lasciare due righe per gli altri clienti? \
             Scrivi una recensione Torrefazione Demo"
                .into()
        )
    );
    assert!(
        html(&rated).contains(&format!("href=\"{}\"", REVIEW_URL.replace('&', "&amp;"))),
        "{}",
        html(&rated)
    );
    assert_eq!(h.alerts.sent().len(), 1);
    assert!(
        h.alerts.sent()[0]
            .1
            .starts_with("1/5 stars for \"IPod Nano - 8GB\"")
    );
}

/// A double click on the confirm button sends two POSTs at once. Many at once, on the SQLite
/// store on two threads, still alert support exactly once. (The interleaving is not forced:
/// that a racing loser's conditional write fails is the store contract's `save_document`
/// test; this one checks the end-to-end result when the requests overlap.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_answers_alert_support_once() {
    let h = Harness::sqlite();
    h.place_order().await;
    h.tick(order_at() + minutes(1)).await;
    assert_eq!(h.tick(order_at() + days(3)).await, sent(1));
    let csat_1 = links(&h.email(Flow::ThankYou, "feedback").text)[0].clone();
    h.set_clock(order_at() + days(3) + hours(1));
    let posts: Vec<_> = (0..50)
        .map(|_| {
            let engine = h.engine.clone();
            let token = token(&csat_1).to_owned();
            tokio::spawn(async move { engine.follow_link(&token, Method::Post, None).await })
        })
        .collect();
    for post in posts {
        let response = post.await.unwrap().unwrap();
        assert_eq!(page(&response).1, Page::Answered);
    }
    assert_eq!(h.alerts.sent().len(), 1, "{:?}", h.alerts.sent());
    assert_eq!(answers(&h).await, [AnswerKind::Csat { score: 1 }]);

    // A different bad answer is news; the first one again is not.
    let csat_2 = links(&h.email(Flow::ThankYou, "feedback").text)[1].clone();
    h.follow(&csat_2, Method::Post).await;
    h.follow(&csat_2, Method::Post).await;
    assert_eq!(h.alerts.sent().len(), 2);
    assert!(
        h.alerts.sent()[1].1.starts_with("CSAT 2/5"),
        "{:?}",
        h.alerts.sent()
    );
    assert_eq!(answers(&h).await, [AnswerKind::Csat { score: 2 }]);
}
