//! The 1-tap links in messages: rating, survey and delivery answers, and unsubscribe.
//! Served by the `feedback` function and by `aftersale serve` at `/l/{token}`.
//!
//! **Nothing changes on GET.** Mail scanners fetch every link of a message before (or instead
//! of) the customer, so a GET only opens a page with the customer's choice pre-selected and a
//! button; that button POSTs back to the same link, and the POST records the answer or
//! unsubscribes. It stays one tap in the email plus one confirm. The RFC 8058 one-click
//! request (`POST` with `List-Unsubscribe=One-Click`, sent by the mail client) is that same
//! POST, so it unsubscribes directly.
//!
//! Every page is a template in `aftersale-templates` (`Page`), in the customer's language.
//! A page that cannot be rendered is an error, logged and answered with a plain 500: never a
//! silent fallback. A link whose customer or message is gone (`customers/redact`) gets a
//! neutral page and changes nothing.

use crate::Engine;
use crate::flows::{Birthday, BirthdayError};
use aftersale_domain::policy::SuppressionReason;
use aftersale_domain::{Answer, AnswerKind, Customer, CustomerId, Message, MessageId, ShopConfig, ShopId};
use aftersale_links::{LinkAction, LinkClaims, LinkError};
use aftersale_ports::StoreError;
use aftersale_ports::documents::{self, keys};
use aftersale_templates::{Page, TemplateError, Templates};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::sync::Arc;
use tracing::{error, info, warn};

mod make_it_right;

use make_it_right::asks_what_happened;
pub(crate) use make_it_right::discount_request;

/// What to show the customer: a rendered page, or the shop's review page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkResponse {
    Page {
        status: StatusCode,
        page: Page,
        html: String,
    },
    Redirect(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Shows what the link would do; changes nothing.
    Get,
    /// Does it: records the answer, or unsubscribes.
    Post,
}

/// Why a link could not be answered at all.
#[derive(Debug, thiserror::Error)]
pub enum LinkFailure {
    /// Storage failed: nothing was recorded, and following the link again will work.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A page failed to render: a bug in a template or in its context.
    #[error(transparent)]
    Page(#[from] TemplateError),
}

/// Scores at or below these are bad news that support hears about.
const LOW_CSAT: u8 = 2;
const LOW_NPS: u8 = 6;

/// A genuine link and what it points at, loaded once.
struct Opened {
    /// The signed token as it came (a page's form posts back under it).
    token: String,
    claims: LinkClaims,
    shop: ShopId,
    customer: Customer,
    message: Message,
    config: ShopConfig,
    locale: String,
}

/// A link either opens, or is answered with a page that says why not.
enum Opening {
    Open(Box<Opened>),
    Refused(LinkResponse),
}

impl Engine {
    /// Answers one request on a link. A tampered, expired or orphaned link changes nothing.
    /// `accept_language` picks the language of pages for links that name no customer we know.
    pub async fn follow_link(
        &self,
        token: &str,
        method: Method,
        accept_language: Option<&str>,
    ) -> Result<LinkResponse, LinkFailure> {
        self.follow_link_with_form(token, method, "", accept_language)
            .await
    }

    /// [`Engine::follow_link`] with the request's form body (`application/x-www-form-urlencoded`),
    /// which only the birthday form on the points page reads.
    pub async fn follow_link_with_form(
        &self,
        token: &str,
        method: Method,
        form: &str,
        accept_language: Option<&str>,
    ) -> Result<LinkResponse, LinkFailure> {
        let visitor_locale = self.templates.page_locale(accept_language);
        let link = match self.verified(token, &visitor_locale).await? {
            Ok(link) => link,
            Err(refused) => return Ok(refused),
        };
        match method {
            Method::Get => self.confirm(&link).await,
            Method::Post => self.act(&link, form).await,
        }
    }

