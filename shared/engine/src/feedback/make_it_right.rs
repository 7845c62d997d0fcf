//! Make-it-right on the check-in's "something went wrong" page: the form that asks what
//! happened (`POST /l/{token}/case`, under the same signed link), and the case it opens (the
//! rules are in `aftersale_domain::flows::make_it_right`).
//!
//! **Exactly once.** The case is inserted with a conditional write keyed by the order before
//! anything else happens, and the code it hands out is chosen inside it: a second submit
//! (a double click, a reload, a second tab) finds the case and shows it again, creating
//! nothing. The code is created in the shop right away so the page can show it; if the shop's
//! API fails, the email that carries the code creates it before it is sent, with the retries
//! every discount code gets.

use super::{LinkFailure, LinkResponse, Opened};
use crate::Engine;
use crate::flows::{instant, marketing_message};
use aftersale_domain::flows::make_it_right::{
    Case, CodeValue, ProblemKind, Report, ReportError, Resolution, Step,
};
use aftersale_domain::{Currency, Customer, MessageClass, OrderId, OrderRecord, Platform};
use aftersale_links::LinkAction;
use aftersale_ports::StoreError;
use aftersale_ports::documents::{self, keys};
use aftersale_rewards::{
    CodePrefix, CustomerEligibility, DiscountCode, DiscountError, DiscountRequest, DiscountValue,
    OneCustomer, UsageLimit,
};
use aftersale_templates::Page;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::sync::Arc;
use tracing::{info, warn};

/// How a guest's customer id starts (`CustomerId::for_guest_email`): not a platform id.
const GUEST_PREFIX: &str = "guest-";

/// Make-it-right codes look like `SORRY-K7M2P9QX4R`.
const CODE_PREFIX: &str = "SORRY";

/// The form's fields.
const KIND: &str = "kind";
const COMMENT: &str = "comment";

/// The largest form body read (a comment of 2000 characters, percent-encoded, fits).
const MAX_FORM_BYTES: usize = 32 * 1024;

/// Whether the "something went wrong" page asks what happened: the shop runs make-it-right
/// and the message is about an order. Then the case tells support (or hands out a code), and
/// the answer alone alerts nobody.
pub(super) fn asks_what_happened(link: &Opened) -> bool {
    link.config.flows.make_it_right.enabled && link.message.order_id.is_some()
}

impl Engine {
    /// The "we're sorry" page, with the make-it-right form when the shop runs it and the
    /// message is about an order; `problem` re-shows the form after a refused submit.
    pub(super) async fn delivery_problem_page(
        &self,
        link: &Opened,
        status: StatusCode,
        problem: Option<&ReportError>,
    ) -> Result<LinkResponse, LinkFailure> {
        let config = &link.config;
        let form = asks_what_happened(link).then(|| {
            json!({
                "action": format!("/l/{}/case", link.token),
                "kinds": ProblemKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
                "max_comment": aftersale_domain::flows::make_it_right::MAX_COMMENT_CHARS,
            })
        });
        let ctx = json!({
            "shop": { "name": config.display_name(&link.shop), "support_email": config.support_email },
            "form": form,
            "error": problem.map(problem_code),
        });
        self.render(status, Page::DeliveryProblem, &link.locale, ctx)
    }

    /// `POST /l/{token}/case`: opens the order's case from the form, or shows the one already
    /// open. A bad link or bad form changes nothing and says why.
    pub async fn report_problem(
        &self,
        token: &str,
        body: &[u8],
        accept_language: Option<&str>,
    ) -> Result<LinkResponse, LinkFailure> {
        let visitor_locale = self.templates.page_locale(accept_language);
        let link = match self.verified(token, &visitor_locale).await? {
            Ok(link) => link,
            Err(refused) => return Ok(refused),
        };
        let order_id = match (&link.claims.action, &link.message.order_id) {
            (LinkAction::Delivery { ok: false }, Some(order)) if link.config.flows.make_it_right.enabled => {
                order.clone()
            }
            _ => {
                info!(shop = %link.shop, "refused a case for a link that does not open one");
                let ctx = json!({ "reason": "damaged" });
                return self.render(StatusCode::BAD_REQUEST, Page::Invalid, &link.locale, ctx);
            }
        };
        let report = match read_form(body) {
            Ok(report) => report,
            Err(problem) => {
                info!(shop = %link.shop, problem = %problem, "refused a make-it-right form");
                return self
                    .delivery_problem_page(&link, StatusCode::BAD_REQUEST, Some(&problem))
                    .await;
            }
        };
        let key = keys::case(&order_id);
        if let Some(existing) = documents::load::<Case, _>(self.store.as_ref(), &link.shop, &key).await? {
            info!(shop = %link.shop, "a case for this order is already open; shown again");
            return self.case_page(&link, &existing.value);
        }
        let record = self
            .store
            .load_order(&link.shop, &order_id)
            .await?
            .map(|v| v.value);
        let (case, value) = self.open_case(&link, order_id, report, record.as_ref()).await?;
        if !documents::insert(self.store.as_ref(), &link.shop, &key, &case).await? {
            // Another submit won the race: its case (and its code) is the one.
            let Some(winner) = documents::load::<Case, _>(self.store.as_ref(), &link.shop, &key).await?
            else {
                return Err(StoreError::Conflict { what: key }.into());
            };
            return self.case_page(&link, &winner.value);
        }
        info!(shop = %link.shop, kind = %case.kind, "make-it-right case opened");
        match (&case.resolution, value) {
            (Resolution::Support { reply_by }, _) => {
                self.alert_support(&link, &case, record.as_ref(), *reply_by)
                    .await?;
            }
            (Resolution::Code { .. }, Some(value)) => self.hand_out_code(&link, &case, value).await?,
            (Resolution::Code { .. }, None) => {}
        }
        self.case_page(&link, &case)
    }

