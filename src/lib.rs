//! ecs-slack-notifier: posts ECS job starts and outcomes, and new-user
//! sign-ups, to Slack from EventBridge events.
//!
//! The pure core is its own crate, `notifier-core` (crates/notifier-core):
//! events, lifecycle, jobs, schedules, messages and the ports' traits, with
//! no AWS, async runtime or HTTP code, which the compiler enforces. Its
//! modules are re-exported here under their usual paths. `input` decides
//! what a payload is; `handler` hands it to its module in `kinds`, which
//! drives the core through the ports (with `claim`, the one claim
//! protocol). `adapters` implement the ports; `app` wires them for the
//! Lambda and the local commands.

pub mod adapters;
mod allocator;
pub mod app;
pub mod claim;
pub mod doctor;
pub mod handler;
pub mod kinds;
pub mod logging;
pub mod tls;

// The pure core, under the paths the rest of the crate has always used.
pub use notifier_core::{
    cause, changes, config, deadline, error, escalation, event, group, health, input, job_control, jobs, lifecycle,
    log_levels, message, mute, ports, retry, schedule, settings, signature, subscription, summary, time,
};

#[cfg(test)]
mod testing;
