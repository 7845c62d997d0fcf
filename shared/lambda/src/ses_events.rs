//! The `ses-events` function: SES bounce and complaint notifications to the suppression list.

use aftersale_aws::{DynamoDbStore, load_config};
use aftersale_engine::bounces::apply_ses_notification;
use aws_lambda_events::sns::SnsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use tracing::info;

pub async fn run_ses_events() -> Result<(), Error> {
    let config = load_config().await;
    let store = DynamoDbStore::from_config(&config, crate::required("AFTERSALE_TABLE")?);
    let store = &store;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SnsEvent>| async move {
        let mut suppressed = 0;
        for record in event.payload.records {
            // An error fails the invocation: Lambda retries, then the DLQ keeps it.
            suppressed += apply_ses_notification(store, &record.sns.message, chrono::Utc::now()).await?;
        }
        info!(suppressed, "SES notifications applied");
        Ok::<_, Error>(serde_json::json!({ "suppressed": suppressed }))
    }))
    .await
}
