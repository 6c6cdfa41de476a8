//! Roster's one integration-test binary: the real system on loopback (control plane, queue
//! backends, simulators), driven over HTTP. See `harness` for how a test app is built.

mod connections;
mod contract;
mod crash;
mod discord;
mod harness;
mod moderation;
mod operate;
mod ranking;
mod resilience;
mod servers;
mod shield_audit;
mod shutdown;
mod spec;
mod upkeep;
