use aftersale_templates::{TemplateError, Templates};
use serde_json::{Value, json};
use std::fs;
use std::path::Path;

mod common;
use common::STEPS;

const UNSUBSCRIBE: &str = "https://links.bottega-rossi.example/l/unsubscribe";
const SHOP_URL: &str = "https://bottega-rossi.example";

/// Service and marketing steps carry an unsubscribe link; transactional ones are labelled.
fn is_transactional(flow: &str, step: &str) -> bool {
    matches!(
        (flow, step),
        ("thank-you", "thank-you") | ("delivery-check-in", "check-in") | ("make-it-right", "credit")
    )
}

fn sample(templates: &Templates, flow: &str, step: &str) -> Value {
    templates
        .sample_context(flow, step)
        .unwrap_or_else(|| panic!("no sample context for {flow}/{step}"))
        .clone()
}

fn write(dir: &Path, relative: &str, source: &str) {
    let path = dir.join(relative);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, source).unwrap();
}

#[test]
fn every_builtin_step_renders_in_every_locale() {
    let templates = Templates::builtin();
    assert_eq!(templates.locales(), ["en", "it"]);
    for (flow, step) in STEPS {
        let ctx = sample(&templates, flow, step);
        for locale in templates.locales() {
            let email = templates.render_email("shop", flow, step, &locale, &ctx).unwrap();
            let at = format!("{flow}/{step} {locale}");
            assert!(!email.subject.is_empty() && !email.subject.contains('\n'), "{at}");
            assert!(email.subject.contains("Laura"), "{at}: {}", email.subject);
            assert!(email.html.starts_with("<!DOCTYPE html>"), "{at}");
            assert!(email.html.contains(&format!("<html lang=\"{locale}\">")), "{at}");
            for body in [&email.html, &email.text] {
                assert!(body.contains("Bottega Rossi"), "{at}: {body}");
                assert!(!body.contains("\n\n\n"), "{at}: stray blank lines\n{body}");
                assert_eq!(
                    body.contains("https://links.bottega-rossi.example/l/unsubscribe"),
                    !is_transactional(flow, step),
                    "{at}: unsubscribe link"
                );
            }
            assert!(!email.text.contains('<'), "{at}: markup in text\n{}", email.text);
            let sms = templates.render_sms("shop", flow, step, &locale, &ctx).unwrap();
            assert!(
                sms.chars().count() <= 320,
                "{at}: {} chars: {sms}",
                sms.chars().count()
            );
            assert!(sms.contains("Laura"), "{at}: {sms}");
        }
    }
}

#[test]
fn the_thank_you_reads_like_a_person_wrote_it() {
    let templates = Templates::builtin();
    let ctx = sample(&templates, "thank-you", "thank-you");
    let en = templates
        .render_email("shop", "thank-you", "thank-you", "en", &ctx)
        .unwrap();
    assert_eq!(en.subject, "Thanks, Laura. We're preparing your order");
    assert!(
        en.text
            .starts_with("Thanks, Laura. We're preparing your order.\n"),
        "{}",
        en.text
    );
    assert!(
        en.text.contains("- Linen apron\n- Olive wood spoon x 2\n"),
        "{}",
        en.text
    );
    assert!(
        en.text
            .contains("It should be with you around Thursday, 10 December."),
        "{}",
        en.text
    );
    assert!(
        en.text
            .contains("This is a message about your order #1001 from Bottega Rossi.")
    );
    assert!(
        en.html.contains("<li>Olive wood spoon &times; 2</li>"),
        "{}",
        en.html
    );

    let it = templates
        .render_email("shop", "thank-you", "thank-you", "it", &ctx)
        .unwrap();
    assert_eq!(it.subject, "Grazie, Laura. Stiamo preparando il tuo ordine");
    assert!(
        it.text
            .starts_with("Grazie, Laura. Stiamo preparando il tuo ordine.\n")
    );
    assert_ne!(en.text, it.text);
    assert_ne!(en.html, it.html);
}

