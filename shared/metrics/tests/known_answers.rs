//! Known answers: a generated history is folded through the store, and every figure is
//! checked against a value computed here straight from the generated facts, by plain loops
//! that share no code with the crate (only the history generator).

use aftersale_domain::{AnswerKind, Flow, MessageStatus, OrderStatus};
use aftersale_metrics::history::{self, History, RawOrder};
use aftersale_metrics::report::LiftFigure;
use aftersale_metrics::{Range, contract, shop_report};
use aftersale_testkit::MemoryStore;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::BTreeMap;

fn counts(o: &RawOrder) -> bool {
    matches!(o.status, OrderStatus::Processing | OrderStatus::Completed)
        && o.refunds.iter().sum::<Decimal>() < o.total
}
fn paid(o: &RawOrder) -> bool {
    matches!(
        o.status,
        OrderStatus::Processing | OrderStatus::Completed | OrderStatus::Refunded
    )
}
fn net(o: &RawOrder) -> Decimal {
    o.total - o.refunds.iter().sum::<Decimal>()
}
fn cents(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}
fn four(x: Decimal) -> f64 {
    x.round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero)
        .to_string()
        .parse()
        .unwrap()
}
fn month_index(d: NaiveDate) -> i64 {
    i64::from(d.year()) * 12 + i64::from(d.month0())
}

/// Each customer's counted orders, oldest first.
fn purchases(h: &History, range: Range) -> BTreeMap<String, Vec<&RawOrder>> {
    let mut by: BTreeMap<String, Vec<&RawOrder>> = BTreeMap::new();
    for o in h.orders.iter().filter(|o| counts(o)) {
        by.entry(o.customer.clone()).or_default().push(o);
    }
    for list in by.values_mut() {
        list.sort_by_key(|o| o.placed_at);
    }
    // Customer figures cover the customers whose first order falls in the range.
    by.retain(|_, list| {
        let day = list[0].placed_at.date_naive();
        range.from.is_none_or(|f| day >= f) && range.to.is_none_or(|t| day <= t)
    });
    by
}

fn in_range(at: DateTime<Utc>, range: Range) -> bool {
    let day = at.date_naive();
    range.from.is_none_or(|f| day >= f) && range.to.is_none_or(|t| day <= t)
}

