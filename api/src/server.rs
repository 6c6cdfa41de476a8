//! The HTTP server under the API: an accept loop over hyper's HTTP/1 with the limits that keep
//! idle, slow or abandoned connections from holding the process' sockets.
//!
//! - `server.header_read_timeout`: a request head must be complete within it, counted from the
//!   moment the connection is ready for one (accepted, or the previous response sent). hyper
//!   enforces it, so it also closes connections that never send anything.
//! - `server.body_read_timeout`: enforced where the body is read (see [`crate::serve`]), which
//!   answers 408 and closes the connection.
//! - `server.keep_alive_timeout`: a connection that has answered a request and then stays
//!   silent this long is closed by a sweep.
//! - `server.max_connections`, further capped by the open-files limit less [`RESERVED_FDS`]:
//!   at the cap, a new connection displaces the longest-idle connection with no request in
//!   flight (idle, or still sending its head), so a flood of idle sockets cannot lock out real
//!   requests. Only when every connection is busy is the new one closed at once.
//!
//! Nothing here logs above DEBUG per connection; the counts are metrics
//! (`roster_http_connections_*`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use parking_lot::Mutex;
use roster_core::config::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use warp::http::{Request, Response, StatusCode};

/// Files the process keeps for itself when the connection cap is derived from the open-files
/// limit: the sled store, the SQLite queue and ledger (with their WAL files), Redis and
/// upstream (Roblox, Discord) connections, the listener, logs.
pub const RESERVED_FDS: u64 = 96;

/// The smallest cap, whatever the open-files limit says.
const MIN_CAP: u64 = 16;

/// Set in [`Slot::busy`] once a connection was upgraded (websocket): it is never shed.
const UPGRADED: u32 = 1 << 30;
/// Set in [`Slot::busy`] once a connection was chosen to be closed.
const CLOSING: u32 = 1 << 31;

/// The connection limits, from `[server]`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `server.header_read_timeout`.
    pub header_read_timeout: Duration,
    /// `server.keep_alive_timeout`.
    pub keep_alive_timeout: Duration,
    /// The effective connection cap (see [`effective_cap`]).
    pub max_connections: usize,
}

impl Limits {
    /// The limits for `config`, the cap lowered to what the open-files limit allows.
    pub fn from_config(config: &ServerConfig) -> Self {
        Self {
            header_read_timeout: config.header_read_timeout,
            keep_alive_timeout: config.keep_alive_timeout,
            max_connections: effective_cap(config.max_connections, open_files_limit()),
        }
    }
}

/// `min(configured, nofile − RESERVED_FDS)`, at least [`MIN_CAP`].
pub fn effective_cap(configured: u64, nofile: Option<u64>) -> usize {
    let by_files = nofile.map_or(u64::MAX, |n| n.saturating_sub(RESERVED_FDS));
    configured.min(by_files).max(MIN_CAP) as usize
}

