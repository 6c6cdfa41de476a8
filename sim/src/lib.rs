//! Simulators for the upstream services Roster talks to.
//!
//! Each simulator is a real HTTP server (warp, bound to any address, port 0 in tests) that answers the
//! same paths, status codes, bodies, headers and rate limits as the service it stands in for, plus a
//! `/_sim` control API so tests and `roster dev` can seed state, inject faults and read a request log
//! over HTTP. Every simulator can also be driven in-process through its handle.
//!
//! - [`roblox`]: Roblox Open Cloud v2 groups (group, memberships, roles, role assignment, join requests), user
//!   restrictions (experience bans) and users.
//! - [`discord`]: Discord REST v10 (current user, guild, roles, members, member roles, bans, DMs, messages), with
//!   Discord's per-route buckets, global limit and invalid-request ban.
//! - [`nameless`]: a NamelessMC 2.x website (its API's `info` and the Discord Integration endpoints a bot calls),
//!   and the site's `applyRoleChanges` call to its bot.
//!
//! The simulators are deliberately strict: a request the real service would reject is rejected here
//! with the same status and error code, so a lenient simulator never hides a client bug.

mod control;
pub mod discord;
mod faults;
mod http_util;
pub mod nameless;
mod request_log;
pub mod roblox;
mod server;
