//! roblox-kit in a real Luau VM against the real server: each `roblox-kit/tests/*.spec.luau` runs
//! in a fresh VM (`vm.rs`, with the Roblox stand-ins of `roblox.luau` and the runner of
//! `runner.luau`) against a fresh test app (Roster on loopback, the Roblox simulator behind it).
//! Every Luau test is reported on its own line; any failure fails the Rust test and names it.
//! Every request the kit sent must be an operation of `docs/openapi.json`.

mod vm;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Backend, GROUP, TestApp, TestOpts};
use vm::{KitEnv, Outcome, harness_dir, kit_dir, project_tree, spec_files};

/// The spec files and the tests that run them; `every_spec_file_has_a_test` keeps them in step.
const SPECS: &[&str] = &[
    "tests/accepted.spec.luau",
    "tests/arguments.spec.luau",
    "tests/concurrency.spec.luau",
    "tests/errors.spec.luau",
    "tests/ranking.spec.luau",
    "tests/retries.spec.luau",
    "tests/roblox.spec.luau",
    "tests/roundtrip.spec.luau",
];

/// The app the specs run against: a short `server.sync_wait`, so a test can get a 202 by slowing
/// the simulator down.
fn opts() -> TestOpts {
    TestOpts {
        sync_wait: Duration::from_millis(1500),
        ..TestOpts::default()
    }
}

async fn run_spec(spec: &str) -> Outcome {
    let app = TestApp::start_with(Backend::Sqlite, opts()).await;
    let env = KitEnv {
        api_base: app.base.clone(),
        api_key: app.api_key.clone(),
        admin_token: app.admin_token.clone(),
        group: GROUP,
        sim: app.sim.sim.clone(),
        handle: tokio::runtime::Handle::current(),
    };
    let name = spec.to_owned();
    let outcome = tokio::task::spawn_blocking(move || vm::run_spec(env, &name))
        .await
        .expect("the VM thread")
        .unwrap_or_else(|e| panic!("{spec} could not run: {e}"));
    let mut failed = Vec::new();
    for r in &outcome.results {
        if r.ok {
            eprintln!(
                "ok      {spec} ▸ {} ({:.1} virtual s)",
                r.name, r.virtual_secs
            );
        } else {
            eprintln!("FAILED  {spec} ▸ {}\n{}\n", r.name, indent(&r.message));
            failed.push(r.name.clone());
        }
    }
    for (name, value) in &outcome.figures {
        eprintln!("figure  {name} = {value}");
    }
    assert!(!outcome.results.is_empty(), "{spec} has no tests");
    assert!(
        failed.is_empty(),
        "{} of {} Luau tests in {spec} failed: {failed:#?}",
        failed.len(),
        outcome.results.len()
    );
    let unknown = requests_outside_the_document(&outcome);
    assert!(
        unknown.is_empty(),
        "the kit sent requests that are no operation of docs/openapi.json: {unknown:#?}"
    );
    // Jobs the kit started must all finish, none dead.
    app.finish().await;
    outcome
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// (method, path) of every request the kit sent that matches no operation of the OpenAPI document.
fn requests_outside_the_document(outcome: &Outcome) -> Vec<String> {
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json"))
            .expect("docs/openapi.json"),
    )
    .expect("the document is JSON");
    let ops: Vec<(String, Vec<String>)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            let segments: Vec<String> = path.split('/').map(str::to_owned).collect();
            item.as_object()
                .into_iter()
                .flat_map(|o| o.keys())
                .map(move |m| (m.to_uppercase(), segments.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut unknown = BTreeSet::new();
    for r in &outcome.requests {
        let path = r
            .url
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
            .unwrap_or("/");
        let path = path.split(['?', '#']).next().unwrap_or(path);
        let parts: Vec<&str> = path.split('/').collect();
        let known = ops.iter().any(|(m, segs)| {
            *m == r.method
                && segs.len() == parts.len()
                && segs.iter().zip(&parts).all(|(s, p)| {
                    (s.starts_with('{') && s.ends_with('}') && !p.is_empty()) || s == p
                })
        });
        if !known {
            unknown.insert(format!("{} {path}", r.method));
        }
    }
    unknown.into_iter().collect()
}

macro_rules! spec_tests {
    ($($name:ident => $file:literal),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                run_spec($file).await;
            }
        )*
    };
}

