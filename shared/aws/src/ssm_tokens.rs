//! [`SsmShopTokens`]: each shop's Admin API token as an SSM SecureString under the shop's own
//! prefix, `{prefix}/{shop}/shopify-token` (the stack's prefix, `/aftersale/{stack}` on AWS;
//! `/aftersale` when none is set), so IAM can grant the
//! install function exactly those names, and KMS encrypts them at rest. The value is the token
//! record as JSON (access token, scopes, expiry, refresh token); it is never logged, and errors
//! name the parameter, never its value.

use aftersale_domain::ShopId;
use aftersale_ports::{ShopToken, ShopTokens, StoreError};
use async_trait::async_trait;
use aws_sdk_ssm::Client;
use aws_sdk_ssm::error::DisplayErrorContext;
use aws_sdk_ssm::operation::delete_parameter::DeleteParameterError;
use aws_sdk_ssm::operation::get_parameter::GetParameterError;
use aws_sdk_ssm::types::ParameterType;

/// The parameter prefix shops' secrets live under (see `shop_owns_parameter` in the Lambda
/// wiring, which keeps one shop's config from naming another shop's parameters) when
/// [`SHOP_PARAMETER_PREFIX_VAR`] is not set.
pub const DEFAULT_SHOP_PARAMETER_PREFIX: &str = "/aftersale";

/// The environment variable naming the prefix. The SAM template sets it to
/// `/aftersale/{stack name}` for every function, so two stacks in one account (staging and
/// production) never read or overwrite each other's shop tokens, and IAM grants each stack
/// only its own names.
pub const SHOP_PARAMETER_PREFIX_VAR: &str = "AFTERSALE_SHOP_PARAMETER_PREFIX";

/// [`SHOP_PARAMETER_PREFIX_VAR`], else [`DEFAULT_SHOP_PARAMETER_PREFIX`]; without a trailing `/`.
pub fn shop_parameter_prefix() -> String {
    match std::env::var(SHOP_PARAMETER_PREFIX_VAR) {
        Ok(prefix) if prefix.trim().starts_with('/') => prefix.trim().trim_end_matches('/').to_string(),
        _ => DEFAULT_SHOP_PARAMETER_PREFIX.to_string(),
    }
}

#[derive(Clone, Debug)]
pub struct SsmShopTokens {
    client: Client,
    prefix: String,
}

impl SsmShopTokens {
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        Self {
            client,
            prefix: prefix.into().trim_end_matches('/').to_string(),
        }
    }

    /// Under [`shop_parameter_prefix`].
    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        Self::new(Client::new(config), shop_parameter_prefix())
    }

    /// `{prefix}/{shop}/shopify-token`.
    pub fn parameter_name(&self, shop: &ShopId) -> String {
        format!("{}/{shop}/shopify-token", self.prefix)
    }
}

fn failed(operation: &str, name: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("SSM {operation} {name}: {detail}"))
}

#[async_trait]
impl ShopTokens for SsmShopTokens {
    async fn load_token(&self, shop: &ShopId) -> Result<Option<ShopToken>, StoreError> {
        let name = self.parameter_name(shop);
        let out = match self
            .client
            .get_parameter()
            .name(&name)
            .with_decryption(true)
            .send()
            .await
        {
            Ok(out) => out,
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(GetParameterError::ParameterNotFound(_))
                ) =>
            {
                return Ok(None);
            }
            Err(err) => return Err(failed("GetParameter", &name, DisplayErrorContext(&err))),
        };
        let value = out.parameter.and_then(|p| p.value).unwrap_or_default();
        serde_json::from_str(&value)
            .map(Some)
            .map_err(|_| StoreError::Corrupt {
                what: format!("SSM parameter {name}"),
                // serde's message could quote the value; say only what is wrong.
                detail: "not a token record".into(),
            })
    }

    async fn save_token(&self, shop: &ShopId, token: &ShopToken) -> Result<(), StoreError> {
        let name = self.parameter_name(shop);
        let value = serde_json::to_string(token).map_err(StoreError::backend)?;
        self.client
            .put_parameter()
            .name(&name)
            .value(value)
            .r#type(ParameterType::SecureString)
            .overwrite(true)
            .description(
                "Aftersale: the shop's Shopify Admin API token (written by the shopify-app function)",
            )
            .send()
            .await
            .map_err(|err| failed("PutParameter", &name, DisplayErrorContext(&err)))?;
        Ok(())
    }

    async fn delete_token(&self, shop: &ShopId) -> Result<(), StoreError> {
        let name = self.parameter_name(shop);
        match self.client.delete_parameter().name(&name).send().await {
            Ok(_) => Ok(()),
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(DeleteParameterError::ParameterNotFound(_))
                ) =>
            {
                Ok(())
            }
            Err(err) => Err(failed("DeleteParameter", &name, DisplayErrorContext(&err))),
        }
    }
}