/// The soft open-files limit (`RLIMIT_NOFILE`), read from `/proc/self/limits`. `None` when
/// unlimited or unknown (other systems): then only `server.max_connections` applies.
fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Serves `service` on `listener` with `limits` until `shutdown` fires, then lets requests in
/// flight finish (idle connections close at once).
pub async fn run<S, B>(
    listener: TcpListener,
    service: S,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Body + Unpin + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let registry = Arc::new(Registry::new());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let draining = CancellationToken::new();
    let (alive_tx, mut alive_rx) = tokio::sync::mpsc::channel::<()>(1);
    let sweeper_stop = CancellationToken::new();
    tokio::spawn(sweep_idle(
        registry.clone(),
        limits.keep_alive_timeout,
        sweeper_stop.clone(),
    ));
    tracing::info!(
        max_connections = limits.max_connections,
        "HTTP connection cap"
    );
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                metrics::counter!("roster_http_accept_errors_total").increment(1);
                tracing::debug!(error = %e, "accept failed");
                // Out of descriptors: make room, and never spin.
                if matches!(e.raw_os_error(), Some(24 | 23)) {
                    registry.shed_one();
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(20)) => {}
                    () = &mut shutdown => break,
                }
                continue;
            }
        };
        if registry.len() >= limits.max_connections && !registry.shed_one() {
            metrics::counter!("roster_http_connections_closed_total", "reason" => "refused")
                .increment(1);
            tracing::debug!("connection refused: every connection is busy");
            continue;
        }
        let _ = stream.set_nodelay(true);
        let (slot, guard) = registry.open();
        let io = TokioIo::new(Tracked {
            stream,
            slot: slot.clone(),
            _guard: guard,
        });
        let svc = Counted {
            inner: service.clone(),
            slot: slot.clone(),
        };
        let conn = http.serve_connection(io, svc).with_upgrades();
        let draining = draining.clone();
        let alive = alive_tx.clone();
        tokio::spawn(async move {
            let _alive = alive;
            let mut conn = std::pin::pin!(conn);
            let ended = tokio::select! {
                r = conn.as_mut() => Some(r),
                () = slot.close.cancelled() => None,
                () = draining.cancelled() => {
                    // Idle connections close now; a request in flight gets its answer first.
                    conn.as_mut().graceful_shutdown();
                    tokio::select! {
                        r = conn.as_mut() => Some(r),
                        () = slot.close.cancelled() => None,
                    }
                }
            };
            match ended {
                Some(Ok(())) => {}
                Some(Err(e)) if e.is_timeout() => {
                    metrics::counter!("roster_http_connections_closed_total", "reason" => "header_timeout")
                        .increment(1);
                    tracing::debug!("connection closed: request head not received in time");
                }
                Some(Err(e)) => tracing::debug!(error = %e, "connection ended with an error"),
                None => tracing::debug!("connection closed by the server"),
            }
        });
    }
    drop(listener);
    sweeper_stop.cancel();
    draining.cancel();
    drop(alive_tx);
    // Every connection task holds a sender: this returns when the last one has ended.
    let _ = alive_rx.recv().await;
}

/// The connections open now.
struct Registry {
    next_id: AtomicU64,
    slots: Mutex<HashMap<u64, Arc<Slot>>>,
}

/// One connection's state, shared by its socket, its service and the registry.
struct Slot {
    id: u64,
    /// Requests in flight (until their response body is sent), plus [`UPGRADED`] and
    /// [`CLOSING`].
    busy: AtomicU32,
    /// Milliseconds (see [`now_ms`]) at which the connection last became idle
    /// (accepted, or a response sent).
    idle_since_ms: AtomicU64,
    /// A response was sent (the keep-alive timeout applies).
    served: AtomicBool,
    /// Bytes arrived since the connection became idle (a request head has begun).
    read_since_idle: AtomicBool,
    /// Fired to close the connection.
    close: CancellationToken,
}

