//! The link pages: every page renders in every built-in locale, confirmations carry a form
//! that POSTs back to the link, and a context missing what a page prints is an error.

use aftersale_templates::{Page, TemplateError, Templates};
use serde_json::json;

/// The text a visitor reads: tags and the head dropped, whitespace collapsed.
fn visible(html: &str) -> String {
    let body = html.split_once("<body>").map_or(html, |(_, body)| body);
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_confirmation(page: Page) -> bool {
    matches!(
        page,
        Page::ConfirmRating
            | Page::ConfirmCsat
            | Page::ConfirmNps
            | Page::ConfirmDelivery
            | Page::ConfirmUnsubscribe
    )
}

#[test]
fn every_page_renders_in_every_locale_from_its_sample() {
    let templates = Templates::builtin();
    for page in Page::ALL {
        let ctx = templates
            .page_sample(page)
            .unwrap_or_else(|| panic!("no sample for {page:?}"));
        for locale in templates.locales() {
            let at = format!("{page:?} {locale}");
            let html = templates
                .render_page(page, &locale, ctx)
                .unwrap_or_else(|e| panic!("{at}: {e}"));
            assert!(html.starts_with("<!DOCTYPE html>"), "{at}");
            assert!(html.contains(&format!("<html lang=\"{locale}\">")), "{at}");
            assert!(
                html.contains("<meta name=\"referrer\" content=\"no-referrer\">"),
                "{at}"
            );
            assert!(html.contains("<h1>"), "{at}: {html}");
            assert!(!html.contains("{{") && !html.contains("{%"), "{at}: {html}");
            assert_eq!(
                html.contains("<form method=\"post\">"),
                is_confirmation(page),
                "{at}: only confirmations post\n{html}"
            );
            let text = visible(&html);
            assert!(text.len() > 20, "{at}: {text}");
        }
    }
}

#[test]
fn pages_speak_the_locale_asked_for_with_fallback_to_english() {
    let templates = Templates::builtin();
    let ctx = templates.page_sample(Page::ConfirmRating).unwrap();
    let it = visible(&templates.render_page(Page::ConfirmRating, "it-IT", ctx).unwrap());
    assert_eq!(
        it,
        "Come valuti Moka Express 3 tazze? Hai scelto ★★★★☆ 4 stelle su 5. Invia la valutazione \
         Hai toccato la stella sbagliata? Torna all'email e tocca quella giusta."
    );
    let de = visible(&templates.render_page(Page::ConfirmRating, "de", ctx).unwrap());
    assert_eq!(
        de,
        "How would you rate Moka Express 3 tazze? You chose ★★★★☆ 4 out of 5 stars. Send my rating \
         Tapped the wrong star? Go back to the email and tap the right one."
    );
}

#[test]
fn untrusted_text_is_escaped() {
    let templates = Templates::builtin();
    let ctx = json!({
        "shop": { "name": "Rossi & Figli" },
        "product": { "title": "<script>alert(1)</script>" },
        "stars": 2,
        "review_url": "https://r.example/p?a=1&b=\"2\"",
    });
    let html = templates.render_page(Page::RatingLow, "en", &ctx).unwrap();
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
    assert!(html.contains("Rossi &amp; Figli"), "{html}");
    assert!(
        html.contains("href=\"https://r.example/p?a=1&amp;b=&quot;2&quot;\""),
        "{html}"
    );
}

#[test]
fn a_context_missing_what_the_page_prints_is_an_error_not_a_fallback() {
    let templates = Templates::builtin();
    let err = templates
        .render_page(
            Page::RatingLow,
            "it",
            &json!({ "shop": { "name": "Bottega Rossi" } }),
        )
        .unwrap_err();
    match &err {
        TemplateError::Render { template, .. } => {
            assert_eq!(template, "pages/rating-low.it.html.j2")
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("undefined"), "{err}");
}
