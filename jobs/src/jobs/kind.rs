//! A job kind as one unit: the [`Kind`] trait. Each kind is a type that fixes its wire name and
//! queue, its payload and result types and the subjects it orders on (see [`super::order`]). The
//! control plane adds what its final outcome leaves behind (`roster_core::jobs::kind::Hook`: an
//! audit entry, follow-up jobs), the worker the handler (`roster_worker::jobs::Handler`). Every kind is listed once, in [`crate::job_kinds!`]: the
//! [`JobKind`] enum, the ordering, the recorder and the worker's dispatch all come from that list.
//!
//! Adding a kind: a type implementing [`Kind`] next to its payload, an entry in
//! [`crate::job_kinds!`], its outcome hook in the control plane and its handler in the worker
//! (neither builds until it has them).

use serde::de::DeserializeOwned;
use serde::{Deserialize as _, Serialize};

use super::JobKind;

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
pub fn subjects_of_value<K: Kind>(payload: &serde_json::Value) -> Vec<String> {
    match K::Payload::deserialize(payload) {
        Ok(p) => subjects::<K>(&p),
        Err(_) => Vec::new(),
    }
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
            pub fn subjects_of(self, payload: &serde_json::Value) -> Vec<String> {
                match self {
                    $(JobKind::$variant => $crate::jobs::kind::subjects_of_value::<$ty>(payload),)*
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
