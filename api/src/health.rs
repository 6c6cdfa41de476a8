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

/// Whether requests can be served end to end, and why not.
async fn readiness(state: &AppState) -> wire::Readiness {
    let store_ok = state.ctx.store.get(Tree::Meta, b"schema").is_ok();
    let backend_ok = tokio::time::timeout(Duration::from_secs(2), state.ctx.backend.ping())
        .await
        .map(|r| r.is_ok())
        .unwrap_or(false);
    let workers_ok = state.workers.ok();
    let draining = state.workers.draining.load(Ordering::Relaxed);
    let ready = store_ok && backend_ok && workers_ok && !draining;
    let outbox = state.ctx.store.len(Tree::Outbox);
    wire::Readiness {
        ready,
        store: store_ok,
        queue: wire::QueueHealth {
            backend: state.ctx.backend.kind().as_str().to_owned(),
            reachable: backend_ok,
        },
        workers: workers_ok,
        draining,
        outbox_pending: outbox as u64,
    }
}

/// Readiness: 200 when requests can be served end to end, 503 (with the reason) otherwise.
pub(crate) async fn readyz(state: &AppState) -> Response {
    let r = readiness(state).await;
    http::json(
        if r.ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        &r,
    )
}

/// Prometheus metrics. Readiness is checked as each scrape is answered (`roster_ready`, 1 or 0,
/// and `roster_ready_check{check}` for each of its parts), so an alert can say what `/readyz`
/// says without a probe of its own.
pub(crate) async fn metrics(state: &AppState) -> Response {
    match &state.metrics {
        Some(h) => {
            let r = readiness(state).await;
            let flag = |ok: bool| if ok { 1.0 } else { 0.0 };
            metrics::gauge!("roster_ready").set(flag(r.ready));
            for (check, ok) in [
                ("store", r.store),
                ("queue", r.queue.reachable),
                ("workers", r.workers),
                ("not_draining", !r.draining),
            ] {
                metrics::gauge!("roster_ready_check", "check" => check).set(flag(ok));
            }
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
