//! `admin kit export DIR [--group G] [--api-base URL]`: writes roblox-kit (embedded in the binary,
//! so the kit always matches the server it came with) into DIR, with its `Config` module filled in
//! with the Roster server's URL and the group id. Never the API key: anyone who can read a
//! ModuleScript could read it; the kit's README shows how to store it as a Secret.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use reqwest::Method as M;
use serde_json::{Value, json};

use super::Client;

/// The kit's files as shipped, relative to `roblox-kit/`. `kit_export` in the integration tests
/// checks that this list is every file under `roblox-kit/src` plus the project files.
const KIT_FILES: &[(&str, &str)] = &[
    (
        "default.project.json",
        include_str!("../../roblox-kit/default.project.json"),
    ),
    ("wally.toml", include_str!("../../roblox-kit/wally.toml")),
    ("README.md", include_str!("../../roblox-kit/README.md")),
    ("LICENSE", include_str!("../../roblox-kit/LICENSE")),
    (
        "src/init.luau",
        include_str!("../../roblox-kit/src/init.luau"),
    ),
    (
        "src/Config.luau",
        include_str!("../../roblox-kit/src/Config.luau"),
    ),
    (
        "src/Ranking/init.luau",
        include_str!("../../roblox-kit/src/Ranking/init.luau"),
    ),
    (
        "src/Shared/Http.luau",
        include_str!("../../roblox-kit/src/Shared/Http.luau"),
    ),
];

const CONFIG_FILE: &str = "src/Config.luau";
const API_BASE_LINE: &str = "\tapiBase = nil, -- roster:apiBase";
const GROUP_ID_LINE: &str = "\tgroupId = nil, -- roster:groupId";

#[derive(Debug, Subcommand)]
pub(super) enum KitCmd {
    /// Write roblox-kit into DIR (a Rojo project with src/, default.project.json, wally.toml and a
    /// README), its Config filled in with the server's URL and, with --group, the group id.
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub(super) struct ExportArgs {
    /// Directory to write (created; must be empty if it exists).
    dir: PathBuf,
    /// The Roblox group the kit ranks in (checked against the server: it must be registered).
    #[arg(long)]
    group: Option<u64>,
    /// The Roster URL game servers reach (default: the control plane URL this command uses).
    #[arg(long, value_name = "URL")]
    api_base: Option<String>,
}

impl KitCmd {
    /// `client` is `None` when no admin token is at hand; only `--group` needs one.
    pub(super) async fn run(self, base: &str, client: Option<&Client>) -> anyhow::Result<Value> {
        let KitCmd::Export(args) = self;
        let api_base = args
            .api_base
            .as_deref()
            .unwrap_or(base)
            .trim()
            .trim_end_matches('/')
            .to_owned();
        let valid = reqwest::Url::parse(&api_base).ok().is_some_and(|u| {
            matches!(u.scheme(), "http" | "https") && u.host().is_some() && u.query().is_none()
        });
        if !valid || api_base.contains(['"', '\\', '\n']) {
            bail!(
                "--api-base must be an http(s) URL such as https://roster.example.com, got {api_base:?}"
            );
        }
        if let Some(g) = args.group {
            let c = client.context(
                "--group is checked against the server: pass --token or set ROSTER_ADMIN_TOKEN",
            )?;
            c.call(M::GET, &format!("/groups/{g}"), None)
                .await
                .with_context(|| format!("group {g} is not usable"))?;
        }
        let written = export(&args.dir, &api_base, args.group)?;
        Ok(json!({
            "dir": args.dir.display().to_string(),
            "apiBase": api_base,
            "groupId": args.group,
            "files": written,
            "next": "Store the group's API key as a Secret (Game Settings > Security) and pass it to Ranking.configure; see README.md",
        }))
    }
}

/// Writes the kit into `dir` with Config filled in. Returns the files written.
fn export(dir: &Path, api_base: &str, group: Option<u64>) -> anyhow::Result<Vec<String>> {
    if dir.exists() {
        let mut entries =
            std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} is not empty; export into a new or empty directory",
                dir.display()
            );
        }
    }
    let mut written = Vec::new();
    for (rel, contents) in KIT_FILES {
        let text = if *rel == CONFIG_FILE {
            fill_config(contents, api_base, group)?
        } else {
            (*contents).to_owned()
        };
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        written.push((*rel).to_owned());
    }
    Ok(written)
}

fn fill_config(source: &str, api_base: &str, group: Option<u64>) -> anyhow::Result<String> {
    let mut out = replace_once(
        source,
        API_BASE_LINE,
        &format!("\tapiBase = \"{api_base}\", -- roster:apiBase"),
    )?;
    if let Some(g) = group {
        out = replace_once(
            &out,
            GROUP_ID_LINE,
            &format!("\tgroupId = {g}, -- roster:groupId"),
        )?;
    }
    Ok(out)
}

fn replace_once(text: &str, line: &str, with: &str) -> anyhow::Result<String> {
    let n = text.lines().filter(|l| *l == line).count();
    if n != 1 {
        bail!(
            "the kit's Config has {n} lines {line:?} (expected one); this binary's kit is broken"
        );
    }
    Ok(text
        .lines()
        .map(|l| if l == line { with } else { l })
        .collect::<Vec<_>>()
        .join("\n")
        + if text.ends_with('\n') { "\n" } else { "" })
}
