//! AWS adapters for Aftersale's ports: [`DynamoDbStore`] (the `Store`), [`SesMailer`],
//! [`SnsSms`], [`SnsAlerts`], [`SnsEventBus`], [`SsmSecrets`] and [`SsmShopTokens`].
//!
//! Build one [`aws_config::SdkConfig`] with [`load_config`] at start-up and every adapter from
//! it. It follows the default credential chain and honours `AWS_ENDPOINT_URL` (and the
//! per-service `AWS_ENDPOINT_URL_DYNAMODB`...), so the same binary runs on AWS or on an
//! emulator such as moto. The table layout is documented in `TABLE.md` next to this crate.

mod dynamodb;
mod send_error;
mod ses;
mod sns;
mod ssm;
mod ssm_tokens;

pub use dynamodb::{
    DEFAULT_EVENT_RETENTION_DAYS, DynamoDbStore, FINISHED_MESSAGE_RETENTION_DAYS, TableStatus,
    WATERMARK_MARGIN_MINUTES, create_table,
};
pub use ses::SesMailer;
pub use sns::{SnsAlerts, SnsEventBus, SnsSms};
pub use ssm::{SecretError, SsmSecrets};
pub use ssm_tokens::{
    DEFAULT_SHOP_PARAMETER_PREFIX, SHOP_PARAMETER_PREFIX_VAR, SsmShopTokens, shop_parameter_prefix,
};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use std::time::Duration;

/// Standard retry mode (exponential backoff with jitter, on throttling, 5xx and timeouts),
/// tuned so a webhook that must answer within 5 s still can: at most 4 attempts, starting at
/// 100 ms, capped at 1 s between attempts.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(4)
        .with_initial_backoff(Duration::from_millis(100))
        .with_max_backoff(Duration::from_secs(1))
}

/// Fail fast on a hung connection instead of waiting for Lambda's timeout, so the retry
/// policy above gets its chance.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(3))
        .build()
}

/// The SDK configuration every adapter is built from: region, credentials and endpoint from the
/// environment (default chain), plus [`retry_config`] and [`timeout_config`].
pub async fn load_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry_config())
        .timeout_config(timeout_config())
        .load()
        .await
}
