//! Adapters for the ports in `ports`.

pub mod aws_error;
pub mod clock;
pub mod cloudwatch_logs;
pub mod console;
pub mod deferral;
pub mod dynamodb;
pub mod ecs_control;
pub mod file_logs;
pub mod memory;
pub mod no_logs;
pub mod retrying;
pub mod schedules;
pub mod setup_aws;
pub mod slack_http;
pub mod sqs_outbox;
pub mod task_definitions;
pub mod token;

/// An error and its causes on one line ("error sending request" says little
/// alone: its causes say what failed, `Connection refused`, a timeout, a TLS
/// error), without an SDK's debug dump.
fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}
