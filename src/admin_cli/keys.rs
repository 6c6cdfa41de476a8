//! `admin key`: a group's API keys (revoke also ends guild keys).

use clap::Subcommand;
use reqwest::Method as M;
use serde_json::{Value, json};

use super::Client;

#[derive(Debug, Subcommand)]
pub(super) enum KeyCmd {
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

impl KeyCmd {
    pub(super) async fn run(self, c: &Client) -> anyhow::Result<Value> {
        Ok(match self {
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
        })
    }
}
