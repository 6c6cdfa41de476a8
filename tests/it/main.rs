//! Roster's one integration-test binary: the real system on loopback (control plane, queue
//! backends, simulators), driven over HTTP. See `harness` for how a test app is built.
//!
//! The folders mirror the route tree, one per API family (`ranking`, `guild`, `role_bridge`,
//! `admin`, `ops`) with a file per resource; the suites that cut across families sit at the top.
//! The simulators' own tests are in `sim/tests/`.

mod admin;
mod community;
mod connections;
mod contract;
mod crash;
mod guild;
mod harness;
mod job_kinds;
mod kit;
mod ops;
mod ranking;
mod readme;
mod resilience;
mod role_bridge;
mod shutdown;
mod spec;
mod upkeep;