    /// Checks the link's signature and expiry and loads what it is about; a link that cannot
    /// be answered comes back as the page that says why.
    async fn verified(
        &self,
        token: &str,
        visitor_locale: &str,
    ) -> Result<Result<Box<Opened>, LinkResponse>, LinkFailure> {
        let claims = match self.links.verify(token, self.clock.now().timestamp()) {
            Ok(claims) => claims,
            Err(LinkError::Expired(claims)) => {
                info!("refused an expired link");
                return self.expired(&claims, visitor_locale).await.map(Err);
            }
            Err(err) => {
                info!(error = %err, "refused a link");
                let reason = match err {
                    LinkError::BadSignature => "forged",
                    _ => "damaged",
                };
                let page = self.render(
                    StatusCode::BAD_REQUEST,
                    Page::Invalid,
                    visitor_locale,
                    json!({ "reason": reason }),
                )?;
                return Ok(Err(page));
            }
        };
        Ok(match self.open(token, claims, visitor_locale).await? {
            Opening::Open(link) => Ok(link),
            Opening::Refused(response) => Err(response),
        })
    }

    /// Loads what a verified link is about. Its customer and message must still exist: after
    /// `customers/redact` neither does, and the link must neither record an answer nor claim
    /// an unsubscribe it cannot perform.
    async fn open(
        &self,
        token: &str,
        claims: LinkClaims,
        visitor_locale: &str,
    ) -> Result<Opening, LinkFailure> {
        let (Ok(shop), Ok(customer_id), Ok(message_id)) = (
            ShopId::new(claims.shop.clone()),
            CustomerId::new(claims.customer_id.clone()),
            MessageId::new(claims.message_id.clone()),
        ) else {
            let page = self.render(
                StatusCode::BAD_REQUEST,
                Page::Invalid,
                visitor_locale,
                json!({ "reason": "damaged" }),
            )?;
            return Ok(Opening::Refused(page));
        };
        let config = self.config(&shop).await?;
        let customer = self.store.load_customer(&shop, &customer_id).await?;
        let message = self.store.load_message(&shop, &customer_id, &message_id).await?;
        let (Some(customer), Some(message)) = (customer, message) else {
            info!(shop = %shop, "refused a link whose customer or message is gone");
            let ctx = json!({ "shop": { "name": config.display_name(&shop) } });
            let page = self.render(StatusCode::GONE, Page::Unavailable, &config.locale, ctx)?;
            return Ok(Opening::Refused(page));
        };
        let locale = aftersale_domain::flows::locale_for(Some(&customer), &config);
        Ok(Opening::Open(Box::new(Opened {
            token: token.to_owned(),
            claims,
            shop,
            customer,
            message,
            config,
            locale,
        })))
    }

    /// The page of an expired link, naming the shop, in the customer's language if we still
    /// know them.
    async fn expired(&self, claims: &LinkClaims, visitor_locale: &str) -> Result<LinkResponse, LinkFailure> {
        let Ok(shop) = ShopId::new(claims.shop.clone()) else {
            return self.render(
                StatusCode::BAD_REQUEST,
                Page::Invalid,
                visitor_locale,
                json!({ "reason": "damaged" }),
            );
        };
        let config = self.config(&shop).await?;
        let customer = match CustomerId::new(claims.customer_id.clone()) {
            Ok(id) => self.store.load_customer(&shop, &id).await?,
            Err(_) => None,
        };
        let locale = aftersale_domain::flows::locale_for(customer.as_ref(), &config);
        let ctx = json!({ "shop": { "name": config.display_name(&shop) } });
        self.render(StatusCode::GONE, Page::Expired, &locale, ctx)
    }

    /// GET: the choice the link makes, pre-selected, and the button that confirms it.
    async fn confirm(&self, link: &Opened) -> Result<LinkResponse, LinkFailure> {
        let shop = json!({ "name": link.config.display_name(&link.shop) });
        let (page, ctx) = match &link.claims.action {
            LinkAction::Csat { score } => (
                Page::ConfirmCsat,
                json!({ "shop": shop, "order": { "name": self.order_name(link).await? }, "score": score }),
            ),
            LinkAction::Nps { score } => (Page::ConfirmNps, json!({ "shop": shop, "score": score })),
            LinkAction::Delivery { ok } => (
                Page::ConfirmDelivery,
                json!({ "shop": shop, "order": { "name": self.order_name(link).await? }, "ok": ok }),
            ),
            LinkAction::Rating { product_id, stars } => (
                Page::ConfirmRating,
                json!({ "shop": shop, "product": { "title": product_title(link, product_id) }, "stars": stars }),
            ),
            // Someone who already unsubscribed is told so, not asked again.
            LinkAction::Unsubscribe if self.already_suppressed(link).await? => {
                (Page::Unsubscribed, json!({ "shop": shop }))
            }
            LinkAction::Unsubscribe => (Page::ConfirmUnsubscribe, json!({ "shop": shop })),
            // Choosing a reward is a POST from this page; a GET (a mail scanner) only looks.
            LinkAction::Points | LinkAction::Redeem { .. } | LinkAction::Birthday => {
                return self.points_page(link, BirthdayNotice::None).await;
            }
        };
        self.render(StatusCode::OK, page, &link.locale, ctx)
    }

