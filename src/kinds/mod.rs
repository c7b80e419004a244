//! One module per kind of input, each with its own outcome type and error
//! policy. The asynchronous kinds (EventBridge events, Logs deliveries)
//! return errors, so that Lambda retries the event; the HTTP kind (Slack's
//! requests) answers with a status code and never fails the invocation;
//! the post queue's consumer hands failed messages back to SQS.

pub mod logs;
pub mod queued;
pub mod registration;
pub mod slack_request;
pub mod task;
pub mod watch;
