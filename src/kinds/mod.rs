//! One module per kind of input, each with its own outcome type and error
//! policy. The asynchronous kinds (EventBridge events) return errors, so
//! that Lambda retries the event.

pub mod logs;
pub mod registration;
pub mod task;
pub mod watch;
