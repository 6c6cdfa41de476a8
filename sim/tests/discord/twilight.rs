//! A real twilight-http client against the simulator: a round trip, and how it meets exhausted
//! buckets and 429s.

use super::*;

#[tokio::test]
async fn twilight_round_trip() {
    let test = TestSim::seeded().await;
    let client = test.twilight(TOKEN);
    let guild_id = Id::new(GUILD);

    let me = client
        .current_user()
        .await
        .expect("answered")
        .model()
        .await
        .expect("a user");
    assert_eq!(
        (me.id.get(), me.name.as_str(), me.bot),
        (BOT, "roster", true)
    );
    let guild = client
        .guild(guild_id)
        .await
        .expect("answered")
        .model()
        .await
        .expect("a guild");
    assert_eq!(
        (guild.name.as_str(), guild.owner_id.get()),
        ("Roster Test Guild", OWNER)
    );
    let roles = client
        .roles(guild_id)
        .await
        .expect("answered")
        .models()
        .await
        .expect("roles");
    assert_eq!(roles.len(), 7);
    let member = client
        .guild_member(guild_id, Id::new(TRUSTED))
        .await
        .expect("answered")
        .model()
        .await
        .expect("a member");
    assert_eq!(member.nick.as_deref(), Some("Trusty"));
    assert_eq!(member.roles.len(), 2);
    let members = client
        .guild_members(Id::new(BIG_GUILD))
        .limit(1000)
        .after(Id::new(4010))
        .await
        .expect("answered")
        .models()
        .await
        .expect("members");
    assert_eq!(members.len(), 15);

    let reason = "Promoted by Roster: rank \u{2192} Trusted (ticket #42)";
    client
        .add_guild_member_role(guild_id, Id::new(PLAIN), Id::new(TRUSTED_ROLE))
        .reason(reason)
        .await
        .expect("added");
    assert_eq!(
        test.roles_of(GUILD, PLAIN),
        Some(vec![MEMBER_ROLE, TRUSTED_ROLE])
    );
    client
        .remove_guild_member_role(guild_id, Id::new(PLAIN), Id::new(MEMBER_ROLE))
        .reason(reason)
        .await
        .expect("removed");
    let updated = client
        .update_guild_member(guild_id, Id::new(PLAIN))
        .nick(Some("Plain \u{1F600}"))
        .roles(&[Id::new(MEMBER_ROLE)])
        .reason(reason)
        .await
        .expect("answered")
        .model()
        .await
        .expect("a member");
    assert_eq!(updated.nick.as_deref(), Some("Plain \u{1F600}"));
    assert_eq!(test.roles_of(GUILD, PLAIN), Some(vec![MEMBER_ROLE]));

    client
        .create_ban(guild_id, Id::new(BOOSTED))
        .delete_message_seconds(3600)
        .reason("Raid \u{2014} automated")
        .await
        .expect("banned");
    let ban = client
        .ban(guild_id, Id::new(BOOSTED))
        .await
        .expect("answered")
        .model()
        .await
        .expect("a ban");
    assert_eq!(ban.reason.as_deref(), Some("Raid \u{2014} automated"));
    client
        .delete_ban(guild_id, Id::new(BOOSTED))
        .await
        .expect("unbanned");

    let channel = client
        .create_private_channel(Id::new(PLAIN))
        .await
        .expect("answered")
        .model()
        .await
        .expect("a channel");
    let message = client
        .create_message(channel.id)
        .content("Your rank changed.")
        .await
        .expect("answered")
        .model()
        .await
        .expect("a message");
    assert_eq!(message.content, "Your rank changed.");
    assert_eq!(
        test.sim.direct_messages(PLAIN),
        vec!["Your rank changed.".to_owned()]
    );

    // Discord's errors reach the caller with their code.
    let error = client
        .guild_member(guild_id, Id::new(777))
        .await
        .expect_err("an unknown member");
    assert_api_error(&error, 404, 10007);
    let error = test
        .twilight(WEAK_TOKEN)
        .add_guild_member_role(guild_id, Id::new(PLAIN), Id::new(TRUSTED_ROLE))
        .await
        .expect_err("no permission");
    assert_api_error(&error, 403, 50013);

    let log = test.sim.log();
    let reasons: Vec<&str> = log
        .iter()
        .filter_map(|entry| entry.audit_log_reason.as_deref())
        .collect();
    assert_eq!(
        reasons,
        vec![reason, reason, reason, "Raid \u{2014} automated"]
    );
    let ban_entry = log
        .iter()
        .find(|entry| entry.route == Some(Route::CreateBan))
        .expect("logged");
    assert_eq!(
        ban_entry.request_body,
        Some(json!({ "delete_message_seconds": 3600 }))
    );
    assert!(log.iter().all(|entry| entry.status < 400
        || entry.route == Some(Route::GetMember)
        || entry.route == Some(Route::AddMemberRole)));
    test.stop().await;
}

