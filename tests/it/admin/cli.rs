//! The admin CLI (`roster admin …`) against a running control plane, and `roster dev`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Backend, GROUP, TestApp, free_port};

/// The admin CLI drives the admin API; a key it issues works and is printed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_cli_round_trip() {
    let app = TestApp::start(Backend::Sqlite).await;
    let run = |args: &[&str]| -> (bool, Value, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_roster"))
            .arg("admin")
            .args(args)
            .env("ROSTER_URL", &app.base)
            .env("ROSTER_ADMIN_TOKEN", &app.admin_token)
            .output()
            .expect("run roster admin");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        (
            out.status.success(),
            serde_json::from_str(&stdout).unwrap_or(Value::Null),
            stderr,
        )
    };
    let (ok, v, err) = tokio::task::block_in_place(|| {
        run(&[
            "group", "create", "--id", "777", "--name", "Seven", "--plan", "pro",
        ])
    });
    assert!(ok, "{err}");
    assert_eq!(v["groupId"], 777);
    let (ok, v, _) = tokio::task::block_in_place(|| {
        run(&[
            "rule",
            "add",
            "777",
            "--direction",
            "promote",
            "--from",
            "1-9",
            "--to",
            "next",
        ])
    });
    assert!(ok);
    assert_eq!(v["from"], json!({"min": 1, "max": 9}));
    let (ok, v, _) =
        tokio::task::block_in_place(|| run(&["key", "issue", "777", "--label", "cli"]));
    assert!(ok);
    let key = v["key"].as_str().unwrap().to_owned();
    let u = app
        .request(
            Method::GET,
            "/v1/groups/777/usage",
            &[("x-api-key", &key)],
            None,
        )
        .await;
    assert_eq!(u.status, 200);
    let (ok, _, err) = tokio::task::block_in_place(|| run(&["group", "show", "999999"]));
    assert!(!ok);
    assert!(err.contains("404"), "{err}");
    let (ok, v, _) = tokio::task::block_in_place(|| run(&["usage", &GROUP.to_string()]));
    assert!(ok);
    assert_eq!(v["usage"]["count"], 0);
    // The guild side.
    let g = "300000000000000003";
    let (ok, v, err) = tokio::task::block_in_place(|| {
        run(&[
            "guild",
            "create",
            "--id",
            g,
            "--name",
            "CLI Guild",
            "--universe",
            "121",
        ])
    });
    assert!(ok, "{err}");
    assert_eq!(v["robloxUniverses"], json!([121]));
    let (ok, v, _) =
        tokio::task::block_in_place(|| run(&["guild-key", "issue", g, "--label", "game"]));
    assert!(ok);
    let gkey = v["key"].as_str().unwrap().to_owned();
    let (ok, v, _) = tokio::task::block_in_place(|| {
        run(&[
            "ban",
            g,
            "261",
            "--reason",
            "Exploiting",
            "--duration",
            "3600",
        ])
    });
    assert!(ok);
    assert_eq!(v["identifier"], "261");
    let s = app
        .request(
            Method::GET,
            &format!("/moderation/{g}/ban-status/261"),
            &[("x-api-key", &gkey)],
            None,
        )
        .await;
    assert_eq!(s.body["data"]["banned"], true);
    let (ok, _, _) = tokio::task::block_in_place(|| run(&["unban", g, "261"]));
    assert!(ok);
    let (ok, v, _) = tokio::task::block_in_place(|| {
        run(&[
            "command", g, "--type", "announce", "--server", "srv-1", "--reason", "hi",
        ])
    });
    assert!(ok);
    assert_eq!(v["commands"][0]["serverId"], "srv-1");
    let (ok, v, _) = tokio::task::block_in_place(|| run(&["shield", "allow", g]));
    assert!(ok);
    assert_eq!(v["shieldWriter"], true);
    // The Discord side: settings, a CSV import of links, the role-bridge key.
    let (ok, v, err) = tokio::task::block_in_place(|| {
        run(&[
            "guild",
            "update",
            g,
            "--main-group",
            &GROUP.to_string(),
            "--verified-role",
            "5002",
            "--nickname-template",
            "{roblox-username}",
            "--keep-role",
            "5010",
        ])
    });
    assert!(ok, "{err}");
    assert_eq!(v["discord"]["verifiedRole"], "5002");
    assert_eq!(v["discord"]["keepRoles"], json!(["5010"]));
    assert_eq!(v["discord"]["mainGroup"], GROUP);
    let csv = app.data.path().join("links.csv");
    std::fs::write(
        &csv,
        "discord_id,roblox_id,roblox_username\n123456789012345678,261,Shedletsky\n",
    )
    .expect("write csv");
    let (ok, v, err) = tokio::task::block_in_place(|| {
        run(&["links", "import", g, csv.to_str().expect("utf-8 path")])
    });
    assert!(ok, "{err}");
    assert_eq!(v["created"], 1);
    let (ok, v, _) = tokio::task::block_in_place(|| run(&["links", "list", g]));
    assert!(ok);
    assert_eq!(v["links"][0]["robloxUsername"], "Shedletsky");
    // The community API's catalogues, from a file; a bad one names the field.
    let file = app.data.path().join("community.json");
    std::fs::write(
        &file,
        r#"{"medals": [{"name": "Purple Heart"}], "epWarningThresholds": {"main": [5]}}"#,
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let (ok, v, err) =
        tokio::task::block_in_place(|| run(&["guild", "community", g, "--set", path]));
    assert!(ok, "{err}");
    assert_eq!(v["medals"][0]["name"], "Purple Heart");
    let (ok, v, _) = tokio::task::block_in_place(|| run(&["guild", "community", g]));
    assert!(ok);
    assert_eq!(v["epWarningThresholds"]["main"], json!([5]));
    std::fs::write(&file, r#"{"medals": [{"name": ""}]}"#).unwrap();
    let (ok, _, err) =
        tokio::task::block_in_place(|| run(&["guild", "community", g, "--set", path]));
    assert!(!ok && err.contains("medals[0].name"), "{err}");
    let (ok, v, _) = tokio::task::block_in_place(|| run(&["guild", "role-bridge-key", g]));
    assert!(ok);
    assert!(
        v["key"].as_str().is_some_and(|k| k.starts_with("rbk_")),
        "{v}"
    );
    // Linking a website reaches its route (this guild has no bot, which link refuses first);
    // the key comes from the environment, and unlinking with nothing linked is a 404.
    let (ok, _, err) = tokio::task::block_in_place(|| {
        run(&[
            "guild",
            "role-bridge",
            "link",
            g,
            "--site-url",
            "https://mc.example.com",
            "--site-key-env",
            "ROSTER_TEST_UNSET_SITE_KEY",
        ])
    });
    assert!(!ok && err.contains("ROSTER_TEST_UNSET_SITE_KEY"), "{err}");
    let (ok, _, err) = tokio::task::block_in_place(|| {
        run(&[
            "guild",
            "role-bridge",
            "link",
            g,
            "--site-url",
            "https://mc.example.com",
            "--site-key",
            "c2l0ZUtleQ",
            "--bridge-url",
            "https://roster.example.com",
        ])
    });
    assert!(!ok && err.contains("DISCORD_NOT_CONFIGURED"), "{err}");
    let (ok, _, err) = tokio::task::block_in_place(|| run(&["guild", "role-bridge", "unlink", g]));
    assert!(
        !ok && err.contains("404") && err.contains("no linked website"),
        "{err}"
    );
    let (ok, _, err) = tokio::task::block_in_place(|| run(&["sync-all", "status", g]));
    assert!(!ok && err.contains("404"), "no run yet: {err}");
    app.finish().await;
}

/// `roster dev` prints one JSON line first, then a tour; the line's key works against the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn roster_dev_first_line_is_json_and_works() {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["dev", "--listen", &format!("127.0.0.1:{port}")])
        .env("ROSTER_LOG__LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::task::block_in_place(|| lines.next().unwrap().unwrap());
    let info: Value = serde_json::from_str(&first).expect("first line is JSON");
    for k in [
        "apiBase",
        "adminToken",
        "groupId",
        "apiKey",
        "members",
        "simulatorBase",
        "discordSimulatorBase",
        "roleBridgeKey",
        "discordMembers",
    ] {
        assert!(info.get(k).is_some(), "missing {k} in {first}");
    }
    let api = info["apiBase"].as_str().unwrap();
    let g = info["groupId"].as_u64().unwrap();
    let user = info["members"][0]["robloxUserId"].as_u64().unwrap();
    let rank = info["members"][0]["rank"].as_u64().unwrap();
    let http = reqwest::Client::new();
    let r: Value = http
        .post(format!("{api}/v1/groups/{g}/promote"))
        .header("x-api-key", info["apiKey"].as_str().unwrap())
        .json(&json!({"robloxUserId": user}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["previousRank"].as_u64(), Some(rank), "{r}");
    assert!(r["newRank"].as_u64().unwrap() > rank);
    let guild = info["guildId"].as_str().unwrap();
    let s: Value = http
        .get(format!("{api}/moderation/{guild}/ban-status/{user}"))
        .header("x-api-key", info["guildApiKey"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["data"]["banned"], false, "{s}");
    // The demo guild syncs against the Discord simulator: linked member, bound roles, nickname.
    let discord_user = info["discordMembers"][0].as_str().unwrap();
    let s: Value = http
        .post(format!("{api}/interactions/sync"))
        .header("x-api-key", info["guildApiKey"].as_str().unwrap())
        .json(&json!({"guild_id": guild, "user_id": discord_user}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["status"], "success", "{s}");
    assert_eq!(
        s["data"]["added_roles"].as_array().map(Vec::len),
        Some(3),
        "{s}"
    );
    assert_eq!(s["data"]["nickname_updated"], true, "{s}");
    let second = tokio::task::block_in_place(|| lines.next().unwrap().unwrap());
    let mut tour = second;
    for _ in 0..6 {
        tour.push_str(&tokio::task::block_in_place(|| {
            lines.next().unwrap().unwrap()
        }));
    }
    assert!(tour.contains("Roster dev is running"), "{tour}");
    #[expect(unsafe_code, reason = "sending SIGINT to our own child process")]
    // SAFETY: kill(2) on a child we spawned.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let status = tokio::task::block_in_place(|| child.wait()).unwrap();
    assert!(status.success(), "{status:?}");
}
