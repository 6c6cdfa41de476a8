//! `admin group`, `admin usage` and `admin audit`.

use clap::{Args, Subcommand};
use reqwest::Method as M;
use serde_json::{Value, json};

use super::Client;
use super::key_from;

#[derive(Debug, Subcommand)]
pub(super) enum GroupCmd {
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

impl GroupCmd {
    pub(super) async fn run(self, c: &Client) -> anyhow::Result<Value> {
        Ok(match self {
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
        })
    }
}

#[derive(Debug, Args)]
pub(super) struct UsageArgs {
    /// Group id.
    group: u64,
}

impl UsageArgs {
    pub(super) async fn run(self, c: &Client) -> anyhow::Result<Value> {
        let UsageArgs { group } = self;
        c.call(M::GET, &format!("/groups/{group}/usage"), None)
            .await
    }
}

#[derive(Debug, Args)]
pub(super) struct AuditArgs {
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
}

impl AuditArgs {
    pub(super) async fn run(self, c: &Client) -> anyhow::Result<Value> {
        let AuditArgs {
            group,
            limit,
            action,
            cursor,
        } = self;
        let mut path = format!("/groups/{group}/audit?limit={limit}");
        if let Some(a) = action {
            path.push_str(&format!("&action={a}"));
        }
        if let Some(cur) = cursor {
            path.push_str(&format!("&cursor={cur}"));
        }
        c.call(M::GET, &path, None).await
    }
}
