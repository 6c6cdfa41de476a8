//! roster-api: Roster's HTTP surface on warp.
//!
//! One catch-all warp filter turns each request into a [`http::Request`] (body read up to
//! `server.body_limit_bytes`) and [`routes::dispatch`] routes it through the route table, so
//! every API family answers unknown routes, wrong methods, oversize and malformed bodies in its
//! own envelope.
//! Handlers are thin: authenticate, validate, call a service in `roster-core`, render. They do
//! no upstream I/O for writes; writes become jobs. [`server`] runs the connections, with the
//! timeouts and the connection cap of `[server]`.

pub mod admin;
pub mod admin_discord;
pub mod admin_guilds;
pub mod community;
pub mod guild;
pub mod health;
pub mod http;
pub mod openapi;
pub mod ranking;
pub mod rolebridge;
pub mod routes;
pub mod server;
pub mod shield_names;
pub mod state;
pub mod wire;

use std::net::SocketAddr;

use bytes::{Buf, BytesMut};
use futures::StreamExt;
use warp::Filter;
use warp::http::{HeaderMap, Method, StatusCode};

pub use state::{AppState, WorkerHealth};

/// Serves the API on `listener` until `shutdown` resolves, then finishes in-flight requests.
/// Returns the address and the server task. Connections are bounded as [`server`] describes;
/// a body that does not arrive within `server.body_read_timeout` gets 408 and the connection
/// is closed.
pub fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let addr = listener.local_addr()?;
    let public_limit = state.ctx.config.server.body_limit_bytes as usize;
    let admin_limit = state.ctx.config.server.admin_body_limit_bytes as usize;
    let body_timeout = state.ctx.config.server.body_read_timeout;
    let limits = server::Limits::from_config(&state.ctx.config.server);
    // One Arc per request instead of cloning every handle in the state.
    let state = std::sync::Arc::new(state);
    let state_for_ws = state.clone();
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    let routes = warp::method()
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(
            move |method: Method,
                  path: warp::path::FullPath,
                  query: String,
                  headers: HeaderMap,
                  body| {
                let state = state.clone();
                async move {
                    let request_id = headers
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .filter(|v| !v.is_empty() && v.len() <= 128)
                        .map(str::to_owned)
                        .unwrap_or_else(|| ulid::Ulid::generate().to_string());
                    let path = path.as_str().to_owned();
                    // Operators import files (account links): the admin API takes more.
                    let limit = if path.trim_start_matches('/').starts_with("admin/") {
                        admin_limit
                    } else {
                        public_limit
                    };
                    // HTTP/1.1 (the only version served): a request with neither
                    // Content-Length nor Transfer-Encoding has no body (RFC 9112 §6.3), so the
                    // game servers' GETs skip the timed read.
                    let read = if !may_have_body(&headers) {
                        Ok(Ok(bytes::Bytes::new()))
                    } else {
                        tokio::time::timeout(body_timeout, read_body(body, limit)).await
                    };
                    let Ok(read) = read else {
                        metrics::counter!("roster_http_connections_closed_total", "reason" => "body_timeout")
                            .increment(1);
                        let msg = format!(
                            "the request body did not arrive within {}",
                            humantime::format_duration(body_timeout)
                        );
                        let r = family_of(&path).error(StatusCode::REQUEST_TIMEOUT, "REQUEST_TIMEOUT", msg);
                        return http::with_header(r, "connection", "close");
                    };
                    let body = match read {
                        Ok(b) => b,
                        Err(too_large) => {
                            let msg = if too_large {
                                format!("the request body exceeds {limit} bytes")
                            } else {
                                "the request body could not be read".to_owned()
                            };
                            let status = if too_large {
                                StatusCode::PAYLOAD_TOO_LARGE
                            } else {
                                StatusCode::BAD_REQUEST
                            };
                            let code = if too_large {
                                "PAYLOAD_TOO_LARGE"
                            } else {
                                "BAD_REQUEST"
                            };
                            return family_of(&path).error(status, code, msg);
                        }
                    };
                    let req = http::Request {
                        method,
                        segments: http::split_path(&path),
                        path,
                        query: http::parse_query(&query),
                        headers,
                        body,
                        request_id,
                    };
                    routes::dispatch(&state, req).await
                }
            },
        );
    let ws_state = state_for_ws;
    let query_ws = warp::query::raw().or(warp::any().map(String::new)).unify();
    let ws = warp::path!("ws" / "guilds" / String / "roblox")
        .and(warp::ws())
        .and(warp::path::full())
        .and(query_ws)
        .and(warp::header::headers_cloned())
        .map(
            move |guild: String,
                  upgrade: warp::ws::Ws,
                  path: warp::path::FullPath,
                  query: String,
                  headers: HeaderMap| {
                let state = ws_state.clone();
                let mut req = http::Request {
                    method: Method::GET,
                    segments: http::split_path(path.as_str()),
                    path: path.as_str().to_owned(),
                    query: http::parse_query(&query),
                    headers,
                    body: bytes::Bytes::new(),
                    request_id: ulid::Ulid::generate().to_string(),
                };
                match guild::ws::authorize(&state, &mut req, &guild) {
                    Ok(session) => {
                        use warp::Reply;
                        let state = (*state).clone();
                        upgrade
                            .on_upgrade(move |socket| guild::ws::run(state, session, socket))
                            .into_response()
                    }
                    Err(e) => e.into_response(),
                }
            },
        );
    let routes = ws.or(routes).unify();
    let service = hyper_util::service::TowerToHyperService::new(warp::service(routes));
    Ok((
        addr,
        tokio::spawn(server::run(listener, service, limits, shutdown)),
    ))
}

/// The family of a path, for answers given before routing (body too large or too slow).
fn family_of(path: &str) -> routes::Family {
    let segments = http::split_path(path);
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    routes::Family::of(&segs)
}

/// Whether a request's head announces a body: a non-zero `Content-Length` or any
/// `Transfer-Encoding`.
fn may_have_body(headers: &HeaderMap) -> bool {
    headers.contains_key(warp::http::header::TRANSFER_ENCODING)
        || headers
            .get(warp::http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

/// Reads a body up to `limit` bytes. `Err(true)` when it is larger, `Err(false)` on a read error.
async fn read_body<S, B>(body: S, limit: usize) -> Result<bytes::Bytes, bool>
where
    S: futures::Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let mut out = BytesMut::new();
    futures::pin_mut!(body);
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|_| false)?;
        if out.len() + chunk.remaining() > limit {
            return Err(true);
        }
        while chunk.has_remaining() {
            let c = chunk.chunk();
            out.extend_from_slice(c);
            let n = c.len();
            chunk.advance(n);
        }
    }
    Ok(out.freeze())
}