async fn check(h: &History, range: Range) {
    let store = MemoryStore::new();
    contract::load(&store, h).await.unwrap();
    let r = shop_report(&store, &h.shop, range, h.now).await.unwrap();
    let by = purchases(h, range);
    let today = h.now.date_naive();

    assert_eq!(r.customers as usize, by.len(), "customers");
    let counted: Vec<&RawOrder> = h
        .orders
        .iter()
        .filter(|o| counts(o) && in_range(o.placed_at, range))
        .collect();
    assert_eq!(r.orders as usize, counted.len(), "orders");
    let mut revenue: BTreeMap<&str, Decimal> = BTreeMap::new();
    for o in &counted {
        *revenue.entry(o.currency).or_default() += net(o);
    }
    let got: BTreeMap<&str, Decimal> = r
        .revenue
        .iter()
        .map(|m| (m.currency.as_str(), m.amount))
        .collect();
    assert_eq!(got, revenue, "revenue per currency, never summed across");
    assert_eq!(r.revenue.len(), 2, "the history has EUR and USD");

    let repeaters: Vec<&Vec<&RawOrder>> = by.values().filter(|l| l.len() >= 2).collect();
    assert_eq!(
        r.repeat_purchase_rate,
        Some(four(Decimal::from(repeaters.len()) / Decimal::from(by.len()))),
        "repeat purchase rate"
    );
    let mut gaps: Vec<i64> = repeaters
        .iter()
        .map(|l| (l[1].placed_at - l[0].placed_at).num_seconds())
        .collect();
    gaps.sort();
    let n = gaps.len();
    let median = (Decimal::from(gaps[(n - 1) / 2]) + Decimal::from(gaps[n / 2])) / Decimal::TWO;
    assert_eq!(
        r.median_days_to_second_order,
        Some(four(median / Decimal::from(86_400))),
        "median days to second order"
    );

    let mean = |pairs: Vec<(&'static str, Decimal)>| -> BTreeMap<&'static str, Decimal> {
        let mut sums: BTreeMap<&str, (Decimal, Decimal)> = BTreeMap::new();
        for (c, v) in pairs {
            let slot = sums.entry(c).or_default();
            slot.0 += v;
            slot.1 += Decimal::ONE;
        }
        sums.into_iter().map(|(c, (s, k))| (c, cents(s / k))).collect()
    };
    let got = |list: &[aftersale_domain::Money]| -> BTreeMap<&'static str, Decimal> {
        list.iter()
            .map(|m| {
                (
                    if m.currency.as_str() == "EUR" {
                        "EUR"
                    } else {
                        "USD"
                    },
                    m.amount,
                )
            })
            .collect()
    };
    let first = mean(by.values().map(|l| (l[0].currency, net(l[0]))).collect());
    assert_eq!(got(&r.aov_first_order), first, "AOV of first orders");
    let repeat = mean(
        h.orders
            .iter()
            .filter(|o| counts(o) && in_range(o.placed_at, range))
            .filter(|o| {
                let all: Vec<&RawOrder> = h
                    .orders
                    .iter()
                    .filter(|x| x.customer == o.customer && counts(x))
                    .collect();
                all.iter().any(|x| x.placed_at < o.placed_at)
            })
            .map(|o| (o.currency, net(o)))
            .collect(),
    );
    assert_eq!(got(&r.aov_repeat_orders), repeat, "AOV of repeat orders");

    for days in [30, 90, 365] {
        let eligible: Vec<&Vec<&RawOrder>> = by
            .values()
            .filter(|l| (today - l[0].placed_at.date_naive()).num_days() >= days)
            .collect();
        let expected = mean(
            eligible
                .iter()
                .map(|l| {
                    let within: Decimal = l
                        .iter()
                        .filter(|o| {
                            o.currency == l[0].currency
                                && o.placed_at - l[0].placed_at <= Duration::days(days)
                        })
                        .map(|o| net(o))
                        .sum();
                    (l[0].currency, within)
                })
                .collect(),
        );
        assert_eq!(got(&r.ltv[&format!("d{days}")]), expected, "LTV d{days}");
    }

    let paid_in: Vec<&RawOrder> = h
        .orders
        .iter()
        .filter(|o| paid(o) && in_range(o.placed_at, range))
        .collect();
    let refunded = paid_in.iter().filter(|o| !o.refunds.is_empty()).count();
    assert_eq!(
        r.refund_rate,
        Some(four(Decimal::from(refunded) / Decimal::from(paid_in.len()))),
        "refund rate"
    );

    let requests = h
        .messages
        .iter()
        .filter(|m| m.flow == Flow::ReviewRequest && m.status == MessageStatus::Sent && in_range(m.at, range))
        .count();
    let answers: Vec<&AnswerKind> = h
        .answers
        .iter()
        .filter(|a| in_range(a.at, range))
        .map(|a| &a.answer)
        .collect();
    let ratings = answers
        .iter()
        .filter(|a| matches!(a, AnswerKind::Rating { .. }))
        .count();
    assert_eq!(
        r.review_rate,
        Some(four(Decimal::from(ratings) / Decimal::from(requests))),
        "review rate"
    );
    let nps: Vec<u8> = answers
        .iter()
        .filter_map(|a| match a {
            AnswerKind::Nps { score } => Some(*score),
            _ => None,
        })
        .collect();
    let promoters = nps.iter().filter(|s| **s >= 9).count() as i64;
    let detractors = nps.iter().filter(|s| **s <= 6).count() as i64;
    let expected_nps = (Decimal::from(100 * (promoters - detractors)) / Decimal::from(nps.len()))
        .round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero);
    assert_eq!(r.nps, Some(expected_nps.to_string().parse().unwrap()), "NPS");
    let csat: Vec<u8> = answers
        .iter()
        .filter_map(|a| match a {
            AnswerKind::Csat { score } => Some(*score),
            _ => None,
        })
        .collect();
    let satisfied = csat.iter().filter(|s| **s >= 4).count();
    assert_eq!(
        r.csat,
        Some(four(Decimal::from(satisfied) / Decimal::from(csat.len()))),
        "CSAT"
    );

    let mut cohorts: BTreeMap<String, Vec<&Vec<&RawOrder>>> = BTreeMap::new();
    for l in by.values() {
        let d = l[0].placed_at.date_naive();
        cohorts
            .entry(format!("{:04}-{:02}", d.year(), d.month()))
            .or_default()
            .push(l);
    }
    assert_eq!(
        r.cohorts.len(),
        cohorts.len(),
        "one cohort per month of first orders"
    );
    for (cohort, (month, members)) in r.cohorts.iter().zip(&cohorts) {
        assert_eq!(&cohort.month, month);
        assert_eq!(cohort.customers as usize, members.len());
        let start = month_index(members[0][0].placed_at.date_naive());
        for k in [1i64, 2, 3, 6, 12] {
            let again = members
                .iter()
                .filter(|l| l.len() >= 2 && month_index(l[1].placed_at.date_naive()) - start <= k)
                .count();
            let expected = (start + k < month_index(today))
                .then(|| four(Decimal::from(again) / Decimal::from(members.len())));
            assert_eq!(
                cohort.reordered[&format!("m{k}")],
                expected,
                "cohort {month} m{k}"
            );
        }
    }

    for flow in [Flow::WinBack, Flow::Replenishment] {
        let f = r.flow(flow).unwrap();
        let msgs: Vec<_> = h.messages.iter().filter(|m| m.flow == flow).collect();
        let outcome = |status: MessageStatus| {
            msgs.iter()
                .filter(|m| m.status == status && in_range(m.at, range))
                .count()
        };
        assert_eq!(
            f.planned as usize,
            msgs.iter().filter(|m| in_range(m.planned_at, range)).count()
        );
        assert_eq!(f.sent as usize, outcome(MessageStatus::Sent), "{flow} sent");
        assert_eq!(
            f.held_out as usize,
            outcome(MessageStatus::HeldOut),
            "{flow} held out"
        );
        let skipped_ordered = msgs
            .iter()
            .filter(|m| m.reason == "skipped: ordered again" && in_range(m.at, range))
            .count();
        assert_eq!(
            f.skipped.get("ordered again").copied().unwrap_or(0) as usize,
            skipped_ordered,
            "{flow} skipped because the customer ordered again"
        );
        let clicked = msgs.iter().filter(|m| m.clicked && in_range(m.at, range)).count();
        assert_eq!(f.clicked as usize, clicked, "{flow} clicks");
        assert_eq!(
            f.delivered as usize,
            outcome(MessageStatus::Sent),
            "{flow} delivered"
        );
        let window = Duration::days(14);
        let converted_with = |status: MessageStatus| -> (usize, BTreeMap<&'static str, Decimal>) {
            let mut n = 0;
            let mut revenue: BTreeMap<&str, Decimal> = BTreeMap::new();
            for m in msgs
                .iter()
                .filter(|m| m.status == status && in_range(m.at, range))
            {
                let orders: Vec<&RawOrder> = h
                    .orders
                    .iter()
                    .filter(|o| o.customer == m.customer && counts(o))
                    .filter(|o| o.placed_at > m.at && o.placed_at - m.at <= window)
                    .collect();
                if !orders.is_empty() {
                    n += 1;
                }
                for o in orders {
                    *revenue.entry(o.currency).or_default() += net(o);
                }
            }
            (n, revenue)
        };
        let (converted, attributed) = converted_with(MessageStatus::Sent);
        assert_eq!(f.converted as usize, converted, "{flow} conversions");
        assert_eq!(
            got(&f.attributed_revenue),
            attributed,
            "{flow} attributed revenue"
        );
        let (control, _) = converted_with(MessageStatus::HeldOut);
        assert_eq!(
            f.held_out_converted as usize, control,
            "{flow} held-out conversions"
        );
        assert!(
            matches!(f.lift, LiftFigure::NotEnoughData { sent, held_out } if sent == f.sent && held_out == f.held_out),
            "{flow}: a small shop has not enough data yet: {:?}",
            f.lift
        );
    }
}

