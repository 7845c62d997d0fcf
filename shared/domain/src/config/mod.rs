//! Per-shop configuration: one TOML file per shop, validated into a typed struct. Every field
//! has a default a merchant would choose, so an empty file (or none) is a working setup.

pub use crate::ConfigError;
use crate::flows::FlowsConfig;
use crate::points::PointsConfig;
use crate::{Consent, Flow, ShopId};
use chrono::NaiveTime;
use chrono_tz::Tz;
pub use raw::RawShopConfig;
pub use sender::Sender;
use serde::{Deserialize, Serialize};

mod raw;
mod sender;

fn invalid(field: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::invalid(field, problem)
}

/// A shop's settings, typed: every value was parsed once, when the file or the stored form
/// was read through [`RawShopConfig`] (whose shape they serialise back to).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawShopConfig", into = "RawShopConfig")]
pub struct ShopConfig {
    /// The shop these settings belong to (checked against where the file is loaded).
    pub shop: Option<ShopId>,
    /// How messages sign off: "The team at {shop_name}".
    pub shop_name: Option<String>,
    /// The shop's own address for the links in messages (`https://torrefazione.example`);
    /// unset, `https://{shop}` (for Shopify, the *.myshopify.com domain).
    pub shop_url: Option<url::Url>,
    /// The shop's language, used when the customer's is unknown.
    pub locale: String,
    /// Quiet hours fall back to this when the customer's own zone is unknown.
    pub time_zone: Tz,
    /// `Name <address>` the emails come from (must be verified in SES for production).
    pub sender: Option<Sender>,
    /// Where low ratings and delivery problems are reported, besides the alerts topic (a
    /// plain address, checked on load).
    pub support_email: Option<String>,
    pub consent: ConsentConfig,
    pub caps: CapsConfig,
    pub quiet_hours: QuietHours,
    pub flows: FlowsConfig,
    /// The shop's Admin API, for the discount codes of referrals and win-back offers.
    pub admin_api: Option<AdminApiConfig>,
    /// Loyalty points (`[points]`); off by default.
    pub points: PointsConfig,
}

/// Where the shop's Admin API is and which secrets hold its credentials. The secrets are
/// names (environment variables locally, SSM parameters on AWS), never the values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminApiConfig {
    /// Shopify: unset means `https://{shop}` (the myshopify domain). WooCommerce: the site URL.
    pub base_url: Option<String>,
    /// Shopify: the Admin API access token's secret name.
    pub access_token_secret: Option<String>,
    /// WooCommerce: the REST API consumer key's and secret's names.
    pub consumer_key_secret: Option<String>,
    pub consumer_secret_secret: Option<String>,
    /// No longer set here: every Admin API call uses the one pinned version. Kept so that an
    /// old config that names it is refused with a sentence, not "unknown field".
    pub api_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsentConfig {
    /// WooCommerce sends no consent: what to assume for its customers' marketing consent.
    pub woocommerce_default: Consent,
    /// Whether service messages (survey, review request) need marketing consent too.
    /// Off by default: they are about a purchase and always carry a one-click unsubscribe.
    pub service_requires_consent: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CapsConfig {
    /// Most marketing messages one customer gets in `window_days`.
    pub marketing_per_window: u32,
    pub window_days: u32,
}

/// Quiet hours, as local times (written "20:00" in the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuietHours {
    /// Local time quiet hours start (20:00) and end (08:00); may wrap midnight.
    pub start: NaiveTime,
    pub end: NaiveTime,
    /// Quiet hours always apply to SMS; for email only when this is on.
    pub apply_to_email: bool,
}

impl Default for ShopConfig {
    fn default() -> Self {
        Self {
            shop: None,
            shop_name: None,
            shop_url: None,
            locale: "en".into(),
            time_zone: Tz::UTC,
            sender: None,
            support_email: None,
            consent: ConsentConfig::default(),
            caps: CapsConfig::default(),
            quiet_hours: QuietHours::default(),
            flows: FlowsConfig::default(),
            admin_api: None,
            points: PointsConfig::default(),
        }
    }
}

impl Default for ConsentConfig {
    fn default() -> Self {
        Self {
            woocommerce_default: Consent::Denied,
            service_requires_consent: false,
        }
    }
}

