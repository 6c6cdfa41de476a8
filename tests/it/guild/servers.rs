//! The server manager: games, heartbeats, command queues (long-poll, acknowledgement,
//! redelivery, expiry), the websocket, and operators enqueuing commands.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use futures::{SinkExt, StreamExt};
use reqwest::Method;
use roster_core::clock::ManualClock;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::both_backends;
use crate::harness::{Backend, GUILD, TestApp, TestOpts, sweeps_by_hand};

both_backends!(long_poll_wakes_on_enqueue_and_times_out_empty);

async fn enqueue(app: &TestApp, body: Value) -> Value {
    let a = app
        .admin(
            Method::POST,
            &format!("/guilds/{GUILD}/commands"),
            Some(body),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    a.body
}

async fn long_poll_wakes_on_enqueue_and_times_out_empty(backend: Backend) {
    let app = std::sync::Arc::new(TestApp::start(backend).await);
    // Nothing queued: the poll waits the full `wait`, then answers an empty list.
    let t = Instant::now();
    let a = app
        .guild(Method::GET, "/roblox/servers/srv-1/commands?wait=1", None)
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["data"]["commands"], json!([]));
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "the long-poll held the request"
    );
    // A poll in progress returns as soon as a command arrives.
    let poller = {
        let app = app.clone();
        tokio::spawn(async move {
            let t = Instant::now();
            let a = app
                .guild(Method::GET, "/roblox/servers/srv-1/commands?wait=20", None)
                .await;
            (a, t.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let q = enqueue(&app, json!({"type": "announce", "reason": "Server restarting", "serverId": "srv-1", "data": {"in": 60}})).await;
    let (a, waited) = poller.await.unwrap();
    assert!(
        waited < Duration::from_secs(10),
        "woken by the enqueue, not the timeout ({waited:?})"
    );
    let cmds = a.body["data"]["commands"].as_array().unwrap();
    assert_eq!(cmds.len(), 1);
    assert_eq!(cmds[0]["id"], q["commands"][0]["id"]);
    assert_eq!(cmds[0]["type"], "announce");
    assert_eq!(cmds[0]["data"]["in"], 60);
    // Handed out once: the next poll is empty until it is acknowledged or due again.
    let again = app
        .guild(Method::GET, "/roblox/servers/srv-1/commands", None)
        .await;
    assert_eq!(again.body["data"]["commands"], json!([]));
    let id = cmds[0]["id"].as_str().unwrap();
    let ack = app
        .guild(
            Method::POST,
            &format!("/roblox/servers/srv-1/commands/{id}/ack"),
            Some(json!({"status": "ok"})),
        )
        .await;
    assert_eq!(ack.body["data"]["acked"], true);
    let ack = app
        .guild(
            Method::POST,
            &format!("/roblox/servers/srv-1/commands/{id}/ack"),
            Some(json!({"status": "ok"})),
        )
        .await;
    assert_eq!(ack.body["data"]["acked"], false);
    let app = std::sync::Arc::try_unwrap(app).ok().expect("sole owner");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redelivery_after_visibility_timeout_and_expiry_after_ttl() {
    let clock = ManualClock::at(Utc.with_ymd_and_hms(2026, 11, 2, 12, 0, 0).unwrap());
    let app = TestApp::start_with(
        Backend::Sqlite,
        TestOpts {
            clock: Some(clock.clone()),
            tweak: Some(std::sync::Arc::new(sweeps_by_hand)),
            ..Default::default()
        },
    )
    .await;
    enqueue(
        &app,
        json!({"type": "kick", "targetId": "261", "serverId": "srv-9", "ttlSeconds": 120}),
    )
    .await;
    let first = app
        .guild(Method::GET, "/roblox/servers/srv-9/commands", None)
        .await;
    let cmd = first.body["data"]["commands"][0].clone();
    assert_eq!(cmd["type"], "kick");
    // Not acknowledged within the visibility timeout (30 s): delivered again.
    clock.advance(chrono::Duration::seconds(20));
    assert_eq!(
        app.guild(Method::GET, "/roblox/servers/srv-9/commands", None)
            .await
            .body["data"]["commands"],
        json!([])
    );
    clock.advance(chrono::Duration::seconds(15));
    let sweep = roster_scheduler::servers(app.ctx()).await.unwrap();
    assert_eq!(sweep.removed, 0);
    let second = app
        .guild(Method::GET, "/roblox/servers/srv-9/commands", None)
        .await;
    assert_eq!(
        second.body["data"]["commands"][0]["id"], cmd["id"],
        "redelivered"
    );
    let pending = app
        .admin(
            Method::GET,
            &format!("/guilds/{GUILD}/servers/srv-9/commands"),
            None,
        )
        .await;
    assert_eq!(pending.body["commands"][0]["deliveries"], 2);
    // Past its TTL it expires (with an audit entry) and is never delivered again.
    clock.advance(chrono::Duration::seconds(120));
    assert_eq!(
        roster_scheduler::servers(app.ctx()).await.unwrap().removed,
        1
    );
    assert_eq!(
        app.guild(Method::GET, "/roblox/servers/srv-9/commands", None)
            .await
            .body["data"]["commands"],
        json!([])
    );
    let log = app
        .guild(
            Method::GET,
            &format!("/guilds/{GUILD}/audit-logs?action=command.expired"),
            None,
        )
        .await;
    assert_eq!(
        log.body["data"]["entries"][0]["metadata"]["command_id"],
        cmd["id"]
    );
    assert_eq!(
        roster_scheduler::servers(app.ctx()).await.unwrap().removed,
        0,
        "idempotent"
    );
    // Dead servers leave the live list on the sweep.
    app.guild(
        Method::POST,
        "/roblox/servers/heartbeat",
        Some(json!({"server_id": "srv-live", "place_id": 5})),
    )
    .await;
    let live = app
        .admin(Method::GET, &format!("/guilds/{GUILD}/servers"), None)
        .await;
    assert_eq!(live.body["servers"].as_array().unwrap().len(), 1);
    clock.advance(chrono::Duration::seconds(91));
    assert_eq!(
        roster_scheduler::servers(app.ctx()).await.unwrap().removed,
        1
    );
    let live = app
        .admin(Method::GET, &format!("/guilds/{GUILD}/servers"), None)
        .await;
    assert!(live.body["servers"].as_array().unwrap().is_empty());
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn games_and_audience_fan_out() {
    let app = TestApp::start(Backend::Sqlite).await;
    let r = app
        .guild(Method::POST, "/roblox/games/register", Some(json!({"guild_id": GUILD.to_string(), "place_id": 1818, "universe_id": 121, "name": "My Game"})))
        .await;
    assert_eq!(r.body["data"]["registered"], true);
    let games = app
        .admin(Method::GET, &format!("/guilds/{GUILD}/games"), None)
        .await;
    assert_eq!(games.body["games"][0]["name"], "My Game");
    for (s, place, universe) in [("a", 1818, 121), ("b", 1818, 121), ("c", 2000, 122)] {
        app.guild(
            Method::POST,
            "/roblox/servers/heartbeat",
            Some(json!({"server_id": s, "place_id": place, "universe_id": universe})),
        )
        .await;
    }
    let by_place = enqueue(&app, json!({"type": "announce", "placeId": 1818})).await;
    assert_eq!(by_place["commands"].as_array().unwrap().len(), 2);
    let by_universe = enqueue(&app, json!({"type": "announce", "universeId": 122})).await;
    assert_eq!(by_universe["commands"][0]["serverId"], "c");
    let all = enqueue(&app, json!({"type": "shutdown", "all": true})).await;
    assert_eq!(all["commands"].as_array().unwrap().len(), 3);
    let bad = app
        .admin(
            Method::POST,
            &format!("/guilds/{GUILD}/commands"),
            Some(json!({"type": "x", "all": true, "placeId": 1})),
        )
        .await;
    assert_eq!(bad.status, 400);
    let bad = app
        .admin(
            Method::POST,
            &format!("/guilds/{GUILD}/commands"),
            Some(json!({"type": "bad type!", "all": true})),
        )
        .await;
    assert_eq!(bad.status, 400);
    app.finish().await;
}

pub(crate) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text frame as JSON (skipping pings), within 10 s.
pub(crate) async fn next_frame(ws: &mut Socket) -> Result<Value, tokio::time::error::Elapsed> {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => return serde_json::from_str::<Value>(&t).unwrap(),
                Some(Ok(_)) => continue,
                other => panic!("socket ended: {other:?}"),
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn websocket_delivers_commands_and_moderation_frames() {
    let app = TestApp::start(Backend::Sqlite).await;
    // Unauthorised upgrades are refused in the guild envelope.
    let url = format!(
        "{}/ws/guilds/{GUILD}/roblox?placeId=1818&serverId=ws-1&universeId=121",
        app.base.replace("http", "ws")
    );
    let denied = tokio_tungstenite::connect_async(url.as_str()).await;
    assert!(denied.is_err(), "no key, no upgrade");
    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut()
        .insert("x-api-key", app.guild_key.parse().unwrap());
    // A command queued before connecting is delivered on connect.
    enqueue(
        &app,
        json!({"type": "announce", "serverId": "ws-1", "reason": "hello"}),
    )
    .await;
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("upgrade");
    let f = next_frame(&mut ws).await.expect("frame");
    assert_eq!(f["type"], "command");
    assert_eq!(f["data"]["type"], "announce");
    let first_id = f["data"]["id"].as_str().unwrap().to_owned();
    ws.send(Message::Text(
        json!({"type": "ack", "id": first_id}).to_string().into(),
    ))
    .await
    .unwrap();
    // The server is live while connected: a ban fans out to it, as a command and an event.
    let live = app
        .admin(Method::GET, &format!("/guilds/{GUILD}/servers"), None)
        .await;
    assert_eq!(live.body["servers"][0]["server_id"], "ws-1");
    assert_eq!(live.body["servers"][0]["websocket"], true);
    app.guild(
        Method::POST,
        &format!("/moderation/{GUILD}/roblox/ban"),
        Some(json!({"identifier": "261", "reason": "Exploiting"})),
    )
    .await;
    let mut kinds = Vec::new();
    for _ in 0..2 {
        let f = next_frame(&mut ws).await.expect("frame");
        kinds.push(match f["type"].as_str().unwrap() {
            "command" => format!("command:{}", f["data"]["type"].as_str().unwrap()),
            other => {
                assert_eq!(f["data"]["identifier"], "261");
                assert_eq!(f["data"]["reason"], "Exploiting");
                other.to_owned()
            }
        });
    }
    kinds.sort();
    assert_eq!(kinds, ["command:kick", "moderation.ban"]);
    // A command goes out once whichever way: the HTTP poll sees nothing the socket took.
    let poll = app
        .guild(Method::GET, "/roblox/servers/ws-1/commands", None)
        .await;
    assert_eq!(poll.body["data"]["commands"], json!([]));
    // The acknowledged command is gone; the kick (not acknowledged) is still pending.
    let pending = app
        .admin(
            Method::GET,
            &format!("/guilds/{GUILD}/servers/ws-1/commands"),
            None,
        )
        .await;
    let ids: Vec<&str> = pending.body["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&first_id.as_str()));
    assert_eq!(ids.len(), 1);
    ws.close(None).await.unwrap();
    app.finish().await;
}
