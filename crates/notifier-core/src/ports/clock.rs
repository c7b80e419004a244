//! What time it is.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;

/// What time it is, and waiting: a port so that tests run on a clock they
/// control instead of waiting in real time.
#[async_trait]
pub trait Clock: Send + Sync {
    fn now(&self) -> SystemTime;
    async fn sleep(&self, duration: Duration);
}
