//! What an idle `roster serve` costs, on each queue backend: CPU, bytes written to disk, RSS
//! and (on Redis) commands sent, over a quiet window right after start-up and again after a
//! burst of rank requests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use roster_sim::roblox::{RobloxSim, RobloxSimConfig};
use tokio_util::sync::CancellationToken;

use crate::{Cursor, Redis, Server, Which, latency, roster_binary, seed, start_server};

/// What a process has used so far.
#[derive(Clone, Copy)]
struct Usage {
    at: Instant,
    /// User + system CPU, in seconds.
    cpu: f64,
    /// `write_bytes` from `/proc/<pid>/io`: bytes this process caused to be written to storage.
    written: u64,
}

fn usage(pid: u32) -> anyhow::Result<Usage> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io"))?;
    let written = io
        .lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Ok(Usage {
        at: Instant::now(),
        cpu: crate::guild::cpu_seconds(pid),
        written,
    })
}

/// Commands Redis has processed so far.
async fn redis_commands(conn: &mut redis::aio::MultiplexedConnection) -> anyhow::Result<u64> {
    let info: String = redis::cmd("INFO").arg("stats").query_async(conn).await?;
    Ok(info
        .lines()
        .find_map(|l| l.strip_prefix("total_commands_processed:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0))
}

/// One quiet window: CPU share of a core, KiB written, RSS, Redis commands per second.
#[expect(clippy::print_stdout, reason = "a benchmark prints its figures")]
async fn window(
    label: &str,
    server: &Server,
    redis: Option<&mut redis::aio::MultiplexedConnection>,
    seconds: u64,
) -> anyhow::Result<()> {
    let a = usage(server.pid())?;
    let mut redis = redis;
    let c0 = match redis.as_deref_mut() {
        Some(c) => Some(redis_commands(c).await?),
        None => None,
    };
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let b = usage(server.pid())?;
    let c1 = match redis {
        Some(c) => Some(redis_commands(c).await?),
        None => None,
    };
    let secs = b.at.duration_since(a.at).as_secs_f64();
    let commands = match (c0, c1) {
        // The two INFO calls themselves are left out.
        (Some(x), Some(y)) => format!("{:.1}", (y.saturating_sub(x + 1)) as f64 / secs),
        _ => "-".into(),
    };
    println!(
        "{label:<22} {:>8.2}% {:>12} {:>9.1} {:>12}",
        (b.cpu - a.cpu) / secs * 100.0,
        (b.written - a.written) / 1024,
        server.current_rss_mib(),
        commands
    );
    Ok(())
}

#[expect(clippy::print_stdout, reason = "a benchmark prints its figures")]
pub(crate) async fn idle(backend: Which, seconds: u64, burst: usize) -> anyhow::Result<()> {
    let bin = roster_binary()?;
    let backends = backend.names();
    println!(
        "roster-bench idle: roster serve (default settings: queue.concurrency 128, 88 workers) idle for {seconds} s after start-up, then again {seconds} s after {burst} rank requests"
    );
    println!(
        "{:<22} {:>9} {:>12} {:>9} {:>12}",
        "window", "CPU", "written KiB", "RSS MiB", "Redis cmd/s"
    );
    for b in backends {
        let sim = RobloxSim::new(RobloxSimConfig::default());
        let stop = CancellationToken::new();
        let s = stop.clone();
        let (addr, _) = sim
            .serve("127.0.0.1:0".parse()?, async move { s.cancelled().await })
            .await?;
        let redis = if *b == "redis" {
            Some(Redis::start()?)
        } else {
            None
        };
        let mut conn = match &redis {
            Some(r) => Some(
                redis::Client::open(r.url())?
                    .get_multiplexed_async_connection()
                    .await?,
            ),
            None => None,
        };
        let server = start_server(&bin, &format!("http://{addr}"), redis.as_ref(), &[]).await?;
        let fx = seed(&sim, &server, 4).await?;
        tokio::time::sleep(Duration::from_secs(5)).await;
        window(&format!("{b}, idle"), &server, conn.as_mut(), seconds).await?;
        let cursor = Arc::new(Cursor {
            next: AtomicU64::new(0),
            groups: 4,
        });
        let t = Instant::now();
        let s = latency(&server, &fx, &cursor, 50, burst).await?;
        let done = cursor.next.load(Ordering::Relaxed);
        println!(
            "  burst: {} of {done} rank requests answered in {:.1} s",
            s.total.len(),
            t.elapsed().as_secs_f64()
        );
        // Let the burst's after-effects (acknowledgements, outcome records) settle.
        tokio::time::sleep(Duration::from_secs(5)).await;
        window(
            &format!("{b}, after a burst"),
            &server,
            conn.as_mut(),
            seconds,
        )
        .await?;
        drop(server);
        stop.cancel();
    }
    Ok(())
}
