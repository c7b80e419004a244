//! Adapters for the ports in `ports`.

pub mod clock;
pub mod cloudwatch_logs;
pub mod console;
pub mod dynamodb;
pub mod ecs_control;
pub mod file_logs;
pub mod memory;
pub mod no_logs;
pub mod schedules;
pub mod setup_aws;
pub mod slack_http;
pub mod sqs_outbox;
pub mod token;
