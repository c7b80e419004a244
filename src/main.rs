//! The Lambda function: reads configuration, builds its clients once, then
//! serves its events through the Lambda Runtime API.

use std::time::SystemTime;

use ecs_slack_notifier::app;
use ecs_slack_notifier::config::{Config, Needs};
use ecs_slack_notifier::deadline::Deadline;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

// One invocation at a time: a single-threaded runtime starts faster and
// spawns no worker threads.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let process_start = SystemTime::now();
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env(Needs::LAMBDA)?;
    let aws = app::load_aws_config().await;
    let handler = app::lambda_handler(config, &aws)?;
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        // Emulators send deadlines Lambda never would (see `deadline`).
        let deadline = Deadline::from_header(event.context.deadline, SystemTime::now(), process_start);
        if let Some(warning) = deadline.warning() {
            tracing::warn!(deadline_ms = event.context.deadline, "{warning}");
        }
        app::answer(handler.handle(event.payload, deadline.at()).await)
    }))
    .await
}