    /// The case for the report under the shop's menu: a code when the menu says so and the
    /// shop can create one, else a person.
    async fn open_case(
        &self,
        link: &Opened,
        order_id: OrderId,
        report: Report,
        record: Option<&OrderRecord>,
    ) -> Result<(Case, Option<CodeValue>), StoreError> {
        let config = &link.config.flows.make_it_right;
        let currency = record
            .and_then(|r| r.snapshot.as_ref())
            .map(|o| o.total.currency)
            .unwrap_or_else(|| Currency::new("USD").expect("USD is a currency"));
        let mut code = None;
        if let Some(value) = Case::code_value(config.menu.remedy(report.kind), currency) {
            if self.shop_makes_codes(link).await? {
                let prefix = CodePrefix::new(CODE_PREFIX).expect("a valid prefix");
                code = Some((DiscountCode::generate(&prefix).as_str().to_string(), value));
            } else {
                warn!(shop = %link.shop, "the menu offers a code but the shop has no Admin API; support is told instead");
            }
        }
        let value = code.as_ref().map(|(_, value)| value.clone());
        let case = Case::open(
            order_id,
            link.customer.id.clone(),
            report,
            config,
            code,
            self.clock.now(),
        );
        Ok((case, value))
    }

    async fn shop_makes_codes(&self, link: &Opened) -> Result<bool, StoreError> {
        let state = self.store.load_shop(&link.shop).await?;
        Ok(state.as_ref().is_none_or(|s| s.is_installed())
            && (link.config.admin_api.is_some() || state.is_some_and(|s| s.has_app_install())))
    }

    /// Creates the case's code in the shop and plans the email that carries it (which creates
    /// the code itself if the shop's API failed here).
    async fn hand_out_code(&self, link: &Opened, case: &Case, value: CodeValue) -> Result<(), StoreError> {
        let Resolution::Code { code, expires_at, .. } = &case.resolution else {
            return Ok(());
        };
        let now = self.clock.now();
        let mut message = marketing_message(
            &link.shop,
            &case.customer_id,
            case.order_id.to_string(),
            Step::Credit.into(),
            now,
            now,
        );
        // Owed, not sold: it needs no marketing consent and carries no unsubscribe.
        message.class = MessageClass::Transactional;
        message.order_id = Some(case.order_id.clone());
        let payload = message.payload.make_it_right_mut();
        payload.case_kind = Some(case.kind);
        payload.offer_code = Some(code.clone());
        payload.code_value = Some(display_value(case));
        payload.offer_expires_at = Some(*expires_at);
        match &value {
            CodeValue::Percent(p) => payload.discount_percent = Some(*p),
            CodeValue::Amount(m) => {
                payload.credit_amount = Some(m.amount);
                payload.credit_currency = Some(m.currency.to_string());
            }
        }
        let request = discount_request(&message, value, now, *expires_at, Some(&link.customer))?;
        match self.create_code_now(link, &request).await {
            Ok(()) => {
                message.payload.make_it_right_mut().discount.discount_created = Some(now);
            }
            Err(err) => warn!(error = %err, "make-it-right code not created yet; its email will try again"),
        }
        self.plan_once(message, Default::default()).await?;
        Ok(())
    }

