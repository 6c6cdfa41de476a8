//! `admin blacklist`.

use clap::Subcommand;
use reqwest::Method as M;
use serde_json::{Value, json};

use super::Client;

#[derive(Debug, Subcommand)]
pub(super) enum BlacklistCmd {
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

impl BlacklistCmd {
    pub(super) async fn run(self, c: &Client) -> anyhow::Result<Value> {
        Ok(match self {
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
        })
    }
}
