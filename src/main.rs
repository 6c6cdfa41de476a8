//! The `roster` command line: parses arguments and dispatches to a role.

mod admin_cli;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use roster::{app, dev, telemetry};
use roster_core::config::Config;
use roster_core::secrets::Secret;
use tokio_util::sync::CancellationToken;

/// Roster: ranking, role sync and moderation for Roblox groups and Discord communities.
#[derive(Debug, Parser)]
#[command(name = "roster", version, about, long_about = None)]
struct Cli {
    /// Configuration file (default: ./roster.toml if present). Environment variables
    /// ROSTER_<SECTION>__<KEY> override it; see docs/configuration.md.
    #[arg(long, global = true, env = "ROSTER_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the control plane: API, scheduler, outbox relay, outcome recorder and (unless
    /// --no-workers) in-process workers. Keeps state in the data directory (sled) and its queue
    /// in an embedded SQLite file unless a Redis URL is configured.
    Serve(ServeArgs),
    /// Run a standalone, stateless worker against a Redis queue (needs the control plane's
    /// master key). Start as many as you like.
    Worker(WorkerArgs),
    /// Run the control plane plus a Roblox simulator seeded with a demo group, API key and
    /// rules. Prints one JSON line (base URL, admin token, group id, API key, members), then a
    /// tour.
    Dev(DevArgs),
    /// Operator commands against a running control plane's admin API.
    Admin(admin_cli::AdminArgs),
}

#[derive(Debug, Args)]
struct CommonArgs {
    /// Data directory (server.data_dir).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Redis URL for the queue (queue.redis_url); without it the queue is embedded SQLite.
    #[arg(long, value_name = "URL")]
    redis_url: Option<String>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on (server.listen).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    #[command(flatten)]
    common: CommonArgs,
    /// Do not run workers in this process (queue.in_process_workers = false); use with
    /// standalone `roster worker`s on Redis.
    #[arg(long)]
    no_workers: bool,
}

#[derive(Debug, Args)]
struct WorkerArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Jobs this worker runs at once (queue.concurrency).
    #[arg(long, value_name = "N")]
    concurrency: Option<usize>,
}

#[derive(Debug, Args)]
struct DevArgs {
    /// Address for the Roster API.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Address for the Roblox simulator.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    sim_listen: SocketAddr,
    /// Address for the Discord simulator.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    discord_sim_listen: SocketAddr,
    /// Keep state in this directory instead of a fresh temporary one.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Use a Redis queue instead of the embedded SQLite one.
    #[arg(long, value_name = "URL")]
    redis_url: Option<String>,
}

fn load_config(path: Option<&PathBuf>) -> Result<Config, String> {
    Config::load(path.map(PathBuf::as_path), std::env::vars()).map_err(|e| e.to_string())
}

fn apply_common(config: &mut Config, c: &CommonArgs) {
    if let Some(d) = &c.data_dir {
        config.server.data_dir = d.clone();
    }
    if let Some(u) = &c.redis_url {
        config.queue.redis_url = Some(Secret::new(u.clone()));
    }
}

/// Listens for SIGINT and SIGTERM from the moment it is called (the handlers are installed before
/// it returns, so a signal sent right after "listening on" is printed is not lost); the returned
/// future resolves when either arrives.
fn signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let int = signal(SignalKind::interrupt());
        let term = signal(SignalKind::terminate());
        async move {
            match (int, term) {
                (Ok(mut int), Ok(mut term)) => {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async move {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("roster: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roster: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[expect(clippy::print_stdout, reason = "the CLI prints its results to stdout")]
async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let mut config = load_config(cli.config.as_ref()).map_err(anyhow::Error::msg)?;
            apply_common(&mut config, &args.common);
            if let Some(l) = args.listen {
                config.server.listen = l;
            }
            if args.no_workers {
                config.queue.in_process_workers = false;
            }
            config.validate()?;
            telemetry::init(&config.log);
            let cp = app::start(config, app::Options::default()).await?;
            let stop = signal();
            if let Some(t) = &cp.generated_admin_token {
                println!(
                    "Generated an admin token (stored in the data directory as admin.token; shown only now):\n  {t}"
                );
            }
            println!("Roster listening on http://{}", cp.addr);
            let token = cp.shutdown_token();
            tokio::spawn(async move {
                stop.await;
                token.cancel();
            });
            cp.wait().await
        }
        Command::Worker(args) => {
            let mut config = load_config(cli.config.as_ref()).map_err(anyhow::Error::msg)?;
            apply_common(&mut config, &args.common);
            if let Some(c) = args.concurrency {
                config.queue.concurrency = c;
            }
            config.validate()?;
            telemetry::init(&config.log);
            let stop = CancellationToken::new();
            let s = stop.clone();
            let signalled = signal();
            tokio::spawn(async move {
                signalled.await;
                s.cancel();
            });
            app::run_worker(config, stop).await
        }
        Command::Dev(args) => {
            let mut config = load_config(cli.config.as_ref()).map_err(anyhow::Error::msg)?;
            config.server.listen = args.listen;
            if let Some(d) = &args.data_dir {
                config.server.data_dir = d.clone();
            }
            if let Some(u) = &args.redis_url {
                config.queue.redis_url = Some(Secret::new(u.clone()));
            }
            config.validate()?;
            telemetry::init(&config.log);
            let stop = signal();
            let d = dev::start(
                config,
                args.sim_listen,
                args.discord_sim_listen,
                args.data_dir.is_some(),
            )
            .await?;
            println!("{}", serde_json::to_string(&d.info)?);
            println!("{}", dev::tour(&d.info));
            stop.await;
            d.shutdown().await
        }
        Command::Admin(args) => {
            let config = load_config(cli.config.as_ref()).map_err(anyhow::Error::msg)?;
            admin_cli::run(args, &config).await
        }
    }
}
