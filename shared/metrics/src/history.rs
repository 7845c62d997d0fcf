//! A generated shop history for tests (feature `testkit`): customers with paid, unpaid,
//! cancelled, partly and fully refunded orders in two currencies, flow messages sent and held
//! out with orders after some of them, answers and provider events. Deterministic, so tests
//! can compute what the figures must be straight from [`History`], without the code under test.

use aftersale_domain::{
    Answer, AnswerKind, Channel, Currency, Customer, CustomerId, DueBasis, EventId, EventKind, Flow,
    FulfillmentStatus, Message, MessageClass, MessageId, MessageStatus, Money, Order, OrderId, OrderStatus,
    Origin, Platform, Reason, Refund, RefundEvent, ShopId, StoreEvent,
};
use chrono::{DateTime, Duration, TimeZone, Utc};
use rust_decimal::Decimal;

/// One generated order, as plain facts.
#[derive(Debug, Clone)]
pub struct RawOrder {
    pub id: String,
    pub customer: String,
    pub placed_at: DateTime<Utc>,
    pub total: Decimal,
    pub currency: &'static str,
    pub status: OrderStatus,
    /// Refund amounts, delivered as separate refund events.
    pub refunds: Vec<Decimal>,
}

/// One generated flow message.
#[derive(Debug, Clone)]
pub struct RawMessage {
    pub customer: String,
    pub flow: Flow,
    pub subject: String,
    pub planned_at: DateTime<Utc>,
    /// Sent (or held out, or skipped) at this instant.
    pub at: DateTime<Utc>,
    pub status: MessageStatus,
    pub reason: String,
    pub clicked: bool,
}

#[derive(Debug, Clone)]
pub struct RawAnswer {
    pub customer: String,
    pub at: DateTime<Utc>,
    pub answer: AnswerKind,
}

#[derive(Debug, Clone)]
pub struct History {
    pub shop: ShopId,
    pub orders: Vec<RawOrder>,
    pub messages: Vec<RawMessage>,
    pub answers: Vec<RawAnswer>,
    /// The instant the figures are asked for.
    pub now: DateTime<Utc>,
}

/// xorshift64*: small, deterministic, good enough to spread test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `customers` customers over the year before 2026-11-15, from `seed`.
pub fn generate(seed: u64, customers: usize) -> History {
    let shop = ShopId::new("metrics-demo.myshopify.com").expect("a shop id");
    let start = Utc.with_ymd_and_hms(2025, 11, 1, 9, 0, 0).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 15, 12, 0, 0).unwrap();
    let mut rng = Rng(seed | 1);
    let mut orders = Vec::new();
    let mut messages = Vec::new();
    let mut answers = Vec::new();
    for c in 0..customers {
        let customer = format!("cust-{c}");
        let currency = if rng.below(7) == 0 { "USD" } else { "EUR" };
        let first = start + Duration::minutes(rng.below(330 * 24 * 60) as i64);
        let count = 1 + rng.below(4);
        let mut at = first;
        for k in 0..count {
            let total = Decimal::new(1000 + rng.below(15_000) as i64, 2);
            let (status, refunds) = match rng.below(12) {
                0 => (OrderStatus::Pending, vec![]),
                1 => (OrderStatus::Cancelled, vec![]),
                2 => (OrderStatus::Refunded, vec![total]),
                3 => (OrderStatus::Processing, vec![Decimal::new(500, 2)]),
                4 => (
                    OrderStatus::Completed,
                    vec![Decimal::new(250, 2), Decimal::new(100, 2)],
                ),
                _ => (OrderStatus::Completed, vec![]),
            };
            orders.push(RawOrder {
                id: format!("{c}-{k}"),
                customer: customer.clone(),
                placed_at: at,
                total,
                currency,
                status,
                refunds,
            });
            at += Duration::minutes(60 * (6 + rng.below(24 * 70)) as i64);
        }
        // Win-back and replenishment messages some weeks after the first order: sent, held
        // out or skipped; an order shortly after some.
        for flow in [Flow::WinBack, Flow::Replenishment] {
            if rng.below(2) == 0 {
                continue;
            }
            let planned_at = first + Duration::days(20);
            let when = planned_at + Duration::days(10 + rng.below(20) as i64);
            let (status, reason) = match rng.below(10) {
                0 => (MessageStatus::Skipped, "skipped: ordered again".to_string()),
                1 => (MessageStatus::Skipped, "skipped: unsubscribed".to_string()),
                2 | 3 => (MessageStatus::HeldOut, "held out: control group".to_string()),
                _ => (MessageStatus::Sent, "sent".to_string()),
            };
            if status != MessageStatus::Skipped && rng.below(3) == 0 {
                let total = Decimal::new(2000 + rng.below(5_000) as i64, 2);
                orders.push(RawOrder {
                    id: format!("{c}-{flow}"),
                    customer: customer.clone(),
                    placed_at: when + Duration::hours(1 + rng.below(24 * 20) as i64),
                    total,
                    currency,
                    status: OrderStatus::Completed,
                    refunds: vec![],
                });
            }
            messages.push(RawMessage {
                customer: customer.clone(),
                flow,
                subject: customer.clone(),
                planned_at,
                at: when,
                status,
                reason,
                clicked: status == MessageStatus::Sent && rng.below(3) == 0,
            });
        }
        if rng.below(3) == 0 {
            let planned_at = first + Duration::days(3);
            let at = first + Duration::days(14);
            messages.push(RawMessage {
                customer: customer.clone(),
                flow: Flow::ReviewRequest,
                subject: format!("{c}-0"),
                planned_at,
                at,
                status: MessageStatus::Sent,
                reason: "sent".into(),
                clicked: false,
            });
            if rng.below(2) == 0 {
                answers.push(RawAnswer {
                    customer: customer.clone(),
                    at: at + Duration::hours(5),
                    answer: AnswerKind::Rating {
                        product_id: "p1".into(),
                        stars: 1 + rng.below(5) as u8,
                    },
                });
            }
        }
        if rng.below(2) == 0 {
            answers.push(RawAnswer {
                customer: customer.clone(),
                at: first + Duration::days(8),
                answer: AnswerKind::Nps {
                    score: rng.below(11) as u8,
                },
            });
        }
        if rng.below(3) == 0 {
            answers.push(RawAnswer {
                customer: customer.clone(),
                at: first + Duration::days(9),
                answer: AnswerKind::Csat {
                    score: 1 + rng.below(5) as u8,
                },
            });
        }
    }
    orders.sort_by_key(|o| o.placed_at);
    History {
        shop,
        orders,
        messages,
        answers,
        now,
    }
}