    /// POST: records the answer (alerting support once about bad news) or unsubscribes.
    async fn act(&self, link: &Opened, form: &str) -> Result<LinkResponse, LinkFailure> {
        let shop_name = link.config.display_name(&link.shop);
        match &link.claims.action {
            LinkAction::Unsubscribe => self.unsubscribe(link, &shop_name).await,
            LinkAction::Points => self.points_page(link, BirthdayNotice::None).await,
            LinkAction::Redeem { points } => self.redeem_page(link, *points).await,
            LinkAction::Birthday => self.birthday_form(link, form).await,
            LinkAction::Csat { score } => {
                let low = *score <= LOW_CSAT;
                if self
                    .record(link, &AnswerKind::Csat { score: *score }, low)
                    .await?
                {
                    let about = self.about(link).await?;
                    self.alert(
                        "Aftersale: an unhappy customer",
                        &format!("CSAT {score}/5 from {about}."),
                    )
                    .await;
                }
                let ctx = json!({ "shop": { "name": shop_name }, "told_team": low });
                self.render(StatusCode::OK, Page::Answered, &link.locale, ctx)
            }
            LinkAction::Nps { score } => {
                let low = *score <= LOW_NPS;
                if self.record(link, &AnswerKind::Nps { score: *score }, low).await? {
                    let about = self.about(link).await?;
                    self.alert("Aftersale: a detractor", &format!("NPS {score}/10 from {about}."))
                        .await;
                }
                let ctx = json!({ "shop": { "name": shop_name }, "told_team": low });
                self.render(StatusCode::OK, Page::Answered, &link.locale, ctx)
            }
            LinkAction::Delivery { ok } => {
                let alert = self.record(link, &AnswerKind::Delivery { ok: *ok }, !*ok).await?;
                if *ok {
                    let ctx = json!({ "shop": { "name": shop_name }, "told_team": false });
                    return self.render(StatusCode::OK, Page::Answered, &link.locale, ctx);
                }
                // With the make-it-right form, support hears once, from the case the form
                // opens (a person for a major problem, with the customer's words), not twice.
                if alert && !asks_what_happened(link) {
                    let about = self.about(link).await?;
                    self.alert(
                        "Aftersale: a delivery went wrong",
                        &format!("Something went wrong with the delivery: {about}."),
                    )
                    .await;
                }
                self.delivery_problem_page(link, StatusCode::OK, None).await
            }
            LinkAction::Rating { product_id, stars } => {
                let answer = AnswerKind::Rating {
                    product_id: product_id.clone(),
                    stars: *stars,
                };
                let low = *stars <= link.config.flows.review_request.low_rating_threshold;
                let alert = self.record(link, &answer, low).await?;
                // An on-site review may earn points, whatever the stars (`[points] review_bonus`).
                if let Some(order) = &link.message.order_id {
                    self.credit_review_bonus(&link.shop, &link.customer.id, order, product_id, &link.config)
                        .await?;
                }
                let review_url = review_url(link, product_id);
                if !low {
                    return Ok(LinkResponse::Redirect(review_url));
                }
                let title = product_title(link, product_id);
                if alert {
                    let about = self.about(link).await?;
                    let product = match &title {
                        Some(title) => format!("\"{title}\" (product {product_id})"),
                        None => format!("product {product_id}"),
                    };
                    self.alert(
                        "Aftersale: a low rating",
                        &format!("{stars}/5 stars for {product} from {about}."),
                    )
                    .await;
                }
                // Never gate reviews: the unhappy customer is offered the review page too.
                let ctx = json!({
                    "shop": { "name": shop_name },
                    "product": { "title": title },
                    "stars": stars,
                    "review_url": review_url,
                });
                self.render(StatusCode::OK, Page::RatingLow, &link.locale, ctx)
            }
        }
    }

