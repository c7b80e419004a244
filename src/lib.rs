//! ecs-slack-notifier: posts ECS job starts and outcomes, and new-user
//! sign-ups, to Slack from EventBridge events.
//!
//! The pure core (`event`, `lifecycle`, `message`) has no AWS or HTTP code;
//! `handler` drives it through the ports in `ports`, implemented in
//! `adapters`; `app` wires the adapters for the Lambda and the replay command.

pub mod adapters;
pub mod app;
pub mod config;
pub mod event;
pub mod handler;
pub mod jobs;
pub mod lifecycle;
pub mod message;
pub mod ports;
pub mod retry;
pub mod summary;
pub mod tls;

#[cfg(test)]
mod testing;