#[test]
fn the_points_balance_line_shows_in_the_thank_you_only_when_the_context_has_points() {
    let templates = Templates::builtin();
    let mut ctx = sample(&templates, "thank-you", "thank-you");
    let without = templates
        .render_email("shop", "thank-you", "thank-you", "en", &ctx)
        .unwrap();
    assert!(!without.text.contains("points"), "{}", without.text);
    assert!(!without.html.contains("points"), "{}", without.html);

    ctx["points"] = json!({ "available": 120, "pending": 388, "balance": 508, "url": "https://links.bottega-rossi.example/l/points" });
    let en = templates
        .render_email("shop", "thank-you", "thank-you", "en", &ctx)
        .unwrap();
    assert!(
        en.text.contains(
            "It should be with you around Thursday, 10 December.\n\nYou have 120 points to spend, and 388 more on their way. \
             Turn them into a discount: https://links.bottega-rossi.example/l/points\n\nIf you have a question"
        ),
        "{}",
        en.text
    );
    assert!(
        en.html.contains(
            "<p>You have <strong>120</strong> points to spend, and 388 more on their way. \
             <a href=\"https://links.bottega-rossi.example/l/points\">Turn them into a discount</a></p>"
        ),
        "{}",
        en.html
    );
    let it = templates
        .render_email("shop", "thank-you", "thank-you", "it", &ctx)
        .unwrap();
    assert!(
        it.text.contains(
            "Hai 120 punti da spendere, e altri 388 in arrivo. Trasformali in uno sconto: \
             https://links.bottega-rossi.example/l/points\n\nSe hai una domanda"
        ),
        "{}",
        it.text
    );
    assert!(
        it.html
            .contains("<p>Hai <strong>120</strong> punti da spendere, e altri 388 in arrivo."),
        "{}",
        it.html
    );

    // Nothing pending and no rewards to link to: the figure alone.
    ctx["points"] = json!({ "available": 40, "pending": 0, "balance": 40, "url": null });
    let plain = templates
        .render_email("shop", "thank-you", "thank-you", "en", &ctx)
        .unwrap();
    assert!(
        plain
            .text
            .contains("\n\nYou have 40 points to spend.\n\nIf you have a question"),
        "{}",
        plain.text
    );
    assert!(!plain.text.contains("\n\n\n"), "{}", plain.text);
}

#[test]
fn optional_fields_may_be_absent() {
    let templates = Templates::builtin();
    let mut ctx = sample(&templates, "thank-you", "thank-you");
    ctx["order"]
        .as_object_mut()
        .unwrap()
        .remove("expected_delivery_at");
    ctx["order"].as_object_mut().unwrap().remove("name");
    ctx["customer"]["first_name"] = json!("");
    ctx["shop"].as_object_mut().unwrap().remove("support_email");
    let email = templates
        .render_email("shop", "thank-you", "thank-you", "en", &ctx)
        .unwrap();
    assert_eq!(email.subject, "Thank you! We're preparing your order");
    assert!(!email.text.contains("around"), "{}", email.text);
    assert!(email.text.contains("about your order from Bottega Rossi."));
    let mut feedback = sample(&templates, "thank-you", "feedback");
    feedback["shop"].as_object_mut().unwrap().remove("support_email");
    let sms = templates
        .render_sms("shop", "thank-you", "feedback", "it", &feedback)
        .unwrap();
    assert!(sms.ends_with("Speriamo che ti piaccia!"), "{sms}");
}

#[test]
fn a_missing_required_variable_is_an_error_not_a_blank() {
    let templates = Templates::builtin();
    let mut ctx = sample(&templates, "thank-you", "thank-you");
    ctx.as_object_mut().unwrap().remove("shop");
    let err = templates
        .render_email("shop", "thank-you", "thank-you", "en", &ctx)
        .unwrap_err();
    assert!(matches!(err, TemplateError::Render { .. }), "{err}");
    assert!(err.to_string().contains("thank-you/thank-you.en."), "{err}");
}

