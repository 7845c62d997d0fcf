//! Creating the table exactly as `template.yaml` declares it (see `TABLE.md`), for emulators,
//! dev accounts and `aftersale init-table`.

use super::keys;
use aftersale_ports::StoreError;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    PointInTimeRecoverySpecification, Projection, ProjectionType, ScalarAttributeType, SseSpecification,
    TimeToLiveSpecification,
};
use std::time::Duration;

/// What [`create_table`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableStatus {
    Created,
    /// A table of that name was there already; it was left untouched.
    AlreadyExisted,
}

/// Non-key attributes GSI1 copies: what `list_events` and `list_dead_letters` read. Orders and
/// profiles keep their JSON in `data`, which is not projected, so they cost GSI1 only their keys.
pub const GSI1_PROJECTED: [&str; 4] = [super::EVENT, super::RECEIVED_AT, super::APPLIED, super::LETTER];

/// Creates the single table (on-demand, KMS-encrypted, `pk`/`sk`, GSI1 to GSI4), waits until it
/// is active, then turns on TTL on `expires_at` and point-in-time recovery, as `template.yaml`
/// does. Deletion protection is left to the template (a parameter there); dev tables stay
/// deletable.
pub async fn create_table(client: &Client, name: &str) -> Result<TableStatus, StoreError> {
    let fail =
        |step: &str, detail: String| StoreError::Backend(format!("creating table {name}: {step}: {detail}"));
    let build = |e: aws_sdk_dynamodb::error::BuildError| fail("definition", e.to_string());

    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        // Encrypted with the AWS managed KMS key (`SSEEnabled: true` in the template).
        .sse_specification(SseSpecification::builder().enabled(true).build())
        .key_schema(key(keys::PK, KeyType::Hash).map_err(build)?)
        .key_schema(key(keys::SK, KeyType::Range).map_err(build)?);
    for attribute in [
        keys::PK,
        keys::SK,
        keys::GSI1PK,
        keys::GSI1SK,
        keys::GSI2PK,
        keys::GSI2SK,
        keys::GSI3PK,
        keys::GSI3SK,
        keys::GSI4PK,
        keys::GSI4SK,
    ] {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attribute)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build)?,
        );
    }
    let include = Projection::builder()
        .projection_type(ProjectionType::Include)
        .set_non_key_attributes(Some(GSI1_PROJECTED.iter().map(|a| a.to_string()).collect()))
        .build();
    let keys_only = Projection::builder()
        .projection_type(ProjectionType::KeysOnly)
        .build();
    for (index, pk, sk, projection) in [
        (keys::GSI1, keys::GSI1PK, keys::GSI1SK, include),
        (keys::GSI2, keys::GSI2PK, keys::GSI2SK, keys_only.clone()),
        (keys::GSI3, keys::GSI3PK, keys::GSI3SK, keys_only.clone()),
        (keys::GSI4, keys::GSI4PK, keys::GSI4SK, keys_only),
    ] {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index)
                .key_schema(key(pk, KeyType::Hash).map_err(build)?)
                .key_schema(key(sk, KeyType::Range).map_err(build)?)
                .projection(projection)
                .build()
                .map_err(build)?,
        );
    }

    match request.send().await {
        Ok(_) => {}
        Err(err)
            if matches!(
                err.as_service_error(),
                Some(CreateTableError::ResourceInUseException(_))
            ) =>
        {
            return Ok(TableStatus::AlreadyExisted);
        }
        Err(err) => return Err(fail("CreateTable", DisplayErrorContext(&err).to_string())),
    }

    use aws_sdk_dynamodb::client::Waiters;
    client
        .wait_until_table_exists()
        .table_name(name)
        .wait(Duration::from_secs(300))
        .await
        .map_err(|e| fail("waiting for ACTIVE", DisplayErrorContext(&e).to_string()))?;

    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(keys::EXPIRES_AT)
                .enabled(true)
                .build()
                .map_err(build)?,
        )
        .send()
        .await
        .map_err(|e| fail("UpdateTimeToLive", DisplayErrorContext(&e).to_string()))?;

    client
        .update_continuous_backups()
        .table_name(name)
        .point_in_time_recovery_specification(
            PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(true)
                .build()
                .map_err(build)?,
        )
        .send()
        .await
        .map_err(|e| fail("UpdateContinuousBackups", DisplayErrorContext(&e).to_string()))?;

    Ok(TableStatus::Created)
}

fn key(name: &str, key_type: KeyType) -> Result<KeySchemaElement, aws_sdk_dynamodb::error::BuildError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
}
