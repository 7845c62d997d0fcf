//! Make-it-right's email: the code a customer got for a minor problem they reported on the
//! check-in's page (`crate::feedback`). The page creates the code in the shop; when the shop's
//! API failed there, the email creates it before it goes, with the usual retries.

use super::{FlowJob, Prepared, discount_codes, parse_instant};
use crate::Engine;
use crate::feedback::discount_request;
use aftersale_domain::flows::make_it_right::CodeValue;
use aftersale_domain::{Currency, FailReason, Flow, Message, Money, ShopConfig};
use aftersale_ports::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

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
        if message.details.contains_key("discount_created") {
            return Ok(Prepared::Proceed(Box::new(message)));
        }
        let Some((value, ends_at)) = code_of(&message) else {
            return Ok(Prepared::fail(FailReason::OfferWithoutCode));
        };
        let request = discount_request(&message, value, now, ends_at)?;
        discount_codes::create_discount(engine, message, config, &request, now).await
    }
}

/// The code's value and end, as the page wrote them into the message.
fn code_of(message: &Message) -> Option<(CodeValue, DateTime<Utc>)> {
    let ends_at = parse_instant(message.details.get("offer_expires_at"))?;
    if let Some(percent) = message.details.get("discount_percent") {
        return Some((CodeValue::Percent(percent.parse::<Decimal>().ok()?), ends_at));
    }
    // "10.00 EUR", as `Money` writes itself.
    let (amount, currency) = message.details.get("credit_amount")?.split_once(' ')?;
    let money = Money::new(amount.parse().ok()?, Currency::new(currency).ok()?);
    Some((CodeValue::Amount(money), ends_at))
}
