//! Make-it-right: from the check-in's "something went wrong" to a case. A minor problem gets a
//! real code at once (created exactly once however often the form is sent), shown on the page
//! and emailed; a major one alerts support with the order, its items and the customer's words;
//! the order's review request waits until the case is resolved.

mod support;

use aftersale_domain::{Flow, MessageStatus, OrderId};
use aftersale_engine::cases;
use aftersale_engine::feedback::{LinkResponse, Method};
use aftersale_rewards::{CustomerEligibility, DiscountValue, OneCustomer};
use aftersale_templates::Page;
use http::StatusCode;
use support::*;

const MENU: &str = r#"
support_email = "help@demo.example"
[admin_api]
access_token_secret = "SHOPIFY_ADMIN_TOKEN"
[flows.make_it_right]
response_hours = 12
[flows.make_it_right.menu]
late = { discount_percent = 10 }
damaged = { credit = "15.00" }
"#;

fn harness() -> Harness {
    Harness::running(
        std::sync::Arc::new(aftersale_testkit::MemoryStore::new()),
        &[Flow::DeliveryCheckIn, Flow::ReviewRequest, Flow::MakeItRight],
    )
}

/// Ordered, delivered, checked in; returns the "something went wrong" link, confirmed.
async fn something_went_wrong(h: &Harness) -> String {
    h.save_config(&shop(), MENU).await;
    h.place_order().await;
    h.set_clock(delivered_at() + minutes(5));
    h.deliver().await;
    assert_eq!(h.tick(delivered_at() + hours(24)).await, sent(1));
    let email = h.email(Flow::DeliveryCheckIn, "check-in");
    let problem = link_after(&email.text, "Something went wrong:");
    h.set_clock(delivered_at() + hours(30));
    let sorry = h.follow(&problem, Method::Post).await;
    let (status, page_kind, text) = page(&sorry);
    assert_eq!((status, page_kind), (StatusCode::OK, Page::DeliveryProblem));
    assert!(
        text.contains("Tell us what happened and we'll make it right.")
            && text.contains("It arrived damaged")
            && text.contains("Anything you'd like to add? (optional)"),
        "{text}"
    );
    assert!(html(&sorry).contains(&format!("action=\"/l/{}/case\"", token(&problem))));
    problem
}

