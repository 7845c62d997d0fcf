//! Dates in messages: written in the reader's language, on the reader's calendar.

use aftersale_templates::{TemplateError, Templates};
use serde_json::{Value, json};
use std::fs;

fn sample(templates: &Templates, flow: &str, step: &str) -> Value {
    templates.sample_context(flow, step).unwrap().clone()
}

/// Subject, text, HTML and SMS of a message, one string, for "shows X anywhere" checks.
fn everything(templates: &Templates, flow: &str, step: &str, locale: &str, ctx: &Value) -> String {
    let email = templates.render_email("shop", flow, step, locale, ctx).unwrap();
    let sms = templates.render_sms("shop", flow, step, locale, ctx).unwrap();
    [email.subject, email.text, email.html, sms].join("\n")
}

#[test]
fn a_run_out_date_is_the_day_on_the_customers_calendar() {
    let templates = Templates::builtin();
    let mut ctx = sample(&templates, "replenishment", "reminder");
    // 23:30 UTC on Friday 8 January is already Saturday in Rome.
    ctx["details"]["run_out_at"] = json!("2027-01-08T23:30:00Z");
    ctx["time_zone"] = json!("Europe/Rome");
    let en = templates
        .render_email("shop", "replenishment", "reminder", "en", &ctx)
        .unwrap();
    assert!(
        en.text
            .contains("you may be running low around Saturday, 9 January."),
        "{}",
        en.text
    );
    assert!(
        en.html.contains("<strong>Saturday, 9 January</strong>"),
        "{}",
        en.html
    );
    let it = templates
        .render_email("shop", "replenishment", "reminder", "it", &ctx)
        .unwrap();
    assert!(
        it.text
            .contains("potresti rimanerne senza verso sabato 9 gennaio."),
        "{}",
        it.text
    );
    let it_sms = templates
        .render_sms("shop", "replenishment", "reminder", "it", &ctx)
        .unwrap();
    assert!(it_sms.contains("verso sabato 9 gennaio."), "{it_sms}");

    // The same instant is still Friday evening in New York.
    ctx["time_zone"] = json!("America/New_York");
    let all = everything(&templates, "replenishment", "reminder", "en", &ctx);
    assert!(
        all.contains("Friday, 8 January") && !all.contains("9 January"),
        "{all}"
    );
    let all = everything(&templates, "replenishment", "reminder", "it", &ctx);
    assert!(
        all.contains("venerdì 8 gennaio") && !all.contains("9 gennaio"),
        "{all}"
    );
    assert!(!all.contains("2027-01"), "no ISO date left: {all}");
}

#[test]
fn offers_and_rewards_end_on_a_named_day_in_both_languages() {
    let templates = Templates::builtin();
    let mut offer = sample(&templates, "win-back", "last-call");
    offer["details"]["offer_expires_at"] = json!("2027-05-10T21:59:59Z");
    let en = templates
        .render_email("shop", "win-back", "last-call", "en", &offer)
        .unwrap();
    assert_eq!(en.subject, "Laura, your 10% off is here until Monday, 10 May");
    let it = templates
        .render_email("shop", "win-back", "last-call", "it", &offer)
        .unwrap();
    assert_eq!(
        it.subject,
        "Laura, il tuo sconto del 10% vale fino a lunedì 10 maggio"
    );
    assert!(
        it.text.contains("è valido fino a lunedì 10 maggio."),
        "{}",
        it.text
    );

    let mut reward = sample(&templates, "referral", "reward");
    // Midnight in Rome is still the last day of February in UTC.
    reward["details"]["reward_expires_at"] = json!("2027-02-28T23:00:00Z");
    let it = everything(&templates, "referral", "reward", "it", &reward);
    assert!(it.contains("valido fino a lunedì 1° marzo"), "{it}");
    let en = everything(&templates, "referral", "reward", "en", &reward);
    assert!(en.contains("valid until Monday, 1 March"), "{en}");
    assert!(!en.contains("28 February") && !en.contains("2027-"), "{en}");
}

#[test]
fn a_launch_time_carries_its_zone() {
    let templates = Templates::builtin();
    let mut ctx = sample(&templates, "early-access", "you-first");
    ctx["details"]["public_start_at"] = json!("2026-12-20T08:00:00Z");
    let en = templates
        .render_email("shop", "early-access", "you-first", "en", &ctx)
        .unwrap();
    assert!(
        en.text
            .contains("opens to the public on Sunday, 20 December at 09:00 CET."),
        "{}",
        en.text
    );
    let it_sms = templates
        .render_sms("shop", "early-access", "you-first", "it", &ctx)
        .unwrap();
    assert!(
        it_sms.contains("a partire da domenica 20 dicembre, ore 09:00 CET."),
        "{it_sms}"
    );
    // Summer time has its own name; a zone without letters reads as an offset from UTC.
    ctx["details"]["public_start_at"] = json!("2027-06-20T07:00:00Z");
    let summer = everything(&templates, "early-access", "you-first", "en", &ctx);
    assert!(summer.contains("Sunday, 20 June at 09:00 CEST"), "{summer}");
    ctx["time_zone"] = json!("Asia/Dubai");
    let dubai = everything(&templates, "early-access", "you-first", "en", &ctx);
    assert!(dubai.contains("Sunday, 20 June at 11:00 UTC+04"), "{dubai}");
    ctx["time_zone"] = json!("America/New_York");
    let new_york = everything(&templates, "early-access", "you-first", "en", &ctx);
    assert!(new_york.contains("Sunday, 20 June at 03:00 EDT"), "{new_york}");
}

