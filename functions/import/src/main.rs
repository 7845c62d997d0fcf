//! Lambda: a shop's history import. Starts the Shopify bulk export after install, streams its
//! file when `bulk_operations/finish` arrives (re-invoking itself before its timeout), and runs
//! the WooCommerce reconcile on its schedule.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    aftersale_lambda::init_tracing();
    aftersale_lambda::run_import().await
}
