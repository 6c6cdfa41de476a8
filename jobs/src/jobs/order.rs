//! Per-subject ordering: operations on one subject take effect in the order Roster accepted
//! them, however often or late a job is delivered.
//!
//! A **subject** is what a job changes and what later jobs would read: a group member's rank
//! (`rank:{group}:{user}`), a guild member's roles, nickname and ban (`member:{guild}:{user}`),
//! a Roblox user's experience bans in a guild (`restrict:{guild}:{user}`). Each job kind declares
//! its subjects with the kind ([`super::kind::Kind::subjects`]); no handler chooses them.
//!
//! When a job is staged (`roster_core::jobs::order::assign_in`, inside the accepting transaction), it takes the next
//! sequence number of each of its subjects (the `subjects` tree counts them) — a [`Turn`]. A
//! worker runs a job only once every earlier job on each of its subjects is final (the queue
//! backend keeps, per subject, the highest sequence finished, advanced in the step that decides
//! an outcome); until then the job is parked in the backend and pushed again by the job before
//! it. It holds the subject's lease while it runs. So a job redelivered after
//! a crash, however late, runs before the jobs accepted after it, never after them: a promote
//! whose worker died after `:assignRole` finishes (converging to the target it resolved) before
//! the next promote of that member reads its rank.
//!
//! The recorder (control plane) also notes finished sequences in the `subjects` tree; a turn carries the
//! sequence every earlier job had reached when it was accepted (`floor`), so a backend that
//! lost its counters (a move from SQLite to Redis with jobs in flight) never holds a job back
//! for jobs that were already final.

use serde::{Deserialize, Serialize};

use super::JobKind;

/// A job's place in the order of operations on one subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Turn {
    /// The subject, e.g. `rank:1234567:101`.
    pub subject: String,
    /// This job's sequence number on the subject (from 1).
    pub seq: u64,
    /// Every job on the subject up to this sequence was final when this one was accepted.
    pub floor: u64,
}

impl Turn {
    /// Whether this job may run, given the highest sequence the backend saw finished.
    pub fn ready(&self, finished: u64) -> bool {
        finished.max(self.floor) + 1 >= self.seq
    }
}

/// A subject's counters in the control plane's store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectState {
    /// The last sequence handed out.
    pub last: u64,
    /// The highest sequence recorded final.
    pub finished: u64,
}

impl SubjectState {
    /// Whether jobs accepted on this subject are still to finish.
    pub fn busy(&self) -> bool {
        self.finished < self.last
    }
}

/// The subjects a job of `kind` with this payload changes, sorted and without duplicates: each
/// kind declares them ([`super::kind::Kind::subjects`]). Jobs that touch many members at once
/// (sync-all pages and batches) and jobs that change nothing lasting (direct messages) have none.
pub fn subjects_of(kind: JobKind, payload: &serde_json::Value) -> Vec<String> {
    kind.subjects_of(payload)
}

/// A group member's rank.
pub fn rank_subject(group: u64, user: u64) -> String {
    format!("rank:{group}:{user}")
}

/// A guild member's roles, nickname and ban.
pub fn member_subject(guild: u64, user: u64) -> String {
    format!("member:{guild}:{user}")
}

/// A Roblox user's experience bans in a guild.
pub fn restrict_subject(guild: u64, user: u64) -> String {
    format!("restrict:{guild}:{user}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_is_ready_once_every_earlier_sequence_finished() {
        let t = Turn {
            subject: "rank:1:2".into(),
            seq: 3,
            floor: 0,
        };
        assert!(!t.ready(0));
        assert!(!t.ready(1));
        assert!(t.ready(2));
        assert!(t.ready(3), "a duplicate delivery of a finished job");
        let floored = Turn { floor: 2, ..t };
        assert!(floored.ready(0), "the backend lost its counters");
    }

    #[test]
    fn role_changes_order_every_member_they_touch_once() {
        let payload = serde_json::json!({
            "target": {"guild": "5"},
            "changes": [
                {"userId": 9, "roleId": 1, "add": true},
                {"userId": 7, "roleId": 1, "add": true},
                {"userId": 9, "roleId": 2, "add": false},
            ],
            "reason": "r",
        });
        let s = subjects_of(JobKind::DiscordRoleChanges, &payload);
        assert_eq!(s, vec!["member:5:7".to_owned(), "member:5:9".to_owned()]);
    }
}
