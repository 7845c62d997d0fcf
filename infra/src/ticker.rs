//! `serve`'s background sending loop and the `/healthz` that reports on it.
//!
//! Each run of due work is its own task: a panic or an error ends that run, never the loop,
//! and the next run starts on schedule. `/healthz` says whether the loop is alive and its last
//! run finished: 200 with `"status": "ok"` while it does, 503 when the last run failed or no
//! run has finished for three intervals (a stuck loop), with the details either way.

use aftersale_engine::{Engine, TickReport};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// Runs without a finished tick for this many intervals make the loop "stalled".
const STALLED_AFTER_INTERVALS: u32 = 3;

/// What the loop last did, shared with `/healthz`.
pub struct TickHealth {
    every: Duration,
    /// Staleness is measured on the process's monotonic clock: under `serve --now` the
    /// engine's clock (whose instants are reported) may be years in the past.
    started: Instant,
    state: Mutex<LoopState>,
}

#[derive(Default)]
struct LoopState {
    last_success: Option<Instant>,
    last_success_at: Option<DateTime<Utc>>,
    last_report: Option<TickReport>,
    last_error: Option<String>,
    last_error_at: Option<DateTime<Utc>>,
    consecutive_failures: u32,
}

impl TickHealth {
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            started: Instant::now(),
            state: Mutex::new(LoopState::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LoopState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn succeeded(&self, at: DateTime<Utc>, report: TickReport) {
        let mut state = self.state();
        state.last_success = Some(Instant::now());
        state.last_success_at = Some(at);
        state.last_report = Some(report);
        state.consecutive_failures = 0;
    }

    pub fn failed(&self, at: DateTime<Utc>, error: String) {
        let mut state = self.state();
        state.last_error = Some(error);
        state.last_error_at = Some(at);
        state.consecutive_failures += 1;
    }

    /// The `/healthz` answer now: (healthy, body).
    pub fn report(&self) -> (bool, serde_json::Value) {
        let state = self.state();
        let since = state.last_success.unwrap_or(self.started);
        let limit = self.every * STALLED_AFTER_INTERVALS + Duration::from_secs(30);
        let status = if state.consecutive_failures > 0 {
            "failing"
        } else if since.elapsed() > limit {
            "stalled"
        } else {
            "ok"
        };
        let time = |at: Option<DateTime<Utc>>| at.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true));
        let body = json!({
            "status": status,
            "tick": {
                "every_seconds": self.every.as_secs(),
                "last_success_at": time(state.last_success_at),
                "last_report": state.last_report,
                "last_error": state.last_error,
                "last_error_at": time(state.last_error_at),
                "consecutive_failures": state.consecutive_failures,
            },
        });
        (status == "ok", body)
    }
}

/// `GET /healthz`: 200 while the sending loop is healthy, 503 otherwise; JSON either way.
pub fn router(health: Arc<TickHealth>) -> Router {
    Router::new().route("/healthz", get(healthz)).with_state(health)
}

async fn healthz(State(health): State<Arc<TickHealth>>) -> Response {
    let (healthy, body) = health.report();
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Sends what is due, every `health.every`, for as long as the server runs. A run that
/// errors or panics is recorded and the loop goes on.
pub async fn run(engine: Arc<Engine>, health: Arc<TickHealth>) {
    let mut interval = tokio::time::interval(health.every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let run = Arc::clone(&engine);
        let now = engine.clock().now();
        let outcome = tokio::spawn(async move { run.tick(now).await }).await;
        let finished = engine.clock().now();
        match outcome {
            Ok(Ok(report)) => {
                if report != TickReport::default() {
                    info!(?report, "due work done");
                }
                health.succeeded(finished, report);
            }
            Ok(Err(err)) => {
                warn!(error = %err, "due work failed; will retry next tick");
                health.failed(finished, err.to_string());
            }
            Err(join) => {
                let why = if join.is_panic() {
                    "due work panicked; will retry next tick"
                } else {
                    "due work was cancelled; will retry next tick"
                };
                warn!(error = %join, "{why}");
                health.failed(
                    finished,
                    why.trim_end_matches("; will retry next tick").to_string(),
                );
            }
        }
    }
}
