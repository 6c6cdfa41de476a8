//! The guild's Discord connection: none configured (409, then the guild's own bot token), and
//! Discord's rate limits (one guild's 429 storm does not slow another; the client keeps to the
//! buckets it learned).

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use roster_sim::discord::{
    DiscordSimConfig, FaultAction, FaultRule, LogEntry, RateLimitScope, Route,
};
use serde_json::json;

use crate::both_backends;
use crate::harness::discord::{
    ADMIN_ROLE, BOT_TOKEN, CLOSED_DMS, DSim, GUILD_B, MEMBER, UNLINKED, UNVERIFIED, VERIFIED,
    discord_of, guild_seed, member, start, start_with,
};
use crate::harness::{Backend, GUILD, Tweak, eventually};

both_backends!(
    discord_not_configured,
    one_guilds_429_storm_does_not_slow_another
);

async fn discord_not_configured(backend: Backend) {
    let tweak: Tweak = Arc::new(|c: &mut roster_core::config::Config| c.discord.bot_token = None);
    let d = start_with(backend, DiscordSimConfig::default(), Some(tweak)).await;
    let a = d.sync(UNLINKED).await;
    assert_eq!(a.status, 409, "{:?}", a.body);
    assert_eq!(a.code(), "DISCORD_NOT_CONFIGURED");
    let a = d
        .app
        .guild(Method::GET, &format!("/guilds/{GUILD}/roles"), None)
        .await;
    assert_eq!(a.status, 409);
    // The guild's own token (sealed at rest, never shown) makes it work.
    let a = d
        .app
        .admin(
            Method::PATCH,
            &format!("/guilds/{GUILD}"),
            Some(json!({"botToken": BOT_TOKEN})),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["discord"]["botToken"]["configured"], true);
    assert!(!a.body.to_string().contains(BOT_TOKEN));
    let a = d.sync(UNLINKED).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    for tree in [
        roster_core::store::Tree::Guilds,
        roster_core::store::Tree::Jobs,
    ] {
        for (_, v) in d
            .app
            .ctx()
            .store
            .scan(tree, &[], None, usize::MAX, false)
            .expect("scan")
        {
            assert!(
                !String::from_utf8_lossy(&v).contains("test-bot-token"),
                "the bot token is stored in the clear in {tree:?}"
            );
        }
    }
    let a = d
        .app
        .admin(
            Method::PATCH,
            &format!("/guilds/{GUILD}"),
            Some(json!({"botToken": "short"})),
        )
        .await;
    assert_eq!(a.status, 400, "{:?}", a.body);
    // Job failures are not dead jobs; finish() would flag leftovers.
    d.app.finish().await;
}

