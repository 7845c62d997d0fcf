//! Shops' Admin API tokens as SSM SecureStrings under the shop's prefix.

use crate::support::{moto, unique};
use aftersale_aws::SsmShopTokens;
use aftersale_domain::Secret;
use aftersale_domain::ShopId;
use aftersale_ports::{ShopToken, ShopTokens};
use aws_sdk_ssm::types::ParameterType;

#[tokio::test]
async fn a_token_is_a_secure_string_under_the_shops_prefix_and_is_deleted_on_request() {
    let config = moto().sdk_config().await;
    let client = aws_sdk_ssm::Client::new(&config);
    let prefix = format!("/{}", unique("stack"));
    let tokens = SsmShopTokens::new(client.clone(), prefix.clone());
    let shop = ShopId::new("demo.myshopify.com").unwrap();
    assert_eq!(tokens.load_token(&shop).await.unwrap(), None);

    let token = ShopToken {
        access_token: Secret::new("shpat_moto").unwrap(),
        scopes: vec!["read_orders".into()],
        expires_at: Some("2026-12-01T11:00:00Z".parse().unwrap()),
        refresh_token: Secret::new("shprt_moto"),
        refresh_token_expires_at: None,
    };
    tokens.save_token(&shop, &token).await.unwrap();
    assert_eq!(tokens.load_token(&shop).await.unwrap(), Some(token.clone()));

    let name = format!("{prefix}/demo.myshopify.com/shopify-token");
    assert_eq!(tokens.parameter_name(&shop), name);
    let stored = client.get_parameter().name(&name).send().await.unwrap();
    assert_eq!(
        stored.parameter.unwrap().r#type,
        Some(ParameterType::SecureString)
    );

    // A refresh rotates both tokens: the new record replaces the old one.
    let rotated = ShopToken {
        access_token: Secret::new("shpat_rotated").unwrap(),
        refresh_token: Secret::new("shprt_rotated"),
        ..token
    };
    tokens.save_token(&shop, &rotated).await.unwrap();
    assert_eq!(tokens.load_token(&shop).await.unwrap(), Some(rotated));

    tokens.delete_token(&shop).await.unwrap();
    assert_eq!(tokens.load_token(&shop).await.unwrap(), None);
    tokens.delete_token(&shop).await.unwrap();
}
