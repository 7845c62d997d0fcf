//! Turning SDK failures into the ports' [`SendError`]: throttled (slow down, send again),
//! transient (retry later) or permanent (record on the message). By the time an error
//! reaches here the SDK's retry policy (see [`crate::retry_config`]) has already retried
//! throttling and 5xx answers a few times with backoff.

use aftersale_ports::SendError;
use aws_sdk_sesv2::config::http::HttpResponse;
use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};

/// Error codes that mean "you are sending too fast" whatever the service: the call took
/// nothing, so the tick slows down and sends it again ([`SendError::Throttled`]).
const THROTTLING_CODES: [&str; 6] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
];

/// What SES says when the account's `MaxSendRate` is exceeded, whatever code carries it.
const MAX_RATE_EXCEEDED: &str = "Maximum sending rate exceeded";

/// Error codes that mean "not now" for another reason: retry later.
const UNAVAILABLE_CODES: [&str; 2] = ["ServiceUnavailable", "RequestTimeout"];

/// Classifies an SDK error. `transient` names the service's own errors an operator can fix or
/// that pass by themselves (account paused, KMS throttled, missing permission): those must
/// not mark messages as failed for good.
pub(crate) fn classify<E>(
    operation: &str,
    err: SdkError<E, HttpResponse>,
    transient: impl Fn(&E) -> bool,
) -> SendError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match &err {
        SdkError::ServiceError(context) => {
            let service_err = context.err();
            let status = context.raw().status().as_u16();
            let code = service_err.code().unwrap_or("Unknown");
            let detail = format!(
                "{operation}: {code} (HTTP {status}): {}",
                scrub(service_err.message().unwrap_or("no message"))
            );
            let message = service_err.message().unwrap_or_default();
            if status == 429 || THROTTLING_CODES.contains(&code) || message.contains(MAX_RATE_EXCEEDED) {
                SendError::Throttled(detail)
            } else if status >= 500 || UNAVAILABLE_CODES.contains(&code) || transient(service_err) {
                SendError::Transient(detail)
            } else {
                SendError::Permanent(detail)
            }
        }
        // Our own request could not be built: retrying will not help.
        SdkError::ConstructionFailure(_) => {
            SendError::Permanent(format!("{operation}: request could not be built"))
        }
        // Timeouts, connection failures, unreadable responses.
        _ => SendError::Transient(format!("{operation}: {}", kind(&err))),
    }
}

fn kind<E, R>(err: &SdkError<E, R>) -> &'static str {
    match err {
        SdkError::TimeoutError(_) => "timed out",
        SdkError::DispatchFailure(_) => "could not reach the service",
        SdkError::ResponseError(_) => "unreadable response",
        _ => "failed",
    }
}

/// Services echo addresses and numbers in messages ("Email address not verified x@y"). Error
/// text is logged and stored, so any word that looks like an address or a phone number is
/// replaced.
pub(crate) fn scrub(message: &str) -> String {
    message
        .split(' ')
        .map(|word| {
            let digits = word.chars().filter(char::is_ascii_digit).count();
            if word.contains('@') || digits >= 7 {
                "[redacted]"
            } else {
                word
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::scrub;

    #[test]
    fn addresses_and_numbers_are_scrubbed() {
        assert_eq!(
            scrub("Email address not verified laura@example.com."),
            "Email address not verified [redacted]"
        );
        assert_eq!(
            scrub("Invalid parameter: PhoneNumber +393331234567"),
            "Invalid parameter: PhoneNumber [redacted]"
        );
        assert_eq!(scrub("Rate exceeded for 1 minute"), "Rate exceeded for 1 minute");
    }
}