#[test]
fn feedback_links_are_in_score_order() {
    let templates = Templates::builtin();
    let ctx = sample(&templates, "thank-you", "feedback");
    let email = templates
        .render_email("shop", "thank-you", "feedback", "en", &ctx)
        .unwrap();
    let html = &email.html;
    for (score, link) in [("1", "csat-1"), ("5", "csat-5"), ("0", "nps-0"), ("10", "nps-10")] {
        let url = format!("https://links.bottega-rossi.example/l/{link}");
        assert!(html.contains(&format!(r#"href="{url}""#)), "{score}");
    }
    for (label, link) in [
        ("1 - not happy", "csat-1"),
        ("3 - it's OK", "csat-3"),
        ("5 - very happy", "csat-5"),
        ("0 - not at all", "nps-0"),
        ("7", "nps-7"),
        ("10 - absolutely", "nps-10"),
    ] {
        let line = format!("\n{label}: https://links.bottega-rossi.example/l/{link}\n");
        assert!(email.text.contains(&line), "{label}\n{}", email.text);
    }
}

#[test]
fn review_request_offers_stars_for_at_most_three_products() {
    let templates = Templates::builtin();
    let mut ctx = sample(&templates, "review-request", "request");
    let product = ctx["products"][0].clone();
    ctx["products"] = json!([product, product, product, product]);
    for step in ["request", "reminder"] {
        let email = templates
            .render_email("shop", "review-request", step, "en", &ctx)
            .unwrap();
        assert_eq!(email.text.matches("5 stars: ").count(), 3, "{step}");
        // Outline stars: nothing looks chosen before the customer taps.
        assert_eq!(email.html.matches("&#9734;</a>").count(), 15, "{step}");
        assert!(!email.html.contains("&#9733;"), "{step}");
    }
    let single = sample(&templates, "review-request", "request");
    let mut single_ctx = single.clone();
    single_ctx["products"] = json!([single["products"][0]]);
    let email = templates
        .render_email("shop", "review-request", "request", "en", &single_ctx)
        .unwrap();
    assert_eq!(email.subject, "Laura, how are you finding the Linen apron?");
}

#[test]
fn html_escapes_untrusted_names_and_plain_parts_do_not() {
    let templates = Templates::builtin();
    let mut ctx = sample(&templates, "thank-you", "thank-you");
    ctx["customer"]["first_name"] = json!("<script>alert(1)</script>");
    ctx["order"]["items"][0]["title"] = json!("Tom & Jerry <b>mug</b>");
    let email = templates
        .render_email("shop", "thank-you", "thank-you", "en", &ctx)
        .unwrap();
    assert!(!email.html.contains("<script>"), "{}", email.html);
    assert!(email.html.contains("&lt;script&gt;"));
    assert!(
        email.html.contains("Tom &amp; Jerry &lt;b&gt;mug&lt;/b&gt;"),
        "{}",
        email.html
    );
    assert!(email.text.contains("Tom & Jerry <b>mug</b>"));
    assert!(email.subject.contains("<script>"));
}

#[test]
fn locale_falls_back_to_language_then_english() {
    let templates = Templates::builtin();
    let ctx = sample(&templates, "thank-you", "thank-you");
    let render = |locale| {
        templates
            .render_email("shop", "thank-you", "thank-you", locale, &ctx)
            .unwrap()
            .subject
    };
    assert_eq!(render("it-IT"), render("it"));
    assert_eq!(render("it_CH"), render("it"));
    assert_eq!(render("de-DE"), render("en"));
    assert_eq!(render(""), render("en"));
    assert_ne!(render("it"), render("en"));
}

#[test]
fn unknown_messages_are_errors() {
    let templates = Templates::builtin();
    let err = templates
        .render_email("shop", "thank-you", "nope", "en", &json!({}))
        .unwrap_err();
    assert!(matches!(err, TemplateError::UnknownMessage { .. }), "{err}");
}

#[test]
fn a_shop_override_wins_only_for_that_shop() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "thank-you/thank-you.it.subject.j2",
        "Grazie di cuore, {{ customer.first_name }}!",
    );
    write(
        dir.path(),
        "shops/bottega/thank-you/thank-you.it.subject.j2",
        "{{ customer.first_name }}, il tuo ordine è in buone mani",
    );
    write(dir.path(), "README.md", "notes for the merchant: ignored");
    let templates = Templates::builtin().with_overrides(dir.path()).unwrap();
    let ctx = sample(&templates, "thank-you", "thank-you");
    let subject = |shop, locale| {
        templates
            .render_email(shop, "thank-you", "thank-you", locale, &ctx)
            .unwrap()
            .subject
    };
    assert_eq!(
        subject("bottega", "it-IT"),
        "Laura, il tuo ordine è in buone mani"
    );
    assert_eq!(subject("other", "it"), "Grazie di cuore, Laura!");
    // Only the subject is overridden: the body stays the built-in Italian one.
    let email = templates
        .render_email("bottega", "thank-you", "thank-you", "it", &ctx)
        .unwrap();
    assert!(email.text.starts_with("Grazie, Laura. Stiamo preparando"));
    // English customers keep the built-in English.
    assert_eq!(
        subject("bottega", "en"),
        "Thanks, Laura. We're preparing your order"
    );
}

#[test]
fn an_override_can_add_a_locale_and_extend_the_layout() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "shops/bottega/delivery-check-in/check-in.de.subject.j2",
        "Ist alles gut angekommen, {{ customer.first_name }}?",
    );
    write(
        dir.path(),
        "shops/bottega/delivery-check-in/check-in.de.html.j2",
        "{% extends \"layout.html.j2\" %}{% block lang %}de{% endblock %}\
         {% block content %}<p>Hallo {{ customer.first_name }}</p>\
         <a href=\"{{ links.delivered_ok }}\">Ja</a>{% endblock %}",
    );
    write(
        dir.path(),
        "shops/bottega/delivery-check-in/check-in.de.text.j2",
        "Hallo {{ customer.first_name }}\nJa: {{ links.delivered_ok }}",
    );
    let templates = Templates::builtin().with_overrides(dir.path()).unwrap();
    let mut ctx = sample(&templates, "delivery-check-in", "check-in");
    ctx["customer"]["first_name"] = json!("<Jörg>");
    let email = templates
        .render_email("bottega", "delivery-check-in", "check-in", "de-AT", &ctx)
        .unwrap();
    assert_eq!(email.subject, "Ist alles gut angekommen, <Jörg>?");
    assert!(email.html.contains("<html lang=\"de\">") && email.html.contains("Hallo &lt;Jörg&gt;"));
    // SMS has no German override: English.
    let sms = templates
        .render_sms("bottega", "delivery-check-in", "check-in", "de", &ctx)
        .unwrap();
    assert!(sms.starts_with("Hi <Jörg>"), "{sms}");
}

