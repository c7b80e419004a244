//! What time it is.

use std::time::Duration;

use async_trait::async_trait;

use crate::time::Timestamp;

/// What time it is, and waiting: a port so that tests run on a clock they
/// control instead of waiting in real time.
#[async_trait]
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
    async fn sleep(&self, duration: Duration);
}
