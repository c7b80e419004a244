//! The Lambda function: reads and checks its configuration at start-up,
//! builds its clients once, on the first event, then serves its events
//! through the Lambda Runtime API.

use ecs_slack_notifier::app;
use ecs_slack_notifier::config::{Config, Needs};
use ecs_slack_notifier::deadline::Deadline;
use ecs_slack_notifier::error::NotifyError;
use ecs_slack_notifier::logging;
use ecs_slack_notifier::time::Timestamp;
use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use serde_json::Value;
use tokio::sync::OnceCell;

// One invocation at a time: a single-threaded runtime starts faster and
// spawns no worker threads.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let process_start = Timestamp::now();
    // Installed now, so the first invocation's lines carry its request id.
    logging::init(std::io::stdout);
    // A bad setting stops the function here, at init, where Lambda shows it.
    let config = Config::from_env(Needs::LAMBDA)?;
    // The clients wait for the first event: building the SDK configuration,
    // its HTTP client and the TLS roots is most of `main`'s own start-up
    // (README, "Performance"), and an event needs them only after it is
    // parsed. None of it reads a user's setting, so it cannot fail on one.
    let handler = OnceCell::new();
    let (config, handler) = (&config, &handler);
    // Each invocation's future is boxed: it holds the whole handler's state
    // (tens of KiB), and inline it would make the runtime's future as big,
    // and the stack frames holding that future before the first `/next`
    // too, every page of them touched at init (docs/performance.md).
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        Box::pin(async move {
            // Emulators send deadlines Lambda never would (see `deadline`).
            let deadline = Deadline::from_header(event.context.deadline, Timestamp::now(), process_start);
            if let Some(warning) = deadline.warning() {
                tracing::warn!(deadline_ms = event.context.deadline, "{warning}");
            }
            let handler = handler
                .get_or_try_init(|| async { app::lambda_handler(config.clone(), &app::load_aws_config().await) })
                .await
                .map_err(|e| Failed(e.into()))?;
            app::answer(handler.handle(event.payload, deadline.at()).await).map_err(Failed)
        })
    }))
    .await
}

/// An invocation's error as the runtime logs it (it logs every error it is
/// handed, with `{:?}`): the message people read, once, not a debug dump.
struct Failed(NotifyError);

impl std::fmt::Debug for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl From<Failed> for Diagnostic {
    fn from(failed: Failed) -> Diagnostic {
        Diagnostic { error_type: failed.0.error_type().into(), error_message: failed.0.to_string() }
    }
}
