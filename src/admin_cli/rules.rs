//! `admin rule`: promote/demote rules.

use anyhow::Context as _;
use clap::Subcommand;
use reqwest::Method as M;
use serde_json::{Value, json};

use super::Client;

#[derive(Debug, Subcommand)]
pub(super) enum RuleCmd {
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

impl RuleCmd {
    pub(super) async fn run(self, c: &Client) -> anyhow::Result<Value> {
        Ok(match self {
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
        })
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
