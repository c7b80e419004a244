//! Why an invocation failed. Asynchronous kinds return these so that Lambda
//! retries the event and, in the end, sends it to the dead-letter queue.

use crate::input::InputError;
use crate::ports::{OutboxError, ScheduleError, SlackError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Slack(#[from] SlackError),
    #[error("schedules: {0}")]
    Schedules(ScheduleError),
    #[error(transparent)]
    Queue(#[from] OutboxError),
    /// Something this event needs is still being written; Lambda's retry
    /// (a minute later) will find it.
    #[error("not yet: {0}; the retry will post")]
    NotYet(&'static str),
}

impl From<NotifyError> for lambda_runtime::Diagnostic {
    fn from(e: NotifyError) -> Self {
        let error_type = match &e {
            NotifyError::Input(input) => input.error_type(),
            NotifyError::Store(_) => "ThreadStoreError",
            NotifyError::Slack(_) => "SlackError",
            NotifyError::Schedules(_) => "SchedulesError",
            NotifyError::Queue(_) => "PostQueueError",
            NotifyError::NotYet(_) => "NotYet",
        };
        lambda_runtime::Diagnostic { error_type: error_type.into(), error_message: e.to_string() }
    }
}