#[track_caller]
fn assert_api_error(error: &twilight_http::Error, status: u16, code: u64) {
    match error.kind() {
        twilight_http::error::ErrorType::Response {
            status: got,
            error: twilight_http::api_error::ApiError::General(general),
            ..
        } => {
            assert_eq!((got.get(), general.code), (status, code), "{error}");
        }
        other => panic!("expected a Discord error, got {other:?}"),
    }
}

#[tokio::test]
async fn twilight_waits_out_exhausted_buckets() {
    let test = TestSim::seeded().await;
    test.set_route_limit(
        &[Route::AddMemberRole, Route::RemoveMemberRole],
        3,
        700,
        WindowKind::Fixed,
        MEMBER_ROLE_BUCKET,
    );
    let client = test.twilight(TOKEN);
    let started = Instant::now();
    for i in 0..10u64 {
        let role = if i % 2 == 0 {
            TRUSTED_ROLE
        } else {
            MEMBER_ROLE
        };
        client
            .add_guild_member_role(Id::new(GUILD), Id::new(MODERATOR), Id::new(role))
            .await
            .expect("twilight waits and retries instead of failing");
    }
    assert!(
        started.elapsed() >= Duration::from_millis(2 * 700 - 100),
        "three windows at least"
    );
    let log = test.sim.log();
    assert_eq!(log.iter().filter(|entry| entry.status == 204).count(), 10);
    let limited = log.iter().filter(|entry| entry.status == 429).count();
    assert!(
        limited >= 1,
        "without the scope header twilight learns the bucket from a 429"
    );
    assert!(
        log.iter()
            .filter(|entry| entry.status == 429)
            .all(|entry| entry.scope.as_deref() == Some("user"))
    );

    // With X-RateLimit-Scope on every response twilight reads the bucket from the first answer and never hits it.
    test.sim.clear_log();
    test.sim.reset_rate_limits();
    test.sim
        .update_config(|config| config.scope_on_every_response = true);
    let client = test.twilight(TOKEN);
    for _ in 0..8 {
        client
            .add_guild_member_role(Id::new(GUILD), Id::new(MODERATOR), Id::new(TRUSTED_ROLE))
            .await
            .expect("added");
    }
    let log = test.sim.log();
    assert_eq!(
        log.len(),
        8,
        "no 429 at all: {:?}",
        log.iter().map(|e| e.status).collect::<Vec<_>>()
    );
    test.stop().await;
}

/// twilight waits out a shared or per-user 429's `retry_after` (from the bucket headers) before
/// retrying. A global 429 it retries at once: twilight 0.18 keeps under the global limit by
/// counting its own requests (50 per `GLOBAL_LIMIT_PERIOD`) and does not read a global 429's
/// `retry_after`, so no wait is claimed for it.
#[tokio::test]
async fn twilight_honours_shared_and_user_429s_and_retries_a_global_one() {
    let test = TestSim::seeded().await;
    let client = test.twilight(TOKEN);
    for (scope, retry_after, min_wait) in [
        (
            RateLimitScope::Shared,
            1.0,
            Some(Duration::from_millis(900)),
        ),
        (RateLimitScope::User, 0.6, Some(Duration::from_millis(500))),
        (RateLimitScope::Global, 0.3, None),
    ] {
        test.sim.clear_log();
        test.sim.add_fault(rule(
            Some(Route::GetMember),
            FaultAction::RateLimit { scope, retry_after },
            Some(1),
        ));
        let started = Instant::now();
        client
            .guild_member(Id::new(GUILD), Id::new(PLAIN))
            .await
            .expect("retried after the 429")
            .model()
            .await
            .expect("a member");
        if let Some(min_wait) = min_wait {
            assert!(
                started.elapsed() >= min_wait,
                "{scope:?} waited {:?}",
                started.elapsed()
            );
        }
        let log = test.sim.log();
        let statuses: Vec<u16> = log.iter().map(|entry| entry.status).collect();
        assert_eq!(statuses, vec![429, 200], "{scope:?}");
    }
    test.stop().await;
}
