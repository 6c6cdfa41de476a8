//! `admin links`: account links.

use anyhow::Context as _;
use clap::Subcommand;
use reqwest::Method as M;
use serde_json::Value;

use super::Client;

#[derive(Debug, Subcommand)]
pub(super) enum LinksCmd {
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

impl LinksCmd {
    pub(super) async fn run(self, c: &Client) -> anyhow::Result<Value> {
        Ok(match self {
            LinksCmd::Import { guild, file } => {
                let bytes = std::fs::read(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                let csv = file
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
                let ct = if csv { "text/csv" } else { "application/json" };
                c.call_raw(M::POST, &format!("/guilds/{guild}/links"), bytes, ct)
                    .await?
            }
            LinksCmd::List {
                guild,
                after,
                limit,
            } => {
                let mut p = format!("/guilds/{guild}/links?limit={limit}");
                if let Some(a) = after {
                    p.push_str(&format!("&after={a}"));
                }
                c.call(M::GET, &p, None).await?
            }
            LinksCmd::Remove { guild, discord_id } => {
                c.call(
                    M::DELETE,
                    &format!("/guilds/{guild}/links/{discord_id}"),
                    None,
                )
                .await?
            }
        })
    }
}
