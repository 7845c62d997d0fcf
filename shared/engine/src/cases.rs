//! Make-it-right cases as support works them (`aftersale cases`): list a shop's cases, mark
//! one answered (its time to first response) or resolved (the order's review request may then
//! go). Each case is one document, `case#{order}`, updated with a conditional write.

use aftersale_domain::flows::make_it_right::{Case, CaseError, Resolution};
use aftersale_domain::{OrderId, ShopId};
use aftersale_ports::documents::{self, keys};
use aftersale_ports::{Documents, StoreError};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

/// Why a case command changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum CaseCommandError {
    #[error("no make-it-right case for order {order} in {shop} (`aftersale cases --shop {shop}` lists them)")]
    NotFound { shop: ShopId, order: OrderId },
    #[error("the case for order {order}: {problem}")]
    Refused { order: OrderId, problem: CaseError },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The shop's cases, oldest first.
pub async fn list<S: Documents + ?Sized>(store: &S, shop: &ShopId) -> Result<Vec<Case>, StoreError> {
    let mut cases: Vec<Case> = documents::list::<Case, S>(store, shop, keys::CASES_PREFIX)
        .await?
        .into_iter()
        .map(|(_, case)| case)
        .collect();
    cases.sort_by_key(|c| c.opened_at);
    Ok(cases)
}

/// The order's case, if one was opened.
pub async fn for_order<S: Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
    order: &OrderId,
) -> Result<Option<Case>, StoreError> {
    Ok(documents::load::<Case, S>(store, shop, &keys::case(order))
        .await?
        .map(|v| v.value))
}

/// Support answered the customer for the first time.
pub async fn answer<S: Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
    order: &OrderId,
    now: DateTime<Utc>,
) -> Result<Case, CaseCommandError> {
    change(store, shop, order, |case| case.mark_answered(now)).await
}

/// The case is settled; the order's review request may go.
pub async fn resolve<S: Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
    order: &OrderId,
    now: DateTime<Utc>,
) -> Result<Case, CaseCommandError> {
    change(store, shop, order, |case| case.mark_resolved(now)).await
}

async fn change<S: Documents + ?Sized>(
    store: &S,
    shop: &ShopId,
    order: &OrderId,
    step: impl Fn(&mut Case) -> Result<(), CaseError>,
) -> Result<Case, CaseCommandError> {
    let key = keys::case(order);
    for _ in 0..8 {
        let Some(found) = documents::load::<Case, S>(store, shop, &key).await? else {
            return Err(CaseCommandError::NotFound {
                shop: shop.clone(),
                order: order.clone(),
            });
        };
        let mut case = found.value;
        step(&mut case).map_err(|problem| CaseCommandError::Refused {
            order: order.clone(),
            problem,
        })?;
        let value = serde_json::to_value(&case).map_err(StoreError::backend)?;
        match store.save_document(shop, &key, &value, found.version).await {
            Ok(()) => return Ok(case),
            Err(StoreError::Conflict { .. }) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(StoreError::Conflict { what: key }.into())
}

fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One case as `aftersale cases --json` prints it.
pub fn case_json(shop: &ShopId, case: &Case) -> Value {
    let (resolution, code, reply_by) = match &case.resolution {
        Resolution::Code { code, value, .. } => ("code", Some(format!("{code} ({value})")), None),
        Resolution::Support { reply_by } => ("support", None, Some(instant(*reply_by))),
    };
    json!({
        "shop": shop,
        "order_id": case.order_id,
        "customer_id": case.customer_id,
        "kind": case.kind.as_str(),
        "comment": case.comment,
        "opened_at": instant(case.opened_at),
        "resolution": resolution,
        "code": code,
        "reply_by": reply_by,
        "answered_at": case.answered_at.map(instant),
        "resolved_at": case.resolved_at.map(instant),
        "first_response_minutes": case.time_to_first_response().map(|d| d.num_minutes()),
    })
}