    /// Suppresses the address the message with this link was sent to (not the customer's
    /// current one, which may have changed since). A bounce or complaint already on file is
    /// kept: it stops more than an unsubscribe does.
    async fn unsubscribe(&self, link: &Opened, shop_name: &str) -> Result<LinkResponse, LinkFailure> {
        let Some(address) = link.message.to.as_deref() else {
            info!(shop = %link.shop, "refused an unsubscribe for a message never sent");
            let ctx = json!({ "shop": { "name": shop_name } });
            return self.render(StatusCode::GONE, Page::Unavailable, &link.locale, ctx);
        };
        if !self.already_suppressed(link).await? {
            self.store
                .suppress(
                    &link.shop,
                    address,
                    SuppressionReason::Unsubscribed,
                    self.clock.now(),
                )
                .await?;
            info!(shop = %link.shop, "unsubscribed");
        }
        let engagement = aftersale_metrics::EngagementKind::Unsubscribed;
        if let Err(err) = aftersale_metrics::rollups::record_engagement(
            self.store.as_ref(),
            &link.message,
            engagement,
            self.clock.now(),
        )
        .await
        {
            warn!(error = %err, "unsubscribe not counted in the funnel; `aftersale metrics rebuild` cannot recover it");
        }
        let ctx = json!({ "shop": { "name": shop_name } });
        self.render(StatusCode::OK, Page::Unsubscribed, &link.locale, ctx)
    }

    /// Whether the address the link's message went to is on the suppression list already.
    async fn already_suppressed(&self, link: &Opened) -> Result<bool, StoreError> {
        match link.message.to.as_deref() {
            Some(address) => Ok(self.store.suppression(&link.shop, address).await?.is_some()),
            None => Ok(false),
        }
    }

