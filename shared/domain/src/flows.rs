//! What each flow plans for an order, as a pure function of the order's folded state.
//!
//! Planning from state (not from the triggering event) makes it order-independent: whichever
//! webhook arrives, the same messages come out, and the store's insert-if-absent makes
//! planning twice store once. A due time estimated from fulfilment is replaced by a known one
//! when the delivery event arrives ([`reschedule`]).

use crate::{
    Channel, Customer, DueBasis, Flow, Message, MessageClass, MessageStatus, OrderRecord, OrderStatus,
    ProductRef, ShopConfig, ShopId,
};
use chrono::{DateTime, Duration, Utc};

/// Every message the order's current state calls for.
pub fn plan_for_order(
    shop: &ShopId,
    record: &OrderRecord,
    config: &ShopConfig,
    now: DateTime<Utc>,
) -> Vec<Message> {
    let Some(order) = &record.snapshot else {
        return Vec::new();
    };
    if record.is_void() || matches!(order.status, OrderStatus::Failed) {
        return Vec::new();
    }
    let template = Message {
        shop: shop.clone(),
        customer_id: order.customer.id.clone(),
        flow: Flow::ThankYou,
        subject: order.id.to_string(),
        step: String::new(),
        order_id: Some(order.id.clone()),
        class: MessageClass::Transactional,
        channel: Channel::Email,
        due_at: now,
        due_basis: DueBasis::Known,
        status: MessageStatus::Planned,
        reason: "planned".into(),
        planned_at: now,
        lease_until: None,
        attempts: 0,
        products: Vec::new(),
        details: Default::default(),
        to: None,
        rendered_subject: None,
        sent_at: None,
        provider_id: None,
        version: 0,
    };
    let mut plans = Vec::new();
    let flows = &config.flows;

    if flows.thank_you.enabled {
        plans.push(Message {
            step: "thank-you".into(),
            channel: flows.thank_you.channel,
            due_at: order.created_at,
            ..template.clone()
        });
        if flows.thank_you.survey {
            plans.push(Message {
                step: "feedback".into(),
                class: MessageClass::Service,
                channel: flows.thank_you.channel,
                due_at: order.created_at + Duration::days(flows.thank_you.survey_delay_days.into()),
                ..template.clone()
            });
        }
    }

    let arrival = match (record.delivered_at, record.fulfilled_at) {
        (Some(delivered), _) => Some((delivered, DueBasis::Known)),
        (None, Some(fulfilled)) => Some((
            fulfilled + Duration::days(flows.delivery_check_in.transit_days.into()),
            DueBasis::Estimated,
        )),
        (None, None) => None,
    };
    if let Some((arrived, basis)) = arrival {
        if flows.delivery_check_in.enabled {
            plans.push(Message {
                flow: Flow::DeliveryCheckIn,
                step: "check-in".into(),
                channel: flows.delivery_check_in.channel,
                due_at: arrived + Duration::hours(flows.delivery_check_in.delay_hours.into()),
                due_basis: basis,
                ..template.clone()
            });
        }
        if flows.review_request.enabled {
            let groups = review_groups(review_products(record, config), config);
            // Only a mixed cart needs more than one subject: the longest cycle keeps the
            // order's, as a single request always has.
            let longest = groups.last().map(|(days, _)| *days);
            for (delay, products) in groups {
                let subject = if Some(delay) == longest {
                    order.id.to_string()
                } else {
                    format!("{}~{delay}d", order.id)
                };
                let due = arrived + Duration::days(delay.into());
                let request = Message {
                    flow: Flow::ReviewRequest,
                    subject,
                    step: "request".into(),
                    class: MessageClass::Service,
                    channel: flows.review_request.channel,
                    due_at: due,
                    due_basis: basis,
                    products,
                    ..template.clone()
                };
                let reminder = (flows.review_request.reminder_after_days > 0).then(|| Message {
                    step: "reminder".into(),
                    due_at: due + Duration::days(flows.review_request.reminder_after_days.into()),
                    ..request.clone()
                });
                plans.push(request);
                plans.extend(reminder);
            }
        }
    }
    plans
}

/// Up to `max_products` distinct products, most expensive first.
fn review_products(record: &OrderRecord, config: &ShopConfig) -> Vec<ProductRef> {
    let Some(order) = &record.snapshot else {
        return Vec::new();
    };
    let mut items: Vec<_> = order
        .line_items
        .iter()
        .filter(|li| li.product_id.is_some())
        .collect();
    items.sort_by(|a, b| b.price.amount.cmp(&a.price.amount).then(a.title.cmp(&b.title)));
    let mut products: Vec<ProductRef> = Vec::new();
    for item in items {
        let product_id = item.product_id.clone().unwrap_or_default();
        if products.iter().any(|p| p.product_id == product_id) {
            continue;
        }
        products.push(ProductRef {
            product_id,
            variant_id: item.variant_id.clone(),
            sku: item.sku.clone(),
            title: item.title.clone(),
        });
        if products.len() == config.flows.review_request.max_products {
            break;
        }
    }
    products
}

