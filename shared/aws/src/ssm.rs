//! [`SsmSecrets`]: webhook secrets and API keys from SSM Parameter Store SecureStrings, so
//! they never sit in template parameters or environment variables.

use aws_sdk_ssm::Client;
use aws_sdk_ssm::error::DisplayErrorContext;
use aws_sdk_ssm::operation::get_parameter::GetParameterError;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("SSM parameter {name} does not exist (create it as a SecureString)")]
    NotFound { name: String },
    #[error("SSM parameter {name} is empty")]
    Empty { name: String },
    #[error("reading SSM parameter {name}: {detail}")]
    Backend { name: String, detail: String },
}

#[derive(Clone, Debug)]
pub struct SsmSecrets {
    client: Client,
}

impl SsmSecrets {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        Self::new(Client::new(config))
    }

    /// The decrypted value of a (SecureString) parameter. Read once at start-up and kept;
    /// the value is never logged, not even in errors.
    pub async fn read(&self, name: &str) -> Result<String, SecretError> {
        let out = self
            .client
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|err| match err.as_service_error() {
                Some(GetParameterError::ParameterNotFound(_)) => SecretError::NotFound { name: name.into() },
                _ => SecretError::Backend {
                    name: name.into(),
                    detail: DisplayErrorContext(&err).to_string(),
                },
            })?;
        match out.parameter.and_then(|p| p.value) {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(SecretError::Empty { name: name.into() }),
        }
    }
}
