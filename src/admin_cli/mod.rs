//! `roster admin …`: a thin client of the admin API (`/admin/v1`). Prints the JSON responses.
//!
//! The control plane's URL comes from `--url` / `ROSTER_URL` (default: `server.listen` of the
//! configuration). The admin token from `--token` / `ROSTER_ADMIN_TOKEN`, else
//! `security.admin_token`, else `<data_dir>/admin.token`.

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use roster_core::config::Config;
use serde_json::Value;

mod blacklist;
mod groups;
mod guilds;
mod jobs;
mod keys;
mod kit;
mod links;
mod moderation;
mod rules;

#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Base URL of the control plane.
    #[arg(long, env = "ROSTER_URL", value_name = "URL")]
    url: Option<String>,
    /// Admin token.
    #[arg(
        long,
        env = "ROSTER_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Groups: create, update, show, list.
    #[command(subcommand)]
    Group(groups::GroupCmd),
    /// API keys: issue (shown once), list, revoke.
    #[command(subcommand)]
    Key(keys::KeyCmd),
    /// Promote/demote rules.
    #[command(subcommand)]
    Rule(rules::RuleCmd),
    /// Blacklist.
    #[command(subcommand)]
    Blacklist(blacklist::BlacklistCmd),
    /// This month's usage of a group.
    Usage(groups::UsageArgs),
    /// A group's audit log, newest first.
    Audit(groups::AuditArgs),
    /// Dead-lettered jobs: list, inspect, retry.
    #[command(subcommand)]
    Jobs(jobs::JobsCmd),
    /// Guilds (Discord servers): create, update, show, list.
    #[command(subcommand, name = "guild")]
    Guild(guilds::GuildCmd),
    /// Guild API keys: issue (shown once), list. Revoke with `key revoke`.
    #[command(subcommand, name = "guild-key")]
    GuildKey(guilds::GuildKeyCmd),
    /// Ban a user in a guild (as from the dashboard).
    Ban(moderation::BanArgs),
    /// End a user's bans in a guild.
    Unban(moderation::UnbanArgs),
    /// Queue a command for game servers.
    Command(moderation::CommandArgs),
    /// Account links (Discord ↔ Roblox): import a JSON or CSV file, list, remove.
    #[command(subcommand)]
    Links(links::LinksCmd),
    /// Guild-wide role sync: start (no hourly limit for operators), status, cancel.
    #[command(subcommand)]
    SyncAll(guilds::SyncAllCmd),
    /// Shield: the allowlist of guilds that may import, and flags by hand.
    #[command(subcommand)]
    Shield(moderation::ShieldCmd),
    /// roblox-kit, the Luau module for game servers: export it with its Config filled in.
    #[command(subcommand)]
    Kit(kit::KitCmd),
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}/admin/v1{path}", self.base);
        let mut req = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.send(req).await
    }

    /// A call with a raw body (file uploads).
    async fn call_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> anyhow::Result<Value> {
        let url = format!("{}/admin/v1{path}", self.base);
        let req = self
            .http
            .request(method, &url)
            .bearer_auth(&self.token)
            .header("content-type", content_type)
            .body(body);
        self.send(req).await
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach the control plane at {}", self.base))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if !status.is_success() {
            let msg = value
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| value.to_string());
            let code = value
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("ERROR");
            bail!("{} {code}: {msg}", status.as_u16());
        }
        Ok(value)
    }
}

fn key_from(env: Option<String>, direct: Option<String>) -> anyhow::Result<Option<String>> {
    match (env, direct) {
        (Some(var), _) => {
            Ok(Some(std::env::var(&var).with_context(|| {
                format!("environment variable {var} is not set")
            })?))
        }
        (None, d) => Ok(d),
    }
}

/// Runs an admin command.
#[expect(clippy::print_stdout, reason = "the CLI prints its results to stdout")]
pub async fn run(args: AdminArgs, config: &Config) -> anyhow::Result<()> {
    let base = args
        .url
        .unwrap_or_else(|| format!("http://{}", config.server.listen))
        .trim_end_matches('/')
        .to_owned();
    let token = match args.token {
        Some(t) => Ok(t),
        None => match &config.security.admin_token {
            Some(t) => Ok(t.expose().to_owned()),
            None => {
                let p = config.server.data_dir.join("admin.token");
                std::fs::read_to_string(&p)
                    .with_context(|| format!("no admin token: pass --token, set ROSTER_ADMIN_TOKEN, or run where {} exists", p.display()))
                    .map(|t| t.trim().to_owned())
            }
        },
    };
    let client = |token: String| -> anyhow::Result<Client> {
        Ok(Client {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()?,
            base: base.clone(),
            token,
        })
    };
    // Exporting the kit needs the server only to check --group.
    if let AdminCommand::Kit(x) = args.command {
        let c = token.ok().map(client).transpose()?;
        let out = x.run(&base, c.as_ref()).await?;
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let c = client(token?)?;
    let out = match args.command {
        AdminCommand::Group(x) => x.run(&c).await?,
        AdminCommand::Key(x) => x.run(&c).await?,
        AdminCommand::Rule(x) => x.run(&c).await?,
        AdminCommand::Blacklist(x) => x.run(&c).await?,
        AdminCommand::Usage(x) => x.run(&c).await?,
        AdminCommand::Audit(x) => x.run(&c).await?,
        AdminCommand::Jobs(x) => x.run(&c).await?,
        AdminCommand::Guild(x) => x.run(&c).await?,
        AdminCommand::GuildKey(x) => x.run(&c).await?,
        AdminCommand::Ban(x) => x.run(&c).await?,
        AdminCommand::Unban(x) => x.run(&c).await?,
        AdminCommand::Command(x) => x.run(&c).await?,
        AdminCommand::Links(x) => x.run(&c).await?,
        AdminCommand::SyncAll(x) => x.run(&c).await?,
        AdminCommand::Shield(x) => x.run(&c).await?,
        AdminCommand::Kit(_) => unreachable!("handled above"),
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