#[tokio::test]
async fn every_figure_matches_a_value_computed_from_the_generated_history() {
    check(&history::generate(7, 120), Range::default()).await;
}

#[tokio::test]
async fn a_date_range_counts_only_its_days() {
    let range = Range {
        from: NaiveDate::from_ymd_opt(2026, 2, 1),
        to: NaiveDate::from_ymd_opt(2026, 7, 31),
    };
    check(&history::generate(11, 120), range).await;
}

#[tokio::test]
async fn live_rollups_equal_a_rebuild_on_the_memory_store() {
    contract::live_equals_rebuild(&MemoryStore::new()).await;
}

/// Each counter item holds one day of one shard, so what an event rewrites stays small however
/// large the shop; items written as whole months (the layout before) still count, and a
/// rebuild turns them into days without changing a figure.
#[tokio::test]
async fn counters_are_kept_a_day_per_item_and_month_items_of_before_still_add_up() {
    use aftersale_metrics::rollups::{self, BUCKET_PREFIX, Bucket};
    use aftersale_ports::Documents;
    use aftersale_ports::documents;
    let store = MemoryStore::new();
    let h = history::generate(3, 40);
    contract::load(&store, &h).await.unwrap();
    let expected = shop_report(&store, &h.shop, Range::default(), h.now)
        .await
        .unwrap();
    let items: Vec<(String, Bucket)> = documents::list(&store, &h.shop, BUCKET_PREFIX).await.unwrap();
    assert!(items.len() > 40, "{}", items.len());
    for (key, bucket) in &items {
        let days: Vec<_> = bucket.days.keys().collect();
        assert_eq!(days.len(), 1, "{key}");
        assert!(
            key.starts_with(&format!("{BUCKET_PREFIX}{}#", days[0].format("%Y-%m-%d"))),
            "{key} names its day"
        );
        let body = serde_json::to_vec(bucket).unwrap();
        assert!(body.len() < 4096, "{key} is {} bytes", body.len());
    }

    // The layout before: one item per month and shard. Merge the day items back into months.
    let mut months: BTreeMap<String, Bucket> = BTreeMap::new();
    for (key, bucket) in &items {
        let shard = key.rsplit('#').next().unwrap();
        let day = bucket.days.keys().next().unwrap();
        let month = months
            .entry(format!("{BUCKET_PREFIX}{}#{shard}", day.format("%Y-%m")))
            .or_default();
        aftersale_metrics::tally::accumulate(&mut month.days, &bucket.days);
        store.delete_document(&h.shop, key).await.unwrap();
    }
    for (key, month) in &months {
        store
            .save_document(&h.shop, key, &serde_json::to_value(month).unwrap(), 0)
            .await
            .unwrap();
    }
    assert_eq!(
        shop_report(&store, &h.shop, Range::default(), h.now)
            .await
            .unwrap(),
        expected,
        "month items read as before"
    );
    // A rebuild replaces them with day items, and no figure moves.
    rollups::rebuild(&store, &h.shop).await.unwrap();
    let rebuilt: Vec<(String, Bucket)> = documents::list(&store, &h.shop, BUCKET_PREFIX).await.unwrap();
    assert!(
        rebuilt.iter().all(|(_, b)| b.days.len() == 1),
        "a rebuild writes days"
    );
    assert_eq!(
        shop_report(&store, &h.shop, Range::default(), h.now)
            .await
            .unwrap(),
        expected
    );
}
