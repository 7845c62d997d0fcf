//! The shop's config as written: what the TOML file (and the stored JSON) holds, with every
//! value still text. [`ShopConfig`] is converted from it once, naming the field of any value
//! that does not parse, and written back through it, so the stored form is the file's form.

use super::{AdminApiConfig, CapsConfig, ConsentConfig, QuietHours, Sender, ShopConfig};
use crate::flows::FlowsConfig;
use crate::points::PointsConfig;
use crate::{ConfigError, ShopId};
use chrono::NaiveTime;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawShopConfig {
    pub shop: Option<ShopId>,
    pub shop_name: Option<String>,
    pub shop_url: Option<String>,
    pub locale: String,
    pub time_zone: Tz,
    pub sender: Option<String>,
    pub support_email: Option<String>,
    pub consent: ConsentConfig,
    pub caps: CapsConfig,
    pub quiet_hours: RawQuietHours,
    pub flows: FlowsConfig,
    pub admin_api: Option<AdminApiConfig>,
    pub points: PointsConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawQuietHours {
    pub start: String,
    pub end: String,
    pub apply_to_email: bool,
}

impl Default for RawShopConfig {
    fn default() -> Self {
        ShopConfig::default().into()
    }
}

impl Default for RawQuietHours {
    fn default() -> Self {
        QuietHours::default().into()
    }
}

impl TryFrom<RawShopConfig> for ShopConfig {
    type Error = ConfigError;

    fn try_from(raw: RawShopConfig) -> Result<ShopConfig, ConfigError> {
        let shop_url = raw
            .shop_url
            .map(|url| {
                web_address(&url).ok_or_else(|| {
                    ConfigError::invalid(
                        "shop_url",
                        format!("'{url}' is not a web address such as https://shop.example"),
                    )
                })
            })
            .transpose()?;
        let sender = raw
            .sender
            .map(|s| Sender::parse(&s).map_err(|problem| ConfigError::invalid("sender", problem)))
            .transpose()?;
        if let Some(support) = &raw.support_email
            && let Err(problem) = crate::check_email_address(support)
        {
            return Err(ConfigError::invalid(
                "support_email",
                format!("'{support}' is not an email address: it {problem}"),
            ));
        }
        Ok(ShopConfig {
            shop: raw.shop,
            shop_name: raw.shop_name,
            shop_url,
            locale: raw.locale,
            time_zone: raw.time_zone,
            sender,
            support_email: raw.support_email,
            consent: raw.consent,
            caps: raw.caps,
            quiet_hours: QuietHours {
                start: clock("quiet_hours.start", &raw.quiet_hours.start)?,
                end: clock("quiet_hours.end", &raw.quiet_hours.end)?,
                apply_to_email: raw.quiet_hours.apply_to_email,
            },
            flows: raw.flows,
            admin_api: raw.admin_api,
            points: raw.points,
        })
    }
}

impl From<ShopConfig> for RawShopConfig {
    fn from(config: ShopConfig) -> RawShopConfig {
        RawShopConfig {
            shop: config.shop,
            shop_name: config.shop_name,
            shop_url: config.shop_url.map(String::from),
            locale: config.locale,
            time_zone: config.time_zone,
            sender: config.sender.map(|s| s.to_string()),
            support_email: config.support_email,
            consent: config.consent,
            caps: config.caps,
            quiet_hours: config.quiet_hours.into(),
            flows: config.flows,
            admin_api: config.admin_api,
            points: config.points,
        }
    }
}

impl From<QuietHours> for RawQuietHours {
    fn from(hours: QuietHours) -> RawQuietHours {
        RawQuietHours {
            start: hours.start.format("%H:%M").to_string(),
            end: hours.end.format("%H:%M").to_string(),
            apply_to_email: hours.apply_to_email,
        }
    }
}

fn clock(field: &'static str, text: &str) -> Result<NaiveTime, ConfigError> {
    NaiveTime::parse_from_str(text, "%H:%M")
        .map_err(|_| ConfigError::invalid(field, format!("'{text}' is not a time like 20:00")))
}

/// An `http(s)://host/...` address, without the trailing `/` links are joined after.
fn web_address(text: &str) -> Option<url::Url> {
    let url = url::Url::parse(text.trim()).ok()?;
    let web = matches!(url.scheme(), "https" | "http") && url.host_str().is_some_and(|h| !h.is_empty());
    (web && url.username().is_empty() && url.password().is_none()).then_some(url)
}
