//! `admin jobs`: dead-lettered jobs.

use clap::Subcommand;
use reqwest::Method as M;
use serde_json::Value;

use super::Client;

#[derive(Debug, Subcommand)]
pub(super) enum JobsCmd {
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

impl JobsCmd {
    pub(super) async fn run(self, c: &Client) -> anyhow::Result<Value> {
        Ok(match self {
            JobsCmd::Dead => c.call(M::GET, "/jobs?status=dead", None).await?,
            JobsCmd::Show { job } => c.call(M::GET, &format!("/jobs/{job}"), None).await?,
            JobsCmd::Retry { job } => c.call(M::POST, &format!("/jobs/{job}/retry"), None).await?,
        })
    }
}