impl Default for CapsConfig {
    fn default() -> Self {
        Self {
            marketing_per_window: 2,
            window_days: 30,
        }
    }
}

impl Default for QuietHours {
    fn default() -> Self {
        Self {
            start: NaiveTime::from_hms_opt(20, 0, 0).unwrap_or(NaiveTime::MIN),
            end: NaiveTime::from_hms_opt(8, 0, 0).unwrap_or(NaiveTime::MIN),
            apply_to_email: false,
        }
    }
}

/// The languages the built-in templates are written in (`shared/templates/builtin`). A shop
/// locale outside them would silently send English.
pub const BUILT_IN_LANGUAGES: [&str; 2] = ["en", "it"];

impl FlowsConfig {
    /// A flow's measurement settings as configured: its holdout percent and attribution
    /// window in days (`None` = the flow's default). Early access is measured with VIP's.
    pub fn measurement(&self, flow: Flow) -> (Option<u8>, Option<u32>) {
        let measured = crate::flows::rules(flow).measurement(self);
        (measured.holdout_percent, measured.attribution_days)
    }
}

impl ShopConfig {
    /// Parses and validates a TOML file's text. `shop` is the shop it is being loaded for.
    pub fn from_toml(text: &str, shop: &ShopId) -> Result<ShopConfig, ConfigError> {
        Self::from_toml_for(text, shop, false)
    }

    /// [`ShopConfig::from_toml`] for a shop that may be installed through the Shopify app
    /// (`app_installed`): discount codes then use the app's token, so the flows that create
    /// them need no `[admin_api]`.
    pub fn from_toml_for(text: &str, shop: &ShopId, app_installed: bool) -> Result<ShopConfig, ConfigError> {
        let raw: RawShopConfig = toml::from_str(text).map_err(|e| ConfigError::syntax(&e))?;
        let config = ShopConfig::try_from(raw)?;
        config.validate_for(app_installed)?;
        if let Some(named) = &config.shop
            && named != shop
        {
            return Err(invalid("shop", format!("the file is for {named}, not {shop}")));
        }
        Ok(config)
    }

