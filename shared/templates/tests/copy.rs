//! The words customers read: what a merchant reported after reading every message.

use aftersale_templates::Templates;
use serde_json::Value;

mod common;
use common::STEPS;

fn sample(templates: &Templates, flow: &str, step: &str) -> Value {
    templates.sample_context(flow, step).unwrap().clone()
}

/// Every part of every step in one locale, labelled for failure messages.
fn all_parts(templates: &Templates, locale: &str) -> Vec<(String, String)> {
    let mut parts = Vec::new();
    for (flow, step) in STEPS {
        let ctx = sample(templates, flow, step);
        let email = templates.render_email("shop", flow, step, locale, &ctx).unwrap();
        let sms = templates.render_sms("shop", flow, step, locale, &ctx).unwrap();
        let at = |part: &str| format!("{flow}/{step}.{locale}.{part}");
        parts.push((at("subject"), email.subject));
        parts.push((at("text"), email.text));
        parts.push((at("html"), email.html));
        parts.push((at("sms"), sms));
    }
    parts
}

#[test]
fn italian_orders_are_placed_on_a_shop_not_from_it() {
    let templates = Templates::builtin();
    for (at, part) in all_parts(&templates, "it") {
        // "da noi" (with us) is good Italian; "ordine da Bottega Rossi" is not.
        for wrong in ["ordine da Bottega", "#1001 da "] {
            assert!(!part.contains(wrong), "{at}: {wrong:?} in\n{part}");
        }
    }
    let ctx = sample(&templates, "thank-you", "thank-you");
    let thanks = templates
        .render_email("shop", "thank-you", "thank-you", "it", &ctx)
        .unwrap();
    assert!(
        thanks
            .text
            .ends_with("Questa email riguarda il tuo ordine #1001 effettuato su Bottega Rossi."),
        "{}",
        thanks.text
    );
    let ctx = sample(&templates, "thank-you", "feedback");
    let feedback = templates
        .render_email("shop", "thank-you", "feedback", "it", &ctx)
        .unwrap();
    assert!(
        feedback
            .text
            .contains("Ricevi questa email perché hai effettuato un ordine su Bottega Rossi."),
        "{}",
        feedback.text
    );
}

#[test]
fn the_replenishment_reminder_thanks_in_good_italian() {
    let templates = Templates::builtin();
    let ctx = sample(&templates, "replenishment", "reminder");
    let email = templates
        .render_email("shop", "replenishment", "reminder", "it", &ctx)
        .unwrap();
    assert!(
        email.text.contains("Grazie per averci scelto,\nBottega Rossi"),
        "{}",
        email.text
    );
    assert!(
        email.html.contains("Grazie per averci scelto,<br>"),
        "{}",
        email.html
    );
}

#[test]
fn the_delivery_check_in_asks_if_it_arrived_ok() {
    let templates = Templates::builtin();
    let ctx = sample(&templates, "delivery-check-in", "check-in");
    let email = templates
        .render_email("shop", "delivery-check-in", "check-in", "en", &ctx)
        .unwrap();
    assert_eq!(email.subject, "Did everything arrive OK, Laura?");
    assert!(
        email
            .text
            .contains("should have reached you. Did everything arrive OK?"),
        "{}",
        email.text
    );
    let sms = templates
        .render_sms("shop", "delivery-check-in", "check-in", "en", &ctx)
        .unwrap();
    assert!(sms.contains("did everything arrive OK?"), "{sms}");
}

/// A line that offers a link says what it is once: "Reorder soap: URL", never a sentence
/// ending in a colon followed by "Reorder soap: URL", which reads as "::" in plain text.
#[test]
fn no_link_comes_after_two_colons() {
    let templates = Templates::builtin();
    for locale in ["en", "it"] {
        for (at, part) in all_parts(&templates, locale) {
            if !at.ends_with(".text") && !at.ends_with(".sms") {
                continue;
            }
            let lines: Vec<&str> = part.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                let Some(url_at) = line.find("https://") else {
                    continue;
                };
                let before = &line[..url_at];
                // Only the sentence the link ends: an SMS is one line of several sentences.
                let sentence = before
                    .rfind(['.', '!', '?'])
                    .map_or(before, |end| &before[end + 1..]);
                assert!(sentence.matches(':').count() <= 1, "{at}: {line}");
                assert!(!before.contains("::"), "{at}: {line}");
                let previous = lines[..i].iter().rev().find(|l| !l.trim().is_empty());
                let label_line = before.trim_end().ends_with(':');
                assert!(
                    !(label_line && previous.is_some_and(|p| p.trim_end().ends_with(':'))),
                    "{at}: a colon before a colon:\n{}\n{line}",
                    previous.unwrap()
                );
            }
        }
    }
}

#[test]
fn every_tier_is_thanked_without_calling_it_the_top() {
    let templates = Templates::builtin();
    let mut ctx = sample(&templates, "vip", "tier-entered");
    ctx["details"]["tier"] = "Silver".into();
    for locale in ["en", "it"] {
        let email = templates
            .render_email("shop", "vip", "tier-entered", locale, &ctx)
            .unwrap();
        let sms = templates
            .render_sms("shop", "vip", "tier-entered", locale, &ctx)
            .unwrap();
        for part in [&email.text, &email.html, &sms] {
            for superlative in ["the most", "più di tutte", "supported"] {
                assert!(
                    !part.contains(superlative),
                    "{locale}: {superlative:?} in\n{part}"
                );
            }
        }
        let expected = match locale {
            "en" => {
                "you're now one of our Silver customers. Thank you for choosing Bottega Rossi again and again."
            }
            _ => "ora fai parte dei nostri clienti Silver. Grazie di continuare a scegliere Bottega Rossi.",
        };
        assert!(email.text.contains(expected), "{locale}\n{}", email.text);
    }
}

