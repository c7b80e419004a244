//! ecs-slack-notifier: posts ECS job starts and outcomes, and new-user
//! sign-ups, to Slack from EventBridge events.
//!
//! The pure core (`event`, `lifecycle`, `jobs`, `summary`, `message`,
//! `retry`, `settings`, `deadline`) has no AWS or HTTP code. `input` decides what a
//! payload is; `handler` hands it to its module in `kinds`, which drives
//! the core through the ports in `ports` (with `claim`, the one claim
//! protocol). Adapters implement the ports; `app` wires them for the
//! Lambda and the local commands.

pub mod adapters;
pub mod app;
pub mod burst;
pub mod claim;
pub mod config;
pub mod control;
pub mod deadline;
pub mod doctor;
pub mod error;
pub mod event;
pub mod handler;
pub mod health;
pub mod input;
pub mod jobs;
pub mod kinds;
pub mod lifecycle;
pub mod log_levels;
pub mod message;
pub mod ports;
pub mod retry;
pub mod schedule;
pub mod settings;
pub mod signature;
pub mod subscription;
pub mod summary;
pub mod tls;

#[cfg(test)]
mod testing;
