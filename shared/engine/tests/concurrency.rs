//! A tick at scale: many senders at once, in two "processes" on one store (SQLite file,
//! DynamoDB on moto), paced at the provider's rate, slowed down by throttled answers and
//! stopped by its budget. Whatever happens, every message goes out once: counted on what the
//! provider got, not only on the store.

mod support;

#[path = "../../aws/tests/aws_on_moto/support.rs"]
#[allow(dead_code)] // the adapters' harness; these tests use its server only
mod moto_support;

use aftersale_domain::{Flow, MessageStatus};
use aftersale_engine::{Engine, Senders, Settings, TickBudget, TickReport};
use aftersale_links::LinkSigner;
use aftersale_ports::{FlowStore, Mailer, ManualClock, OutgoingEmail, SendError, SentId};
use aftersale_rewards::{FixedDiscounts, MemoryDiscounts};
use aftersale_store_sqlite::SqliteStore;
use aftersale_templates::Templates;
use aftersale_testkit::{RecordingAlerts, RecordingMailer, RecordingSms};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

/// The thank-you of every order placed by [`place_orders`] is due then.
fn due() -> chrono::DateTime<chrono::Utc> {
    order_at() + minutes(1)
}

/// `n` distinct orders from `n` customers (each planning a thank-you due at [`due`]).
async fn place_orders(h: &Harness, n: usize) {
    for i in 0..n {
        let mut order = fixture_json("shopify/orders_create.json");
        let email = format!("customer{i}@example.com");
        order["id"] = (700_000_000_000u64 + i as u64).into();
        order["name"] = format!("#{}", 20_000 + i).into();
        order["email"] = email.clone().into();
        order["contact_email"] = email.clone().into();
        order["customer"]["id"] = (600_000_000_000u64 + i as u64).into();
        order["customer"]["email"] = email.into();
        let reply = h.shopify("orders/create", &bytes(&order)).await;
        assert_eq!(reply.stored, 1, "{}", reply.json());
    }
}

/// A mailer whose every send takes `delay` (a provider's round trip) before the recording
/// mailer takes it.
struct SlowMailer {
    inner: Arc<RecordingMailer>,
    delay: Duration,
}

#[async_trait]
impl Mailer for SlowMailer {
    async fn send_email(&self, email: &OutgoingEmail) -> Result<SentId, SendError> {
        tokio::time::sleep(self.delay).await;
        self.inner.send_email(email).await
    }
}

/// An engine of its own (a "process") on `store`, sending through `mailer`.
fn engine(store: Arc<dyn FlowStore>, mailer: Arc<dyn Mailer>, settings: Settings) -> Engine {
    Engine::new(
        store,
        Senders {
            mailer,
            sms: Arc::new(RecordingSms::new()),
            alerts: Arc::new(RecordingAlerts::new()),
            discounts: Arc::new(FixedDiscounts(Arc::new(MemoryDiscounts::new()))),
            catalogue: Arc::new(aftersale_ports::NoCatalogue),
        },
        Templates::builtin(),
        LinkSigner::new(&LINK_KEY).unwrap(),
        Arc::new(ManualClock::new(due())),
        Settings {
            link_base_url: LINK_BASE.into(),
            flows: vec![Flow::ThankYou],
            ..settings
        },
    )
}

fn concurrent(n: usize) -> Settings {
    Settings {
        send_concurrency: n,
        ..Settings::default()
    }
}

/// How many times each message went to the provider, by its `X-Aftersale-Message` header.
fn copies(mailer: &RecordingMailer) -> BTreeMap<String, usize> {
    let mut copies = BTreeMap::new();
    for email in mailer.sent() {
        let id = header(&email, "X-Aftersale-Message")
            .expect("every email names its message")
            .to_owned();
        *copies.entry(id).or_default() += 1;
    }
    copies
}

/// The order's thank-you (not its survey, due days later).
fn is_thank_you(message: &aftersale_domain::Message) -> bool {
    message.flow() == Flow::ThankYou && message.step.as_str() == "thank-you"
}

/// Every thank-you is sent, and the provider got each exactly once.
async fn assert_each_sent_once(store: &dyn FlowStore, mailer: &RecordingMailer, n: usize) {
    let copies = copies(mailer);
    let twice: Vec<_> = copies.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    assert_eq!(copies.len(), n, "every message reached the provider");
    let messages = store.list_messages(None).await.unwrap();
    let thank_yous: Vec<_> = messages.iter().filter(|m| is_thank_you(m)).collect();
    assert_eq!(thank_yous.len(), n);
    for message in thank_yous {
        assert_outcome(message, MessageStatus::Sent, "sent");
        assert!(copies.contains_key(&message.id().to_string()), "{}", message.id());
    }
}

