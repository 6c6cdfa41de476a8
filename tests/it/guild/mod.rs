//! The guild family (moderation, game servers, Shield, audit log, account links, bindings, role
//! sync), one file per resource, as in `api/src/guild/`.

mod access;
mod audit;
mod ban_mirrors;
mod bindings;
mod discord;
mod links;
mod moderation;
mod roles;
pub mod servers;
mod shield;
mod staff;
mod staff_team;
mod sync;
mod wire;

use crate::harness::GUILD;

/// The path of a ban or mute status check of `ident` in the test guild.
fn status_path(kind: &str, ident: &str) -> String {
    format!("/moderation/{GUILD}/{kind}-status/{ident}")
}

/// A ban's answer: 200, `banned: true` and the record's id.
fn assert_banned(a: &crate::harness::Answer) {
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["data"]["banned"], true, "{:?}", a.body);
    assert!(a.body["data"]["id"].as_u64().is_some(), "{:?}", a.body);
}