    /// Records an answer (a later answer to the same question replaces it) and, when it is
    /// bad news, claims the right to alert support about it. The claim is a conditional write,
    /// so exactly one of any number of identical answers to a message alerts, however
    /// concurrent (a double click, a reload); a different bad answer is news and alerts again.
    /// Returns whether to alert.
    async fn record(&self, link: &Opened, answer: &AnswerKind, bad_news: bool) -> Result<bool, StoreError> {
        self.store
            .record_answer(&Answer {
                shop: link.shop.clone(),
                customer_id: link.customer.id.clone(),
                message_id: link.message.id(),
                order_id: link.message.order_id.clone(),
                answer: answer.clone(),
                answered_at: self.clock.now(),
            })
            .await?;
        self.refresh_metrics(&link.shop, &link.customer.id).await;
        if !bad_news {
            return Ok(false);
        }
        let key = keys::answer_alerted(&link.customer.id, &link.message.id(), &answer.question());
        let value = serde_json::to_value(answer).map_err(StoreError::backend)?;
        let expected_version = match self.store.load_document(&link.shop, &key).await? {
            Some(alerted) if alerted.value == value => return Ok(false),
            Some(alerted) => alerted.version,
            None => 0,
        };
        match self
            .store
            .save_document(&link.shop, &key, &value, expected_version)
            .await
        {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict { .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// The order's number as the shop shows it ("#1001"), when known.
    async fn order_name(&self, link: &Opened) -> Result<Option<String>, StoreError> {
        self.order_number(&link.message).await
    }

    /// Who an alert is about, for support: the shop, the customer (with their address, so
    /// support can write back) and the order by the number the customer knows.
    async fn about(&self, link: &Opened) -> Result<String, StoreError> {
        let email = link
            .customer
            .email
            .as_deref()
            .map(|e| format!(" <{e}>"))
            .unwrap_or_default();
        let order = match (self.order_name(link).await?, &link.message.order_id) {
            (Some(name), _) => format!(", order {name}"),
            (None, Some(id)) => format!(", order {id}"),
            (None, None) => String::new(),
        };
        Ok(format!(
            "shop {}, customer {}{email}{order}",
            link.shop, link.customer.id
        ))
    }

    fn render(
        &self,
        status: StatusCode,
        page: Page,
        locale: &str,
        ctx: Value,
    ) -> Result<LinkResponse, LinkFailure> {
        let html = self.templates.render_page(page, locale, &ctx)?;
        Ok(LinkResponse::Page { status, page, html })
    }
}

impl Engine {
    /// The customer's balance and the shop's rewards; each one they can afford is a button
    /// that POSTs to its own signed redeem link (same message, same expiry).
    async fn points_page(&self, link: &Opened, notice: BirthdayNotice) -> Result<LinkResponse, LinkFailure> {
        let ledger = self.points_ledger(&link.shop, &link.customer.id).await?;
        let balance = ledger.balance();
        let currency = crate::flows::points_currency(self, &link.shop, &link.customer.id).await?;
        let rewards: Vec<Value> = link
            .config
            .points
            .rewards_by_cost()
            .into_iter()
            .map(|reward| {
                let claims = LinkClaims {
                    action: LinkAction::Redeem {
                        points: reward.points,
                    },
                    ..link.claims.clone()
                };
                let cost = i64::from(reward.points);
                json!({
                    "points": reward.points,
                    "label": crate::flows::reward_label(reward, currency, &link.locale),
                    "affordable": balance.available >= cost,
                    "missing": (cost - balance.available).max(0),
                    "url": self.links.url(&self.settings.link_base_url, &claims),
                })
            })
            .collect();
        let birthday = if link.config.points.birthday_bonus > 0 {
            let stored = documents::load::<Birthday, _>(
                self.store.as_ref(),
                &link.shop,
                &keys::customer_birthday(&link.customer.id),
            )
            .await?
            .map(|b| b.value);
            let claims = LinkClaims {
                action: LinkAction::Birthday,
                ..link.claims.clone()
            };
            let error = match &notice {
                BirthdayNotice::Refused(error) => Some(error.code()),
                _ => None,
            };
            json!({
                "bonus": link.config.points.birthday_bonus,
                "url": self.links.url(&self.settings.link_base_url, &claims),
                "month": stored.map(|b| b.month),
                "day": stored.map(|b| b.day),
                "saved": matches!(notice, BirthdayNotice::Saved),
                "error": error,
            })
        } else {
            Value::Null
        };
        let ctx = json!({
            "shop": { "name": link.config.display_name(&link.shop), "url": link.config.shop_url(&link.shop) },
            "available": balance.available,
            "pending": balance.pending,
            "rewards": rewards,
            "birthday": birthday,
        });
        let status = match notice {
            BirthdayNotice::Refused(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::OK,
        };
        self.render(status, Page::Points, &link.locale, ctx)
    }

    /// POST of the birthday form: a valid day and month is stored (and the bonus planned);
    /// anything else changes nothing and shows the page again with what was wrong.
    async fn birthday_form(&self, link: &Opened, form: &str) -> Result<LinkResponse, LinkFailure> {
        if !link.config.points.enabled || link.config.points.birthday_bonus == 0 {
            let ctx = json!({ "shop": { "name": link.config.display_name(&link.shop) } });
            return self.render(StatusCode::GONE, Page::Unavailable, &link.locale, ctx);
        }
        let (month, day) = match parse_birthday(form) {
            Ok(given) => given,
            Err(error) => {
                info!(shop = %link.shop, problem = error.code(), "refused a birthday");
                return self.points_page(link, BirthdayNotice::Refused(error)).await;
            }
        };
        match self.set_birthday(&link.shop, &link.customer.id, month, day).await {
            Ok(_) => {}
            Err(BirthdayError::NoSuchDay { .. }) => {
                return self
                    .points_page(link, BirthdayNotice::Refused(BirthdayFormError::NoSuchDay))
                    .await;
            }
            Err(BirthdayError::Store(err)) => return Err(err.into()),
        }
        info!(shop = %link.shop, "birthday given on the points page");
        self.points_page(link, BirthdayNotice::Saved).await
    }

    /// POST of a reward: debits once per link and shows the code (or that it is on its way).
    async fn redeem_page(&self, link: &Opened, points: u32) -> Result<LinkResponse, LinkFailure> {
        use crate::flows::Redemption;
        if !link.config.points.enabled {
            let ctx = json!({ "shop": { "name": link.config.display_name(&link.shop) } });
            return self.render(StatusCode::GONE, Page::Unavailable, &link.locale, ctx);
        }
        let redemption = self
            .redeem_points(
                &link.shop,
                &link.customer.id,
                &link.message.id(),
                points,
                &link.config,
                &link.locale,
            )
            .await?;
        let currency = crate::flows::points_currency(self, &link.shop, &link.customer.id).await?;
        let shop =
            json!({ "name": link.config.display_name(&link.shop), "url": link.config.shop_url(&link.shop) });
        let reward_json = |reward: &aftersale_domain::points::RewardOption| json!({ "points": reward.points, "label": crate::flows::reward_label(reward, currency, &link.locale) });
        let ctx = match &redemption {
            Redemption::Code {
                code,
                reward,
                available,
            } => {
                info!(shop = %link.shop, "points redeemed for a code");
                json!({ "shop": shop, "state": "code", "code": code, "reward": reward_json(reward), "available": available })
            }
            Redemption::Creating { reward, available } => {
                json!({ "shop": shop, "state": "creating", "reward": reward_json(reward), "available": available })
            }
            Redemption::NotEnough { needed, available } => {
                json!({ "shop": shop, "state": "not_enough", "needed": needed, "available": available })
            }
            Redemption::NoSuchReward | Redemption::Unavailable => {
                json!({ "shop": shop, "state": "unavailable" })
            }
        };
        self.render(StatusCode::OK, Page::PointsReward, &link.locale, ctx)
    }
}

/// What the points page says about the birthday form.
enum BirthdayNotice {
    None,
    Saved,
    Refused(BirthdayFormError),
}

/// Why a birthday form was refused; the page words each in the customer's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BirthdayFormError {
    /// The day or the month is missing.
    Missing,
    /// A day outside 1-31 or a month outside 1-12, or not a number.
    OutOfRange,
    /// A day the month does not have (30 February, 31 April).
    NoSuchDay,
}

impl BirthdayFormError {
    fn code(self) -> &'static str {
        match self {
            BirthdayFormError::Missing => "missing",
            BirthdayFormError::OutOfRange => "out_of_range",
            BirthdayFormError::NoSuchDay => "no_such_day",
        }
    }
}

/// Reads `day` and `month` from the form body. 29 February is a birthday (kept on the 28th
/// in common years); the year is never asked.
fn parse_birthday(form: &str) -> Result<(u32, u32), BirthdayFormError> {
    let fields: Vec<(String, String)> = serde_urlencoded::from_str(form).unwrap_or_default();
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.trim())
            .filter(|value| !value.is_empty())
    };
    let (Some(day), Some(month)) = (field("day"), field("month")) else {
        return Err(BirthdayFormError::Missing);
    };
    let (Ok(day), Ok(month)) = (day.parse::<u32>(), month.parse::<u32>()) else {
        return Err(BirthdayFormError::OutOfRange);
    };
    if !(1..=31).contains(&day) || !(1..=12).contains(&month) {
        return Err(BirthdayFormError::OutOfRange);
    }
    // 2024 has a 29 February.
    if chrono::NaiveDate::from_ymd_opt(2024, month, day).is_none() {
        return Err(BirthdayFormError::NoSuchDay);
    }
    Ok((month, day))
}

/// The product's title as the message showed it.
fn product_title(link: &Opened, product_id: &str) -> Option<String> {
    link.message
        .products
        .iter()
        .find(|p| p.product_id == product_id)
        .map(|p| p.title.clone())
}

fn review_url(link: &Opened, product_id: &str) -> String {
    let product = link.message.products.iter().find(|p| p.product_id == product_id);
    match product {
        Some(p) => link.config.review_url(
            &link.shop,
            &p.product_id,
            p.variant_id.as_deref(),
            p.sku.as_deref(),
        ),
        None => link.config.review_url(&link.shop, product_id, None, None),
    }
}

/// `GET /l/{token}` and `POST /l/{token}`.
pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/l/{token}", get(on_get).post(on_post))
        .route("/l/{token}/case", axum::routing::post(make_it_right::on_case))
        .with_state(engine)
}

