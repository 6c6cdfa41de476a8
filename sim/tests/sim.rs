//! The simulators' own test binary: the Roblox Open Cloud, Discord REST and NamelessMC simulators
//! over real HTTP on loopback, each test with its own simulator. Tests of Roster against the simulators are
//! in the root crate's `tests/it/`.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

mod discord;
mod nameless;
mod roblox;

/// The folder holding the official upstream OpenAPI files (`roblox-openapi.json`,
/// `discord-openapi.json`): `ROSTER_UPSTREAM_SPECS` when set, else `../shared/upstream-specs`
/// beside the workspace when it exists. `build.rs` makes the same choice at build time and marks
/// the conformance tests ignored (reported as skipped) when there is none.
pub fn upstream_specs() -> Option<PathBuf> {
    if let Some(folder) = std::env::var_os("ROSTER_UPSTREAM_SPECS") {
        return Some(folder.into());
    }
    let default = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/upstream-specs"
    ));
    default.is_dir().then(|| default.to_path_buf())
}

/// A simulator served on a free loopback port, with a client: what every simulator's test
/// fixture holds (they reach its fields through `Deref`). [`Served::stop`] shuts the server down
/// and checks that its task ends.
pub struct Served {
    pub addr: SocketAddr,
    pub base: String,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

/// What a simulator's `serve` is given to stop on.
pub type Stop = Pin<Box<dyn Future<Output = ()> + Send>>;

impl Served {
    /// Serves with `serve` (a simulator's `serve(addr, shutdown)`) on `127.0.0.1:0`.
    pub async fn start<F>(serve: impl FnOnce(SocketAddr, Stop) -> F) -> Self
    where
        F: Future<Output = std::io::Result<(SocketAddr, JoinHandle<()>)>>,
    {
        let (tx, rx) = oneshot::channel::<()>();
        let addr: SocketAddr = "127.0.0.1:0".parse().expect("valid address");
        let (bound, server) = serve(
            addr,
            Box::pin(async move {
                let _ = rx.await;
            }),
        )
        .await
        .expect("the simulator binds");
        Self {
            addr: bound,
            base: format!("http://{bound}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client builds"),
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// Shuts the server down; it must end within 5 s without panicking.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(5), server)
                .await
                .expect("the server shuts down within 5 s")
                .expect("the server task does not panic");
        }
    }
}
