//! The 1-tap links in messages: rating, survey and delivery answers, and unsubscribe.
//! Served by the `feedback` function and by `aftersale serve` at `/l/{token}`.
//!
//! Answers are recorded on GET, because a tap is all we ask of the customer; they are
//! idempotent and a later tap replaces an earlier one. Unsubscribe changes state only on POST
//! (the RFC 8058 one-click request, or the button on the confirmation page), so a mail
//! scanner prefetching links can never unsubscribe anyone.

use crate::Engine;
use aftersale_domain::policy::SuppressionReason;
use aftersale_domain::{Answer, AnswerKind, CustomerId, OrderId, ShopId};
use aftersale_links::{LinkAction, LinkClaims};
use aftersale_ports::StoreError;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use tracing::{info, warn};

/// What to show the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkResponse {
    Page {
        status: StatusCode,
        title: String,
        body: String,
        form: bool,
    },
    Redirect(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// Words for the pages, in the customer's language (Italian or English).
struct Words {
    invalid: &'static str,
    thanks: &'static str,
    sorry: &'static str,
    told_team: &'static str,
    review_invite: &'static str,
    unsubscribe_confirm: &'static str,
    unsubscribe_button: &'static str,
    unsubscribed: &'static str,
}

const EN: Words = Words {
    invalid: "This link is not valid any more",
    thanks: "Thank you!",
    sorry: "We're sorry",
    told_team: "We've told the team; someone will get in touch with you soon.",
    review_invite: "Would you share a few words with other customers?",
    unsubscribe_confirm: "Stop receiving these messages?",
    unsubscribe_button: "Unsubscribe",
    unsubscribed: "You're unsubscribed. You won't hear from us again about past orders.",
};

const IT: Words = Words {
    invalid: "Questo link non è più valido",
    thanks: "Grazie!",
    sorry: "Ci dispiace",
    told_team: "Abbiamo avvisato il team: ti contatteremo presto.",
    review_invite: "Ti va di lasciare due righe per gli altri clienti?",
    unsubscribe_confirm: "Non vuoi più ricevere questi messaggi?",
    unsubscribe_button: "Annulla l'iscrizione",
    unsubscribed: "Fatto: non riceverai più messaggi sui tuoi ordini passati.",
};

fn page(status: StatusCode, title: &str, body: impl Into<String>) -> LinkResponse {
    LinkResponse::Page {
        status,
        title: title.to_string(),
        body: body.into(),
        form: false,
    }
}

impl Engine {
    /// Answers one tap on a link. A tampered or expired token changes nothing.
    pub async fn follow_link(&self, token: &str, method: Method) -> Result<LinkResponse, StoreError> {
        let now = self.clock.now();
        let claims = match self.links.verify(token, now.timestamp()) {
            Ok(claims) => claims,
            Err(err) => {
                info!(error = %err, "refused a link");
                return Ok(page(StatusCode::BAD_REQUEST, EN.invalid, err.to_string()));
            }
        };
        let (Ok(shop), Ok(customer_id)) = (
            ShopId::new(claims.shop.clone()),
            CustomerId::new(claims.customer_id.clone()),
        ) else {
            return Ok(page(StatusCode::BAD_REQUEST, EN.invalid, ""));
        };
        let customer = self.store.load_customer(&shop, &customer_id).await?;
        let config = self.config(&shop).await?;
        let locale = aftersale_domain::flows::locale_for(customer.as_ref(), &config);
        let words = if locale.starts_with("it") { &IT } else { &EN };
        let order_id = claims.order_id.as_deref().and_then(|o| OrderId::new(o).ok());
        let record = |answer: AnswerKind| Answer {
            shop: shop.clone(),
            customer_id: customer_id.clone(),
            message_id: claims.message_id.clone(),
            order_id: order_id.clone(),
            answer,
            answered_at: now,
        };
        let about = format!(
            "shop {shop}, customer {customer_id}{}, order {}",
            customer
                .as_ref()
                .and_then(|c| c.email.as_deref())
                .map(|e| format!(" <{e}>"))
                .unwrap_or_default(),
            claims.order_id.as_deref().unwrap_or("-"),
        );
        match claims.action.clone() {
            LinkAction::Unsubscribe => {
                if method == Method::Get {
                    return Ok(LinkResponse::Page {
                        status: StatusCode::OK,
                        title: words.unsubscribe_confirm.into(),
                        body: words.unsubscribe_button.into(),
                        form: true,
                    });
                }
                let mut addresses: Vec<String> = Vec::new();
                if let Some(c) = &customer {
                    addresses.extend(c.email.clone());
                    addresses.extend(c.phone.clone());
                }
                for address in addresses {
                    self.store
                        .suppress(&shop, &address, SuppressionReason::Unsubscribed, now)
                        .await?;
                }
                info!(shop = %shop, customer = %customer_id, "unsubscribed");
                Ok(page(StatusCode::OK, words.thanks, words.unsubscribed))
            }
            LinkAction::Csat { score } => {
                self.store
                    .record_answer(&record(AnswerKind::Csat { score }))
                    .await?;
                if score <= 2 {
                    self.alert(
                        "Aftersale: an unhappy customer",
                        &format!("CSAT {score}/5 from {about}."),
                    )
                    .await;
                }
                Ok(page(StatusCode::OK, words.thanks, ""))
            }
            LinkAction::Nps { score } => {
                self.store
                    .record_answer(&record(AnswerKind::Nps { score }))
                    .await?;
                if score <= 6 {
                    self.alert("Aftersale: a detractor", &format!("NPS {score}/10 from {about}."))
                        .await;
                }
                Ok(page(StatusCode::OK, words.thanks, ""))
            }
            LinkAction::Delivery { ok } => {
                self.store
                    .record_answer(&record(AnswerKind::Delivery { ok }))
                    .await?;
                if ok {
                    return Ok(page(StatusCode::OK, words.thanks, ""));
                }
                self.alert(
                    "Aftersale: a delivery went wrong",
                    &format!("Something went wrong with the delivery: {about}."),
                )
                .await;
                Ok(page(StatusCode::OK, words.sorry, words.told_team))
            }
            LinkAction::Rating { product_id, stars } => {
                self.store
                    .record_answer(&record(AnswerKind::Rating {
                        product_id: product_id.clone(),
                        stars,
                    }))
                    .await?;
                let review_url = self
                    .review_url(&shop, &customer_id, &claims, &product_id, &config)
                    .await?;
                if stars > config.flows.review_request.low_rating_threshold {
                    return Ok(LinkResponse::Redirect(review_url));
                }
                self.alert(
                    "Aftersale: a low rating",
                    &format!("{stars}/5 stars for product {product_id} from {about}."),
                )
                .await;
                // Never suppress reviews: the unhappy customer is still offered the page.
                Ok(page(
                    StatusCode::OK,
                    words.sorry,
                    format!("{}\n{}\n{review_url}", words.told_team, words.review_invite),
                ))
            }
        }
    }

    async fn review_url(
        &self,
        shop: &ShopId,
        customer: &CustomerId,
        claims: &LinkClaims,
        product_id: &str,
        config: &aftersale_domain::ShopConfig,
    ) -> Result<String, StoreError> {
        let message = self
            .store
            .load_message(shop, customer, &claims.message_id)
            .await?;
        let product = message.and_then(|m| m.products.into_iter().find(|p| p.product_id == product_id));
        Ok(match product {
            Some(p) => config.review_url(shop, &p.product_id, p.variant_id.as_deref(), p.sku.as_deref()),
            None => config.review_url(shop, product_id, None, None),
        })
    }
}

/// `GET /l/{token}` and `POST /l/{token}`.
pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/l/{token}", get(on_get).post(on_post))
        .with_state(engine)
}