async fn on_get(
    State(engine): State<Arc<Engine>>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    follow(&engine, &token, Method::Get, "", &headers).await
}

/// The body is read only by the birthday form: the confirm buttons send none, and RFC 8058
/// clients send `List-Unsubscribe=One-Click`, which asks for exactly what the POST does anyway.
async fn on_post(
    State(engine): State<Arc<Engine>>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = std::str::from_utf8(&body).unwrap_or("");
    follow(&engine, &token, Method::Post, form, &headers).await
}

async fn follow(engine: &Engine, token: &str, method: Method, form: &str, headers: &HeaderMap) -> Response {
    let accept_language = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    let result = engine
        .follow_link_with_form(token, method, form, accept_language)
        .await;
    respond(&engine.templates, accept_language, result)
}

/// Pages are personal and the URL is a credential: never cached, indexed or sent as a referrer.
const PRIVATE: [(header::HeaderName, HeaderValue); 3] = [
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
    (
        header::HeaderName::from_static("x-robots-tag"),
        HeaderValue::from_static("noindex"),
    ),
];

const HTML: (header::HeaderName, HeaderValue) = (
    header::CONTENT_TYPE,
    HeaderValue::from_static("text/html; charset=utf-8"),
);

/// What a visitor gets when no page can be rendered: plain, in both built-in languages.
pub const SERVER_ERROR_TEXT: &str = "Something went wrong on our side. Please try again later.\n\
     Qualcosa non ha funzionato da parte nostra. Riprova più tardi.\n";

