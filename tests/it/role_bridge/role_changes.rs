//! Role changes through the bridge when Discord is slow: answered `pending` and still applied,
//! in the order Roster accepted them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use roster_sim::discord::{DiscordSimConfig, FaultAction, FaultRule, Route};
use serde_json::Value;

use super::{bridge_key, site};
use crate::both_backends;
use crate::harness::discord::{DApp, OFFICER, UNLINKED, start_with};
use crate::harness::{Backend, GUILD, Tweak, eventually};

both_backends!(
    role_bridge_reports_pending_and_still_applies,
    role_bridge_add_then_remove_while_pending,
    role_bridge_concurrent_changes_apply_in_acceptance_order
);

async fn role_bridge_reports_pending_and_still_applies(backend: Backend) {
    let tweak: Tweak = Arc::new(|c: &mut roster_core::config::Config| {
        c.discord.role_bridge_deadline = Duration::from_millis(300);
    });
    let d = start_with(backend, DiscordSimConfig::default(), Some(tweak)).await;
    let key = bridge_key(&d).await;
    d.dsim
        .sim
        .update_config(|c| c.latency = Duration::from_millis(400));
    let started = Instant::now();
    let (status, text, _) = site(
        &d,
        "/applyRoleChanges",
        &format!(
            r#"{{"guild_id": {GUILD}, "api_key": "{key}", "role_changes": [{{"user_id": {UNLINKED}, "role_id": {OFFICER}, "action": "add"}}]}}"#
        ),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["status"], "success");
    assert_eq!(v["role_changes"][0]["status"], "pending");
    assert_eq!(v["role_changes"][0]["user_id"], UNLINKED.to_string());
    assert!(
        took < Duration::from_secs(2),
        "answered by the deadline: {took:?}"
    );
    eventually(
        "the pending change applied",
        Duration::from_secs(20),
        || d.dsim.roles_of(GUILD, UNLINKED) == vec![OFFICER],
    )
    .await;
    d.app.finish().await;
}

/// Sends one role change for `UNLINKED` through `/applyRoleChanges`; returns the change's word.
async fn bridge_change(d: &DApp, key: &str, role: u64, add: bool) -> String {
    let (status, text, _) = site(
        d,
        "/applyRoleChanges",
        &format!(
            r#"{{"guild_id": {GUILD}, "api_key": "{key}", "role_changes": [{{"user_id": {UNLINKED}, "role_id": {role}, "action": "{}"}}]}}"#,
            if add { "add" } else { "remove" }
        ),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    v["role_changes"][0]["status"]
        .as_str()
        .expect("a status")
        .to_owned()
}

/// Starts an app whose Discord is slower than the role bridge's reply deadline, so changes are
/// answered `pending` and land later. The first role add Discord receives fails with a 500,
/// and the job that sent it retries `retry` later (give or take half): without ordering, later
/// changes of the same member read it in the meantime and the add overtakes them.
async fn slow_bridge(backend: Backend, retry: Duration) -> (DApp, String) {
    let tweak: Tweak = Arc::new(move |c: &mut roster_core::config::Config| {
        c.discord.role_bridge_deadline = Duration::from_millis(150);
        c.queue.retry_base = retry;
        c.queue.retry_max = retry;
    });
    let d = start_with(backend, DiscordSimConfig::default(), Some(tweak)).await;
    let key = bridge_key(&d).await;
    d.dsim
        .sim
        .update_config(|c| c.latency = Duration::from_millis(100));
    d.dsim.sim.add_fault(FaultRule {
        route: Some(Route::AddMemberRole),
        method: None,
        path_contains: None,
        action: FaultAction::Status {
            status: 500,
            code: None,
        },
        times: Some(1),
    });
    (d, key)
}

async fn all_jobs_final(d: &DApp) {
    eventually("every job final", Duration::from_secs(60), || {
        d.app.unfinished_jobs().0.is_empty()
    })
    .await;
}

/// The site adds a role (answered `pending`), then removes it: the remove is applied after the
/// add, so the member ends without the role (it used to answer `none` and keep it).
async fn role_bridge_add_then_remove_while_pending(backend: Backend) {
    let (d, key) = slow_bridge(backend, Duration::from_secs(1)).await;
    assert_eq!(bridge_change(&d, &key, OFFICER, true).await, "pending");
    let word = bridge_change(&d, &key, OFFICER, false).await;
    assert_ne!(word, "none", "the remove was judged before the add landed");
    all_jobs_final(&d).await;
    assert!(
        !d.dsim.roles_of(GUILD, UNLINKED).contains(&OFFICER),
        "the site's last request removed the role"
    );
    d.app.finish().await;
}

/// Six site workers each send add, remove, add, remove of one role for one member at once: the
/// member's final roles are the accepted requests applied in the order Roster accepted them
/// (each job's turn on the member), so without the role. (Without ordering, the first add, retried
/// seconds later, lands after every remove.)
async fn role_bridge_concurrent_changes_apply_in_acceptance_order(backend: Backend) {
    use roster_core::jobs::discord::RoleChangesJob;
    use roster_core::store::StoreExt;
    let (d, key) = slow_bridge(backend, Duration::from_secs(12)).await;
    let before = d.dsim.roles_of(GUILD, UNLINKED);
    let d = Arc::new(d);
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let (d, key) = (d.clone(), key.clone());
        clients.spawn(async move {
            for i in 0..4u64 {
                bridge_change(&d, &key, OFFICER, i % 2 == 0).await;
            }
        });
    }
    while let Some(r) = clients.join_next().await {
        r.expect("client");
    }
    all_jobs_final(&d).await;
    let subject = roster_core::jobs::order::member_subject(GUILD, UNLINKED);
    let mut accepted: Vec<(u64, RoleChangesJob)> = d
        .app
        .ctx()
        .store
        .scan_json::<roster_core::jobs::JobRecord>(
            roster_core::store::Tree::Jobs,
            &[],
            None,
            usize::MAX,
            false,
        )
        .expect("jobs")
        .into_iter()
        .filter(|(_, j)| j.kind == roster_core::jobs::JobKind::DiscordRoleChanges)
        .map(|(_, j)| {
            assert_eq!(j.status, roster_core::jobs::JobStatus::Succeeded, "{j:?}");
            let turn = j.envelope.turns.iter().find(|t| t.subject == subject);
            let seq = turn.expect("a turn on the member").seq;
            (
                seq,
                serde_json::from_value(j.envelope.payload).expect("payload"),
            )
        })
        .collect();
    assert_eq!(accepted.len(), 24);
    accepted.sort_by_key(|(seq, _)| *seq);
    let seqs: Vec<u64> = accepted.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=24).collect::<Vec<_>>(), "one turn each, no gaps");
    let mut expected: std::collections::BTreeSet<u64> = before.into_iter().collect();
    for (_, job) in &accepted {
        for c in &job.changes {
            if c.add {
                expected.insert(c.role_id);
            } else {
                expected.remove(&c.role_id);
            }
        }
    }
    assert!(
        !expected.contains(&OFFICER),
        "every site worker's last request removed the role"
    );
    assert_eq!(
        d.dsim.roles_of(GUILD, UNLINKED),
        expected.into_iter().collect::<Vec<_>>()
    );
    let Ok(d) = Arc::try_unwrap(d) else {
        panic!("clients finished")
    };
    d.app.finish().await;
}