    /// The semantic checks TOML types cannot express, for a shop without the Shopify app.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_for(false)
    }

    /// The semantic checks; `app_installed` as in [`ShopConfig::from_toml_for`].
    pub fn validate_for(&self, app_installed: bool) -> Result<(), ConfigError> {
        let makes_codes = app_installed || self.admin_api.is_some();
        if let Some(shop) = &self.shop
            && let Some(problem) = shop_domain_problem(shop.as_str())
        {
            return Err(invalid("shop", problem));
        }
        if self.locale.is_empty() || !self.locale.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(invalid(
                "locale",
                format!("'{}' is not a language tag such as en or it-IT", self.locale),
            ));
        }
        let language = self
            .locale
            .split('-')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !BUILT_IN_LANGUAGES.contains(&language.as_str()) {
            return Err(invalid(
                "locale",
                format!(
                    "'{}' has no messages: the built-in languages are {}",
                    self.locale,
                    BUILT_IN_LANGUAGES.join(" and ")
                ),
            ));
        }
        for flow in Flow::ALL {
            let measured = crate::flows::rules(flow).measurement(&self.flows);
            let Some((holdout_key, window_key)) = measured.keys else {
                continue;
            };
            if measured.holdout_percent.is_some_and(|p| p > 100) {
                return Err(invalid(holdout_key, "is a percent: from 0 to 100"));
            }
            if measured.attribution_days.is_some_and(|d| !(1..=365).contains(&d)) {
                return Err(invalid(window_key, "must be from 1 to 365 days"));
            }
        }
        if self.quiet_hours.start == self.quiet_hours.end {
            return Err(invalid(
                "quiet_hours",
                format!(
                    "start and end are both {}: that reads as no quiet hours or as all day; \
                     give the local time they start and the time they end (20:00 and 08:00)",
                    self.quiet_hours.start.format("%H:%M")
                ),
            ));
        }
        if self.caps.window_days == 0 || self.caps.window_days > 365 {
            return Err(invalid("caps.window_days", "must be between 1 and 365"));
        }
        self.flows.validate(self.support_email.is_some())?;
        self.points
            .validate(self.flows.vip.tiers.iter().map(|t| t.name.as_str()))?;
        if self.points.review_bonus > 0
            && let Some(host) = review_platform_forbidding_incentives(&self.flows.review_request.review_url)
        {
            return Err(invalid(
                "points.review_bonus",
                format!(
                    "the review link (flows.review_request.review_url) goes to {host}, and Google and \
                     Trustpilot forbid incentivised reviews: point it at the shop's own product page, \
                     or set review_bonus = 0"
                ),
            ));
        }
        if let Some(api) = &self.admin_api {
            if let Some(version) = &api.api_version {
                return Err(invalid(
                    "admin_api.api_version",
                    format!(
                        "every Admin API call uses the one version Aftersale is tested against; remove \
                         api_version = \"{version}\""
                    ),
                ));
            }
            if let Some(url) = &api.base_url
                && !(url.starts_with("https://") || url.starts_with("http://"))
            {
                return Err(invalid(
                    "admin_api.base_url",
                    "must start with https:// or http://",
                ));
            }
            let shopify = api.access_token_secret.is_some();
            let woocommerce = api.consumer_key_secret.is_some() && api.consumer_secret_secret.is_some();
            if !shopify && !woocommerce {
                return Err(invalid(
                    "admin_api",
                    "name access_token_secret (Shopify) or consumer_key_secret and consumer_secret_secret (WooCommerce)",
                ));
            }
        }
        if self.flows.referral.enabled && !makes_codes {
            return Err(invalid(
                "flows.referral.enabled",
                "referral codes are real discount codes: configure [admin_api] first, or install \
                 the Aftersale app on the shop",
            ));
        }
        if self.flows.win_back.enabled
            && !makes_codes
            && let Some(field) = self.flows.win_back.incentives.discount_fields().next()
        {
            return Err(invalid(
                field,
                "a discount is a real single-use code created in the shop: configure [admin_api] \
                 first (or install the Aftersale app on the shop), or offer \"none\" or \
                 \"early_access\"",
            ));
        }
        Ok(())
    }

    /// The shop's address for links in messages: `shop_url`, else `https://{shop}`.
    pub fn shop_url(&self, shop: &ShopId) -> String {
        self.shop_url
            .as_ref()
            .map(|url| url.as_str().trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("https://{shop}"))
    }

    /// Quiet hours as local times: (start, end).
    pub fn quiet_window(&self) -> (NaiveTime, NaiveTime) {
        (self.quiet_hours.start, self.quiet_hours.end)
    }

    /// The sender as (display name, address); defaults to the shop's own domain.
    pub fn sender_for(&self, shop: &ShopId) -> (Option<String>, String) {
        match &self.sender {
            Some(sender) => (sender.name.clone(), sender.address.clone()),
            None => (Some(self.display_name(shop)), format!("hello@{shop}")),
        }
    }

    pub fn display_name(&self, shop: &ShopId) -> String {
        self.shop_name.clone().unwrap_or_else(|| shop.to_string())
    }

    /// The review page for one product (see [`ReviewRequestConfig::review_url_for`]).
    ///
    /// [`ReviewRequestConfig::review_url_for`]: crate::flows::review_request::ReviewRequestConfig::review_url_for
    pub fn review_url(
        &self,
        shop: &ShopId,
        product_id: &str,
        variant_id: Option<&str>,
        sku: Option<&str>,
    ) -> String {
        self.flows
            .review_request
            .review_url_for(shop, product_id, variant_id, sku)
    }
}

/// The host of `url` when it is Google's or Trustpilot's, whose rules forbid rewarding reviews.
fn review_platform_forbidding_incentives(url: &str) -> Option<String> {
    let lower = url.to_ascii_lowercase();
    let rest = lower.split_once("://").map_or(lower.as_str(), |(_, rest)| rest);
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = host.split(':').next().unwrap_or_default();
    let labels: Vec<&str> = host.split('.').collect();
    let forbidden = labels.contains(&"google")
        || labels.contains(&"trustpilot")
        || host == "g.page"
        || host.ends_with(".g.page")
        || host == "goo.gl";
    forbidden.then(|| host.to_string())
}

