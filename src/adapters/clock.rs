//! The real clock: the system's time, and tokio's timers for waiting.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::ports::Clock;

pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await
    }
}
