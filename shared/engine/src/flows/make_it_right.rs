//! Make-it-right's email: the code a customer got for a minor problem they reported on the
//! check-in's page (`crate::feedback`). The page creates the code in the shop; when the shop's
//! API failed there, the email creates it before it goes, with the usual retries.

use super::{FlowJob, Prepared, discount_codes};
use crate::Engine;
use crate::feedback::discount_request;
use aftersale_domain::flows::make_it_right::CodeValue;
use aftersale_domain::{Currency, FailReason, Flow, Message, Money, ShopConfig};
use aftersale_ports::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub(super) struct Job;

#[async_trait]
impl FlowJob for Job {
    fn flow(&self) -> Flow {
        Flow::MakeItRight
    }

    async fn prepare(
        &self,
        engine: &Engine,
        message: Message,
        config: &ShopConfig,
        now: DateTime<Utc>,
    ) -> Result<Prepared, StoreError> {
        if message
            .payload
            .make_it_right()
            .is_some_and(|p| p.discount.discount_created.is_some())
        {
            return Ok(Prepared::Proceed(Box::new(message)));
        }
        let Some((value, ends_at)) = code_of(&message) else {
            return Ok(Prepared::fail(FailReason::OfferWithoutCode));
        };
        let customer = engine
            .store
            .load_customer(&message.shop, &message.customer_id)
            .await?;
        let request = discount_request(&message, value, now, ends_at, customer.as_ref())?;
        discount_codes::create_discount(engine, message, config, &request, now).await
    }
}

/// The code's value and end, as the page wrote them into the message.
fn code_of(message: &Message) -> Option<(CodeValue, DateTime<Utc>)> {
    let payload = message.payload.make_it_right()?;
    let ends_at = payload.offer_expires_at?;
    if let Some(percent) = payload.discount_percent {
        return Some((CodeValue::Percent(percent), ends_at));
    }
    let currency = Currency::new(payload.credit_currency.as_deref()?).ok()?;
    Some((
        CodeValue::Amount(Money::new(payload.credit_amount?, currency)),
        ends_at,
    ))
}
