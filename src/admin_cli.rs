//! `roster admin …`: a thin client of the admin API (`/admin/v1`). Prints the JSON responses.
//!
//! The control plane's URL comes from `--url` / `ROSTER_URL` (default: `server.listen` of the
//! configuration). The admin token from `--token` / `ROSTER_ADMIN_TOKEN`, else
//! `security.admin_token`, else `<data_dir>/admin.token`.

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use roster_core::config::Config;
use serde_json::{Value, json};

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
    Group(GroupCmd),
    /// API keys: issue (shown once), list, revoke.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Promote/demote rules.
    #[command(subcommand)]
    Rule(RuleCmd),
    /// Blacklist.
    #[command(subcommand)]
    Blacklist(BlacklistCmd),
    /// This month's usage of a group.
    Usage {
        /// Group id.
        group: u64,
    },
    /// A group's audit log, newest first.
    Audit {
        /// Group id.
        group: u64,
        /// Entries to show.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Only this action (or prefix ending in `.`), e.g. `rank.promote`.
        #[arg(long)]
        action: Option<String>,
        /// Continue after this entry id.
        #[arg(long)]
        cursor: Option<u64>,
    },
    /// Dead-lettered jobs: list, inspect, retry.
    #[command(subcommand)]
    Jobs(JobsCmd),
    /// Guilds (Discord servers): create, update, show, list.
    #[command(subcommand, name = "guild")]
    Guild(GuildCmd),
    /// Guild API keys: issue (shown once), list. Revoke with `key revoke`.
    #[command(subcommand, name = "guild-key")]
    GuildKey(GuildKeyCmd),
    /// Ban a user in a guild (as from the dashboard).
    Ban {
        /// Guild id.
        guild: String,
        /// Roblox or Discord user id (`roblox:N` / `discord:N` to be explicit).
        identifier: String,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
        /// Length in seconds (default: permanent).
        #[arg(long)]
        duration: Option<u64>,
        /// Only this place.
        #[arg(long)]
        place: Option<u64>,
    },
    /// End a user's bans in a guild.
    Unban {
        /// Guild id.
        guild: String,
        /// User id.
        identifier: String,
    },
    /// Queue a command for game servers.
    Command {
        /// Guild id.
        guild: String,
        /// Command type, e.g. kick, announce, shutdown.
        #[arg(long = "type")]
        kind: String,
        /// Whom it concerns.
        #[arg(long)]
        target: Option<String>,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
        /// One server.
        #[arg(long, conflicts_with_all = ["place", "universe", "all"])]
        server: Option<String>,
        /// Every live server of a place.
        #[arg(long, conflicts_with_all = ["universe", "all"])]
        place: Option<u64>,
        /// Every live server of a universe.
        #[arg(long, conflicts_with = "all")]
        universe: Option<u64>,
        /// Every live server of the guild.
        #[arg(long)]
        all: bool,
        /// Seconds before it expires unacknowledged.
        #[arg(long)]
        ttl: Option<u64>,
    },
    /// Account links (Discord ↔ Roblox): import a JSON or CSV file, list, remove.
    #[command(subcommand)]
    Links(LinksCmd),
    /// Guild-wide role sync: start (no hourly limit for operators), status, cancel.
    #[command(subcommand)]
    SyncAll(SyncAllCmd),
    /// Shield: the allowlist of guilds that may import, and flags by hand.
    #[command(subcommand)]
    Shield(ShieldCmd),
}