    async fn create_code_now(&self, link: &Opened, request: &DiscountRequest) -> Result<(), DiscountError> {
        let platform = self
            .store
            .load_shop(&link.shop)
            .await
            .ok()
            .flatten()
            .map_or(Platform::Shopify, |s| s.platform);
        let api = self
            .senders
            .discounts
            .for_shop(&link.shop, platform, link.config.admin_api.as_ref())
            .await?;
        match api.create_discount(request).await {
            Ok(_) | Err(DiscountError::AlreadyExists) => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Tells support about a major problem: the order, its items, the customer's words and
    /// the reply the customer was promised.
    async fn alert_support(
        &self,
        link: &Opened,
        case: &Case,
        record: Option<&OrderRecord>,
        reply_by: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let about = self.about(link).await?;
        let items = record
            .and_then(|r| r.snapshot.as_ref())
            .map(|o| {
                o.line_items
                    .iter()
                    .map(|li| format!("{} x {}", li.quantity, li.title))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .filter(|items| !items.is_empty())
            .unwrap_or_else(|| "(not known)".into());
        let words = case
            .comment
            .as_deref()
            .map_or("(no comment)".to_string(), |c| format!("\"{c}\""));
        let hours = link.config.flows.make_it_right.response_hours;
        self.alert(
            &format!("Aftersale: make it right ({})", case.kind),
            &format!(
                "{} reported a problem: {}.\nItems: {items}.\nIn their words: {words}\nThey were promised a reply within {hours} hours, by {}.\nMark it answered and resolved with `aftersale cases answer|resolve --shop {} --order {}`.",
                about,
                case.kind,
                instant(reply_by),
                link.shop,
                case.order_id,
            ),
        )
        .await;
        Ok(())
    }

    fn case_page(&self, link: &Opened, case: &Case) -> Result<LinkResponse, LinkFailure> {
        let (code, reply_by) = match &case.resolution {
            Resolution::Code {
                code,
                value,
                expires_at,
            } => (
                Some(json!({ "code": code, "value": value, "expires_at": instant(*expires_at) })),
                None,
            ),
            Resolution::Support { reply_by } => (None, Some(instant(*reply_by))),
        };
        let ctx = json!({
            "shop": { "name": link.config.display_name(&link.shop), "support_email": link.config.support_email },
            "kind": case.kind.as_str(),
            "code": code,
            "reply_by": reply_by,
            "response_hours": link.config.flows.make_it_right.response_hours,
            "time_zone": link.customer.time_zone.unwrap_or(link.config.time_zone).name(),
        });
        self.render(StatusCode::OK, Page::CaseRecorded, &link.locale, ctx)
    }
}

/// The discount a make-it-right email carries, rebuilt from its payload on a retry. It is
/// the customer's own: tied to their account on Shopify, to their email on WooCommerce
/// (`customer` is `None` only when their profile is gone; the code is single use anyway).
pub(crate) fn discount_request(
    message: &aftersale_domain::Message,
    value: CodeValue,
    now: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    customer: Option<&Customer>,
) -> Result<DiscountRequest, StoreError> {
    let code = message
        .payload
        .make_it_right()
        .and_then(|p| p.offer_code.as_deref())
        .unwrap_or_default();
    Ok(DiscountRequest {
        code: DiscountCode::parse(code).map_err(|err| StoreError::Corrupt {
            what: format!("make-it-right code {code}"),
            detail: err.to_string(),
        })?,
        title: format!("Aftersale make-it-right for order {}", message.subject),
        value: match value {
            CodeValue::Percent(p) => DiscountValue::Percentage(p),
            CodeValue::Amount(m) => DiscountValue::FixedAmount(m),
        },
        usage: UsageLimit::SingleUse,
        customers: CustomerEligibility::OneCustomer(OneCustomer {
            platform_id: (!message.customer_id.as_str().starts_with(GUEST_PREFIX))
                .then(|| message.customer_id.to_string()),
            email: customer.and_then(|c| c.email.clone()),
        }),
        products: Vec::new(),
        minimum_subtotal: None,
        starts_at: now,
        ends_at: Some(ends_at),
    })
}

fn display_value(case: &Case) -> String {
    match &case.resolution {
        Resolution::Code { value, .. } => value.clone(),
        Resolution::Support { .. } => String::new(),
    }
}

/// What the page says about a refused form, in its own words per language.
fn problem_code(problem: &ReportError) -> &'static str {
    match problem {
        ReportError::NoKind => "no_kind",
        ReportError::UnknownKind(_) => "unknown_kind",
        ReportError::CommentTooLong => "comment_too_long",
    }
}

/// The form body: `kind` and `comment`, URL-encoded as browsers send them.
fn read_form(body: &[u8]) -> Result<Report, ReportError> {
    if body.len() > MAX_FORM_BYTES {
        return Err(ReportError::CommentTooLong);
    }
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    Report::parse(field(KIND), field(COMMENT))
}

/// `POST /l/{token}/case`.
pub(super) async fn on_case(
    State(engine): State<Arc<Engine>>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let accept_language = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    let result = engine.report_problem(&token, &body, accept_language).await;
    super::respond(&engine.templates, accept_language, result)
}
