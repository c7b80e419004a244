//! The core of ecs-slack-notifier: what an event means and what to post.
//!
//! Everything here is a decision or a message, testable without a network:
//! - `event`, `input`, `subscription`: parse what arrives (EventBridge,
//!   Logs subscriptions, Function URL requests, the post queue);
//! - `lifecycle`, `jobs`, `schedule`, `health`, `group`, `log_levels`,
//!   `summary`, `job_control`, `cause`, `changes`: decide what it means for
//!   the job;
//! - `escalation`, `mute`: what the channel does with a failure (who is
//!   told when nobody is on it, a job muted for a while);
//! - `message`: every Slack message, in Block Kit, escaped once (`message::text`);
//! - `signature`: Slack's request signatures;
//! - `config`, `settings`: the configuration, checked at start-up;
//! - `retry`, `deadline`: the one retry policy and the time an invocation has;
//! - `time`: `Timestamp`, the one type for a point in time, and its conversions;
//! - `ports`: the traits the function's adapters implement, with their data.
//!
//! The crate depends on no AWS SDK, async runtime or HTTP client, so the
//! compiler keeps I/O out: it lives in the function's crate, behind `ports`.

pub mod cause;
pub mod changes;
pub mod config;
pub mod deadline;
pub mod error;
pub mod escalation;
pub mod event;
pub mod group;
pub mod health;
pub mod input;
pub mod job_control;
pub mod jobs;
pub mod lifecycle;
pub mod log_levels;
pub mod message;
pub mod mute;
pub mod ports;
pub mod retry;
pub mod schedule;
pub mod settings;
pub mod signature;
pub mod subscription;
pub mod summary;
pub mod time;

/// The repository's root: where the sample events and the example
/// configuration live, for the tests.
#[cfg(test)]
const REPO_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

#[cfg(test)]
mod testing;
