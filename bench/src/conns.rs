//! `roster-bench connections`: the connection limits at their default settings.
//!
//! 1. `roster serve` with defaults; `sockets` connections opened at once, a third idle (nothing
//!    sent), a third with a partial request head, a third with a complete head and a partial
//!    body. Reports when the server closed them (all should be closed within 30 s).
//! 2. `roster serve` under `ulimit -n <nofile>` with defaults; `idle` sockets opened and held
//!    (half idle, half with a partial head), then `/healthz` asked 20 times on fresh
//!    connections. Reports the answers and their latency, and the server's connection metrics.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{Server, pct, roster_binary, start_server, start_server_with};

const NO_ROBLOX: &str = "http://127.0.0.1:9";

fn addr(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// What each third of the sockets sends.
fn prefix(kind: usize) -> &'static [u8] {
    match kind {
        0 => b"",
        1 => b"GET /healthz HTTP/1.1\r\nHost: roster\r\nAcc",
        _ => b"POST /v1/groups/1/promote HTTP/1.1\r\nHost: roster\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"robloxUserId\"",
    }
}

const KINDS: [&str; 3] = ["idle", "partial head", "partial body"];

/// Reads until the peer closes; returns the time it did (None: open after `limit`) and whether
/// the server answered 408 first.
async fn wait_closed(mut s: TcpStream, limit: Duration) -> (Option<Instant>, bool) {
    let mut got = Vec::new();
    let r = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 2048];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    (
        r.ok().map(|()| Instant::now()),
        got.starts_with(b"HTTP/1.1 408"),
    )
}

/// `roster-bench connections`
#[expect(clippy::print_stdout, reason = "a benchmark prints its figures")]
pub async fn connections(sockets: usize, nofile: u64, idle: usize) -> anyhow::Result<()> {
    let bin = roster_binary()?;

    println!("## {sockets} idle and half-sent connections, default settings");
    let server = start_server(&bin, NO_ROBLOX, None, &[]).await?;
    let started = Instant::now();
    let mut waits = Vec::new();
    for i in 0..sockets {
        let kind = i % 3;
        let mut s = TcpStream::connect(addr(&server)).await.context("connect")?;
        s.write_all(prefix(kind)).await?;
        waits.push(tokio::spawn(async move {
            (kind, wait_closed(s, Duration::from_secs(60)).await)
        }));
    }
    let opened = started.elapsed();
    let mut times: [Vec<f64>; 3] = Default::default();
    let (mut still_open, mut answered_408) = (0, 0);
    for w in waits {
        let (kind, (closed, got_408)) = w.await?;
        match closed {
            Some(t) => times[kind].push((t - started).as_secs_f64()),
            None => still_open += 1,
        }
        answered_408 += usize::from(got_408);
    }
    println!("opened in {:.2} s", opened.as_secs_f64());
    println!("| connections | closed after (min / p50 / max, s from the first connect) |");
    println!("|---|---|");
    for (kind, t) in times.iter_mut().enumerate() {
        if t.is_empty() {
            continue;
        }
        let min = pct(t, 0.0);
        let p50 = pct(t, 50.0);
        let max = pct(t, 100.0);
        println!(
            "| {} × {} | {min:.2} / {p50:.2} / {max:.2} |",
            t.len(),
            KINDS[kind]
        );
    }
    let last = times.iter().flatten().fold(0.0f64, |a, &b| a.max(b));
    println!(
        "all closed: {} (last after {last:.2} s; still open after 60 s: {still_open}); 408 answers: {answered_408}",
        still_open == 0 && last <= 30.0
    );
    drop(server);

    println!();
    println!("## /healthz under `ulimit -n {nofile}` with {idle} idle sockets held open");
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        &format!("ulimit -n {nofile} && exec \"$0\" \"$@\""),
        bin.to_str().context("binary path")?,
    ]);
    let server = start_server_with(cmd, NO_ROBLOX, None, &[]).await?;
    let mut held = Vec::new();
    for i in 0..idle {
        let mut s = TcpStream::connect(addr(&server)).await.context("connect")?;
        if i % 2 == 1 {
            s.write_all(prefix(1)).await?;
        }
        held.push(s);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut lat = Vec::new();
    let mut ok = 0;
    for _ in 0..20 {
        let t = Instant::now();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        let r = client.get(format!("{}/healthz", server.base)).send().await;
        if r.is_ok_and(|r| r.status().is_success()) {
            ok += 1;
        }
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "/healthz: {ok}/20 answered 200; latency p50 {:.1} ms, max {:.1} ms",
        pct(&mut lat, 50.0),
        pct(&mut lat, 100.0)
    );
    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await?
        .text()
        .await?;
    for l in metrics.lines().filter(|l| {
        l.starts_with("roster_http_connections_open ")
            || l.starts_with("roster_http_connections_closed_total")
            || l.starts_with("roster_http_accept_errors_total")
    }) {
        println!("{l}");
    }
    let fds = std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
        .map(|d| d.count())
        .unwrap_or(0);
    println!("open files in roster serve: {fds} (limit {nofile})");
    drop(held);
    Ok(())
}
