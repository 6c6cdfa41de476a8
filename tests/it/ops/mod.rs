//! The operations endpoints: health, readiness and metrics.

mod health;
mod metrics;
