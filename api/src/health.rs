//! `/healthz` (the process answers), `/readyz` (store, queue backend and workers are usable)
//! and `/metrics` (Prometheus text).

use std::sync::atomic::Ordering;
use std::time::Duration;

use roster_core::store::Tree;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::http;
use crate::state::AppState;
use crate::wire;

/// Liveness.
pub(crate) fn healthz() -> Response {
    http::text(StatusCode::OK, "ok\n")
}

/// Readiness: 200 when requests can be served end to end, 503 (with the reason) otherwise.
pub(crate) async fn readyz(state: &AppState) -> Response {
    let store_ok = state.ctx.store.get(Tree::Meta, b"schema").is_ok();
    let backend_ok = tokio::time::timeout(Duration::from_secs(2), state.ctx.backend.ping())
        .await
        .map(|r| r.is_ok())
        .unwrap_or(false);
    let workers_ok = state.workers.ok();
    let draining = state.workers.draining.load(Ordering::Relaxed);
    let ready = store_ok && backend_ok && workers_ok && !draining;
    let outbox = state.ctx.store.len(Tree::Outbox);
    http::json(
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        &wire::Readiness {
            ready,
            store: store_ok,
            queue: wire::QueueHealth {
                backend: state.ctx.backend.kind().as_str().to_owned(),
                reachable: backend_ok,
            },
            workers: workers_ok,
            draining,
            outbox_pending: outbox as u64,
        },
    )
}

/// Prometheus metrics.
pub(crate) fn metrics(state: &AppState) -> Response {
    match &state.metrics {
        Some(h) => {
            let mut r = http::text(StatusCode::OK, h.render());
            r.headers_mut().insert(
                "content-type",
                warp::http::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            r
        }
        None => http::text(StatusCode::NOT_FOUND, "metrics are not enabled\n"),
    }
}
