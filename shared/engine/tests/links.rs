//! After the parcel: the delivery check-in and the review request, the 1-tap links in them,
//! and links that were tampered with or have expired.

mod support;

use aftersale_domain::{AnswerKind, Channel, CustomerId, DueBasis, Flow, MessageClass, MessageStatus};
use aftersale_engine::TickReport;
use aftersale_engine::feedback::{LinkResponse, Method};
use aftersale_links::LinkAction;
use aftersale_ports::SendError;
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
async fn a_delivered_parcel_gets_a_check_in_a_day_later_and_a_problem_alerts_support() {
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
    assert_eq!(email.subject, "Did everything arrive well, John?");
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
    let sorry = h.follow(&problem, Method::Get).await;
    assert_eq!(
        page(&sorry),
        (
            StatusCode::OK,
            "We're sorry",
            "We've told the team; someone will get in touch with you soon.",
            false
        )
    );
    let alerts = h.alerts.sent();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].0, "Aftersale: a delivery went wrong");
    for needle in [SHOP, CUSTOMER, EMAIL, ORDER] {
        assert!(alerts[0].1.contains(needle), "{needle} in {}", alerts[0].1);
    }
    assert_eq!(answers(&h).await, [AnswerKind::Delivery { ok: false }]);

    // Changing their mind replaces the answer and alerts nobody.
    let fine = h.follow(&ok, Method::Get).await;
    assert_eq!(page(&fine), (StatusCode::OK, "Thank you!", "", false));
    assert_eq!(answers(&h).await, [AnswerKind::Delivery { ok: true }]);
    assert_eq!(h.alerts.sent().len(), 1);
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
        (WOO_EMAIL, "Did everything arrive well, John?")
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
    assert_eq!(
        h.follow(&stars[4], Method::Get).await,
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
    let response = h.follow(&stars[1], Method::Get).await;
    let (status, title, body, form) = page(&response);
    assert_eq!((status, title, form), (StatusCode::OK, "We're sorry", false));
    assert!(
        body.contains("We've told the team; someone will get in touch with you soon."),
        "{body}"
    );
    assert!(
        body.contains("Would you share a few words with other customers?"),
        "{body}"
    );
    assert!(
        body.lines().any(|l| l == REVIEW_URL),
        "never suppress reviews: {body}"
    );
    let alerts = h.alerts.sent();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].0, "Aftersale: a low rating");
    assert!(
        alerts[0].1.contains(&format!("2/5 stars for product {PRODUCT}")),
        "{}",
        alerts[0].1
    );
    assert!(alerts[0].1.contains(EMAIL) && alerts[0].1.contains(ORDER));
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
        let response = h.follow(&tampered(&csat_1, index), Method::Get).await;
        assert_eq!(
            page(&response),
            (
                StatusCode::BAD_REQUEST,
                "This link is not valid any more",
                "This link is not valid. Please use the link exactly as it appears in the original message.",
                false
            ),
            "index {index}"
        );
    }
    let response = h.follow(&tampered(&unsubscribe, 5), Method::Post).await;
    assert_eq!(page(&response).0, StatusCode::BAD_REQUEST);
    assert!(answers(&h).await.is_empty());
    assert!(h.alerts.sent().is_empty(), "a forged CSAT 1 alerts nobody");
    assert_eq!(h.store.suppression(&shop(), EMAIL).await.unwrap(), None);

    // Links work for 60 days from sending.
    h.set_clock(survey_sent + days(60));
    for (url, method) in [(&csat_1, Method::Get), (&unsubscribe, Method::Post)] {
        let response = h.follow(url, method).await;
        assert_eq!(
            page(&response),
            (
                StatusCode::BAD_REQUEST,
                "This link is not valid any more",
                "This link has expired. If you still want to answer, please get in touch with the shop.",
                false
            )
        );
    }
    assert!(answers(&h).await.is_empty());
    assert!(h.alerts.sent().is_empty());
    assert_eq!(h.store.suppression(&shop(), EMAIL).await.unwrap(), None);

    // The genuine link, in time, is answered (and a CSAT of 1 tells support).
    h.set_clock(survey_sent + days(59));
    let response = h.follow(&csat_1, Method::Get).await;
    assert_eq!(page(&response), (StatusCode::OK, "Thank you!", "", false));
    assert_eq!(answers(&h).await, [AnswerKind::Csat { score: 1 }]);
    assert_eq!(h.alerts.sent().len(), 1);
    assert_eq!(h.alerts.sent()[0].0, "Aftersale: an unhappy customer");
}