/// The products grouped by their review cycle (days after arrival), soonest first: coffee is
/// asked about once it has been tasted, a moka pot once it has been used for a while, and
/// products whose cycles coincide share one message.
fn review_groups(products: Vec<ProductRef>, config: &ShopConfig) -> Vec<(u32, Vec<ProductRef>)> {
    let review = &config.flows.review_request;
    let mut groups: std::collections::BTreeMap<u32, Vec<ProductRef>> = Default::default();
    for product in products {
        let days = review
            .cycles
            .iter()
            .find(|c| {
                c.product_ids.contains(&product.product_id)
                    || product.sku.as_ref().is_some_and(|s| c.skus.contains(s))
            })
            .map_or(review.delay_days, |c| c.delay_days);
        groups.entry(days).or_default().push(product);
    }
    groups.into_iter().collect()
}

/// For a follow-up step, the step it follows and the gap to leave after it: a review
/// reminder follows its request, a second replenishment nudge its first, a win-back last call
/// the offer it recalls (a last call for an offer never made would be a first call).
pub fn follows(flow: Flow, step: &str, config: &ShopConfig) -> Option<(&'static str, Duration)> {
    let days = |d: u32| Duration::days(d.into());
    match (flow, step) {
        (Flow::WinBack, "last-call") => Some(("offer", days(1))),
        (Flow::ReviewRequest, "reminder") => {
            Some(("request", days(config.flows.review_request.reminder_after_days)))
        }
        (Flow::Replenishment, "follow-up") => {
            Some(("reminder", days(config.flows.replenishment.follow_up_after_days)))
        }
        _ => None,
    }
}

/// A planned message with an estimated due time takes the new, known one. Returns the
/// updated message when something should change.
pub fn reschedule(existing: &Message, planned: &Message) -> Option<Message> {
    let better = existing.status == MessageStatus::Planned
        && existing.due_basis == DueBasis::Estimated
        && planned.due_basis == DueBasis::Known
        && existing.due_at != planned.due_at;
    better.then(|| Message {
        due_at: planned.due_at,
        due_basis: DueBasis::Known,
        ..existing.clone()
    })
}