fn respond(
    templates: &Templates,
    accept_language: Option<&str>,
    result: Result<LinkResponse, LinkFailure>,
) -> Response {
    match result {
        Ok(LinkResponse::Redirect(url)) => {
            (StatusCode::SEE_OTHER, PRIVATE, [(header::LOCATION, url)]).into_response()
        }
        Ok(LinkResponse::Page { status, html, .. }) => (status, PRIVATE, [HTML], html).into_response(),
        Err(LinkFailure::Store(err)) => {
            warn!(error = %err, "a link could not be answered: storage failed");
            let locale = templates.page_locale(accept_language);
            match templates.render_page(Page::TryAgain, &locale, &json!({})) {
                Ok(html) => (StatusCode::SERVICE_UNAVAILABLE, PRIVATE, [HTML], html).into_response(),
                Err(err) => server_error(&err),
            }
        }
        Err(LinkFailure::Page(err)) => server_error(&err),
    }
}

fn server_error(err: &TemplateError) -> Response {
    error!(error = %err, "a link page could not be rendered");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        PRIVATE,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        SERVER_ERROR_TEXT,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    async fn body(response: Response) -> (StatusCode, String, String) {
        let status = response.status();
        let content_type = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, content_type, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_page_that_fails_to_render_is_a_plain_500_never_a_fake_thank_you() {
        let failure = LinkFailure::Page(TemplateError::Render {
            template: "pages/answered.it.html.j2".into(),
            line: Some(3),
            message: "undefined value".into(),
        });
        let response = respond(&Templates::builtin(), Some("it"), Err(failure));
        let (status, content_type, text) = body(response).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(content_type, "text/plain; charset=utf-8");
        assert_eq!(text, SERVER_ERROR_TEXT);
        assert!(!text.contains("Thank") && !text.contains("Grazie"), "{text}");
    }

    #[tokio::test]
    async fn a_storage_failure_asks_to_try_again_in_the_visitors_language() {
        let failure = LinkFailure::Store(StoreError::Backend("throttled".into()));
        let response = respond(&Templates::builtin(), Some("it-IT,it;q=0.9"), Err(failure));
        let (status, content_type, html) = body(response).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(content_type, "text/html; charset=utf-8");
        assert!(html.contains("<h1>Riprova tra un minuto</h1>"), "{html}");
        assert!(
            !html.contains("throttled"),
            "internals never reach the visitor: {html}"
        );

        let failure = LinkFailure::Store(StoreError::Backend("throttled".into()));
        let (_, _, html) = body(respond(&Templates::builtin(), None, Err(failure))).await;
        assert!(
            html.contains(
                "<h1>Please try again in a minute</h1>\n<p>Something went wrong on our side, and \
                 nothing was saved. Please open the link again in a minute.</p>"
            ),
            "{html}"
        );
    }
}