#[test]
fn survey_text_gives_each_answer_its_label() {
    let templates = Templates::builtin();
    let ctx = sample(&templates, "thank-you", "feedback");
    let it = templates
        .render_email("shop", "thank-you", "feedback", "it", &ctx)
        .unwrap();
    for line in [
        "Quanto ti è piaciuto il tuo ordine?\n1 - per niente: https://links.bottega-rossi.example/l/csat-1\n",
        "\n4 - molto: https://links.bottega-rossi.example/l/csat-4\n",
        "\n5 - moltissimo: https://links.bottega-rossi.example/l/csat-5\n",
        "a un amico?\n0 - per niente: https://links.bottega-rossi.example/l/nps-0\n",
        "\n10 - sicuramente: https://links.bottega-rossi.example/l/nps-10\n",
    ] {
        assert!(it.text.contains(line), "{line:?}\n{}", it.text);
    }
    // One line per answer, each with its score: 5 + 11 links, no bare URLs.
    let link_lines: Vec<&str> = it
        .text
        .lines()
        .filter(|l| l.contains("/l/csat-") || l.contains("/l/nps-"))
        .collect();
    assert_eq!(link_lines.len(), 16, "{}", it.text);
    assert!(
        link_lines.iter().all(|l| l
            .split(':')
            .next()
            .unwrap()
            .trim()
            .starts_with(|c: char| c.is_ascii_digit())),
        "{link_lines:#?}"
    );
}

#[test]
fn rating_stars_read_as_empty_until_chosen() {
    let templates = Templates::builtin();
    let ctx = sample(&templates, "review-request", "request");
    for locale in ["en", "it"] {
        for step in ["request", "reminder"] {
            let email = templates
                .render_email("shop", "review-request", step, locale, &ctx)
                .unwrap();
            // Two products, five outline stars each, and no filled star that looks like a rating.
            assert_eq!(email.html.matches(">&#9734;</a>").count(), 10, "{step} {locale}");
            assert!(
                !email.html.contains("&#9733;") && !email.html.contains('★'),
                "{step} {locale}"
            );
        }
    }
}

#[test]
fn a_complement_suggestion_reads_as_one_sentence_with_its_link() {
    let templates = Templates::builtin();
    let ctx = sample(&templates, "replenishment", "reminder");
    let en = templates
        .render_email("shop", "replenishment", "reminder", "en", &ctx)
        .unwrap();
    assert!(
        en.text.contains(
            "\nTo complete the set, you might also like the Olive wood soap dish: \
             https://bottega-rossi.example/products/olive-wood-soap-dish\n"
        ),
        "{}",
        en.text
    );
    assert!(
        en.text
            .contains("reordering takes one tap.\n\nReorder Olive oil soap: https://"),
        "{}",
        en.text
    );
}

#[test]
fn a_care_guide_names_the_item_lists_its_tips_in_order_and_links_the_full_guide() {
    let templates = Templates::builtin();
    let mut ctx = sample(&templates, "care-guide", "guide");
    let en = templates
        .render_email("shop", "care-guide", "guide", "en", &ctx)
        .unwrap();
    assert_eq!(en.subject, "Laura, how to make your Linen apron last");
    assert!(
        en.text.contains(
            "Since you chose the Linen apron, here is how to make it last. It takes a minute.\n\n\
             Keep your linen soft\n\
             1. Wash it at 40 °C, inside out\n\
             2. Dry it in the shade, never in the dryer\n\
             3. Iron it while still a little damp\n\n\
             The full guide: https://bottega-rossi.example/pages/linen-care"
        ),
        "{}",
        en.text
    );
    assert!(
        en.html
            .contains("<li style=\"margin:0 0 8px;\">Dry it in the shade, never in the dryer</li>")
    );
    assert!(
        en.html
            .contains("href=\"https://bottega-rossi.example/pages/linen-care\"")
    );
    let it = templates
        .render_email("shop", "care-guide", "guide", "it", &ctx)
        .unwrap();
    assert_eq!(it.subject, "Laura, come far durare Linen apron");
    assert!(
        it.text
            .contains("Hai scelto Linen apron: ecco come farlo durare a lungo."),
        "{}",
        it.text
    );
    assert!(
        it.text
            .contains("La guida completa: https://bottega-rossi.example/pages/linen-care")
    );

    ctx["guide"]["kind"] = "setup".into();
    let en = templates
        .render_email("shop", "care-guide", "guide", "en", &ctx)
        .unwrap();
    assert_eq!(en.subject, "Laura, getting started with your Linen apron");
    assert!(
        en.text.contains("here is how to get off to a good start."),
        "{}",
        en.text
    );
    let it = templates
        .render_email("shop", "care-guide", "guide", "it", &ctx)
        .unwrap();
    assert_eq!(it.subject, "Laura, i primi passi con Linen apron");
    let sms = templates
        .render_sms("shop", "care-guide", "guide", "it", &ctx)
        .unwrap();
    assert_eq!(
        sms,
        "Ciao Laura, siamo Bottega Rossi. Keep your linen soft, per Linen apron: https://bottega-rossi.example/pages/linen-care"
    );
}