impl Registry {
    fn new() -> Self {
        Self {
            next_id: AtomicU64::new(0),
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn len(&self) -> usize {
        self.slots.lock().len()
    }

    fn open(self: &Arc<Self>) -> (Arc<Slot>, SlotGuard) {
        let slot = Arc::new(Slot {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            busy: AtomicU32::new(0),
            idle_since_ms: AtomicU64::new(now_ms()),
            served: AtomicBool::new(false),
            read_since_idle: AtomicBool::new(false),
            close: CancellationToken::new(),
        });
        self.slots.lock().insert(slot.id, slot.clone());
        metrics::gauge!("roster_http_connections_open").increment(1.0);
        (
            slot.clone(),
            SlotGuard {
                registry: self.clone(),
                id: slot.id,
            },
        )
    }

    /// Closes the longest-idle connection with no request in flight. False when there is none.
    fn shed_one(&self) -> bool {
        let slots = self.slots.lock();
        // One pass per try (this runs on every accept at the cap); a candidate that took a
        // request in between is passed over on the next pass.
        for _ in 0..3 {
            let Some(slot) = slots
                .values()
                .filter(|s| s.busy.load(Ordering::Acquire) == 0)
                .min_by_key(|s| s.idle_since_ms.load(Ordering::Relaxed))
            else {
                return false;
            };
            if slot.try_close() {
                metrics::counter!("roster_http_connections_closed_total", "reason" => "shed")
                    .increment(1);
                tracing::debug!("connection shed to make room for a new one");
                return true;
            }
        }
        false
    }
}

impl Slot {
    /// Marks the connection closing if it has no request in flight, and closes it.
    fn try_close(&self) -> bool {
        let closed = self
            .busy
            .compare_exchange(0, CLOSING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if closed {
            self.close.cancel();
        }
        closed
    }
}

/// Removes a connection from the registry when its socket is dropped (after an upgrade, that is
/// when the websocket ends).
struct SlotGuard {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.registry.slots.lock().remove(&self.id);
        metrics::gauge!("roster_http_connections_open").decrement(1.0);
    }
}

/// Closes connections silent for `keep_alive` after a response, a few times per period.
async fn sweep_idle(registry: Arc<Registry>, keep_alive: Duration, stop: CancellationToken) {
    let tick = (keep_alive / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let keep_alive_ms = keep_alive.as_millis() as u64;
    loop {
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            () = stop.cancelled() => return,
        }
        let now = now_ms();
        let expired: Vec<Arc<Slot>> = registry
            .slots
            .lock()
            .values()
            .filter(|s| {
                s.busy.load(Ordering::Acquire) == 0
                    && s.served.load(Ordering::Relaxed)
                    && !s.read_since_idle.load(Ordering::Relaxed)
                    && now.saturating_sub(s.idle_since_ms.load(Ordering::Relaxed)) >= keep_alive_ms
            })
            .cloned()
            .collect();
        for slot in expired {
            if slot.try_close() {
                metrics::counter!("roster_http_connections_closed_total", "reason" => "keep_alive_timeout")
                    .increment(1);
                tracing::debug!("idle keep-alive connection closed");
            }
        }
    }
}

/// The socket, noting when a request starts arriving; it holds the connection's place in the
/// registry for as long as it is open.
struct Tracked {
    stream: TcpStream,
    slot: Arc<Slot>,
    _guard: SlotGuard,
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.slot.read_since_idle.store(true, Ordering::Relaxed);
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The service for one connection: counts the requests in flight until their response body
/// has been sent, and marks the connection upgraded on 101.
#[derive(Clone)]
struct Counted<S> {
    inner: S,
    slot: Arc<Slot>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> hyper::service::Service<Request<Incoming>> for Counted<S>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>,
    S::Future: Send + 'static,
    B: Body + Unpin + Send + 'static,
{
    type Response = Response<InFlightBody<B>>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        self.slot.busy.fetch_add(1, Ordering::AcqRel);
        let in_flight = InFlight(self.slot.clone());
        let fut = self.inner.call(req);
        Box::pin(async move {
            let Ok(resp) = fut.await;
            if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
                in_flight.0.busy.fetch_or(UPGRADED, Ordering::AcqRel);
            }
            Ok(resp.map(|inner| InFlightBody {
                inner,
                _in_flight: in_flight,
            }))
        })
    }
}

/// One request in flight on a connection; dropping it makes the connection idle again.
struct InFlight(Arc<Slot>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let slot = &self.0;
        slot.idle_since_ms.store(now_ms(), Ordering::Relaxed);
        slot.read_since_idle.store(false, Ordering::Relaxed);
        slot.served.store(true, Ordering::Relaxed);
        slot.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Milliseconds since the first connection, the clock of idle times.
fn now_ms() -> u64 {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// A response body that keeps its request counted as in flight until it is sent.
struct InFlightBody<B> {
    inner: B,
    _in_flight: InFlight,
}

impl<B: Body + Unpin> Body for InFlightBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
