//! `admin ban`, `admin unban`, `admin command` (game-server commands) and `admin shield`.

use clap::{Args, Subcommand};
use reqwest::Method as M;
use serde_json::{Value, json};

use super::Client;

#[derive(Debug, Args)]
pub(super) struct BanArgs {
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
}

impl BanArgs {
    pub(super) async fn run(self, c: &Client) -> anyhow::Result<Value> {
        let BanArgs {
            guild,
            identifier,
            reason,
            duration,
            place,
        } = self;
        c.call(
            M::POST,
            &format!("/guilds/{guild}/bans"),
            Some(json!({"identifier": identifier, "reason": reason, "durationSeconds": duration, "placeId": place})),
        )
        .await
    }
}

#[derive(Debug, Args)]
pub(super) struct UnbanArgs {
    /// Guild id.
    guild: String,
    /// User id.
    identifier: String,
}

impl UnbanArgs {
    pub(super) async fn run(self, c: &Client) -> anyhow::Result<Value> {
        let UnbanArgs { guild, identifier } = self;
        c.call(
            M::DELETE,
            &format!("/guilds/{guild}/bans/{identifier}"),
            None,
        )
        .await
    }
}

#[derive(Debug, Args)]
pub(super) struct CommandArgs {
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
}

impl CommandArgs {
    pub(super) async fn run(self, c: &Client) -> anyhow::Result<Value> {
        let CommandArgs {
            guild,
            kind,
            target,
            reason,
            server,
            place,
            universe,
            all,
            ttl,
        } = self;
        let b = json!({
            "type": kind, "targetId": target, "reason": reason, "serverId": server,
            "placeId": place, "universeId": universe, "all": all, "ttlSeconds": ttl,
        });
        c.call(M::POST, &format!("/guilds/{guild}/commands"), Some(b))
            .await
    }
}

#[derive(Debug, Subcommand)]
pub(super) enum ShieldCmd {
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

impl ShieldCmd {
    pub(super) async fn run(self, c: &Client) -> anyhow::Result<Value> {
        Ok(match self {
            ShieldCmd::Allow { guild } => {
                c.call(M::PUT, &format!("/shield/allowlist/{guild}"), None)
                    .await?
            }
            ShieldCmd::Disallow { guild } => {
                c.call(M::DELETE, &format!("/shield/allowlist/{guild}"), None)
                    .await?
            }
            ShieldCmd::Flag { roblox_id, reason } => {
                c.call(
                    M::POST,
                    "/shield/flags",
                    Some(json!({"robloxId": roblox_id, "reason": reason})),
                )
                .await?
            }
            ShieldCmd::Unflag { roblox_id } => {
                c.call(M::DELETE, &format!("/shield/flags/{roblox_id}"), None)
                    .await?
            }
        })
    }
}
