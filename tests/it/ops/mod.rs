//! The operations endpoints: health, readiness and metrics.

mod deploy;
mod health;
mod idle;
mod metrics;