#[test]
fn the_expected_delivery_is_a_local_date() {
    let templates = Templates::builtin();
    let mut ctx = sample(&templates, "thank-you", "thank-you");
    ctx["order"]["expected_delivery_at"] = json!("2026-12-09T23:30:00Z");
    let en = templates
        .render_email("shop", "thank-you", "thank-you", "en", &ctx)
        .unwrap();
    assert!(
        en.text
            .contains("It should be with you around Thursday, 10 December."),
        "{}",
        en.text
    );
    let it = templates
        .render_email("shop", "thank-you", "thank-you", "it", &ctx)
        .unwrap();
    assert!(
        it.text
            .contains("La consegna è prevista per giovedì 10 dicembre."),
        "{}",
        it.text
    );
}

#[test]
fn dates_follow_the_template_language_not_the_callers_locale() {
    let templates = Templates::builtin();
    let mut ctx = sample(&templates, "win-back", "offer");
    // A French customer gets the English fallback, so English dates; a caller's own
    // `locale` cannot make them Italian inside English sentences.
    ctx["locale"] = json!("it");
    let fr = everything(&templates, "win-back", "offer", "fr-FR", &ctx);
    assert!(fr.contains("valid until Monday, 14 December"), "{fr}");
    assert!(!fr.contains("lunedì"), "{fr}");
    let it_ch = everything(&templates, "win-back", "offer", "it-CH", &ctx);
    assert!(it_ch.contains("valido fino a lunedì 14 dicembre"), "{it_ch}");
}

#[test]
fn a_language_without_built_in_names_gets_iso_dates() {
    let dir = tempfile::tempdir().unwrap();
    let flow = dir.path().join("win-back");
    fs::create_dir_all(&flow).unwrap();
    for (part, source) in [
        ("subject", "Bis {{ details.offer_expires_at | date }}"),
        (
            "html",
            "<p>Bis {{ details.offer_expires_at | datetime }}</p> {{ links.unsubscribe }}",
        ),
        (
            "text",
            "Bis {{ details.offer_expires_at | date }}\n{{ links.unsubscribe }}",
        ),
    ] {
        fs::write(flow.join(format!("offer.de.{part}.j2")), source).unwrap();
    }
    let templates = Templates::builtin().with_overrides(dir.path()).unwrap();
    let ctx = sample(&templates, "win-back", "offer");
    let email = templates
        .render_email("shop", "win-back", "offer", "de", &ctx)
        .unwrap();
    assert_eq!(email.subject, "Bis 2026-12-14");
    assert!(email.html.contains("Bis 2026-12-14 23:59 CET"), "{}", email.html);
}

fn render_error(ctx: &Value) -> String {
    let templates = Templates::builtin();
    let err = templates
        .render_email("shop", "win-back", "offer", "en", ctx)
        .unwrap_err();
    assert!(matches!(err, TemplateError::Render { .. }), "{err}");
    err.to_string()
}

#[test]
fn a_date_without_a_zone_or_a_valid_instant_is_an_error_not_a_guess() {
    let templates = Templates::builtin();
    let base = sample(&templates, "win-back", "offer");

    let mut no_zone = base.clone();
    no_zone.as_object_mut().unwrap().remove("time_zone");
    let err = render_error(&no_zone);
    assert!(err.contains("needs `time_zone` in the context"), "{err}");

    let mut bad_zone = base.clone();
    bad_zone["time_zone"] = json!("Europe/Atlantis");
    let err = render_error(&bad_zone);
    assert!(err.contains("not an IANA time zone"), "{err}");

    for bad in [json!("2026-12-14"), json!("14/12/2026"), json!("")] {
        let mut ctx = base.clone();
        ctx["details"]["offer_expires_at"] = bad.clone();
        let err = render_error(&ctx);
        assert!(err.contains("takes an RFC 3339 instant"), "{bad}: {err}");
        assert!(err.contains("win-back/offer.en."), "{bad}: {err}");
    }
    let mut number = base.clone();
    number["details"]["offer_expires_at"] = json!(1_797_289_199);
    let err = render_error(&number);
    assert!(err.contains("as a string, not number"), "{err}");

    let mut missing = base;
    missing["details"]
        .as_object_mut()
        .unwrap()
        .remove("offer_expires_at");
    assert!(render_error(&missing).contains("undefined value"));
}