/// The customer's language for a message: theirs, else the shop's.
pub fn locale_for(customer: Option<&Customer>, config: &ShopConfig) -> String {
    customer
        .and_then(|c| c.locale.clone())
        .unwrap_or_else(|| config.locale.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Currency, CustomerId, EventId, EventKind, FulfillmentStatus, LineItem, Money, Order, OrderId,
        Platform, ReviewCycle, Shipment, ShipmentStatus, StoreEvent,
    };
    use chrono::TimeZone;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, day, 10, 0, 0).unwrap()
    }

    fn shop() -> ShopId {
        ShopId::new("demo.myshopify.com").unwrap()
    }

    fn item(id: &str, product: &str, price: &str, sku: &str) -> LineItem {
        LineItem {
            id: id.into(),
            product_id: Some(product.into()),
            variant_id: None,
            sku: Some(sku.into()),
            title: format!("Product {product}"),
            quantity: 1,
            price: Money::parse(price, Currency::new("EUR").unwrap()).unwrap(),
        }
    }

    fn record(items: Vec<LineItem>) -> OrderRecord {
        let eur = Currency::new("EUR").unwrap();
        let mut record = OrderRecord::new(OrderId::new("1001").unwrap());
        record.snapshot = Some(Order {
            id: OrderId::new("1001").unwrap(),
            name: Some("#1001".into()),
            customer: Customer::bare(CustomerId::new("7").unwrap()),
            created_at: at(1),
            updated_at: at(1),
            status: OrderStatus::Processing,
            fulfillment: FulfillmentStatus::Unfulfilled,
            line_items: items,
            subtotal: Money::zero(eur),
            total: Money::parse("10", eur).unwrap(),
            total_discounts: Money::zero(eur),
            discount_codes: vec![],
            refunds: vec![],
            shipping_country: None,
            shipping_address: None,
            client_ip: None,
        });
        record
    }

    fn shipment(status: ShipmentStatus, day: u32) -> StoreEvent {
        let shipment = Shipment {
            order_id: OrderId::new("1001").unwrap(),
            fulfillment_id: None,
            status,
            tracking_number: None,
            tracking_url: None,
            carrier: None,
            estimated_delivery_at: None,
            happened_at: at(day),
        };
        let kind = if status == ShipmentStatus::Delivered {
            EventKind::OrderDelivered(shipment)
        } else {
            EventKind::ShipmentUpdated(shipment)
        };
        StoreEvent {
            shop: shop(),
            platform: Platform::Shopify,
            event_id: EventId::new("e").unwrap(),
            occurred_at: at(day),
            kind,
        }
    }

    fn steps(plans: &[Message]) -> Vec<(String, String, DateTime<Utc>)> {
        plans
            .iter()
            .map(|m| (m.flow.to_string(), m.step.clone(), m.due_at))
            .collect()
    }

    #[test]
    fn a_new_order_gets_a_thank_you_now_and_a_survey_in_three_days() {
        let plans = plan_for_order(
            &shop(),
            &record(vec![item("1", "p1", "10", "A")]),
            &ShopConfig::default(),
            at(1),
        );
        assert_eq!(
            steps(&plans),
            [
                ("thank-you".into(), "thank-you".into(), at(1)),
                ("thank-you".into(), "feedback".into(), at(4))
            ]
        );
        assert_eq!(plans[0].class, MessageClass::Transactional);
        assert_eq!(plans[1].class, MessageClass::Service);
    }

    #[test]
    fn fulfilment_estimates_arrival_and_delivery_makes_it_known() {
        let mut rec = record(vec![item("1", "p1", "10", "A")]);
        rec.apply(&shipment(ShipmentStatus::InTransit, 2));
        let config = ShopConfig::default();
        let plans = plan_for_order(&shop(), &rec, &config, at(2));
        let check_in = plans.iter().find(|m| m.flow == Flow::DeliveryCheckIn).unwrap();
        assert_eq!(check_in.due_basis, DueBasis::Estimated);
        assert_eq!(
            check_in.due_at,
            at(6) + Duration::hours(24),
            "2nd + 4 transit days + 24 h"
        );

        rec.apply(&shipment(ShipmentStatus::Delivered, 4));
        let known = plan_for_order(&shop(), &rec, &config, at(4));
        let new_check_in = known.iter().find(|m| m.flow == Flow::DeliveryCheckIn).unwrap();
        assert_eq!(new_check_in.due_at, at(5));
        let moved = reschedule(check_in, new_check_in).expect("estimate replaced");
        assert_eq!((moved.due_at, moved.due_basis), (at(5), DueBasis::Known));
        assert!(
            reschedule(&moved, new_check_in).is_none(),
            "a known time is not moved again"
        );
    }

    #[test]
    fn review_requests_pick_the_three_most_expensive_products_and_the_longest_cycle() {
        let mut rec = record(vec![
            item("1", "cheap", "5", "C"),
            item("2", "mid", "20", "M"),
            item("3", "top", "90", "T"),
            item("4", "top", "90", "T"),
            item("5", "beans", "15", "BEANS"),
        ]);
        rec.apply(&shipment(ShipmentStatus::Delivered, 3));
        let mut config = ShopConfig::default();
        config.flows.review_request.cycles = vec![ReviewCycle {
            name: "coffee".into(),
            product_ids: vec![],
            skus: vec!["BEANS".into()],
            delay_days: 5,
        }];
        let plans = plan_for_order(&shop(), &rec, &config, at(3));
        let asked: Vec<(&str, &str, DateTime<Utc>, Vec<&str>)> = plans
            .iter()
            .filter(|m| m.flow == Flow::ReviewRequest)
            .map(|m| {
                let ids = m.products.iter().map(|p| p.product_id.as_str()).collect();
                (m.subject.as_str(), m.step.as_str(), m.due_at, ids)
            })
            .collect();
        assert_eq!(
            asked,
            [
                ("1001~5d", "request", at(3) + Duration::days(5), vec!["beans"]),
                ("1001~5d", "reminder", at(3) + Duration::days(10), vec!["beans"]),
                ("1001", "request", at(3) + Duration::days(14), vec!["top", "mid"]),
                ("1001", "reminder", at(3) + Duration::days(19), vec!["top", "mid"]),
            ],
            "each product at its own cycle: the coffee after 5 days, the durable goods after 14"
        );

        let mut only_coffee = record(vec![item("1", "beans", "15", "BEANS")]);
        only_coffee.apply(&shipment(ShipmentStatus::Delivered, 3));
        let plans = plan_for_order(&shop(), &only_coffee, &config, at(3));
        assert_eq!(plans.iter().find(|m| m.step == "request").unwrap().due_at, at(8));
    }

    #[test]
    fn void_orders_and_disabled_flows_plan_nothing() {
        let mut rec = record(vec![item("1", "p1", "10", "A")]);
        rec.snapshot.as_mut().unwrap().status = OrderStatus::Cancelled;
        assert!(plan_for_order(&shop(), &rec, &ShopConfig::default(), at(1)).is_empty());
        let mut config = ShopConfig::default();
        config.flows.thank_you.enabled = false;
        assert!(plan_for_order(&shop(), &record(vec![]), &config, at(1)).is_empty());
    }
}