impl RawOrder {
    fn money(&self, amount: Decimal) -> Money {
        Money::new(amount, Currency::new(self.currency).expect("a currency"))
    }

    /// The order's snapshot as a platform would send it (refunds arrive as their own events).
    pub fn order(&self) -> Order {
        let mut customer = Customer::bare(CustomerId::new(self.customer.clone()).expect("an id"));
        customer.updated_at = Some(self.placed_at);
        Order {
            id: OrderId::new(self.id.clone()).expect("an id"),
            name: Some(format!("#{}", self.id)),
            customer,
            created_at: self.placed_at,
            updated_at: self.placed_at,
            status: self.status,
            fulfillment: FulfillmentStatus::Unfulfilled,
            line_items: vec![],
            subtotal: self.money(self.total),
            total: self.money(self.total),
            total_discounts: self.money(Decimal::ZERO),
            discount_codes: vec![],
            refunds: vec![],
            shipping_country: None,
            shipping_address: None,
            client_ip: None,
            checkout_token: None,
            cart_token: None,
        }
    }

    /// The events that bring this order in: the order, then each refund a day apart.
    pub fn events(&self, shop: &ShopId) -> Vec<StoreEvent> {
        let event = |id: String, at: DateTime<Utc>, kind: EventKind| StoreEvent {
            shop: shop.clone(),
            platform: Platform::Shopify,
            event_id: EventId::new(id).expect("an id"),
            occurred_at: at,
            kind,
            origin: Origin::Live,
        };
        let order = self.order();
        let mut events = vec![event(
            format!("o-{}", self.id),
            self.placed_at,
            if self.status.is_paid() || self.status == OrderStatus::Refunded {
                EventKind::OrderPaid(order.clone())
            } else {
                EventKind::OrderPlaced(order.clone())
            },
        )];
        for (i, amount) in self.refunds.iter().enumerate() {
            let at = self.placed_at + Duration::days(1 + i as i64);
            events.push(event(
                format!("r-{}-{i}", self.id),
                at,
                EventKind::OrderRefunded(RefundEvent {
                    order_id: order.id.clone(),
                    refund: Refund {
                        id: format!("{}-{i}", self.id),
                        created_at: at,
                        amount: self.money(*amount),
                        reason: None,
                    },
                }),
            ));
        }
        events
    }
}

impl RawMessage {
    /// The message as planned.
    pub fn planned(&self, shop: &ShopId) -> Message {
        Message {
            shop: shop.clone(),
            customer_id: CustomerId::new(self.customer.clone()).expect("an id"),
            subject: self.subject.clone(),
            step: aftersale_domain::FlowStep::first(self.flow),
            order_id: None,
            class: MessageClass::Marketing,
            channel: Channel::Email,
            due_at: self.at,
            due_basis: DueBasis::Known,
            status: MessageStatus::Planned,
            reason: "planned".into(),
            planned_at: self.planned_at,
            lease_until: None,
            attempts: 0,
            products: vec![],
            payload: Default::default(),
            processing_errors: 0,
            to: None,
            rendered_subject: None,
            sent_at: None,
            provider_id: None,
            version: 0,
        }
    }

    /// The message after its outcome, from `planned` as stored (its version).
    pub fn settled(&self, stored: Message) -> Message {
        Message {
            status: self.status,
            reason: Reason::parse(&self.reason),
            due_at: self.at,
            sent_at: (self.status == MessageStatus::Sent).then_some(self.at),
            ..stored
        }
    }
}

impl RawAnswer {
    pub fn answer(&self, shop: &ShopId) -> Answer {
        Answer {
            shop: shop.clone(),
            customer_id: CustomerId::new(self.customer.clone()).expect("an id"),
            message_id: MessageId::of(aftersale_domain::flows::review_request::Step::Request.into(), "x"),
            order_id: None,
            answer: self.answer.clone(),
            answered_at: self.at,
        }
    }
}