spec_tests! {
    accepted => "tests/accepted.spec.luau",
    arguments => "tests/arguments.spec.luau",
    concurrency => "tests/concurrency.spec.luau",
    errors => "tests/errors.spec.luau",
    ranking => "tests/ranking.spec.luau",
    retries => "tests/retries.spec.luau",
    roblox => "tests/roblox.spec.luau",
    roundtrip => "tests/roundtrip.spec.luau",
}

#[test]
fn every_spec_file_has_a_test() {
    let files = spec_files().expect("roblox-kit/tests");
    assert_eq!(
        files, SPECS,
        "add a spec_tests! line (and SPECS entry) for each spec file"
    );
}

fn luau_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name()
                .is_some_and(|n| n != "node_modules" && n != "Packages")
            {
                luau_files(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "luau" || x == "lua") {
            out.push(p);
        }
    }
}

/// Every `.luau` file of the kit and the harness compiles (a syntax error fails CI without selene).
#[test]
fn every_luau_file_compiles() {
    let mut files = Vec::new();
    luau_files(&kit_dir(), &mut files);
    luau_files(&harness_dir(), &mut files);
    assert!(files.len() >= 8, "found only {files:?}");
    let compiler = mlua::chunk::Compiler::new();
    let errors: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let src = std::fs::read_to_string(f).expect("read");
            compiler
                .compile(&src)
                .err()
                .map(|e| format!("{}: {e}", f.display()))
        })
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // Every kit module says --!strict on its first line.
    let lax: Vec<_> = files
        .iter()
        .filter(|f| f.starts_with(kit_dir().join("src")))
        .filter(|f| {
            !std::fs::read_to_string(f)
                .expect("read")
                .starts_with("--!strict")
        })
        .collect();
    assert!(lax.is_empty(), "kit modules without --!strict: {lax:?}");
}