async fn one_guilds_429_storm_does_not_slow_another(backend: Backend) {
    let d = start(backend).await;
    // A second guild, same bot.
    let b_member = 830_000_000_000_000_001;
    d.dsim
        .sim
        .seed_guild(guild_seed(GUILD_B, vec![member(b_member, "bee", &[])]))
        .expect("seed B");
    let gb = roster_core::ids::GuildId::new(GUILD_B).expect("id");
    roster_core::guilds::create(
        d.app.ctx(),
        gb,
        "B".into(),
        roster_core::guilds::GuildPatch {
            unverified_role: Some(Some(UNVERIFIED + 100)),
            ..Default::default()
        },
    )
    .await
    .expect("guild B");
    let (_, key_b) =
        roster_core::apikeys::issue(d.app.ctx(), roster_core::apikeys::KeyScope::Guild(gb), "b")
            .await
            .expect("key");
    // Guild A's member PATCHes all come back 429 (the bot's own limit) until cleared.
    d.dsim.sim.add_fault(FaultRule {
        route: Some(Route::ModifyMember),
        method: None,
        path_contains: Some(format!("/guilds/{GUILD}/")),
        action: FaultAction::RateLimit {
            scope: RateLimitScope::User,
            retry_after: 2.0,
        },
        times: None,
    });
    let base = d.app.base.clone();
    let key_a = d.app.guild_key.clone();
    let http = d.app.http.clone();
    let a_task = tokio::spawn(async move {
        http.post(format!("{base}/interactions/sync"))
            .header("x-api-key", key_a)
            .body(
                json!({"guild_id": GUILD.to_string(), "user_id": UNLINKED.to_string()}).to_string(),
            )
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    eventually("guild A hits its 429s", Duration::from_secs(10), || {
        d.dsim.sim.log().iter().any(|e| e.status == 429)
    })
    .await;
    // Guild A's attempts: each 429 holds A back for its 2 s `retry_after` before the next.
    let a_attempts = |log: &[LogEntry]| {
        log.iter()
            .filter(|e| e.route == Some(Route::ModifyMember) && e.path.contains(&GUILD.to_string()))
            .count()
    };
    let a_before = a_attempts(&d.dsim.sim.log());
    let b = d
        .app
        .request(
            Method::POST,
            "/interactions/sync",
            &[("x-api-key", &key_b)],
            Some(
                &json!({"guild_id": GUILD_B.to_string(), "user_id": b_member.to_string()})
                    .to_string(),
            ),
        )
        .await;
    let log = d.dsim.sim.log();
    assert_eq!(b.status, 200, "{:?}", b.body);
    assert_eq!(
        b.body["data"]["added_roles"],
        json!([(UNVERIFIED + 100).to_string()])
    );
    assert!(!a_task.is_finished(), "guild A is still being rate limited");
    // Guild B's requests all went through without a single 429.
    assert!(
        d.dsim
            .sim
            .log()
            .iter()
            .filter(|e| e.path.contains(&GUILD_B.to_string()))
            .all(|e| e.status < 400),
        "{:?}",
        d.dsim.sim.log()
    );
    // Not slowed: guild B's whole sync fitted between two of guild A's attempts, i.e. inside one
    // of A's rate-limit waits (a B request queued behind A's limit would come after A's retry).
    assert_eq!(
        a_attempts(&log),
        a_before,
        "guild A made no new attempt while guild B synced: {log:?}"
    );
    let first_b = log
        .iter()
        .position(|e| e.path.contains(&GUILD_B.to_string()))
        .expect("guild B reached Discord");
    assert!(
        log[..first_b].iter().any(|e| e.status == 429),
        "guild B ran after guild A was already rate limited"
    );
    d.dsim.sim.clear_faults();
    let a_status = a_task.await.expect("task").expect("request");
    assert!(matches!(a_status, 200 | 202), "{a_status}");
    eventually("guild A's member synced", Duration::from_secs(30), || {
        d.dsim.roles_of(GUILD, UNLINKED) == vec![UNVERIFIED]
    })
    .await;
    d.app.finish().await;
}

fn client_for(addr: std::net::SocketAddr) -> roster_upstream::discord::DiscordClient {
    roster_upstream::discord::DiscordClient::new(roster_upstream::discord::DiscordSettings {
        proxy: Some(addr.to_string()),
        use_http: true,
        timeout: Duration::from_secs(5),
        call_timeout: Duration::from_secs(20),
        max_wait: Duration::from_secs(10),
        global_limit_per_sec: 50,
    })
}

/// The client learns buckets from ordinary responses (Discord sends `X-RateLimit-Scope` only on
/// 429s) and never overruns one, whatever the concurrency.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn client_keeps_to_buckets_it_learned_from_plain_responses() {
    use roster_upstream::discord::DiscordApi;
    let mut config = DiscordSimConfig::default();
    config.route_limits.insert(
        Route::ModifyMember,
        roster_sim::discord::RouteLimit {
            limit: 4,
            window: Duration::from_millis(800),
            kind: roster_sim::discord::WindowKind::Fixed,
            bucket: "patch-bucket".into(),
        },
    );
    let dsim = DSim::start(config).await;
    let client = Arc::new(client_for(dsim.addr));
    let users: Vec<u64> = (101..=105)
        .map(discord_of)
        .chain([UNLINKED, CLOSED_DMS])
        .collect();
    let mut tasks = Vec::new();
    for round in 0..2 {
        for u in &users {
            let (c, u) = (client.clone(), *u);
            tasks.push(tokio::spawn(async move {
                c.modify_member(
                    BOT_TOKEN,
                    GUILD,
                    u,
                    Some(&[if round == 0 { VERIFIED } else { MEMBER }]),
                    None,
                    "bucket test",
                )
                .await
            }));
        }
    }
    for t in tasks {
        t.await.expect("task").expect("no call fails");
    }
    let log: Vec<LogEntry> = dsim
        .sim
        .log()
        .into_iter()
        .filter(|e| e.route == Some(Route::ModifyMember))
        .collect();
    assert_eq!(log.len(), 14);
    assert!(log.iter().all(|e| e.status == 200), "no 429: {log:?}");
    // Against the sim's own counters: no window saw more than its limit (a 429 would show it),
    // and 14 requests at 4 per window took at least three resets.
    let first = log.first().map(|e| e.at.clone()).unwrap_or_default();
    let last = log.last().map(|e| e.at.clone()).unwrap_or_default();
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).expect("time");
    let spread = parse(&last) - parse(&first);
    assert!(
        spread >= chrono::Duration::milliseconds(3 * 800 - 100),
        "{spread:?}"
    );
}

/// A 429 twilight learned nothing from (global scope) ends the call with `RateLimited` after
/// one request, instead of twilight's immediate-retry loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn client_turns_a_global_429_into_one_rate_limited_error() {
    use roster_upstream::UpstreamError;
    use roster_upstream::discord::DiscordApi;
    let dsim = DSim::start(DiscordSimConfig::default()).await;
    dsim.sim.add_fault(FaultRule {
        route: Some(Route::GetMember),
        method: None,
        path_contains: None,
        action: FaultAction::RateLimit {
            scope: RateLimitScope::Global,
            retry_after: 1.0,
        },
        times: None,
    });
    let client = client_for(dsim.addr);
    let r = client.member(BOT_TOKEN, GUILD, UNLINKED).await;
    assert!(matches!(r, Err(UpstreamError::RateLimited { .. })), "{r:?}");
    let hits = dsim
        .sim
        .log()
        .iter()
        .filter(|e| e.route == Some(Route::GetMember))
        .count();
    assert_eq!(hits, 1, "one request, no retry storm");
    // Unknown member and a missing role map to typed results.
    dsim.sim.clear_faults();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        client
            .member(BOT_TOKEN, GUILD, 810_000_000_000_009_999)
            .await
            .expect("ok"),
        None
    );
    match client
        .add_role(BOT_TOKEN, GUILD, UNLINKED, ADMIN_ROLE, "x")
        .await
    {
        Err(UpstreamError::Permanent {
            status: 403, code, ..
        }) => assert_eq!(code, "50013"),
        other => panic!("expected 50013, got {other:?}"),
    }
    match client
        .member("not-a-valid-token-at-all-000", GUILD, UNLINKED)
        .await
    {
        Err(UpstreamError::Permanent { status: 401, .. }) => {}
        other => panic!("expected 401, got {other:?}"),
    }
}
