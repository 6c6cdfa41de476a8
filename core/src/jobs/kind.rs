//! A job kind as one unit: the [`Kind`] trait. Each kind is a type that fixes its wire name and
//! queue, its payload and result types, the subjects it orders on (see [`super::order`]) and what
//! its final outcome leaves behind (an audit entry, follow-up jobs). The worker adds the handler
//! (`roster_worker::jobs::Handler`). Every kind is listed once, in [`crate::job_kinds!`]: the
//! [`JobKind`] enum, the ordering, the recorder and the worker's dispatch all come from that list.
//!
//! Adding a kind: a type implementing [`Kind`] next to its payload, an entry in
//! [`crate::job_kinds!`], and its handler in the worker (the worker does not build until it has
//! one).

use serde::de::DeserializeOwned;
use serde::{Deserialize as _, Serialize};

use super::facade::Staging;
use super::{JobKind, JobRecord, JobStatus};
use crate::config::Config;
use crate::store::{StoreError, Txn};

/// Implemented for every entry of [`crate::job_kinds!`] by the list itself, so only a registered
/// kind can be submitted.
pub trait Registered {
    /// The entry of [`JobKind`] this type is.
    const KIND: JobKind;
}

/// One job kind.
pub trait Kind: Registered + 'static {
    /// The wire name, e.g. `ranking.promote`. Fixed: stored in job records and queue entries.
    const NAME: &'static str;
    /// The queue it runs on (one of [`super::QUEUES`]). Fixed, never derived from a type name.
    const QUEUE: &'static str;
    /// What the worker needs, sealed where secret (workers never open the store).
    type Payload: Serialize + DeserializeOwned + Send + Sync + 'static;
    /// What a successful run returns.
    type Result: Serialize + DeserializeOwned + Send + 'static;

    /// The subjects a job of this kind changes (pushed onto `out`; sorting and duplicates are
    /// taken care of): jobs on one subject run one at a time, in acceptance order. The default
    /// is none: the kind is not ordered.
    fn subjects(payload: &Self::Payload, out: &mut Vec<String>) {
        let _ = (payload, out);
    }

    /// Called by the outcome recorder, inside the transaction that records the job's final
    /// outcome (once per job generation): leave an audit entry ([`Effects::audit`]) and stage
    /// follow-up work ([`Effects::jobs`]). The default leaves nothing.
    fn on_outcome(done: &Done<'_, Self>, fx: &mut Effects<'_>) -> Result<(), StoreError> {
        let _ = (done, fx);
        Ok(())
    }
}

/// A job whose outcome is being recorded.
#[derive(Debug)]
pub struct Done<'a, K: Kind + ?Sized> {
    /// The record, final (status, result, error, attempts set).
    pub record: &'a JobRecord,
    /// Its payload.
    pub payload: K::Payload,
}

impl<K: Kind + ?Sized> Done<'_, K> {
    /// The result, when the job succeeded and its result reads as `K::Result`.
    pub fn result(&self) -> Option<K::Result> {
        match (self.record.status, &self.record.result) {
            (JobStatus::Succeeded, Some(v)) => K::Result::deserialize(v).ok(),
            _ => None,
        }
    }
}

/// The audit entry a job's outcome leaves, written by the recorder to the job's tenant (and, for
/// a group, to the guilds linked to it). A success is recorded as `action`, a failure as
/// `action.failed` or `action.dead`, with the job id, attempts and error.
#[derive(Debug, Clone, PartialEq)]
pub struct JobAudit {
    /// Action on success, e.g. `rank.promote`.
    pub action: &'static str,
    /// Whom it concerned.
    pub target: String,
    /// Fields added to a success's metadata; `None` records the raw result as `result`.
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
}

/// What an outcome hook may do, all inside the recorder's transaction.
pub struct Effects<'a> {
    /// The transaction.
    pub tx: &'a dyn Txn,
    /// The configuration (follow-up jobs' attempts, concurrency settings).
    pub config: &'a Config,
    /// Stages follow-up jobs (the recorder wakes the relay once they are durable).
    pub jobs: &'a mut Staging,
    pub(crate) audit: Option<JobAudit>,
    pub(crate) spare_id: Option<u64>,
}

impl std::fmt::Debug for Effects<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Effects")
            .field("audit", &self.audit)
            .finish_non_exhaustive()
    }
}

impl Effects<'_> {
    /// Leaves the job's audit entry.
    pub fn audit(&mut self, audit: JobAudit) {
        self.audit = Some(audit);
    }

    /// A fresh id from [`crate::store::Store::next_id`] for one record of the hook's own (an audit
    /// entry of a run it completes, say); one per outcome.
    pub fn take_id(&mut self) -> Option<u64> {
        self.spare_id.take()
    }
}

