//! The real clock: the system's time, and tokio's timers for waiting.

use std::time::Duration;

use async_trait::async_trait;

use crate::ports::Clock;
use crate::time::Timestamp;

pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await
    }
}

/// A clock that never waits: sleeping moves its time forward at once. For
/// the replay, whose events are handled one after another, so that what
/// the function waits out (a group's 3 s between changes of its message)
/// takes no real time and nothing else is waiting on it.
#[derive(Default)]
pub struct NoWaitClock {
    ahead: std::sync::Mutex<Duration>,
}

#[async_trait]
impl Clock for NoWaitClock {
    fn now(&self) -> Timestamp {
        Timestamp::now() + *self.ahead.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn sleep(&self, duration: Duration) {
        *self.ahead.lock().unwrap_or_else(|e| e.into_inner()) += duration;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sleep_moves_the_no_wait_clock_forward_at_once() {
        let clock = NoWaitClock::default();
        let (before, started) = (clock.now(), std::time::Instant::now());
        clock.sleep(Duration::from_secs(3600)).await;
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(clock.now().duration_since(before) >= Duration::from_secs(3600));
    }
}
