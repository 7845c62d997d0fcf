//! The pages a merchant sees during install: short, plain HTML, every value escaped.

use crate::{Connected, Refusal};
use aftersale_ports::WebhookOutcome;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title}</title></head>\n<body style=\"font-family: system-ui, sans-serif; max-width: 40em; margin: 3em auto; line-height: 1.5\">\n\
<h1>{title}</h1>\n{body}</body></html>\n",
        title = escape(title),
    )
}

/// The page after a successful install.
pub fn connected(done: &Connected) -> String {
    let shop = escape(done.shop.as_str());
    let mut body = format!(
        "<p>Aftersale is connected to <strong>{shop}</strong>. New orders will flow in as they happen; \
you can close this page.</p>\n"
    );
    if !done.missing_scopes.is_empty() {
        body += &format!(
            "<p><strong>Some permissions were not granted:</strong> {}. The flows that need them will not run until you install the app again and approve them.</p>\n",
            escape(&done.missing_scopes.join(", "))
        );
    }
    match &done.webhooks {
        Ok(sync) => {
            let failing: Vec<_> = sync.failing().collect();
            let registered = sync.topics.len() - failing.len();
            body += &format!(
                "<p>Webhooks registered: {registered} of {}.</p>\n",
                sync.topics.len()
            );
            if !failing.is_empty() {
                body += "<p>These could not be registered:</p>\n<ul>\n";
                for topic in failing {
                    body += &format!(
                        "<li>{}: {}</li>\n",
                        escape(&topic.topic),
                        escape(topic.detail.as_deref().unwrap_or("refused"))
                    );
                }
                body += "</ul>\n";
            }
            let changed = sync
                .topics
                .iter()
                .filter(|t| matches!(t.outcome, WebhookOutcome::Created | WebhookOutcome::Fixed))
                .count();
            if changed == 0 && sync.failing().next().is_none() {
                body += "<p>They were already in place; nothing had to change.</p>\n";
            }
        }
        Err(reason) => {
            body += &format!(
                "<p><strong>The webhooks could not be registered yet:</strong> {}. Aftersale's operator can retry with <code>aftersale shopify sync-webhooks --shop {shop}</code>.</p>\n",
                escape(reason)
            );
        }
    }
    page(&format!("{} is connected", done.shop), &body)
}

/// The page for a refused install or callback.
pub fn refused(refusal: &Refusal) -> String {
    page(
        "Aftersale could not be installed",
        &format!(
            "<p>{}</p>\n<p>Nothing was changed in your shop.</p>\n",
            escape(&refusal.to_string())
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_values_are_escaped() {
        let html = refused(&Refusal::BadShop("<script>x</script>".into()));
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
    }
}
