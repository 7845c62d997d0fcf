//! The local server's HTTP edge. `aftersale serve` faces the internet (webhooks, customers'
//! link taps), so a client that sends slowly must not hold a connection for long: headers
//! must arrive within [`HEADER_READ_TIMEOUT`] and a body within [`BODY_READ_TIMEOUT`], else the
//! connection is dropped (headers) or answered 408 (body). A `Content-Length` over the limit
//! is refused before any of the body is read (see `aftersale_ingest::router`).
//!
//! On Lambda the Function URL buffers requests before the function runs, so none of this is
//! needed there; the routers are the same.

use aftersale_ingest::MAX_BODY_BYTES;
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Body as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tracing::{debug, warn};

/// Time allowed for a request's line and headers, from the first byte a connection may send
/// (and between requests on a kept-alive connection).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Time allowed for a whole request body. A 1 MiB webhook takes well under a second.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long open connections may finish their requests once a shutdown is asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves `app` until `shutdown` completes, with the read timeouts above.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let app = app.layer(middleware::from_fn(read_body_in_time));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, most often: wait instead of spinning.
                    warn!(error = %err, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT);
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                debug!(%peer, error = %err, "connection closed");
            }
        });
    }
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        warn!("some connections were still open when the server stopped");
    }
    Ok(())
}

/// Buffers the body within [`BODY_READ_TIMEOUT`] (and the size limit) before any handler
/// runs, so a body trickled in byte by byte is answered 408 instead of holding a task. A body
/// declared too large is refused before it is read.
async fn read_body_in_time(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    // hyper sizes the body from its Content-Length: refuse before reading any of it.
    if body.size_hint().lower() > MAX_BODY_BYTES as u64 {
        return (StatusCode::PAYLOAD_TOO_LARGE, "body too large\n").into_response();
    }
    let read = Limited::new(body, MAX_BODY_BYTES).collect();
    match tokio::time::timeout(BODY_READ_TIMEOUT, read).await {
        Ok(Ok(collected)) => {
            let body = Body::from(collected.to_bytes());
            next.run(Request::from_parts(parts, body)).await
        }
        Ok(Err(err)) if err.is::<LengthLimitError>() => {
            (StatusCode::PAYLOAD_TOO_LARGE, "body too large\n").into_response()
        }
        Ok(Err(_)) => (StatusCode::BAD_REQUEST, "body could not be read\n").into_response(),
        Err(_) => (StatusCode::REQUEST_TIMEOUT, "request body not received in time\n").into_response(),
    }
}
