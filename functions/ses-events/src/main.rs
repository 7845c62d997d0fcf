//! Lambda: SES bounces and complaints (via SNS) to the suppression list.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    aftersale_lambda::init_tracing();
    aftersale_lambda::run_ses_events().await
}