async fn report(h: &Harness, link: &str, form: &str) -> LinkResponse {
    h.engine
        .report_problem(token(link), form.as_bytes(), None)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_late_parcel_gets_one_real_code_on_the_page_and_by_email_however_often_the_form_is_sent() {
    let h = harness();
    let link = something_went_wrong(&h).await;

    let first = report(&h, &link, "kind=late&comment=Two+days+after+the+promised+date").await;
    let (status, kind, text) = page(&first);
    assert_eq!((status, kind), (StatusCode::OK, Page::CaseRecorded));
    let created = h.discounts.created();
    assert_eq!(created.len(), 1, "{created:?}");
    let code = created[0].code.as_str().to_string();
    assert!(code.starts_with("SORRY-"), "{code}");
    assert_eq!(created[0].value, DiscountValue::Percentage(10.into()));
    assert_eq!(
        created[0].customers,
        CustomerEligibility::OneCustomer(OneCustomer {
            platform_id: Some(CUSTOMER.into()),
            email: Some(EMAIL.into()),
        }),
        "the code is the customer's own"
    );
    assert!(
        text.contains(&format!(
            "Here is 10% off your next order, with this code: {code}"
        )),
        "{text}"
    );
    assert!(text.contains("We've also emailed it to you."), "{text}");

    // A double submit, a reload, a second tab: the same case and code, nothing new created.
    for form in ["kind=late", "kind=damaged&comment=changed+my+mind"] {
        let again = report(&h, &link, form).await;
        assert_eq!(page(&again).2, text);
    }
    assert_eq!(h.discounts.created().len(), 1, "created exactly once");

    // The email goes on the next tick, once, with the same code.
    assert_eq!(h.tick(h.now()).await, sent(1));
    assert_eq!(h.tick(h.now()).await, sent(0));
    let email = h.email(Flow::MakeItRight, "credit");
    assert_eq!(
        email.subject,
        "John, we're sorry: here is 10% off your next order"
    );
    assert!(email.text.contains(&code), "{}", email.text);
    assert_eq!(header(&email, "X-Aftersale-Class"), Some("transactional"));
    assert_eq!(
        h.discounts.created().len(),
        1,
        "the email does not create it again"
    );

    let all = cases::list(h.store.as_ref(), &shop()).await.unwrap();
    assert_eq!(all.len(), 1);
    assert!(all[0].is_resolved(), "a code settles it");
    assert_eq!(
        all[0].comment.as_deref(),
        Some("Two days after the promised date")
    );
    assert!(
        h.alerts
            .sent()
            .iter()
            .all(|(subject, _)| !subject.contains("make it right"))
    );
}

#[tokio::test]
async fn a_missing_item_alerts_support_with_the_order_items_and_words_and_holds_the_review_request() {
    let h = harness();
    let link = something_went_wrong(&h).await;
    let reported = report(&h, &link, "kind=missing_item&comment=The+lid+was+not+in+the+box").await;
    let (_, kind, text) = page(&reported);
    assert_eq!(kind, Page::CaseRecorded);
    assert!(text.contains("will reply within 12 hours"), "{text}");
    assert!(h.discounts.created().is_empty());

    let alerts = h.alerts.sent();
    let (subject, body) = alerts.last().unwrap();
    assert_eq!(subject, "Aftersale: make it right (missing_item)");
    assert!(body.contains("order #9999"), "{body}");
    assert!(body.contains("Items: 1 x IPod Nano - 8GB"), "{body}");
    assert!(
        body.contains("In their words: \"The lid was not in the box\""),
        "{body}"
    );
    assert!(
        body.contains("They were promised a reply within 12 hours"),
        "{body}"
    );

    // The review request falls due while the case is open: it waits.
    let request = h.message(Flow::ReviewRequest, "request").await;
    h.tick(request.due_at).await;
    let waiting = h.message(Flow::ReviewRequest, "request").await;
    assert_eq!(waiting.status, MessageStatus::Planned);
    assert_eq!(waiting.reason.to_string(), "deferred: make-it-right case open");
    assert!(h.emails(Flow::ReviewRequest, "request").is_empty());

    // Support answers after two hours and resolves it; the request then goes.
    let order = OrderId::new(ORDER).unwrap();
    let opened = cases::for_order(h.store.as_ref(), &shop(), &order)
        .await
        .unwrap()
        .unwrap()
        .opened_at;
    let answered = cases::answer(h.store.as_ref(), &shop(), &order, opened + hours(2))
        .await
        .unwrap();
    assert_eq!(answered.time_to_first_response(), Some(hours(2)));
    let again = cases::answer(h.store.as_ref(), &shop(), &order, opened + hours(3)).await;
    assert!(again.unwrap_err().to_string().contains("already answered"));
    cases::resolve(h.store.as_ref(), &shop(), &order, opened + hours(4))
        .await
        .unwrap();
    h.tick(waiting.due_at).await;
    assert_eq!(h.emails(Flow::ReviewRequest, "request").len(), 1);

    let unknown = cases::resolve(h.store.as_ref(), &shop(), &OrderId::new("404").unwrap(), h.now()).await;
    assert!(
        unknown
            .unwrap_err()
            .to_string()
            .contains("no make-it-right case for order 404")
    );
}

#[tokio::test]
async fn a_bad_form_says_what_is_wrong_and_records_nothing() {
    let h = harness();
    let link = something_went_wrong(&h).await;
    let alerts_before = h.alerts.sent().len();
    let long = format!("kind=other&comment={}", "a".repeat(2001));
    for (form, says) in [
        ("", "Please choose what happened."),
        ("comment=hello", "Please choose what happened."),
        ("kind=stolen", "Please choose one of the options below."),
        (
            long.as_str(),
            "Your note is too long: please keep it under 2000 characters.",
        ),
        ("%%%", "Please choose what happened."),
    ] {
        let refused = report(&h, &link, form).await;
        let (status, kind, text) = page(&refused);
        assert_eq!(
            (status, kind),
            (StatusCode::BAD_REQUEST, Page::DeliveryProblem),
            "{form}"
        );
        assert!(text.contains(says), "{form}: {text}");
    }
    assert!(cases::list(h.store.as_ref(), &shop()).await.unwrap().is_empty());
    assert_eq!(h.alerts.sent().len(), alerts_before);

    // Only the "something went wrong" link opens a case; a forged token opens nothing.
    let email = h.email(Flow::DeliveryCheckIn, "check-in");
    let ok = link_after(&email.text, "Yes, all good:");
    assert_eq!(
        page(&report(&h, &ok, "kind=late").await).0,
        StatusCode::BAD_REQUEST
    );
    let forged = format!("{}x", link);
    assert_eq!(page(&report(&h, &forged, "kind=late").await).1, Page::Invalid);
    assert!(cases::list(h.store.as_ref(), &shop()).await.unwrap().is_empty());
}