/// Every `$path` of `default.project.json` exists, and the tree the harness loads (built from the
/// same reading) holds every module under `src/`, so no file ships that the harness never ran.
#[test]
fn the_project_tree_covers_every_kit_module() {
    let tree = project_tree(&kit_dir()).expect("default.project.json loads as Rojo would");
    assert_eq!(tree.name, "RosterKit");
    assert_eq!(
        tree.class, "ModuleScript",
        "the root is a ModuleScript (src/init.luau)"
    );
    let mut in_tree = BTreeSet::new();
    fn walk(n: &vm::Node, out: &mut BTreeSet<String>) {
        if let Some(f) = &n.file {
            out.insert(f.clone());
        }
        for c in n.children.values() {
            walk(c, out);
        }
    }
    walk(&tree, &mut in_tree);
    for f in &in_tree {
        assert!(
            kit_dir().join(f).is_file(),
            "{f} is in the tree but missing"
        );
    }
    let mut files = Vec::new();
    luau_files(&kit_dir().join("src"), &mut files);
    let on_disk: BTreeSet<String> = files
        .iter()
        .map(|f| {
            f.strip_prefix(kit_dir())
                .expect("under the kit")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        in_tree, on_disk,
        "modules on disk and in the project tree differ"
    );
    for m in ["Ranking", "Shared", "Config"] {
        assert!(tree.children.contains_key(m), "RosterKit.{m} is missing");
    }

    // A $path that does not exist is an error, not an empty folder.
    let tmp = crate::harness::TempDir::new("kit-tree");
    std::fs::write(
        tmp.path().join("default.project.json"),
        r#"{"name":"X","tree":{"$path":"nope"}}"#,
    )
    .expect("write");
    let err = project_tree(tmp.path()).expect_err("missing $path");
    assert!(err.to_string().contains("nope"), "{err}");
}

/// Runs `roster admin --url URL --token T kit export …` and returns (success, stdout, stderr).
fn roster_admin(app: &TestApp, token: Option<&str>, args: &[&str]) -> (bool, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_roster"));
    cmd.args(["admin", "--url", &app.base]);
    if let Some(t) = token {
        cmd.args(["--token", t]);
    }
    // No configuration file or admin token from the environment: only what is passed.
    let empty = crate::harness::TempDir::new("kit-cwd");
    cmd.args(args)
        .current_dir(empty.path())
        .env_remove("ROSTER_ADMIN_TOKEN")
        .env_remove("ROSTER_CONFIG")
        .env("ROSTER_SERVER__DATA_DIR", empty.path());
    let out = cmd.output().expect("roster runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `roster admin kit export DIR --group G` writes the kit as in the repository with Config filled
/// in (the server's URL and the group), never a key; refuses an unknown group and a non-empty DIR.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kit_export_writes_the_kit_with_its_config_filled_in() {
    let app = TestApp::start(Backend::Sqlite).await;
    let tmp = crate::harness::TempDir::new("kit-export");
    let dir = tmp.path().join("RosterKit");
    let dir_s = dir.to_string_lossy().into_owned();
    let group = GROUP.to_string();
    let (ok, stdout, stderr) = tokio::task::block_in_place(|| {
        roster_admin(
            &app,
            Some(&app.admin_token),
            &["kit", "export", &dir_s, "--group", &group],
        )
    });
    assert!(ok, "export failed: {stderr}");
    let summary: Value = serde_json::from_str(&stdout).expect("JSON summary");
    assert_eq!(summary["apiBase"], app.base.as_str());
    assert_eq!(summary["groupId"], GROUP);

    // Every file under roblox-kit/src and the project files, byte for byte, except Config.
    let mut expected: BTreeSet<String> =
        ["default.project.json", "wally.toml", "README.md", "LICENSE"]
            .into_iter()
            .map(str::to_owned)
            .collect();
    let mut src = Vec::new();
    luau_files(&kit_dir().join("src"), &mut src);
    for f in &src {
        expected.insert(
            f.strip_prefix(kit_dir())
                .expect("under")
                .to_string_lossy()
                .into_owned(),
        );
    }
    let written: BTreeSet<String> = summary["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f.as_str().expect("str").to_owned())
        .collect();
    assert_eq!(
        written, expected,
        "the binary embeds other files than roblox-kit has"
    );
    for f in &expected {
        let exported = std::fs::read_to_string(dir.join(f)).expect("exported file");
        assert!(!exported.contains(&app.api_key), "{f} holds the API key");
        if f != "src/Config.luau" {
            let original = std::fs::read_to_string(kit_dir().join(f)).expect("original");
            assert_eq!(exported, original, "{f} differs from the repository's");
        }
    }
    // The exported tree is still a valid project, and its Config evaluates to the values.
    let tree = project_tree(&dir).expect("exported project loads");
    assert_eq!(tree, project_tree(&kit_dir()).expect("repository project"));
    let config = std::fs::read_to_string(dir.join("src/Config.luau")).expect("config");
    let lua = mlua::Lua::new();
    let table: mlua::Table = lua.load(&config).eval().expect("Config evaluates");
    assert_eq!(table.get::<String>("apiBase").expect("apiBase"), app.base);
    assert_eq!(table.get::<f64>("groupId").expect("groupId"), GROUP as f64);

    // Into a non-empty directory: refused, nothing overwritten.
    let (ok, _, stderr) = tokio::task::block_in_place(|| {
        roster_admin(&app, Some(&app.admin_token), &["kit", "export", &dir_s])
    });
    assert!(!ok && stderr.contains("not empty"), "{stderr}");

    // A group the server does not know: refused before anything is written.
    let other = tmp.path().join("Other").to_string_lossy().into_owned();
    let (ok, _, stderr) = tokio::task::block_in_place(|| {
        roster_admin(
            &app,
            Some(&app.admin_token),
            &["kit", "export", &other, "--group", "7999999"],
        )
    });
    assert!(!ok && stderr.contains("7999999"), "{stderr}");
    assert!(!Path::new(&other).exists());

    // Without --group no token is needed; --api-base sets the URL games use, and a bad one is refused.
    let public = tmp.path().join("Public").to_string_lossy().into_owned();
    let (ok, _, stderr) = tokio::task::block_in_place(|| {
        roster_admin(
            &app,
            None,
            &[
                "kit",
                "export",
                &public,
                "--api-base",
                "https://roster.example.com/",
            ],
        )
    });
    assert!(ok, "{stderr}");
    let config =
        std::fs::read_to_string(Path::new(&public).join("src/Config.luau")).expect("config");
    assert!(
        config.contains("\tapiBase = \"https://roster.example.com\", -- roster:apiBase\n"),
        "{config}"
    );
    assert!(
        config.contains("\tgroupId = nil, -- roster:groupId\n"),
        "{config}"
    );
    let bad = tmp.path().join("Bad").to_string_lossy().into_owned();
    let (ok, _, stderr) = tokio::task::block_in_place(|| {
        roster_admin(
            &app,
            None,
            &["kit", "export", &bad, "--api-base", "roster.example.com"],
        )
    });
    assert!(!ok && stderr.contains("--api-base"), "{stderr}");
    app.finish().await;
}