fn load_error(files: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    for (path, source) in files {
        write(dir.path(), path, source);
    }
    match Templates::builtin().with_overrides(dir.path()) {
        Ok(_) => panic!("{files:?} loaded"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn broken_overrides_are_refused_naming_the_file_and_line() {
    let err = load_error(&[(
        "thank-you/feedback.en.html.j2",
        "<p>Hello</p>\n{% if customer.first_name %}\n<p>{{ customer.first_name }</p>",
    )]);
    assert!(
        err.contains("thank-you/feedback.en.html.j2 line 3: syntax error"),
        "{err}"
    );

    let err = load_error(&[(
        "shops/bottega/thank-you/thank-you.en.text.j2",
        "Hi {{ customer.first_name }},\nthanks from {{ shop.nmae }}",
    )]);
    assert!(
        err.contains("shops/bottega/thank-you/thank-you.en.text.j2 line 2: undefined value"),
        "{err}"
    );
}

#[test]
fn overrides_that_would_never_apply_are_refused() {
    let err = load_error(&[("thank-yuo/thank-you.en.html.j2", "Hi")]);
    assert!(
        err.contains(
            "thank-yuo: unknown flow 'thank-yuo'; known flows: care-guide, checkout-recovery, cross-sell, delivery-check-in, "
        ),
        "{err}"
    );
    for (path, expected) in [
        (
            "thank-you/thankyou.en.html.j2",
            "unknown step 'thankyou' of thank-you; known steps: feedback, thank-you",
        ),
        ("thank-you/thank-you.en.body.j2", "unknown part 'body'"),
        ("thank-you/thank-you.html.j2", "expected a name like"),
        ("thank-you/thank-you.e n.html.j2", "is not a locale"),
        ("thank-you.en.html.j2", "templates belong in a flow folder"),
        (
            "shops/bottega/thank-you.en.html.j2",
            "templates belong in a flow folder",
        ),
    ] {
        let err = load_error(&[(path, "Hi")]);
        assert!(err.contains(path) && err.contains(expected), "{path}: {err}");
    }
    let err = load_error(&[
        ("thank-you/thank-you.it-IT.subject.j2", "Ciao"),
        ("thank-you/thank-you.it-it.text.j2", "Ciao"),
        ("thank-you/thank-you.it-it.subject.j2", "Ciao"),
    ]);
    assert!(err.contains("another file already overrides"), "{err}");
}

#[test]
fn service_overrides_must_keep_the_unsubscribe_link() {
    let err = load_error(&[(
        "thank-you/feedback.en.text.j2",
        "How did we do? {{ links.csat[4] }}",
    )]);
    assert!(
        err.contains("feedback.en.text.j2: this message must show {{ links.unsubscribe }}"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "thank-you/feedback.en.text.j2",
        "Rate us: {{ links.csat[4] }}\nStop: {{ links.unsubscribe }}",
    );
    write(dir.path(), "thank-you/feedback.en.subject.j2", "How did we do?");
    write(
        dir.path(),
        "thank-you/thank-you.en.text.j2",
        "Thanks from {{ shop.name }}",
    );
    assert!(Templates::builtin().with_overrides(dir.path()).is_ok());
}

#[test]
fn a_new_locale_needs_every_email_part() {
    let err = load_error(&[("thank-you/thank-you.de.html.j2", "<p>Hallo</p>")]);
    assert!(
        err.contains("thank-you.de.html.j2") && err.contains("missing: subject, text"),
        "{err}"
    );
    // A shop may complete a locale that the global overrides start.
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "thank-you/thank-you.de.subject.j2", "Danke");
    write(dir.path(), "thank-you/thank-you.de.html.j2", "<p>Danke</p>");
    write(dir.path(), "thank-you/thank-you.de.text.j2", "Danke");
    write(
        dir.path(),
        "shops/b/thank-you/thank-you.de.text.j2",
        "Vielen Dank",
    );
    write(dir.path(), "thank-you/thank-you.de.sms.j2", "Danke");
    assert!(Templates::builtin().with_overrides(dir.path()).is_ok());
}

#[test]
fn a_missing_override_directory_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let err = Templates::builtin().with_overrides(&missing).err().unwrap();
    assert!(matches!(err, TemplateError::Io { .. }), "{err}");
    assert!(err.to_string().contains("nope"), "{err}");
}

/// Marketing steps, with what their text must show and what their SMS must show, given the
/// sample context.
const MARKETING: [(&str, &str, &[&str], &[&str]); 15] = [
    (
        "replenishment",
        "reminder",
        &[
            "Olive oil soap x 2",
            "Thursday, 10 December",
            "https://bottega-rossi.example/cart/40123456789:2",
            "Olive wood soap dish",
            "https://bottega-rossi.example/products/olive-wood-soap-dish",
        ],
        &["Olive oil soap", "Thursday, 10 December"],
    ),
    (
        "replenishment",
        "follow-up",
        &[
            "Olive oil soap",
            "Thursday, 10 December",
            "(2)",
            "https://bottega-rossi.example/cart/40123456789:2",
            "Olive wood soap dish",
            "https://bottega-rossi.example/products/olive-wood-soap-dish",
        ],
        &["Olive oil soap"],
    ),
    ("win-back", "value", &[SHOP_URL], &[]),
    (
        "win-back",
        "offer",
        &["10%", "COMEBACK-K7M2P9QX4R", "Monday, 14 December"],
        &["10%", "COMEBACK-K7M2P9QX4R", "Monday, 14 December"],
    ),
    (
        "win-back",
        "social-proof",
        &["Linen apron", "Olive wood spoon", "37"],
        &["37"],
    ),
    (
        "win-back",
        "last-call",
        &["10%", "COMEBACK-K7M2P9QX4R", "Monday, 14 December"],
        &["10%", "COMEBACK-K7M2P9QX4R", "Monday, 14 December"],
    ),
    ("vip", "tier-entered", &["Gold"], &["Gold"]),
    ("vip", "birthday", &["Gold"], &[]),
    ("vip", "anniversary", &["2 ", "Gold"], &["2 "]),
    (
        "early-access",
        "you-first",
        &[
            "Winter collection",
            "Friday, 4 December at 09:00 CET",
            "Gold",
            "woven in small batches.\n\nThe scarves are the ones we're proudest of.\nSee you soon!",
        ],
        &["Winter collection", "Friday, 4 December at 09:00 CET"],
    ),
    (
        "referral",
        "share",
        &["FRIEND-K7M2P9QX4R", "10%", "€50.00"],
        &["FRIEND-K7M2P9QX4R", "10%", "€50.00"],
    ),
    (
        "referral",
        "reward",
        &["THANKS-H3N8D2KQ5T", "15%", "Monday, 1 March", "Marco"],
        &["THANKS-H3N8D2KQ5T", "15%", "Monday, 1 March"],
    ),
    (
        "checkout-recovery",
        "reminder",
        &[
            "Linen apron",
            "€58.00",
            "https://bottega-rossi.example/548380009/checkouts/123123123/recover?key=example-secret-token",
        ],
        &["https://bottega-rossi.example/548380009/checkouts/123123123/recover?key=example-secret-token"],
    ),
    (
        "checkout-recovery",
        "second-reminder",
        &[
            "CART-K7M2P9QX4R",
            "10%",
            "Tuesday, 8 December",
            "Olive wood spoon",
        ],
        &["CART-K7M2P9QX4R", "10%", "/recover?key=example-secret-token"],
    ),
    (
        "cross-sell",
        "suggest",
        &[
            "Olive oil soap",
            "Olive wood soap dish",
            "https://bottega-rossi.example/cart/40123456790:1",
            "10%",
            "ADD-K7M2P9QX4R",
            "Monday, 14 December",
        ],
        &["Olive oil soap", "Olive wood soap dish", "ADD-K7M2P9QX4R"],
    ),
];

/// What every marketing message must do, whatever its context: a visible unsubscribe link in
/// both bodies, a one-line subject, and a short SMS without signed links.
fn assert_marketing_message(
    templates: &Templates,
    flow: &str,
    step: &str,
    locale: &str,
    ctx: &Value,
) -> (String, String) {
    let at = format!("{flow}/{step} {locale}");
    let email = templates
        .render_email("shop", flow, step, locale, ctx)
        .unwrap_or_else(|err| panic!("{at}: {err}"));
    assert!(!email.subject.is_empty() && !email.subject.contains('\n'), "{at}");
    assert!(
        email.html.contains(&format!("href=\"{UNSUBSCRIBE}\"")),
        "{at}: unsubscribe link\n{}",
        email.html
    );
    assert!(
        email.text.contains(UNSUBSCRIBE),
        "{at}: unsubscribe link\n{}",
        email.text
    );
    for body in [&email.html, &email.text] {
        assert!(!body.contains("\n\n\n"), "{at}: stray blank lines\n{body}");
    }
    assert!(!email.text.contains('<'), "{at}: markup in text\n{}", email.text);
    let sms = templates
        .render_sms("shop", flow, step, locale, ctx)
        .unwrap_or_else(|err| panic!("{at}: {err}"));
    let chars = sms.chars().count();
    assert!(chars < 320, "{at}: {chars} chars: {sms}");
    assert!(!sms.contains("/l/"), "{at}: signed link in SMS: {sms}");
    (email.text, sms)
}

/// The sample's dates as each locale writes them (the samples' zone is Europe/Rome).
const SAMPLE_DATES: [(&str, &str); 5] = [
    ("Thursday, 10 December", "giovedì 10 dicembre"),
    ("Monday, 14 December", "lunedì 14 dicembre"),
    (
        "Friday, 4 December at 09:00 CET",
        "venerdì 4 dicembre, ore 09:00 CET",
    ),
    ("Monday, 1 March", "lunedì 1° marzo"),
    ("Tuesday, 8 December", "martedì 8 dicembre"),
];

/// `value` as the locale shows it: sample dates are translated, everything else is the same.
fn in_locale(value: &str, locale: &str) -> String {
    match SAMPLE_DATES.iter().find(|(en, _)| *en == value) {
        Some((_, it)) if locale == "it" => (*it).to_owned(),
        _ => value.to_owned(),
    }
}

#[test]
fn marketing_steps_render_with_their_key_values() {
    let templates = Templates::builtin();
    for (flow, step, text_values, sms_values) in MARKETING {
        let ctx = sample(&templates, flow, step);
        assert_eq!(ctx["shop"]["url"], SHOP_URL, "{flow}/{step}");
        for locale in templates.locales() {
            let at = format!("{flow}/{step} {locale}");
            let (text, sms) = assert_marketing_message(&templates, flow, step, &locale, &ctx);
            for value in text_values.iter().map(|v| in_locale(v, &locale)) {
                assert!(text.contains(&value), "{at}: no {value:?} in\n{text}");
            }
            for value in sms_values.iter().map(|v| in_locale(v, &locale)) {
                assert!(sms.contains(&value), "{at}: no {value:?} in {sms}");
            }
            assert!(sms.contains(SHOP_URL) || flow == "vip", "{at}: {sms}");
        }
    }
}

#[test]
fn win_back_renders_for_every_incentive() {
    let templates = Templates::builtin();
    let incentives = [
        json!({ "incentive": "none" }),
        json!({ "incentive": "early_access", "offer_expires_at": "2026-12-14T22:59:59Z" }),
        json!({ "incentive": "points", "points": "200", "offer_expires_at": "2026-12-14T22:59:59Z" }),
        json!({
            "incentive": "discount",
            "discount_percent": "10",
            "offer_code": "COMEBACK-K7M2P9QX4R",
            "offer_expires_at": "2026-12-14T22:59:59Z",
        }),
    ];
    for step in ["value", "offer", "social-proof", "last-call"] {
        for details in &incentives {
            let mut ctx = sample(&templates, "win-back", step);
            let repeat_buyers = ctx["details"]["repeat_buyers"].clone();
            ctx["details"] = details.clone();
            if !repeat_buyers.is_null() {
                ctx["details"]["repeat_buyers"] = repeat_buyers;
            }
            let incentive = details["incentive"].as_str().unwrap();
            for locale in templates.locales() {
                let at = format!("win-back/{step} {locale} {incentive}");
                let (text, sms) = assert_marketing_message(&templates, "win-back", step, &locale, &ctx);
                let offers = matches!(step, "offer" | "last-call");
                // The value step sells nothing, whatever the incentive.
                let shows_offer = offers || step == "social-proof";
                match incentive {
                    "discount" => {
                        assert_eq!(text.contains("COMEBACK-K7M2P9QX4R"), shows_offer, "{at}\n{text}");
                        assert_eq!(sms.contains("COMEBACK-K7M2P9QX4R"), offers, "{at}: {sms}");
                    }
                    "points" => assert_eq!(text.contains("200"), shows_offer, "{at}\n{text}"),
                    _ => {}
                }
                // Social proof's P.S. dates a discount or points when it is given a date.
                let expiry = offers && incentive != "none";
                let dated_ps = step == "social-proof" && matches!(incentive, "discount" | "points");
                let expires = in_locale("Monday, 14 December", &locale);
                assert_eq!(text.contains(&expires), expiry || dated_ps, "{at}\n{text}");
                assert_eq!(sms.contains(&expires), expiry, "{at}: {sms}");
            }
        }
    }
}

#[test]
fn optional_marketing_fields_may_be_absent() {
    let templates = Templates::builtin();
    let without = |flow: &str, step: &str, fields: &[&str]| {
        let mut ctx = sample(&templates, flow, step);
        for field in fields {
            let (parent, key) = field.rsplit_once('/').unwrap_or(("", field));
            let parent = if parent.is_empty() {
                &mut ctx
            } else {
                ctx.pointer_mut(parent).unwrap()
            };
            parent.as_object_mut().unwrap().remove(key);
        }
        ctx["customer"]["first_name"] = json!("");
        ctx["shop"].as_object_mut().unwrap().remove("support_email");
        ctx
    };
    let render = |flow: &str, step: &str, ctx: &Value| {
        let mut parts = Vec::new();
        for locale in templates.locales() {
            let (text, sms) = assert_marketing_message(&templates, flow, step, &locale, ctx);
            let subject = templates
                .render_email("shop", flow, step, &locale, ctx)
                .unwrap()
                .subject;
            parts.extend([subject, text, sms]);
        }
        parts.join("\n")
    };

    for step in ["reminder", "follow-up"] {
        let all = render(
            "replenishment",
            step,
            &without(
                "replenishment",
                step,
                &["/details/complement_title", "/details/complement_url"],
            ),
        );
        assert!(!all.contains("soap dish") && !all.contains("Laura"), "{all}");
        let unlinked = render(
            "replenishment",
            step,
            &without("replenishment", step, &["/details/complement_url"]),
        );
        assert!(
            unlinked.contains("Olive wood soap dish") && !unlinked.contains("/products/"),
            "{unlinked}"
        );
    }

    let no_products = render(
        "win-back",
        "social-proof",
        &without("win-back", "social-proof", &["products"]),
    );
    assert!(
        !no_products.contains("37"),
        "the number needs its products\n{no_products}"
    );
    let no_number = render(
        "win-back",
        "social-proof",
        &without("win-back", "social-proof", &["/details/repeat_buyers"]),
    );
    assert!(
        no_number.contains("Linen apron") && !no_number.contains("good company"),
        "{no_number}"
    );

    let no_minimum = render(
        "referral",
        "share",
        &without("referral", "share", &["/details/friend_minimum"]),
    );
    assert!(
        no_minimum.contains("FRIEND-K7M2P9QX4R") && !no_minimum.contains('€'),
        "{no_minimum}"
    );
    let no_friend = render(
        "referral",
        "reward",
        &without("referral", "reward", &["/details/friend_first_name"]),
    );
    assert!(
        no_friend.contains("A friend of yours") && !no_friend.contains("Marco"),
        "{no_friend}"
    );

    for (step, fields) in [
        ("birthday", &["details"][..]),
        ("birthday", &["/details/tier"][..]),
        ("anniversary", &["/details/tier"][..]),
    ] {
        let all = render("vip", step, &without("vip", step, fields));
        assert!(!all.contains("Gold"), "vip/{step}\n{all}");
    }
    let untiered = render(
        "early-access",
        "you-first",
        &without("early-access", "you-first", &["/details/tier"]),
    );
    assert!(
        !untiered.contains("Gold") && untiered.contains("Winter collection"),
        "{untiered}"
    );
}

#[test]
fn the_merchant_message_keeps_its_lines_and_is_escaped() {
    let templates = Templates::builtin();
    let mut ctx = sample(&templates, "early-access", "you-first");
    ctx["details"]["message"] = json!("Wool & <b>linen</b>\r\nSee you soon!");
    let email = templates
        .render_email("shop", "early-access", "you-first", "it", &ctx)
        .unwrap();
    assert!(
        email
            .html
            .contains(">Wool &amp; &lt;b&gt;linen&lt;/b&gt;<br>See you soon!</p>"),
        "{}",
        email.html
    );
    assert!(
        email.text.contains("Wool & <b>linen</b>\r\nSee you soon!"),
        "{}",
        email.text
    );
}

#[test]
fn a_marketing_step_missing_a_required_variable_is_an_error() {
    let templates = Templates::builtin();
    let cases: [(&str, &str, &str); 8] = [
        ("referral", "share", "/details/code"),
        ("referral", "reward", "/details/reward_expires_at"),
        ("win-back", "offer", "/details/offer_code"),
        ("win-back", "value", "/details/incentive"),
        ("replenishment", "reminder", "/products"),
        ("vip", "anniversary", "/details/years"),
        ("early-access", "you-first", "/details/message"),
        ("vip", "tier-entered", "/shop/name"),
    ];
    for (flow, step, pointer) in cases {
        let mut ctx = sample(&templates, flow, step);
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let parent = if parent.is_empty() {
            &mut ctx
        } else {
            ctx.pointer_mut(parent).unwrap()
        };
        parent.as_object_mut().unwrap().remove(key).unwrap();
        for locale in templates.locales() {
            let at = format!("{flow}/{step} {locale} without {pointer}");
            let err = templates
                .render_email("shop", flow, step, &locale, &ctx)
                .expect_err(&at);
            assert!(matches!(err, TemplateError::Render { .. }), "{at}: {err}");
            assert!(
                err.to_string().contains(&format!("{flow}/{step}.{locale}.")),
                "{at}: {err}"
            );
        }
    }
    // The SMS prints the code too.
    let mut ctx = sample(&templates, "referral", "share");
    ctx["details"].as_object_mut().unwrap().remove("code");
    let err = templates
        .render_sms("shop", "referral", "share", "en", &ctx)
        .unwrap_err();
    assert!(err.to_string().contains("referral/share.en.sms.j2"), "{err}");
}

#[test]
fn marketing_overrides_are_checked_against_their_sample() {
    let err = load_error(&[("referral/share.en.text.j2", "Your code: {{ details.code }}")]);
    assert!(
        err.contains("share.en.text.j2: this message must show {{ links.unsubscribe }}"),
        "{err}"
    );
    let err = load_error(&[(
        "shops/bottega/win-back/offer.it.sms.j2",
        "Codice {{ details.offer_cod }}",
    )]);
    assert!(err.contains("offer.it.sms.j2 line 1: undefined value"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "shops/bottega/referral/share.en.text.j2",
        "Give {{ details.code }} to a friend.\nStop: {{ links.unsubscribe }}",
    );
    let templates = Templates::builtin().with_overrides(dir.path()).unwrap();
    let ctx = sample(&templates, "referral", "share");
    let email = templates
        .render_email("bottega", "referral", "share", "en", &ctx)
        .unwrap();
    assert!(email.text.starts_with("Give FRIEND-K7M2P9QX4R to a friend."));
}

/// An SMS has no buttons: the check-in's question is answered by writing to the shop's
/// support address (which `config check` requires for an SMS check-in).
#[test]
fn the_sms_check_in_says_where_to_write_in_both_languages() {
    let templates = Templates::builtin();
    let ctx = sample(&templates, "delivery-check-in", "check-in");
    let support = ctx["shop"]["support_email"]
        .as_str()
        .expect("the sample has a support address")
        .to_string();
    let en = templates
        .render_sms("shop", "delivery-check-in", "check-in", "en", &ctx)
        .unwrap();
    assert!(
        en.contains("did everything arrive OK?") && en.contains(&format!("If not, write to {support}")),
        "{en}"
    );
    let it = templates
        .render_sms("shop", "delivery-check-in", "check-in", "it", &ctx)
        .unwrap();
    assert!(it.contains(&format!("Se no, scrivici a {support}")), "{it}");
}