/// The subjects of a job of kind `K`, sorted and without duplicates.
pub fn subjects<K: Kind>(payload: &K::Payload) -> Vec<String> {
    let mut out = Vec::new();
    K::subjects(payload, &mut out);
    if out.len() > 1 {
        out.sort();
        out.dedup();
    }
    out
}

/// [`subjects`] of a payload in its stored form (none when it does not read as `K::Payload`).
pub(crate) fn subjects_of_value<K: Kind>(payload: &serde_json::Value) -> Vec<String> {
    match K::Payload::deserialize(payload) {
        Ok(p) => subjects::<K>(&p),
        Err(_) => Vec::new(),
    }
}

/// Runs `K`'s outcome hook for a final record (nothing when its payload is unreadable).
pub(crate) fn on_outcome<K: Kind>(
    record: &JobRecord,
    fx: &mut Effects<'_>,
) -> Result<(), StoreError> {
    let Ok(payload) = K::Payload::deserialize(&record.envelope.payload) else {
        return Ok(());
    };
    K::on_outcome(&Done { record, payload }, fx)
}

/// Defines [`JobKind`] and the dispatch over it from the registration list.
macro_rules! define_kinds {
    ($( $(#[$doc:meta])* $variant:ident => $ty:path, )*) => {
        /// The kinds of job: one per entry of the registration list, [`crate::job_kinds!`]. Its
        /// wire form is the kind's [`Kind::NAME`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum JobKind {
            $( $(#[$doc])* $variant, )*
        }

        $(
            impl $crate::jobs::kind::Registered for $ty {
                const KIND: JobKind = JobKind::$variant;
            }
        )*

        impl JobKind {
            /// Every kind, in the order of the registration list.
            pub const ALL: &'static [JobKind] = &[$(JobKind::$variant),*];

            const NAMES: &'static [&'static str] = &[$(<$ty as $crate::jobs::kind::Kind>::NAME),*];

            /// The queue this kind runs on.
            pub fn queue(self) -> &'static str {
                match self {
                    $(JobKind::$variant => <$ty as $crate::jobs::kind::Kind>::QUEUE,)*
                }
            }

            /// The wire name, `ranking.promote` etc.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(JobKind::$variant => <$ty as $crate::jobs::kind::Kind>::NAME,)*
                }
            }

            /// The kind with this wire name.
            pub fn from_name(name: &str) -> Option<Self> {
                $(
                    if name == <$ty as $crate::jobs::kind::Kind>::NAME {
                        return Some(JobKind::$variant);
                    }
                )*
                None
            }

            /// The subjects a job of this kind with this payload changes (see
            /// [`crate::jobs::order`]).
            pub(crate) fn subjects_of(self, payload: &serde_json::Value) -> Vec<String> {
                match self {
                    $(JobKind::$variant => $crate::jobs::kind::subjects_of_value::<$ty>(payload),)*
                }
            }

            /// Runs the kind's outcome hook.
            pub(crate) fn on_outcome(
                self,
                record: &$crate::jobs::JobRecord,
                fx: &mut $crate::jobs::kind::Effects<'_>,
            ) -> Result<(), $crate::store::StoreError> {
                match self {
                    $(JobKind::$variant => $crate::jobs::kind::on_outcome::<$ty>(record, fx),)*
                }
            }
        }
    };
}

pub(crate) use define_kinds;

impl Serialize for JobKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for JobKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Name;
        impl serde::de::Visitor<'_> for Name {
            type Value = JobKind;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a job kind")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<JobKind, E> {
                JobKind::from_name(v).ok_or_else(|| E::unknown_variant(v, JobKind::NAMES))
            }
        }
        d.deserialize_str(Name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_distinct_name_and_a_known_queue_and_round_trips() {
        let mut names = std::collections::BTreeSet::new();
        for k in JobKind::ALL {
            assert!(
                names.insert(k.as_str()),
                "{} is registered twice",
                k.as_str()
            );
            assert!(super::super::QUEUES.contains(&k.queue()), "{k:?}");
            let wire = serde_json::to_value(k).unwrap();
            assert_eq!(wire, serde_json::json!(k.as_str()));
            assert_eq!(serde_json::from_value::<JobKind>(wire).unwrap(), *k);
        }
        assert!(serde_json::from_value::<JobKind>(serde_json::json!("ranking.nope")).is_err());
    }
}
