//! A small local AWS Lambda Runtime API, and a real function binary run against it.
//!
//! The runtime side follows the documented interface
//! (<https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>): `GET .../invocation/next`
//! hands out queued invocations with the `Lambda-Runtime-*` headers and blocks while the queue
//! is empty; `POST .../invocation/{id}/response`, `.../invocation/{id}/error` and `.../init/error`
//! are recorded and handed to the test through a channel.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, mpsc};

pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:aftersale-test";

/// What the function reported back to the Runtime API.
#[derive(Debug)]
pub enum Outcome {
    /// `POST /runtime/invocation/{id}/response`.
    Response { request_id: String, body: Value },
    /// `POST /runtime/invocation/{id}/error`.
    Error {
        request_id: String,
        error_type: Option<String>,
        body: Value,
    },
    /// `POST /runtime/init/error`.
    InitError { error_type: Option<String>, body: Value },
}

struct Invocation {
    request_id: String,
    payload: Value,
    /// What the function is told it has (`Lambda-Runtime-Deadline-Ms`).
    deadline: Duration,
}

#[derive(Clone)]
struct Shared {
    queue: Arc<Mutex<mpsc::UnboundedReceiver<Invocation>>>,
    outcomes: mpsc::UnboundedSender<Outcome>,
}

/// The Runtime API, listening on a free loopback port until dropped.
pub struct RuntimeApi {
    pub address: SocketAddr,
    queue: mpsc::UnboundedSender<Invocation>,
    outcomes: mpsc::UnboundedReceiver<Outcome>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start() -> RuntimeApi {
        let (queue, queued) = mpsc::unbounded_channel();
        let (outcome_tx, outcomes) = mpsc::unbounded_channel();
        let shared = Shared {
            queue: Arc::new(Mutex::new(queued)),
            outcomes: outcome_tx,
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free loopback port for the Runtime API");
        let address = listener.local_addr().expect("the listener's address");
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the Runtime API serves");
        });
        RuntimeApi {
            address,
            queue,
            outcomes,
            server,
        }
    }

    /// Queues an invocation with 30 seconds to run; returns its request id.
    pub fn invoke(&self, payload: Value) -> String {
        self.invoke_with_deadline(payload, Duration::from_secs(30))
    }

    /// Queues an invocation that must finish within `deadline` of being handed out (the
    /// function's configured timeout, as Lambda tells it); returns its request id.
    pub fn invoke_with_deadline(&self, payload: Value, deadline: Duration) -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let request_id = format!(
            "8476a536-e9f4-11e8-9739-{:012x}",
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        self.queue
            .send(Invocation {
                request_id: request_id.clone(),
                payload,
                deadline,
            })
            .expect("the Runtime API is running");
        request_id
    }

    /// The next thing the function reports, within `within`. Fails at once, with the
    /// function's log, if the function exits instead.
    pub async fn outcome(&mut self, function: &mut Function, within: Duration) -> Outcome {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            tokio::select! {
                outcome = self.outcomes.recv() => return outcome.expect("the Runtime API is running"),
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
            if let Some(status) = function.exited() {
                // It may have reported just before exiting.
                if let Ok(outcome) = self.outcomes.try_recv() {
                    return outcome;
                }
                panic!(
                    "the function exited ({status}) without reporting; its log:\n{}",
                    function.log()
                );
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the function reported nothing within {within:?}; its log:\n{}",
                function.log()
            );
        }
    }

    /// What the function has reported and the test not yet taken, without waiting.
    pub fn reported(&mut self) -> Option<Outcome> {
        self.outcomes.try_recv().ok()
    }

    /// Invokes the function and returns its response, failing on anything else.
    pub async fn invoke_ok(&mut self, function: &mut Function, payload: Value, within: Duration) -> Value {
        let request_id = self.invoke(payload);
        self.response_to(function, request_id, within).await
    }

    /// The response to `request_id`, failing on anything else.
    pub async fn response_to(
        &mut self,
        function: &mut Function,
        request_id: String,
        within: Duration,
    ) -> Value {
        match self.outcome(function, within).await {
            Outcome::Response { request_id: id, body } if id == request_id => body,
            other => panic!(
                "expected the response to {request_id}, got {other:?}; the function's log:\n{}",
                function.log()
            ),
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Hands out the next queued invocation, waiting for one as long as it takes (as Lambda does
/// between invocations).
async fn next(State(shared): State<Shared>) -> Response {
    let mut queue = shared.queue.lock().await;
    let Some(invocation) = queue.recv().await else {
        // The test is over; the function is about to be killed.
        return std::future::pending().await;
    };
    let deadline = chrono::Utc::now().timestamp_millis() + invocation.deadline.as_millis() as i64;
    (
        StatusCode::OK,
        [
            ("content-type", "application/json".to_string()),
            ("lambda-runtime-aws-request-id", invocation.request_id),
            ("lambda-runtime-deadline-ms", deadline.to_string()),
            ("lambda-runtime-invoked-function-arn", FUNCTION_ARN.to_string()),
            (
                "lambda-runtime-trace-id",
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".to_string(),
            ),
        ],
        invocation.payload.to_string(),
    )
        .into_response()
}

fn json(body: &Bytes) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

fn error_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, r#"{"status":"OK"}"#).into_response()
}

async fn response(State(shared): State<Shared>, Path(id): Path<String>, body: Bytes) -> Response {
    let _ = shared.outcomes.send(Outcome::Response {
        request_id: id,
        body: json(&body),
    });
    accepted()
}

async fn error(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _ = shared.outcomes.send(Outcome::Error {
        request_id: id,
        error_type: error_type(&headers),
        body: json(&body),
    });
    accepted()
}

async fn init_error(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let _ = shared.outcomes.send(Outcome::InitError {
        error_type: error_type(&headers),
        body: json(&body),
    });
    accepted()
}

/// A function binary running against a [`RuntimeApi`], killed when dropped. Its stdout and
/// stderr (the JSON logs) go to a file, shown when a test fails.
pub struct Function {
    child: Child,
    log: PathBuf,
}

impl Function {
    /// Starts `binary` with only the environment Lambda would give it (the variables every
    /// function gets, plus `env`), so nothing from the developer's shell leaks in.
    pub fn spawn(binary: &str, runtime: &RuntimeApi, env: &[(&str, &str)]) -> Function {
        let name = std::path::Path::new(binary)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("function")
            .to_string();
        let log = std::env::temp_dir().join(format!(
            "aftersale-{name}-{}-{}.log",
            std::process::id(),
            runtime.address.port()
        ));
        let out = std::fs::File::create(&log).expect("creating the function's log file");
        let err = out.try_clone().expect("cloning the log file handle");
        let child = Command::new(binary)
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", runtime.address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/01/01/[$LATEST]0123456789abcdef",
            )
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("TZ", ":UTC")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {binary}: {e}"));
        Function { child, log }
    }

    /// The exit status, if the process has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("polling the function process")
    }

    /// Waits for the process to end, within `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the function still runs after {within:?}; its log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Everything the function has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Function {
    /// Kills and reaps the process. The log is removed unless the test is failing, in which
    /// case its path is printed.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("the function's log is kept at {}", self.log.display());
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}