#[derive(Debug, Subcommand)]
enum GuildCmd {
    /// Register a guild.
    Create {
        /// Discord guild id.
        #[arg(long)]
        id: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Roblox groups whose rank changes appear in the guild's audit log (repeatable).
        #[arg(long = "linked-group")]
        linked_groups: Vec<u64>,
        /// Universes whose experience bans follow the guild's bans (repeatable).
        #[arg(long = "universe")]
        universes: Vec<u64>,
        /// Environment variable holding the Open Cloud key for those experience bans.
        #[arg(long, value_name = "VAR")]
        open_cloud_key_env: Option<String>,
    },
    /// Change a guild (lists given replace the old ones).
    Update {
        /// Guild id.
        id: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// Linked groups.
        #[arg(long = "linked-group")]
        linked_groups: Option<Vec<u64>>,
        /// Universes for experience bans.
        #[arg(long = "universe")]
        universes: Option<Vec<u64>>,
        /// Environment variable holding a new Open Cloud key.
        #[arg(long, value_name = "VAR")]
        open_cloud_key_env: Option<String>,
        /// Remove the Open Cloud key.
        #[arg(long, conflicts_with = "open_cloud_key_env")]
        clear_open_cloud_key: bool,
        /// Environment variable holding this guild's own Discord bot token (sealed at rest).
        #[arg(long, value_name = "VAR")]
        bot_token_env: Option<String>,
        /// Use the deployment's `discord.bot_token` again.
        #[arg(long, conflicts_with = "bot_token_env")]
        clear_bot_token: bool,
        /// The main Roblox group (`{rank-name}` in nicknames); it is also linked.
        #[arg(long)]
        main_group: Option<u64>,
        /// Nickname template, e.g. `[{rank-name}] {roblox-username}` (empty: leave nicknames alone).
        #[arg(long)]
        nickname_template: Option<String>,
        /// Role every linked member gets (0 clears it).
        #[arg(long)]
        verified_role: Option<u64>,
        /// Role every member without a link gets (0 clears it).
        #[arg(long)]
        unverified_role: Option<u64>,
        /// A role sync never removes (repeatable; replaces the list).
        #[arg(long = "keep-role")]
        keep_roles: Option<Vec<u64>>,
        /// Mirror the guild's bans of Discord users as Discord bans (true or false).
        #[arg(long)]
        ban_in_discord: Option<bool>,
    },
    /// Issue (or replace) the guild's role-bridge key for NamelessMC websites; printed once.
    RoleBridgeKey {
        /// Guild id.
        id: String,
        /// Remove the key instead (websites stop working).
        #[arg(long)]
        remove: bool,
    },
    /// Show a guild.
    Show {
        /// Guild id.
        id: String,
    },
    /// List guilds.
    List,
}

