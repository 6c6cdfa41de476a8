//! Connection limits on real loopback sockets: idle and half-sent connections are closed within
//! the configured timeouts, idle keep-alive connections are closed, and a flood of idle sockets
//! past `server.max_connections` does not lock out `/healthz`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use roster_core::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{Backend, GROUP, TestApp, TestOpts};

/// An app with these connection settings.
async fn app_with(tweak: impl Fn(&mut Config) + Send + Sync + 'static) -> TestApp {
    TestApp::start_with(
        Backend::Sqlite,
        TestOpts {
            tweak: Some(Arc::new(tweak)),
            ..Default::default()
        },
    )
    .await
}

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// Opens a connection and sends `prefix` (possibly nothing).
async fn open(app: &TestApp, prefix: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr(app)).await.expect("connect");
    if !prefix.is_empty() {
        s.write_all(prefix).await.expect("send");
    }
    s
}

/// Reads until the server closes the connection, or `limit` passes. Returns what arrived and
/// when the connection was closed (None: still open at `limit`).
async fn until_closed(mut s: TcpStream, limit: Duration) -> (String, Option<Instant>) {
    let mut got = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    (
        String::from_utf8_lossy(&got).into_owned(),
        read.ok().map(|()| Instant::now()),
    )
}

/// Reads one response with a `content-length` body.
async fn read_response(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("response in time")
            .expect("read");
        assert!(n > 0, "closed before a whole response");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().expect("length"))
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                return text;
            }
        }
    }
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: roster\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_and_half_sent_connections_are_closed_within_the_timeouts() {
    let app = app_with(|c| {
        c.server.header_read_timeout = Duration::from_secs(1);
        c.server.keep_alive_timeout = Duration::from_millis(500);
        c.server.body_read_timeout = Duration::from_millis(1500);
    })
    .await;
    const N: usize = 20;
    let started = Instant::now();
    let partial_head = b"POST /healthz HTTP/1.1\r\nHost: roster\r\nContent-Ty".as_slice();
    let partial_body = format!(
        "POST /v1/groups/{GROUP}/promote HTTP/1.1\r\nHost: roster\r\nX-Api-Key: {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"robloxUserId\"",
        app.api_key
    );
    let mut waits = Vec::new();
    for kind in 0..3 {
        for _ in 0..N {
            let s = match kind {
                0 => open(&app, b"").await,
                1 => open(&app, partial_head).await,
                _ => open(&app, partial_body.as_bytes()).await,
            };
            waits.push(tokio::spawn(async move {
                (kind, until_closed(s, Duration::from_secs(10)).await)
            }));
        }
    }
    for w in waits {
        let (kind, (got, closed)) = w.await.unwrap();
        let closed = closed.unwrap_or_else(|| panic!("connection kind {kind} still open"));
        let after = closed - started;
        let (bound, what) = match kind {
            0 => (Duration::from_secs(1), "idle"),
            1 => (Duration::from_secs(1), "partial head"),
            _ => (Duration::from_millis(1500), "partial body"),
        };
        assert!(
            after >= bound.mul_f64(0.8) && after <= bound + Duration::from_secs(3),
            "{what} connection closed after {after:?}, expected about {bound:?}"
        );
        if kind == 2 {
            assert!(got.starts_with("HTTP/1.1 408"), "{what}: {got}");
            assert!(got.contains("\"REQUEST_TIMEOUT\""), "{what}: {got}");
        } else {
            assert!(got.is_empty(), "{what}: {got}");
        }
    }
    let m = app.request(Method::GET, "/metrics", &[], None).await;
    let text = m.body.as_str().unwrap_or_default();
    for reason in ["header_timeout", "body_timeout"] {
        assert!(
            text.contains(&format!(
                "roster_http_connections_closed_total{{reason=\"{reason}\"}}"
            )),
            "{reason} counted: {text}"
        );
    }
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn healthz_answers_while_idle_sockets_exceed_the_cap() {
    let app = app_with(|c| {
        c.server.max_connections = 16;
        c.server.header_read_timeout = Duration::from_secs(60);
        c.server.keep_alive_timeout = Duration::from_secs(60);
    })
    .await;
    let mut idle = Vec::new();
    for i in 0..100 {
        // Half of them start a request head and stall.
        let prefix: &[u8] = if i % 2 == 0 { b"" } else { b"GET /hea" };
        idle.push(open(&app, prefix).await);
    }
    for _ in 0..5 {
        let started = Instant::now();
        let mut s = open(&app, HEALTHZ).await;
        let resp = read_response(&mut s).await;
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "/healthz took {:?}",
            started.elapsed()
        );
        idle.push(s);
    }
    let m = app.request(Method::GET, "/metrics", &[], None).await;
    let text = m.body.as_str().unwrap_or_default().to_owned();
    let shed = text
        .lines()
        .find_map(|l| l.strip_prefix("roster_http_connections_closed_total{reason=\"shed\"} "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(shed >= 80.0, "idle connections shed: {shed}");
    let open_now = text
        .lines()
        .find_map(|l| l.strip_prefix("roster_http_connections_open "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(f64::MAX);
    assert!(open_now <= 18.0, "connections open: {open_now}");
    drop(idle);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kept_alive_connection_idle_past_the_timeout_is_closed() {
    let app = app_with(|c| {
        c.server.header_read_timeout = Duration::from_secs(10);
        c.server.keep_alive_timeout = Duration::from_millis(600);
    })
    .await;
    let mut s = open(&app, HEALTHZ).await;
    let first = read_response(&mut s).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    // Within the timeout, the connection is reused.
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.write_all(HEALTHZ).await.unwrap();
    let second = read_response(&mut s).await;
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
    let answered = Instant::now();
    let (got, closed) = until_closed(s, Duration::from_secs(5)).await;
    let after = closed.expect("closed by the keep-alive timeout") - answered;
    assert!(got.is_empty(), "{got}");
    assert!(
        after >= Duration::from_millis(500) && after < Duration::from_secs(3),
        "closed after {after:?}, expected about 600ms (not the 10 s header timeout)"
    );
    let m = app.request(Method::GET, "/metrics", &[], None).await;
    let text = m.body.as_str().unwrap_or_default();
    assert!(
        text.contains("roster_http_connections_closed_total{reason=\"keep_alive_timeout\"}"),
        "{text}"
    );
    app.finish().await;
}