/// Why `domain` cannot be a shop, if it cannot. Shopify shops are `name.myshopify.com`
/// (`^[a-z0-9][a-z0-9-]*\.myshopify\.com$`); any other shop is a WooCommerce site, named by
/// its host: lower-case labels of letters, digits and inner hyphens, at least two of them.
pub fn shop_domain_problem(domain: &str) -> Option<String> {
    let expected =
        "a Shopify shop is name.myshopify.com, a WooCommerce shop its site's host name (shop.example)";
    if domain.ends_with(".myshopify.com") {
        // The shop's id is its lower-case form, so a config names it so.
        let canonical = !domain.bytes().any(|b| b.is_ascii_uppercase());
        return (!(canonical && crate::ids::is_myshopify_domain(domain)))
            .then(|| format!("'{domain}' is not a Shopify shop domain: {expected}"));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |label: &&str| {
        (1..=63).contains(&label.len())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    let host = domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(label_ok)
        && labels
            .last()
            .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()));
    (!host).then(|| format!("'{domain}' is not a shop domain: {expected}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop() -> ShopId {
        ShopId::new("demo.myshopify.com").unwrap()
    }

    /// The README's example is what merchants copy: it must load, and mean what it says.
    #[test]
    fn the_readme_example_is_a_valid_config() {
        let readme = include_str!("../../../../README.md");
        let start = readme.find("```toml\nshop = ").expect("the example config") + "```toml\n".len();
        let text = &readme[start..start + readme[start..].find("```").expect("its end")];
        let config = ShopConfig::from_toml(text, &shop()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.flows.win_back.window_percentile, 80);
        assert_eq!(
            config.flows.win_back.incentives.recent_first_timer,
            crate::flows::win_back::Incentive::Discount(rust_decimal::Decimal::TEN)
        );
        assert_eq!(config.flows.vip.tiers.len(), 2);
        assert!(config.flows.referral.enabled);
        assert_eq!(
            config.admin_api.and_then(|a| a.access_token_secret).as_deref(),
            Some("SHOPIFY_ADMIN_TOKEN")
        );
    }

    #[test]
    fn holdout_and_attribution_are_set_per_flow_and_checked() {
        let config = ShopConfig::from_toml(
            "[flows.win_back]\nholdout_percent = 10\nattribution_days = 21\n[flows.thank_you]\nholdout_percent = 0\n",
            &shop(),
        )
        .unwrap();
        assert_eq!(config.flows.measurement(Flow::WinBack), (Some(10), Some(21)));
        assert_eq!(config.flows.measurement(Flow::ThankYou), (Some(0), None));
        assert_eq!(config.flows.measurement(Flow::Replenishment), (None, None));
        let err =
            ShopConfig::from_toml("[flows.replenishment]\nholdout_percent = 101\n", &shop()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "flows.replenishment.holdout_percent: is a percent: from 0 to 100"
        );
        let err = ShopConfig::from_toml("[flows.vip]\nattribution_days = 0\n", &shop()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "flows.vip.attribution_days: must be from 1 to 365 days"
        );
        assert!(ShopConfig::from_toml("[flows.win_back]\nholdout_percent = -1\n", &shop()).is_err());
    }

    #[test]
    fn a_review_bonus_is_off_by_default_and_refused_for_reviews_on_google_or_trustpilot() {
        let config = ShopConfig::from_toml("[points]\nenabled = true\n", &shop()).unwrap();
        assert_eq!(config.points.review_bonus, 0);
        let on_site = "[points]\nenabled = true\nreview_bonus = 20\n";
        assert_eq!(
            ShopConfig::from_toml(on_site, &shop())
                .unwrap()
                .points
                .review_bonus,
            20
        );
        for url in [
            "https://search.google.com/local/writereview?placeid=X",
            "https://www.google.com/maps/place/x",
            "https://g.page/r/abc/review",
            "https://www.trustpilot.com/evaluate/shop.example",
            "https://uk.trustpilot.com/review/shop.example",
        ] {
            let text = format!("{on_site}[flows.review_request]\nreview_url = \"{url}\"\n");
            let err = ShopConfig::from_toml(&text, &shop()).unwrap_err().to_string();
            assert!(
                err.starts_with("points.review_bonus: the review link"),
                "{url}: {err}"
            );
            assert!(err.contains("forbid incentivised reviews"), "{err}");
        }
        // Without a bonus the same links are fine: asking for a review is allowed.
        let text =
            "[flows.review_request]\nreview_url = \"https://www.trustpilot.com/evaluate/shop.example\"\n";
        assert!(ShopConfig::from_toml(text, &shop()).is_ok());
        let mostly_google = "[points]\nenabled = true\nreview_bonus = 20\n[flows.review_request]\n\
             review_url = \"https://notgoogle.example/reviews/{product_id}\"\n";
        assert!(ShopConfig::from_toml(mostly_google, &shop()).is_ok());
    }

    #[test]
    fn referral_needs_the_admin_api_and_sane_numbers() {
        let err = ShopConfig::from_toml("[flows.referral]\nenabled = true\n", &shop()).unwrap_err();
        assert!(err.to_string().starts_with("flows.referral.enabled:"), "{err}");
        let err = ShopConfig::from_toml("[flows.referral]\nreward_percent = \"150\"\n", &shop()).unwrap_err();
        assert!(
            err.to_string().starts_with("flows.referral.reward_percent:"),
            "{err}"
        );
        let err =
            ShopConfig::from_toml("[flows.referral]\ncode_prefix = \"NO-DASH\"\n", &shop()).unwrap_err();
        assert!(
            err.to_string().starts_with("flows.referral.code_prefix:"),
            "{err}"
        );
        let err =
            ShopConfig::from_toml("[admin_api]\nbase_url = \"https://x.example\"\n", &shop()).unwrap_err();
        assert!(err.to_string().starts_with("admin_api:"), "{err}");
        let err = ShopConfig::from_toml(
            "[admin_api]\naccess_token_secret = \"T\"\napi_version = \"2025-01\"\n",
            &shop(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "admin_api.api_version: every Admin API call uses the one version Aftersale is tested \
             against; remove api_version = \"2025-01\""
        );
        let err =
            ShopConfig::from_toml("[flows.replenishment]\nreorder_url = \"ftp://x\"\n", &shop()).unwrap_err();
        assert!(
            err.to_string().starts_with("flows.replenishment.reorder_url:"),
            "{err}"
        );
    }

    #[test]
    fn friend_codes_are_first_order_only_and_capped_unless_configured_otherwise() {
        let referral = |text: &str| {
            ShopConfig::from_toml(&format!("[flows.referral]\n{text}"), &shop()).map(|c| c.flows.referral)
        };
        let default = referral("").expect("default");
        assert!(default.friend_code_first_order_only);
        assert_eq!(default.friend_code_usage_cap().map(|n| n.get()), Some(50));

        let off = referral("friend_code_first_order_only = false\n").expect("off");
        assert!(!off.friend_code_first_order_only);
        assert_eq!(off.friend_code_usage_cap(), None, "off: today's unlimited code");

        let capped =
            referral("friend_code_first_order_only = false\nfriend_code_max_uses = 20\n").expect("capped");
        assert_eq!(capped.friend_code_usage_cap().map(|n| n.get()), Some(20));

        for bad in ["0", "10001"] {
            let err = referral(&format!("friend_code_max_uses = {bad}\n")).unwrap_err();
            assert_eq!(
                err.to_string(),
                "flows.referral.friend_code_max_uses: must be between 1 and 10000 (leave it out for the default)",
                "{bad}"
            );
        }
        let err = referral("friend_code_first_order_only = \"yes\"\n").unwrap_err();
        assert!(err.to_string().contains("friend_code_first_order_only"), "{err}");
        let err = referral("friend_code_first_orders_only = true\n").unwrap_err();
        assert!(err.to_string().contains("friend_code_first_orders_only"), "{err}");
    }

    #[test]
    fn shop_domains_are_shopify_shops_or_host_names() {
        for good in [
            "demo.myshopify.com",
            "0-shop.myshopify.com",
            "shop.example",
            "www.bottega-rossi.it",
        ] {
            assert_eq!(shop_domain_problem(good), None, "{good}");
        }
        for bad in [
            "demo",
            "-x.myshopify.com",
            ".myshopify.com",
            "a_b.myshopify.com",
            "Demo.myshopify.com",
            "shop..example",
            "shop.example.",
            "-shop.example",
            "127.0.0.1",
            "user@shop.example",
            "shop.example:443",
            "a/b.example",
        ] {
            assert!(shop_domain_problem(bad).is_some(), "{bad} was accepted");
        }
    }

    #[test]
    fn a_discount_with_the_admin_api_and_an_sms_check_in_with_a_support_address_are_fine() {
        let text = r#"
            support_email = "aiuto@demo.example"
            shop_url = "https://torrefazione.example/"
            locale = "it-IT"
            [flows.delivery_check_in]
            channel = "sms"
            [flows.win_back.incentives]
            recent_first_timer = { discount = "10" }
            [admin_api]
            access_token_secret = "SHOPIFY_ADMIN_TOKEN"
        "#;
        let config = ShopConfig::from_toml(text, &shop()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.shop_url(&shop()), "https://torrefazione.example");
        assert_eq!(
            ShopConfig::default().shop_url(&shop()),
            "https://demo.myshopify.com"
        );
        // A win-back switched off offers nothing, so its discount needs no Admin API.
        let off =
            "[flows.win_back]\nenabled = false\n[flows.win_back.incentives]\nregular = { discount = \"5\" }";
        assert!(ShopConfig::from_toml(off, &shop()).is_ok());
    }

    #[test]
    fn an_empty_file_is_the_defaults() {
        let config = ShopConfig::from_toml("", &shop()).unwrap();
        assert_eq!(config, ShopConfig::default());
        assert_eq!(config.flows.thank_you.survey_delay_days, 3);
        assert_eq!(config.caps.marketing_per_window, 2);
    }

    #[test]
    fn a_full_file_parses() {
        let text = r#"
            shop = "demo.myshopify.com"
            shop_name = "Torrefazione Demo"
            locale = "it"
            time_zone = "Europe/Rome"
            sender = "Torrefazione Demo <ciao@demo.example>"
            support_email = "aiuto@demo.example"
            [quiet_hours]
            start = "21:30"
            end = "09:00"
            [flows.review_request]
            delay_days = 12
            review_url = "https://demo.example/p/{product_id}?sku={sku}#reviews"
            [[flows.review_request.cycles]]
            name = "coffee"
            skus = ["BEANS-1KG"]
            delay_days = 5
        "#;
        let config = ShopConfig::from_toml(text, &shop()).unwrap();
        assert_eq!(config.time_zone, chrono_tz::Europe::Rome);
        assert_eq!(
            config.sender_for(&shop()),
            (Some("Torrefazione Demo".into()), "ciao@demo.example".into())
        );
        assert_eq!(
            config.review_url(&shop(), "42", None, Some("BEANS-1KG")),
            "https://demo.example/p/42?sku=BEANS-1KG#reviews"
        );
    }

    #[test]
    fn review_url_placeholders_are_percent_encoded() {
        let config = ShopConfig::default();
        assert_eq!(
            config.review_url(&shop(), "123\r\nSet-Cookie: x", None, None),
            "https://demo.myshopify.com/products/123%0D%0ASet-Cookie%3A%20x#reviews"
        );
        let mut config = ShopConfig::default();
        config.flows.review_request.review_url = "https://demo.example/r?p={product_id}&s={sku}".into();
        assert_eq!(
            config.review_url(&shop(), "../42", None, Some("A&B=C#d caffè")),
            "https://demo.example/r?p=..%2F42&s=A%26B%3DC%23d%20caff%C3%A8"
        );
    }

    #[test]
    fn a_typo_in_a_key_is_answered_with_the_key_it_meant() {
        let err = ShopConfig::from_toml("[flows.thank_you]\nsurvey_days = 3", &shop())
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `survey_days`"), "{err}");
        assert!(err.ends_with("did you mean `survey_delay_days`?"), "{err}");
        let err = ShopConfig::from_toml("[quiet_hour]\nstart = \"21:00\"", &shop())
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("did you mean `quiet_hours`?"), "{err}");
        let err = ShopConfig::from_toml("colour = \"blue\"", &shop())
            .unwrap_err()
            .to_string();
        assert!(!err.contains("did you mean"), "no guess for nothing alike: {err}");
    }

    /// The stored form is the file's form: typed values are written back as the text a
    /// merchant writes, and a stored value that no longer parses names its field.
    #[test]
    fn the_stored_config_is_the_parsed_one_in_the_files_shape() {
        let text = "sender = \"Demo <ciao@demo.example>\"\nshop_url = \"https://demo.example/\"\n\
                    [quiet_hours]\nstart = \"21:30\"\nend = \"07:15\"\n";
        let config = ShopConfig::from_toml(text, &shop()).unwrap();
        assert_eq!(
            config.quiet_window(),
            (
                NaiveTime::from_hms_opt(21, 30, 0).unwrap(),
                NaiveTime::from_hms_opt(7, 15, 0).unwrap()
            )
        );
        let stored = serde_json::to_value(&config).unwrap();
        assert_eq!(stored["quiet_hours"]["start"], "21:30");
        assert_eq!(stored["sender"], "Demo <ciao@demo.example>");
        assert_eq!(stored["shop_url"], "https://demo.example/");
        let read: ShopConfig = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(read, config);
        let mut broken = stored;
        broken["quiet_hours"]["end"] = "7am".into();
        let err = serde_json::from_value::<ShopConfig>(broken)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("quiet_hours.end: '7am' is not a time like 20:00"),
            "{err}"
        );
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                "[flows.review_request]\ndelay_days = 0",
                "flows.review_request.delay_days",
            ),
            ("[quiet_hours]\nstart = \"8pm\"", "quiet_hours.start"),
            ("[quiet_hours]\nend = \"25:00\"", "quiet_hours.end: '25:00'"),
            (
                "support_email = \"help desk@demo.example\"",
                "support_email: 'help desk@demo.example' is not an email address",
            ),
            (
                "shop_url = \"ftp://demo.example\"",
                "shop_url: 'ftp://demo.example'",
            ),
            ("sender = \"Demo <ciao@demo>\"", "sender: expected"),
            ("sender = \"not an address\"", "sender"),
            (
                "[flows.review_request]\nreview_url = \"https://x/{handle}\"",
                "unknown placeholder {handle}",
            ),
            ("[flows.review_request]\nmax_products = 9", "max_products"),
            ("shop = \"other.myshopify.com\"", "not demo.myshopify.com"),
            ("time_zone = \"Mars/Olympus\"", "time_zone"),
            (
                "[flows.thank_you]\nsurvey_days = 3",
                "unknown field `survey_days`",
            ),
            ("[flows.thank_you]\nsurvey_delay_days = -1", "survey_delay_days"),
            ("locale = \"it_IT!\"", "locale"),
            (
                "[[flows.review_request.cycles]]\nname = \"x\"\ndelay_days = 5",
                "names no product_ids",
            ),
            ("[caps\n", "caps"),
            (
                "locale = \"fr\"",
                "locale: 'fr' has no messages: the built-in languages are en and it",
            ),
            ("shop = \"demo\"", "shop: 'demo' is not a shop domain"),
            (
                "[quiet_hours]\nstart = \"22:00\"\nend = \"22:00\"",
                "quiet_hours: start and end are both 22:00",
            ),
            (
                "shop_url = \"torrefazione.example\"",
                "shop_url: 'torrefazione.example'",
            ),
            (
                "[flows.win_back.incentives]\nrecent_first_timer = { discount = \"10\" }",
                "flows.win_back.incentives.recent_first_timer: a discount is a real single-use code",
            ),
            (
                "[flows.win_back.incentives]\nregular = { discount = \"5\" }",
                "flows.win_back.incentives.regular: a discount",
            ),
            (
                "[flows.delivery_check_in]\nchannel = \"sms\"",
                "flows.delivery_check_in.channel: an SMS check-in",
            ),
        ];
        for (text, expected) in cases {
            let err = ShopConfig::from_toml(text, &shop()).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?} → {err}");
        }
    }
}