async fn on_get(State(engine): State<Arc<Engine>>, Path(token): Path<String>) -> Response {
    respond(&token, engine.follow_link(&token, Method::Get).await)
}

async fn on_post(State(engine): State<Arc<Engine>>, Path(token): Path<String>) -> Response {
    respond(&token, engine.follow_link(&token, Method::Post).await)
}

fn respond(token: &str, result: Result<LinkResponse, StoreError>) -> Response {
    match result {
        Ok(LinkResponse::Redirect(url)) => (StatusCode::SEE_OTHER, [(header::LOCATION, url)]).into_response(),
        Ok(LinkResponse::Page {
            status,
            title,
            body,
            form,
        }) => {
            let html = render_page(&title, &body, form.then(|| format!("/l/{token}")));
            (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
        }
        Err(err) => {
            warn!(error = %err, "link answer could not be stored");
            (StatusCode::SERVICE_UNAVAILABLE, "Please try again in a minute.").into_response()
        }
    }
}

/// A small self-contained page. Text is escaped; URLs in the body become links.
fn render_page(title: &str, body: &str, form_action: Option<String>) -> String {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    let template = r#"<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>{{ title }}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}button{font-size:1rem;padding:.6rem 1.2rem}</style></head>
<body><h1>{{ title }}</h1>{% for line in lines %}{% if line.startswith("http") %}<p><a href="{{ line }}">{{ line }}</a></p>{% elif form_action %}<form method="post" action="{{ form_action }}"><button type="submit">{{ line }}</button></form>{% else %}<p>{{ line }}</p>{% endif %}{% endfor %}</body></html>"#;
    let lines: Vec<&str> = body.lines().filter(|l| !l.is_empty()).collect();
    env.render_str(template, minijinja::context! { title, lines, form_action })
        .unwrap_or_else(|_| String::from("<!doctype html><p>Thank you.</p>"))
}
