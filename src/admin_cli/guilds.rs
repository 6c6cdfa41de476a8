//! `admin guild`, `admin guild-key` and `admin sync-all`.

use anyhow::Context as _;
use clap::Subcommand;
use reqwest::Method as M;
use serde_json::{Value, json};

use super::Client;
use super::key_from;

#[derive(Debug, Subcommand)]
pub(super) enum GuildCmd {
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
    /// Link a stock NamelessMC website to the guild's role bridge with the site's own API key,
    /// or unlink it.
    #[command(subcommand)]
    RoleBridge(RoleBridgeCmd),
    /// Show the community API's catalogues and thresholds (medals, certifications, EP warning
    /// thresholds, XP ranks), or replace them with a JSON file's.
    Community {
        /// Guild id.
        id: String,
        /// A JSON file with `medals`, `certifications`, `epWarningThresholds` and `xpRanks`
        /// (see docs/community-api.md); it replaces the guild's.
        #[arg(long, value_name = "FILE")]
        set: Option<std::path::PathBuf>,
    },
    /// Show the staff settings (staff roles, time zone, week start, strike action), or replace
    /// them with a JSON file's.
    Staff {
        /// Guild id.
        id: String,
        /// A JSON file with `roles`, `timeZone`, `weekStart`, `strikeAction` and `actionTypes`
        /// (see docs/guild-api.md, "Staff"); it replaces the guild's.
        #[arg(long, value_name = "FILE")]
        set: Option<std::path::PathBuf>,
    },
    /// Show a guild.
    Show {
        /// Guild id.
        id: String,
    },
    /// List guilds.
    List,
}

impl GuildCmd {
    pub(super) async fn run(self, c: &Client) -> anyhow::Result<Value> {
        Ok(match self {
            GuildCmd::Create {
                id,
                name,
                linked_groups,
                universes,
                open_cloud_key_env,
            } => {
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
                    b["nicknameTemplate"] = if t.trim().is_empty() {
                        Value::Null
                    } else {
                        json!(t)
                    };
                }
                for (field, role) in [
                    ("verifiedRole", verified_role),
                    ("unverifiedRole", unverified_role),
                ] {
                    if let Some(r) = role {
                        b[field] = if r == 0 {
                            Value::Null
                        } else {
                            json!(r.to_string())
                        };
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
                c.call(m, &format!("/guilds/{id}/role-bridge-key"), None)
                    .await?
            }
            GuildCmd::RoleBridge(cmd) => cmd.run(c).await?,
            GuildCmd::Community { id, set } => {
                settings_doc(c, &format!("/guilds/{id}/community"), set).await?
            }
            GuildCmd::Staff { id, set } => {
                settings_doc(c, &format!("/guilds/{id}/staff"), set).await?
            }
            GuildCmd::Show { id } => c.call(M::GET, &format!("/guilds/{id}"), None).await?,
            GuildCmd::List => c.call(M::GET, "/guilds", None).await?,
        })
    }
}

#[derive(Debug, Subcommand)]
pub(super) enum RoleBridgeCmd {
    /// Check the website (its API, its key, its Discord Integration module), make its key the
    /// one the guild's role bridge accepts, tell it the bot's settings and push the guild's roles.
    Link {
        /// Guild id.
        guild: String,
        /// The website's API URL as StaffCP → Configuration → API shows it, or its address.
        #[arg(long)]
        site_url: String,
        /// The website's API key (prefer --site-key-env: a key on the command line stays in
        /// shell history).
        #[arg(long, required_unless_present = "site_key_env")]
        site_key: Option<String>,
        /// Environment variable holding the website's API key.
        #[arg(long, value_name = "VAR", conflicts_with = "site_key")]
        site_key_env: Option<String>,
        /// Where the website sends role changes (default: server.public_url).
        #[arg(long)]
        bridge_url: Option<String>,
    },
    /// Unlink the website: its key stops working at once.
    Unlink {
        /// Guild id.
        guild: String,
    },
}

impl RoleBridgeCmd {
    async fn run(self, c: &Client) -> anyhow::Result<Value> {
        Ok(match self {
            RoleBridgeCmd::Link {
                guild,
                site_url,
                site_key,
                site_key_env,
                bridge_url,
            } => {
                let key = key_from(site_key_env, site_key)?.unwrap_or_default();
                let mut b = json!({"siteUrl": site_url, "siteKey": key});
                if let Some(u) = bridge_url {
                    b["bridgeUrl"] = json!(u);
                }
                c.call(
                    M::POST,
                    &format!("/guilds/{guild}/role-bridge/link"),
                    Some(b),
                )
                .await?
            }
            RoleBridgeCmd::Unlink { guild } => {
                c.call(
                    M::DELETE,
                    &format!("/guilds/{guild}/role-bridge/link"),
                    None,
                )
                .await?
            }
        })
    }
}

#[derive(Debug, Subcommand)]
pub(super) enum GuildKeyCmd {
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

impl GuildKeyCmd {
    pub(super) async fn run(self, c: &Client) -> anyhow::Result<Value> {
        Ok(match self {
            GuildKeyCmd::Issue { guild, label } => {
                c.call(
                    M::POST,
                    &format!("/guilds/{guild}/keys"),
                    Some(json!({"label": label})),
                )
                .await?
            }
            GuildKeyCmd::List { guild } => {
                c.call(M::GET, &format!("/guilds/{guild}/keys"), None)
                    .await?
            }
        })
    }
}

#[derive(Debug, Subcommand)]
pub(super) enum SyncAllCmd {
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

impl SyncAllCmd {
    pub(super) async fn run(self, c: &Client) -> anyhow::Result<Value> {
        Ok(match self {
            SyncAllCmd::Start { guild } => {
                c.call(M::POST, &format!("/guilds/{guild}/sync-all"), None)
                    .await?
            }
            SyncAllCmd::Status { guild } => {
                c.call(M::GET, &format!("/guilds/{guild}/sync-all"), None)
                    .await?
            }
            SyncAllCmd::Cancel { guild } => {
                c.call(M::DELETE, &format!("/guilds/{guild}/sync-all"), None)
                    .await?
            }
        })
    }
}

/// Shows a settings document, or replaces it with a JSON file's.
async fn settings_doc(
    c: &Client,
    path: &str,
    set: Option<std::path::PathBuf>,
) -> anyhow::Result<Value> {
    match set {
        None => c.call(M::GET, path, None).await,
        Some(file) => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let body: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            c.call(M::PUT, path, Some(body)).await
        }
    }
}
