//! What one webhook costs before storage: verify + parse + normalise, next to a floor of just
//! HMAC + `serde_json` parse of the same bytes. The gap is our normalisation overhead.

use aftersale_domain::{EventId, ShopId};
use aftersale_platforms::{Delivery, shopify, signature, woocommerce};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

const SECRET: &[u8] = b"shpss_bench_secret";

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

fn bench(c: &mut Criterion) {
    let cases = [
        ("shopify_order", fixture("shopify/orders_create_large.json"), true),
        (
            "woocommerce_order",
            fixture("woocommerce/order_created.json"),
            false,
        ),
    ];
    let shopify_delivery = Delivery {
        shop: ShopId::new("demo.myshopify.com").unwrap(),
        event_id: Some(EventId::new("shopify:bench").unwrap()),
        triggered_at: None,
    };
    let woo_delivery = Delivery {
        shop: ShopId::new("shop.example").unwrap(),
        event_id: None,
        triggered_at: None,
    };
    for (name, body, is_shopify) in cases {
        let sig = signature::sign_base64(SECRET, &body);
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function("floor_hmac_and_json_parse", |b| {
            b.iter(|| {
                signature::verify_base64(SECRET, black_box(&body), Some(&sig)).unwrap();
                black_box(serde_json::from_slice::<serde_json::Value>(&body).unwrap())
            })
        });
        group.bench_function("verify_parse_normalise", |b| {
            b.iter(|| {
                signature::verify_base64(SECRET, black_box(&body), Some(&sig)).unwrap();
                let events = if is_shopify {
                    shopify::normalise(shopify::Topic::OrdersCreate, &shopify_delivery, &body)
                } else {
                    woocommerce::normalise(woocommerce::Topic::OrderCreated, &woo_delivery, &body)
                };
                black_box(events.unwrap())
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