#[derive(Debug, Subcommand)]
enum LinksCmd {
    /// Create or replace links from a file: CSV (`.csv`, header naming discord_id, roblox_id,
    /// roblox_username, optional roblox_display_name, verified_at) or JSON (an array of
    /// `{discordId, robloxId, robloxUsername, robloxDisplayName?, verifiedAt?}`).
    Import {
        /// Guild id.
        guild: String,
        /// The file.
        file: std::path::PathBuf,
    },
    /// List links in Discord-id order.
    List {
        /// Guild id.
        guild: String,
        /// Continue after this Discord id.
        #[arg(long)]
        after: Option<String>,
        /// How many (at most 1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Remove one Discord user's link.
    Remove {
        /// Guild id.
        guild: String,
        /// Discord user id.
        discord_id: String,
    },
}

#[derive(Debug, Subcommand)]
enum SyncAllCmd {
    /// Start a guild-wide sync now.
    Start {
        /// Guild id.
        guild: String,
    },
    /// The latest run's progress.
    Status {
        /// Guild id.
        guild: String,
    },
    /// Cancel the running sync.
    Cancel {
        /// Guild id.
        guild: String,
    },
}

#[derive(Debug, Subcommand)]
enum GuildKeyCmd {
    /// Issue a guild key; it is printed once and never again.
    Issue {
        /// Guild id.
        guild: String,
        /// Label.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List a guild's keys.
    List {
        /// Guild id.
        guild: String,
    },
}

#[derive(Debug, Subcommand)]
enum ShieldCmd {
    /// Allow a guild to import into Shield.
    Allow {
        /// Guild id.
        guild: String,
    },
    /// Take a guild off the allowlist.
    Disallow {
        /// Guild id.
        guild: String,
    },
    /// Flag a Roblox user by hand.
    Flag {
        /// Roblox user id.
        roblox_id: u64,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Remove a flag.
    Unflag {
        /// Roblox user id.
        roblox_id: u64,
    },
}

#[derive(Debug, Subcommand)]
enum GroupCmd {
    /// Register a group.
    Create {
        /// Roblox group id.
        #[arg(long)]
        id: u64,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// starter, pro or max.
        #[arg(long, default_value = "starter")]
        plan: String,
        /// Name of an environment variable holding the Open Cloud API key (keeps it out of
        /// shell history).
        #[arg(long, value_name = "VAR")]
        open_cloud_key_env: Option<String>,
        /// The Open Cloud API key itself (prefer --open-cloud-key-env).
        #[arg(long, value_name = "KEY")]
        open_cloud_key: Option<String>,
        /// No rule acts on or moves a member above this rank.
        #[arg(long)]
        guard_rank: Option<u8>,
    },
    /// Change a group's settings.
    Update {
        /// Group id.
        id: u64,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// New plan.
        #[arg(long)]
        plan: Option<String>,
        /// Environment variable holding a new Open Cloud key.
        #[arg(long, value_name = "VAR")]
        open_cloud_key_env: Option<String>,
        /// A new Open Cloud key.
        #[arg(long, value_name = "KEY")]
        open_cloud_key: Option<String>,
        /// Remove the Open Cloud key.
        #[arg(long, conflicts_with_all = ["open_cloud_key", "open_cloud_key_env"])]
        clear_open_cloud_key: bool,
        /// New guard rank.
        #[arg(long)]
        guard_rank: Option<u8>,
        /// Remove the guard rank.
        #[arg(long, conflicts_with = "guard_rank")]
        clear_guard_rank: bool,
    },
    /// Show one group.
    Show {
        /// Group id.
        id: u64,
    },
    /// List groups.
    List,
}

#[derive(Debug, Subcommand)]
enum KeyCmd {
    /// Issue a key for a group; it is printed once and never again.
    Issue {
        /// Group id.
        group: u64,
        /// Label.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List a group's keys (never the keys themselves).
    List {
        /// Group id.
        group: u64,
    },
    /// Revoke a key by id (`key_…`).
    Revoke {
        /// Key id.
        key_id: String,
    },
}

#[derive(Debug, Subcommand)]
enum RuleCmd {
    /// Add a rule.
    Add {
        /// Group id.
        group: u64,
        /// promote or demote.
        #[arg(long)]
        direction: String,
        /// A rank (`5`) or a range (`1-29`).
        #[arg(long)]
        from: String,
        /// A rank (`20`) or `next`.
        #[arg(long)]
        to: String,
        /// Add it disabled.
        #[arg(long)]
        disabled: bool,
    },
    /// List rules.
    List {
        /// Group id.
        group: u64,
    },
    /// Enable a rule.
    Enable {
        /// Group id.
        group: u64,
        /// Rule id.
        rule: u32,
    },
    /// Disable a rule.
    Disable {
        /// Group id.
        group: u64,
        /// Rule id.
        rule: u32,
    },
    /// Remove a rule.
    Remove {
        /// Group id.
        group: u64,
        /// Rule id.
        rule: u32,
    },
}

#[derive(Debug, Subcommand)]
enum BlacklistCmd {
    /// Blacklist a user.
    Add {
        /// Group id.
        group: u64,
        /// Roblox user id.
        user: u64,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// List the blacklist.
    List {
        /// Group id.
        group: u64,
    },
    /// Remove a user from the blacklist.
    Remove {
        /// Group id.
        group: u64,
        /// Roblox user id.
        user: u64,
    },
}

#[derive(Debug, Subcommand)]
enum JobsCmd {
    /// List dead-lettered jobs.
    Dead,
    /// Show a job.
    Show {
        /// Job id (`job_…`).
        job: String,
    },
    /// Retry a dead-lettered job.
    Retry {
        /// Job id.
        job: String,
    },
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

fn rank_match(s: &str) -> anyhow::Result<Value> {
    if let Some((a, b)) = s.split_once('-') {
        let (a, b): (u8, u8) = (a.trim().parse()?, b.trim().parse()?);
        Ok(json!({"min": a, "max": b}))
    } else {
        Ok(json!(
            s.trim()
                .parse::<u8>()
                .context("--from must be a rank or a range like 1-29")?
        ))
    }
}

fn rank_target(s: &str) -> anyhow::Result<Value> {
    if s.trim() == "next" {
        Ok(json!("next"))
    } else {
        Ok(json!(
            s.trim()
                .parse::<u8>()
                .context("--to must be a rank or `next`")?
        ))
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
        Some(t) => t,
        None => match &config.security.admin_token {
            Some(t) => t.expose().to_owned(),
            None => {
                let p = config.server.data_dir.join("admin.token");
                std::fs::read_to_string(&p)
                    .with_context(|| format!("no admin token: pass --token, set ROSTER_ADMIN_TOKEN, or run where {} exists", p.display()))?
                    .trim()
                    .to_owned()
            }
        },
    };
    let c = Client {
        http: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()?,
        base,
        token,
    };
    use reqwest::Method as M;
    let out = match args.command {
        AdminCommand::Group(g) => match g {
            GroupCmd::Create {
                id,
                name,
                plan,
                open_cloud_key_env,
                open_cloud_key,
                guard_rank,
            } => {
                let mut b = json!({"groupId": id, "plan": plan});
                if let Some(n) = name {
                    b["name"] = json!(n);
                }
                if let Some(k) = key_from(open_cloud_key_env, open_cloud_key)? {
                    b["openCloudKey"] = json!(k);
                }
                if let Some(r) = guard_rank {
                    b["guardRank"] = json!(r);
                }
                c.call(M::POST, "/groups", Some(b)).await?
            }
            GroupCmd::Update {
                id,
                name,
                plan,
                open_cloud_key_env,
                open_cloud_key,
                clear_open_cloud_key,
                guard_rank,
                clear_guard_rank,
            } => {
                let mut b = json!({});
                if let Some(n) = name {
                    b["name"] = json!(n);
                }
                if let Some(p) = plan {
                    b["plan"] = json!(p);
                }
                if clear_open_cloud_key {
                    b["openCloudKey"] = Value::Null;
                } else if let Some(k) = key_from(open_cloud_key_env, open_cloud_key)? {
                    b["openCloudKey"] = json!(k);
                }
                if clear_guard_rank {
                    b["guardRank"] = Value::Null;
                } else if let Some(r) = guard_rank {
                    b["guardRank"] = json!(r);
                }
                c.call(M::PATCH, &format!("/groups/{id}"), Some(b)).await?
            }
            GroupCmd::Show { id } => c.call(M::GET, &format!("/groups/{id}"), None).await?,
            GroupCmd::List => c.call(M::GET, "/groups", None).await?,
        },
        AdminCommand::Key(k) => match k {
            KeyCmd::Issue { group, label } => {
                c.call(
                    M::POST,
                    &format!("/groups/{group}/keys"),
                    Some(json!({"label": label})),
                )
                .await?
            }
            KeyCmd::List { group } => {
                c.call(M::GET, &format!("/groups/{group}/keys"), None)
                    .await?
            }
            KeyCmd::Revoke { key_id } => {
                c.call(M::DELETE, &format!("/keys/{key_id}"), None).await?
            }
        },
        AdminCommand::Rule(r) => match r {
            RuleCmd::Add {
                group,
                direction,
                from,
                to,
                disabled,
            } => {
                let b = json!({
                    "direction": direction,
                    "from": rank_match(&from)?,
                    "to": rank_target(&to)?,
                    "enabled": !disabled,
                });
                c.call(M::POST, &format!("/groups/{group}/rules"), Some(b))
                    .await?
            }
            RuleCmd::List { group } => {
                c.call(M::GET, &format!("/groups/{group}/rules"), None)
                    .await?
            }
            RuleCmd::Enable { group, rule } => {
                c.call(
                    M::PATCH,
                    &format!("/groups/{group}/rules/{rule}"),
                    Some(json!({"enabled": true})),
                )
                .await?
            }
            RuleCmd::Disable { group, rule } => {
                c.call(
                    M::PATCH,
                    &format!("/groups/{group}/rules/{rule}"),
                    Some(json!({"enabled": false})),
                )
                .await?
            }
            RuleCmd::Remove { group, rule } => {
                c.call(M::DELETE, &format!("/groups/{group}/rules/{rule}"), None)
                    .await?
            }
        },
        AdminCommand::Blacklist(b) => match b {
            BlacklistCmd::Add {
                group,
                user,
                reason,
            } => {
                c.call(
                    M::POST,
                    &format!("/groups/{group}/blacklist"),
                    Some(json!({"robloxUserId": user, "reason": reason})),
                )
                .await?
            }
            BlacklistCmd::List { group } => {
                c.call(M::GET, &format!("/groups/{group}/blacklist"), None)
                    .await?
            }
            BlacklistCmd::Remove { group, user } => {
                c.call(
                    M::DELETE,
                    &format!("/groups/{group}/blacklist/{user}"),
                    None,
                )
                .await?
            }
        },
        AdminCommand::Usage { group } => {
            c.call(M::GET, &format!("/groups/{group}/usage"), None)
                .await?
        }
        AdminCommand::Audit {
            group,
            limit,
            action,
            cursor,
        } => {
            let mut path = format!("/groups/{group}/audit?limit={limit}");
            if let Some(a) = action {
                path.push_str(&format!("&action={a}"));
            }
            if let Some(cur) = cursor {
                path.push_str(&format!("&cursor={cur}"));
            }
            c.call(M::GET, &path, None).await?
        }
        AdminCommand::Jobs(j) => match j {
            JobsCmd::Dead => c.call(M::GET, "/jobs?status=dead", None).await?,
            JobsCmd::Show { job } => c.call(M::GET, &format!("/jobs/{job}"), None).await?,
            JobsCmd::Retry { job } => c.call(M::POST, &format!("/jobs/{job}/retry"), None).await?,
        },
        AdminCommand::Guild(g) => match g {
            GuildCmd::Create { id, name, linked_groups, universes, open_cloud_key_env } => {
                let mut b = json!({"guildId": id, "linkedGroups": linked_groups, "robloxUniverses": universes});
                if let Some(n) = name {
                    b["name"] = json!(n);
                }
                if let Some(k) = key_from(open_cloud_key_env, None)? {
                    b["openCloudKey"] = json!(k);
                }
                c.call(M::POST, "/guilds", Some(b)).await?
            }
            GuildCmd::Update {
                id,
                name,
                linked_groups,
                universes,
                open_cloud_key_env,
                clear_open_cloud_key,
                bot_token_env,
                clear_bot_token,
                main_group,
                nickname_template,
                verified_role,
                unverified_role,
                keep_roles,
                ban_in_discord,
            } => {
                let mut b = json!({});
                if let Some(n) = name {
                    b["name"] = json!(n);
                }
                if let Some(l) = linked_groups {
                    b["linkedGroups"] = json!(l);
                }
                if let Some(u) = universes {
                    b["robloxUniverses"] = json!(u);
                }
                if clear_open_cloud_key {
                    b["openCloudKey"] = Value::Null;
                } else if let Some(k) = key_from(open_cloud_key_env, None)? {
                    b["openCloudKey"] = json!(k);
                }
                if clear_bot_token {
                    b["botToken"] = Value::Null;
                } else if let Some(t) = key_from(bot_token_env, None)? {
                    b["botToken"] = json!(t);
                }
                if let Some(g) = main_group {
                    b["mainGroup"] = json!(g);
                }
                if let Some(t) = nickname_template {
                    b["nicknameTemplate"] = if t.trim().is_empty() { Value::Null } else { json!(t) };
                }
                for (field, role) in [("verifiedRole", verified_role), ("unverifiedRole", unverified_role)] {
                    if let Some(r) = role {
                        b[field] = if r == 0 { Value::Null } else { json!(r.to_string()) };
                    }
                }
                if let Some(k) = keep_roles {
                    b["keepRoles"] = json!(k.iter().map(u64::to_string).collect::<Vec<_>>());
                }
                if let Some(x) = ban_in_discord {
                    b["banInDiscord"] = json!(x);
                }
                c.call(M::PATCH, &format!("/guilds/{id}"), Some(b)).await?
            }
            GuildCmd::RoleBridgeKey { id, remove } => {
                let m = if remove { M::DELETE } else { M::POST };
                c.call(m, &format!("/guilds/{id}/role-bridge-key"), None).await?
            }
            GuildCmd::Show { id } => c.call(M::GET, &format!("/guilds/{id}"), None).await?,
            GuildCmd::List => c.call(M::GET, "/guilds", None).await?,
        },
        AdminCommand::GuildKey(k) => match k {
            GuildKeyCmd::Issue { guild, label } => {
                c.call(M::POST, &format!("/guilds/{guild}/keys"), Some(json!({"label": label}))).await?
            }
            GuildKeyCmd::List { guild } => c.call(M::GET, &format!("/guilds/{guild}/keys"), None).await?,
        },
        AdminCommand::Ban { guild, identifier, reason, duration, place } => {
            c.call(
                M::POST,
                &format!("/guilds/{guild}/bans"),
                Some(json!({"identifier": identifier, "reason": reason, "durationSeconds": duration, "placeId": place})),
            )
            .await?
        }
        AdminCommand::Unban { guild, identifier } => {
            c.call(M::DELETE, &format!("/guilds/{guild}/bans/{identifier}"), None).await?
        }
        AdminCommand::Command { guild, kind, target, reason, server, place, universe, all, ttl } => {
            let b = json!({
                "type": kind, "targetId": target, "reason": reason, "serverId": server,
                "placeId": place, "universeId": universe, "all": all, "ttlSeconds": ttl,
            });
            c.call(M::POST, &format!("/guilds/{guild}/commands"), Some(b)).await?
        }
        AdminCommand::Links(l) => match l {
            LinksCmd::Import { guild, file } => {
                let bytes = std::fs::read(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                let csv = file
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
                let ct = if csv { "text/csv" } else { "application/json" };
                c.call_raw(M::POST, &format!("/guilds/{guild}/links"), bytes, ct).await?
            }
            LinksCmd::List { guild, after, limit } => {
                let mut p = format!("/guilds/{guild}/links?limit={limit}");
                if let Some(a) = after {
                    p.push_str(&format!("&after={a}"));
                }
                c.call(M::GET, &p, None).await?
            }
            LinksCmd::Remove { guild, discord_id } => {
                c.call(M::DELETE, &format!("/guilds/{guild}/links/{discord_id}"), None).await?
            }
        },
        AdminCommand::SyncAll(s) => match s {
            SyncAllCmd::Start { guild } => c.call(M::POST, &format!("/guilds/{guild}/sync-all"), None).await?,
            SyncAllCmd::Status { guild } => c.call(M::GET, &format!("/guilds/{guild}/sync-all"), None).await?,
            SyncAllCmd::Cancel { guild } => c.call(M::DELETE, &format!("/guilds/{guild}/sync-all"), None).await?,
        },
        AdminCommand::Shield(sc) => match sc {
            ShieldCmd::Allow { guild } => c.call(M::PUT, &format!("/shield/allowlist/{guild}"), None).await?,
            ShieldCmd::Disallow { guild } => c.call(M::DELETE, &format!("/shield/allowlist/{guild}"), None).await?,
            ShieldCmd::Flag { roblox_id, reason } => {
                c.call(M::POST, "/shield/flags", Some(json!({"robloxId": roblox_id, "reason": reason}))).await?
            }
            ShieldCmd::Unflag { roblox_id } => c.call(M::DELETE, &format!("/shield/flags/{roblox_id}"), None).await?,
        },
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