/// Two processes of 16 senders each, at once, on one store: `a` and `b` are two handles
/// on it (two connections, two clients).
async fn two_processes_send_each_message_once(
    a: Arc<dyn FlowStore>,
    b: Arc<dyn FlowStore>,
    h: &Harness,
    n: usize,
) {
    place_orders(h, n).await;
    let mailer = Arc::new(RecordingMailer::new());
    let slow = |delay| -> Arc<dyn Mailer> {
        Arc::new(SlowMailer {
            inner: mailer.clone(),
            delay,
        })
    };
    let first = Arc::new(engine(a, slow(Duration::from_millis(3)), concurrent(16)));
    let second = Arc::new(engine(b, slow(Duration::from_millis(5)), concurrent(16)));
    let (ra, rb) = tokio::join!(
        tokio::spawn({
            let first = first.clone();
            async move { first.tick(due()).await.unwrap() }
        }),
        tokio::spawn({
            let second = second.clone();
            async move { second.tick(due()).await.unwrap() }
        }),
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    // On a slow store a claim's answer can time out after the claim was written; the SDK's
    // retry then loses to that very claim, and the message waits, unsent, for its lease to
    // end. The round after the lease sends it, once.
    let late = first.tick(due() + minutes(10)).await.unwrap();
    assert_eq!(ra.sent + rb.sent + late.sent, n, "{ra:?} {rb:?} {late:?}");
    assert_eq!(
        (
            ra.failed,
            rb.failed,
            late.failed,
            ra.errors,
            rb.errors,
            late.errors
        ),
        (0, 0, 0, 0, 0, 0),
        "{ra:?} {rb:?} {late:?}"
    );
    assert_each_sent_once(h.store.as_ref(), &mailer, n).await;
    // Another round on either finds nothing left.
    assert_eq!(first.tick(due() + minutes(20)).await.unwrap(), idle());
    assert_eq!(second.tick(due() + minutes(20)).await.unwrap(), idle());
    assert_eq!(mailer.sent().len(), n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_senders_in_two_processes_send_each_message_once_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aftersale.db");
    let a = Arc::new(SqliteStore::open(&path).unwrap());
    let b = Arc::new(SqliteStore::open(&path).unwrap());
    let h = Harness::with_store(a.clone());
    two_processes_send_each_message_once(a, b, &h, 150).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_senders_in_two_processes_send_each_message_once_on_dynamodb() {
    let config = moto_support::moto().sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = moto_support::unique("concurrent-senders");
    aftersale_aws::create_table(&client, &table).await.unwrap();
    let a = Arc::new(aftersale_aws::DynamoDbStore::new(client, table.clone()));
    let b = Arc::new(aftersale_aws::DynamoDbStore::from_config(&config, table));
    let h = Harness::with_store(a.clone());
    two_processes_send_each_message_once(a, b, &h, 48).await;
}

#[tokio::test]
async fn throttled_answers_slow_the_tick_and_are_sent_again_never_failed() {
    let h = Harness::sqlite();
    place_orders(&h, 20).await;
    let mailer = Arc::new(RecordingMailer::new());
    for _ in 0..5 {
        mailer.fail_next(SendError::Throttled(
            "SES SendEmail: TooManyRequestsException (HTTP 429): Maximum sending rate exceeded.".into(),
        ));
    }
    let engine = engine(h.store.clone(), mailer.clone(), concurrent(4));
    let started = Instant::now();
    let report = engine.tick(due()).await.unwrap();
    assert_eq!(
        report,
        TickReport {
            sent: 20,
            throttled: 5,
            ..idle()
        }
    );
    // Five throttled answers in a row pause for 100 + 200 + 400 + 800 + 1600 ms at least
    // in part: the tick slowed down rather than hammering the provider.
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    assert_each_sent_once(h.store.as_ref(), &mailer, 20).await;
    for message in h.messages().await.iter().filter(|m| is_thank_you(m)) {
        assert_eq!(message.attempts, 1, "a throttled call does not use up an attempt");
    }
}

#[tokio::test]
async fn a_provider_still_throttling_at_the_budget_gets_the_message_back_for_the_next_tick() {
    let h = Harness::sqlite();
    place_orders(&h, 1).await;
    let throttling = Arc::new(RecordingMailer::new());
    for _ in 0..100 {
        throttling.fail_next(SendError::Throttled(
            "SES SendEmail: Throttling (HTTP 400): Maximum sending rate exceeded.".into(),
        ));
    }
    let engine_a = engine(h.store.clone(), throttling.clone(), concurrent(4));
    let budget = TickBudget::of(Duration::from_millis(1500), Duration::from_secs(1));
    let report = engine_a.tick_within(due(), budget).await.unwrap();
    assert_eq!(
        (report.sent, report.failed, report.retrying),
        (0, 0, 1),
        "{report:?}"
    );
    assert!(report.throttled >= 2, "{report:?}");
    let message = h.message(Flow::ThankYou, "thank-you").await;
    assert_eq!(
        message.status,
        MessageStatus::Planned,
        "handed back, not left sending"
    );
    assert!(
        message
            .reason
            .to_string()
            .starts_with("retrying: throttled by the provider: SES SendEmail: Throttling"),
        "{}",
        message.reason
    );
    assert_eq!(message.due_at, due() + minutes(1));

    let healthy = Arc::new(RecordingMailer::new());
    let engine_b = engine(h.store.clone(), healthy.clone(), concurrent(4));
    assert_eq!(engine_b.tick(due() + minutes(1)).await.unwrap(), sent(1));
    assert!(throttling.sent().is_empty());
    assert_each_sent_once(h.store.as_ref(), &healthy, 1).await;
}

#[tokio::test]
async fn a_tick_out_of_budget_stops_claiming_and_the_next_tick_sends_the_rest_once() {
    let h = Harness::sqlite();
    place_orders(&h, 60).await;
    let mailer = Arc::new(RecordingMailer::new());
    let slow: Arc<dyn Mailer> = Arc::new(SlowMailer {
        inner: mailer.clone(),
        delay: Duration::from_millis(40),
    });
    let short = engine(h.store.clone(), slow.clone(), concurrent(2));
    let budget = TickBudget::of(Duration::from_millis(1000), Duration::from_millis(600));
    let started = Instant::now();
    let first = short.tick_within(due(), budget).await.unwrap();
    assert!(first.budget_exhausted, "{first:?}");
    assert!(first.sent > 0 && first.sent < 60, "{first:?}");
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "done before the deadline: {:?}",
        started.elapsed()
    );
    // Nothing is left half-way: what was not sent is still planned, with no lease.
    let left: Vec<_> = h
        .messages()
        .await
        .into_iter()
        .filter(|m| is_thank_you(m) && m.status != MessageStatus::Sent)
        .collect();
    assert_eq!(left.len(), 60 - first.sent);
    for message in &left {
        assert_eq!(
            (message.status, message.lease_until),
            (MessageStatus::Planned, None)
        );
    }

    let rest = engine(h.store.clone(), slow, concurrent(8))
        .tick(due() + minutes(1))
        .await
        .unwrap();
    assert_eq!(rest, sent(60 - first.sent));
    assert_each_sent_once(h.store.as_ref(), &mailer, 60).await;
}

#[tokio::test]
async fn the_email_rate_spaces_sends_across_all_concurrent_senders() {
    let h = Harness::sqlite();
    place_orders(&h, 21).await;
    let mailer = Arc::new(RecordingMailer::new());
    let paced = engine(
        h.store.clone(),
        mailer.clone(),
        Settings {
            email_rate: Some(40.0),
            ..concurrent(16)
        },
    );
    let started = Instant::now();
    assert_eq!(paced.tick(due()).await.unwrap(), sent(21));
    // 21 sends at 40 a second: the last one at least 20 × 25 ms after the first.
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    assert_each_sent_once(h.store.as_ref(), &mailer, 21).await;
}

/// A local SESv2 endpoint (moto does not answer `GetAccount`): `GET /v2/email/account`
/// answers a `SendQuota` of `max_send_rate`; the first `throttle_first` `SendEmail` calls
/// get 429 `TooManyRequestsException` "Maximum sending rate exceeded.", the others are
/// accepted and kept (the raw MIME message) for the test to count.
struct SesServer {
    endpoint: String,
    accepted: Arc<std::sync::Mutex<Vec<String>>>,
    throttled: Arc<std::sync::atomic::AtomicUsize>,
}

impl SesServer {
    async fn start(max_send_rate: f64, throttle_first: usize) -> SesServer {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(std::sync::Mutex::new(Vec::new()));
        let throttled = Arc::new(AtomicUsize::new(0));
        let calls = Arc::new(AtomicUsize::new(0));
        let (kept, refused) = (accepted.clone(), throttled.clone());
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let (accepted, throttled, calls) = (kept.clone(), refused.clone(), calls.clone());
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    loop {
                        // One request: headers, then Content-Length bytes of body.
                        let head_end = loop {
                            if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                                break at + 4;
                            }
                            let mut chunk = [0u8; 8192];
                            match socket.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                            }
                        };
                        let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
                        let length = head
                            .lines()
                            .find_map(|l| {
                                let (name, value) = l.split_once(':')?;
                                name.eq_ignore_ascii_case("content-length")
                                    .then(|| value.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        while buffer.len() < head_end + length {
                            let mut chunk = [0u8; 8192];
                            match socket.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let body: Vec<u8> = buffer.drain(..head_end + length).skip(head_end).collect();
                        let (status, extra, answer) = if head.starts_with("GET /v2/email/account") {
                            let quota = serde_json::json!({
                                "SendQuota": {"Max24HourSend": 50000.0, "MaxSendRate": max_send_rate, "SentLast24Hours": 0.0},
                                "SendingEnabled": true,
                                "ProductionAccessEnabled": true,
                            });
                            ("200 OK", "", quota.to_string())
                        } else if head.starts_with("POST /v2/email/outbound-emails") {
                            if calls.fetch_add(1, Ordering::SeqCst) < throttle_first {
                                throttled.fetch_add(1, Ordering::SeqCst);
                                (
                                    "429 Too Many Requests",
                                    "x-amzn-ErrorType: TooManyRequestsException\r\n",
                                    r#"{"message":"Maximum sending rate exceeded."}"#.to_string(),
                                )
                            } else {
                                let request: serde_json::Value = serde_json::from_slice(&body).unwrap();
                                let raw = request["Content"]["Raw"]["Data"].as_str().unwrap();
                                use base64::Engine as _;
                                let raw = base64::engine::general_purpose::STANDARD.decode(raw).unwrap();
                                let mut kept = accepted.lock().unwrap();
                                kept.push(String::from_utf8(raw).unwrap());
                                let id = format!("ses-{}", kept.len());
                                ("200 OK", "", serde_json::json!({ "MessageId": id }).to_string())
                            }
                        } else {
                            ("404 Not Found", "", "{}".to_string())
                        };
                        let response = format!(
                            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\n\r\n{answer}",
                            answer.len()
                        );
                        if socket.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        SesServer {
            endpoint,
            accepted,
            throttled,
        }
    }

    async fn mailer(&self) -> aftersale_aws::SesMailer {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .retry_config(aftersale_aws::retry_config())
            .timeout_config(aftersale_aws::timeout_config())
            .load()
            .await;
        aftersale_aws::SesMailer::from_config(&config)
    }

    /// How many times SES accepted each message, by its `X-Aftersale-Message` header.
    fn copies(&self) -> BTreeMap<String, usize> {
        let mut copies = BTreeMap::new();
        for raw in self.accepted.lock().unwrap().iter() {
            let id = raw
                .lines()
                .find_map(|l| l.strip_prefix("X-Aftersale-Message: "))
                .expect("every email names its message")
                .trim()
                .to_owned();
            *copies.entry(id).or_default() += 1;
        }
        copies
    }
}

#[tokio::test]
async fn the_send_rate_is_the_accounts_max_send_rate_from_ses_get_account() {
    let ses = SesServer::start(14.0, 0).await;
    assert_eq!(ses.mailer().await.max_send_rate().await, Ok(14.0));
}

#[tokio::test]
async fn ses_throttling_the_first_calls_slows_the_tick_and_every_message_is_sent_once() {
    let h = Harness::sqlite();
    place_orders(&h, 12).await;
    // The SDK retries a throttled call 3 times before the engine sees it: 6 refusals make the
    // first send come back throttled once and the second succeed on its third try.
    let ses = SesServer::start(50.0, 6).await;
    let mailer = ses.mailer().await;
    let rate = mailer.max_send_rate().await.unwrap();
    let engine = engine(
        h.store.clone(),
        Arc::new(mailer),
        Settings {
            email_rate: Some(rate),
            ..concurrent(1)
        },
    );
    let report = engine.tick(due()).await.unwrap();
    assert_eq!(
        report,
        TickReport {
            sent: 12,
            throttled: 1,
            ..idle()
        }
    );
    assert_eq!(ses.throttled.load(std::sync::atomic::Ordering::SeqCst), 6);
    let copies = ses.copies();
    assert_eq!(copies.len(), 12);
    assert!(copies.values().all(|n| *n == 1), "{copies:?}");
    for message in h.messages().await.iter().filter(|m| is_thank_you(m)) {
        assert_outcome(message, MessageStatus::Sent, "sent");
        assert!(
            message
                .provider_id
                .as_deref()
                .is_some_and(|id| id.starts_with("ses-"))
        );
    }
}
