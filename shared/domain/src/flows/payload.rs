//! What a message carries: each flow's typed payload, one enum over them, and the flat codec
//! they are stored and shown in.
//!
//! A flow's plan decides things its message must say or re-check later (a run-out date, an
//! offer and its expiry, a tier, a referral code). Each flow module declares them as a
//! `Payload` struct; [`Payload`] is the one enum over those structs, chosen by the message's
//! flow. On the wire (the stored message's `details`, the templates' `details`, the outbox's
//! JSON) a payload is the flat map of text it always was (`"run_out_at": "2026-01-05T09:00:00Z"`,
//! `"discount_percent": "10"`). Keeping that shape means rows written before the payload was
//! typed read unchanged, and templates and the outbox see exactly what they saw.

use super::{
    Flow, care_guide, checkout_recovery, cross_sell, early_access, make_it_right, points, referral,
    replenishment, vip, win_back,
};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A payload's wire form: key to text.
pub type Details = BTreeMap<String, String>;

/// A stored payload that does not fit its flow's (a key's value of the wrong kind).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {flow} message's details do not fit its payload: {problem}")]
pub struct PayloadError {
    pub flow: Flow,
    pub problem: String,
}

/// Declares [`Payload`]: one variant per flow that carries data, its accessors, and the
/// dispatch from a flow to its struct. A new flow with a payload adds one line.
macro_rules! payloads {
    ($( $(#[$doc:meta])* $variant:ident($module:ident) => $get:ident, $get_mut:ident ),+ $(,)?) => {
        /// What a message carries, by flow. Flows whose messages need nothing beyond the
        /// order (thank-you, delivery check-in, review request) carry [`Payload::None`].
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub enum Payload {
            #[default]
            None,
            $( $(#[$doc])* $variant($module::Payload) ),+
        }

        impl Payload {
            /// Reads a stored payload of `flow`'s message. No details at all read as
            /// [`Payload::None`], whatever the flow, so a message reads back as it was planned.
            pub fn from_details(flow: Flow, details: &Details) -> Result<Payload, PayloadError> {
                if details.is_empty() {
                    return Ok(Payload::None);
                }
                let problem = |err: serde_json::Error| PayloadError { flow, problem: err.to_string() };
                Ok(match flow {
                    $( Flow::$variant => Payload::$variant(decode(details).map_err(problem)?), )+
                    #[allow(unreachable_patterns)]
                    _ => return Err(PayloadError { flow, problem: "this flow's messages carry no details".into() }),
                })
            }

            /// The wire form: what is stored, and what templates and the outbox show.
            pub fn details(&self) -> Details {
                match self {
                    Payload::None => Details::new(),
                    $( Payload::$variant(p) => encode(p), )+
                }
            }

            $(
                #[doc = concat!("The payload of a `", stringify!($module), "` message, if this is one.")]
                pub fn $get(&self) -> Option<&$module::Payload> {
                    match self {
                        Payload::$variant(p) => Some(p),
                        _ => None,
                    }
                }

                #[doc = concat!("The payload of a `", stringify!($module), "` message to fill in; an empty one replaces a payload of another kind.")]
                pub fn $get_mut(&mut self) -> &mut $module::Payload {
                    if !matches!(self, Payload::$variant(_)) {
                        *self = Payload::$variant(Default::default());
                    }
                    match self {
                        Payload::$variant(p) => p,
                        _ => unreachable!("just set"),
                    }
                }
            )+
        }

        $(
            impl From<$module::Payload> for Payload {
                fn from(payload: $module::Payload) -> Payload {
                    Payload::$variant(payload)
                }
            }
        )+
    };
}

payloads! {
    Replenishment(replenishment) => replenishment, replenishment_mut,
    WinBack(win_back) => win_back, win_back_mut,
    Vip(vip) => vip, vip_mut,
    EarlyAccess(early_access) => early_access, early_access_mut,
    Referral(referral) => referral, referral_mut,
    Points(points) => points, points_mut,
    CheckoutRecovery(checkout_recovery) => checkout_recovery, checkout_recovery_mut,
    MakeItRight(make_it_right) => make_it_right, make_it_right_mut,
    CareGuide(care_guide) => care_guide, care_guide_mut,
    CrossSell(cross_sell) => cross_sell, cross_sell_mut,
}

impl Payload {
    pub fn is_none(&self) -> bool {
        matches!(self, Payload::None)
    }
}

fn decode<P: DeserializeOwned>(details: &Details) -> Result<P, serde_json::Error> {
    let object = details
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    serde_json::from_value(Value::Object(object))
}

/// Every field of a payload struct serialises to text (see [`text`] and [`instant`]), so the
/// map is exactly the old one; `None` fields are left out.
fn encode<P: Serialize>(payload: &P) -> Details {
    let Ok(Value::Object(object)) = serde_json::to_value(payload) else {
        unreachable!("a payload is a struct of text fields")
    };
    object
        .into_iter()
        .filter_map(|(k, v)| match v {
            Value::String(text) => Some((k, text)),
            Value::Null => None,
            other => Some((k, other.to_string())),
        })
        .collect()
}

/// What creating a message's discount code has come to (win-back offers, referral shares
/// and rewards): kept on the message so a retry knows how long it has been failing.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DiscountProgress {
    /// When the shop confirmed the code exists; nothing is asked again after that.
    #[serde(default, with = "instant::option", skip_serializing_if = "Option::is_none")]
    pub discount_created: Option<DateTime<Utc>>,
    /// The last failure, while the code is being retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount_error: Option<String>,
    #[serde(default, with = "text::option", skip_serializing_if = "Option::is_none")]
    pub discount_attempts: Option<u32>,
    #[serde(default, with = "instant::option", skip_serializing_if = "Option::is_none")]
    pub discount_first_error: Option<DateTime<Utc>>,
}

/// An optional value stored as its `Display` text (`"10"`, `"2.5"`), parsed back with `FromStr`.
pub(crate) mod text {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    use std::fmt::Display;
    use std::str::FromStr;

    fn parse<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|err| D::Error::custom(format!("{text:?} does not read: {err}")))
    }

    pub mod option {
        use super::*;

        pub fn serialize<T: Display, S: Serializer>(value: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
            match value {
                Some(value) => s.collect_str(value),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
        where
            T: FromStr,
            T::Err: Display,
            D: Deserializer<'de>,
        {
            super::parse(d).map(Some)
        }
    }
}

/// An instant stored as RFC 3339 in UTC to the second (`2026-01-05T09:00:00Z`), the form
/// templates' `date` filters read.
pub(crate) mod instant {
    use super::*;
    use serde::{Deserializer, Serializer, de::Error};

    pub fn text(at: DateTime<Utc>) -> String {
        at.to_rfc3339_opts(SecondsFormat::Secs, true)
    }

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&text(*at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|err| D::Error::custom(format!("{text:?} is not an RFC 3339 instant: {err}")))
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => super::serialize(at, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
            super::deserialize(d).map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;
    use crate::flows::vip::TierName;
    use crate::flows::win_back::{IncentiveKind, Segment};
    use chrono::TimeZone;
    use rust_decimal::Decimal;

    fn details(pairs: &[(&str, &str)]) -> Details {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The maps the flows wrote before payloads were typed, one per kind of message.
    fn written_by_the_old_code() -> Vec<(Flow, Details)> {
        vec![
            (
                Flow::Replenishment,
                details(&[
                    ("order_id", "820982911946154508"),
                    ("product_id", "632910392"),
                    ("variant_id", "808950810"),
                    ("quantity", "2"),
                    ("run_out_at", "2026-03-02T00:00:00Z"),
                    ("supply", "learned from 8 repeat purchases"),
                    ("reorder_url", "https://demo.myshopify.com/cart/808950810:2"),
                    ("complement_id", "632910393"),
                    ("complement_title", "Refill pack"),
                    ("complement_url", "https://demo.myshopify.com/products/refill"),
                ]),
            ),
            (
                Flow::WinBack,
                details(&[
                    ("last_order_at", "2026-01-05T09:00:00Z"),
                    ("lapse_at", "2026-03-26T09:00:00Z"),
                    ("window_days", "80"),
                    ("segment", "recent_first_timer"),
                    ("incentive", "discount"),
                    ("discount_percent", "12.5"),
                    ("offer_code", "BACK-K7M2P9QX4R"),
                    ("offer_expires_at", "2026-04-02T22:59:59Z"),
                    ("repeat_buyers", "3"),
                    ("discount_attempts", "4"),
                    ("discount_first_error", "2026-03-27T09:00:00Z"),
                    ("discount_error", "the shop refused: 403"),
                ]),
            ),
            (
                Flow::WinBack,
                details(&[
                    ("incentive", "points"),
                    ("points", "200"),
                    ("segment", "high_value"),
                ]),
            ),
            (
                Flow::Vip,
                details(&[
                    ("tier", "Gold"),
                    ("years", "2"),
                    ("first_order_at", "2024-05-01T10:00:00Z"),
                ]),
            ),
            (
                Flow::EarlyAccess,
                details(&[
                    ("campaign", "Autumn drop"),
                    ("campaign_key", "autumn-drop"),
                    ("message", "New colours, for you first."),
                    ("public_start_at", "2026-12-01T09:00:00Z"),
                    ("tier", "Silver"),
                ]),
            ),
            (
                Flow::Referral,
                details(&[
                    ("code", "ANNA-7K2M9P"),
                    ("friend_percent", "15"),
                    ("friend_minimum", "40"),
                ]),
            ),
            (
                Flow::Referral,
                details(&[
                    ("reward_code", "THANKS-Q4R8T2"),
                    ("reward_percent", "10"),
                    ("friend_order", "728"),
                    ("friend_first_name", "Bea"),
                    ("reward_expires_at", "2027-01-01T00:00:00Z"),
                    ("discount_created", "2026-12-02T08:00:00Z"),
                ]),
            ),
            (Flow::ThankYou, Details::new()),
            (Flow::ReviewRequest, Details::new()),
        ]
    }

    #[test]
    fn every_map_the_old_code_wrote_reads_and_is_written_back_unchanged() {
        for (flow, old) in written_by_the_old_code() {
            let payload = Payload::from_details(flow, &old).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(payload.details(), old, "{flow}: {payload:?}");
        }
    }

    #[test]
    fn stored_text_becomes_typed_values() {
        let all = written_by_the_old_code();
        let offer = Payload::from_details(Flow::WinBack, &all[1].1).unwrap();
        let offer = offer.win_back().unwrap();
        assert_eq!(offer.incentive, Some(IncentiveKind::Discount));
        assert_eq!(offer.segment, Some(Segment::RecentFirstTimer));
        assert_eq!(offer.discount_percent, Some(Decimal::new(125, 1)));
        assert_eq!(offer.window_days, Some(80));
        assert_eq!(
            offer.offer_expires_at,
            Some(Utc.with_ymd_and_hms(2026, 4, 2, 22, 59, 59).unwrap())
        );
        assert_eq!(offer.discount.discount_attempts, Some(4));
        let vip = Payload::from_details(Flow::Vip, &all[3].1).unwrap();
        assert_eq!(vip.vip().unwrap().tier, Some(TierName("Gold".into())));
        let reward = Payload::from_details(Flow::Referral, &all[6].1).unwrap();
        assert_eq!(
            reward.referral().unwrap().friend_order.as_ref().unwrap().as_str(),
            "728"
        );
    }

    #[test]
    fn an_instant_is_stored_to_the_second_in_utc() {
        let mut payload = Payload::None;
        payload.vip_mut().first_order_at =
            Some(Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap() + chrono::Duration::milliseconds(250));
        assert_eq!(payload.details()["first_order_at"], "2024-05-01T10:00:00Z");
    }

    #[test]
    fn details_of_the_wrong_kind_say_which_flow_and_value() {
        let err = Payload::from_details(Flow::WinBack, &details(&[("window_days", "eighty")])).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "the win-back message's details do not fit its payload: \"eighty\" does not read"
            ),
            "{err}"
        );
        let err = Payload::from_details(Flow::Vip, &details(&[("first_order_at", "yesterday")])).unwrap_err();
        assert!(
            err.to_string()
                .contains("\"yesterday\" is not an RFC 3339 instant"),
            "{err}"
        );
        let err = Payload::from_details(Flow::ThankYou, &details(&[("tier", "Gold")])).unwrap_err();
        assert!(err.to_string().contains("carry no details"), "{err}");
    }

    /// A row exactly as the old code stored it (field order included) reads, and is written
    /// back byte for byte, processing-error count included.
    #[test]
    fn a_stored_message_of_the_old_shape_reads_and_writes_back_identically() {
        let old = concat!(
            r#"{"shop":"demo.myshopify.com","customer_id":"c1","flow":"win-back","subject":"1001","#,
            r#""step":"offer","order_id":null,"class":"marketing","channel":"email","#,
            r#""due_at":"2026-03-29T09:00:00Z","due_basis":"known","status":"planned","#,
            r#""reason":"retrying: discount code: the shop refused: 403","#,
            r#""planned_at":"2026-03-26T09:00:00Z","lease_until":null,"attempts":1,"products":[],"#,
            r#""details":{"discount_attempts":"1","discount_error":"the shop refused: 403","#,
            r#""discount_first_error":"2026-03-28T09:00:00Z","discount_percent":"10","incentive":"discount","#,
            r#""lapse_at":"2026-03-26T09:00:00Z","last_order_at":"2026-01-05T09:00:00Z","#,
            r#""offer_code":"BACK-K7M2P9QX4R","processing_errors":"2","segment":"regular","window_days":"80"},"#,
            r#""to":null,"rendered_subject":null,"sent_at":null,"provider_id":null,"version":4}"#
        );
        let message: Message = serde_json::from_str(old).unwrap();
        assert_eq!(message.processing_errors, 2);
        let offer = message.payload.win_back().unwrap();
        assert_eq!(offer.offer_code.as_deref(), Some("BACK-K7M2P9QX4R"));
        assert_eq!(
            offer.discount.discount_error.as_deref(),
            Some("the shop refused: 403")
        );
        assert_eq!(serde_json::to_string(&message).unwrap(), old);

        let without_details = old.replace(
            &old[old.find(r#""details""#).unwrap()..old.find(r#""to""#).unwrap()],
            "",
        );
        let thank_you = without_details
            .replace("win-back", "thank-you")
            .replace(r#""step":"offer""#, r#""step":"thank-you""#);
        let message: Message = serde_json::from_str(&thank_you).unwrap();
        assert!(message.payload.is_none());
        assert_eq!(serde_json::to_string(&message).unwrap(), thank_you);

        // A step is read by its flow: a thank-you has no `offer`, and the error says so.
        let wrong_step = without_details.replace("win-back", "thank-you");
        let err = serde_json::from_str::<Message>(&wrong_step).unwrap_err();
        assert!(
            err.to_string().contains(
                "the thank-you message's details do not fit its payload: \"offer\" is not one of its steps"
            ),
            "{err}"
        );
    }
}
