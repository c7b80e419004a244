//! The store ports, retried: every call to thread state, job records and
//! groups goes through here, so a throttle, a 500 or a transaction
//! conflict is tried again with backoff and jitter until the invocation's
//! deadline (less the reserve that releasing and answering need), and only
//! then fails the invocation. What cannot heal (an item too large, a
//! validation error) fails at once. The decisions are `retry::Policy`'s,
//! the one retry policy of the notifier.
//!
//! A write that was applied and then answered 500 is retried like any
//! other: every conditional write of the stores accepts its own earlier
//! attempt (the claim's token, the turn's mark), so the retry finds its
//! own write and does not read it as someone else's.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tracing::debug;

use crate::group::{Group, Grouping};
use crate::ports::{
    Acknowledged, Claim, ClaimResult, Clock, FoundTask, GroupChange, GroupStore, JobRun, JobStart, JobState, JobStore,
    Posted, Record, Slot, StartClaim, StoreError, TaskIndex, ThreadStore, TurnEnd, TurnTimes,
};
use crate::retry::{self, Policy};
use crate::time::Timestamp;

tokio::task_local! {
    /// The deadline of the invocation being handled.
    static DEADLINE: Timestamp;
}

/// The deadline of a call made outside an invocation (the doctor, a test
/// calling a store directly): a short budget.
const OUTSIDE_INVOCATION: Duration = Duration::from_secs(10);

/// Runs `work` as an invocation that must be done by `deadline`: store
/// calls within it retry until then.
pub async fn within<F: Future>(deadline: Timestamp, work: F) -> F::Output {
    DEADLINE.scope(deadline, work).await
}

fn deadline(clock: &dyn Clock) -> Timestamp {
    DEADLINE.try_with(|d| *d).unwrap_or_else(|_| clock.now() + OUTSIDE_INVOCATION)
}

/// One store port behind the retry policy.
pub struct Retrying<T: ?Sized> {
    inner: Box<T>,
    clock: Arc<dyn Clock>,
    policy: Policy,
}

impl<T: ?Sized> Retrying<T> {
    pub fn new(inner: Box<T>, clock: Arc<dyn Clock>) -> Retrying<T> {
        Retrying { inner, clock, policy: Policy::store() }
    }

    /// `call` until it succeeds, fails for good, or the deadline leaves no
    /// time for another attempt.
    async fn retry<V, F, Fut>(&self, op: &'static str, mut call: F) -> Result<V, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<V, StoreError>>,
    {
        let deadline = deadline(&*self.clock);
        let mut attempt = 0;
        loop {
            // Each attempt ends in time for the reserve, however the store
            // hangs.
            let Some(limit) = self.policy.attempt_timeout(self.clock.now(), deadline) else {
                return Err(StoreError::new(
                    crate::ports::StoreErrorKind::Unavailable,
                    format!("{op}: no time left before the invocation's deadline"),
                ));
            };
            let e = match tokio::time::timeout(limit, call()).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(e)) => e,
                Err(_) => StoreError::new(
                    crate::ports::StoreErrorKind::Unavailable,
                    format!("{op}: no answer within {} ms", limit.as_millis()),
                ),
            };
            let class = retry::classify_store(e.kind);
            let Some(delay) = self.policy.next_delay(class, attempt, self.clock.now(), deadline, fastrand::f64())
            else {
                return Err(e);
            };
            debug!(op, attempt, delay_ms = delay.as_millis() as u64, error = %e, "store call failed; retrying");
            self.clock.sleep(delay).await;
            attempt += 1;
        }
    }
}

#[async_trait]
impl ThreadStore for Retrying<dyn ThreadStore> {
    async fn claim(&self, claim: &Claim) -> Result<ClaimResult, StoreError> {
        self.retry("claim", || self.inner.claim(claim)).await
    }

    async fn claim_start(&self, claim: &Claim, burst: &Grouping) -> Result<StartClaim, StoreError> {
        self.retry("claim start", || self.inner.claim_start(claim, burst)).await
    }

    async fn get(&self, key: &str) -> Result<Record, StoreError> {
        self.retry("get", || self.inner.get(key)).await
    }

    async fn settle(&self, claim: &Claim, posted: &Posted) -> Result<(), StoreError> {
        self.retry("settle", || self.inner.settle(claim, posted)).await
    }

    async fn release(&self, claim: &Claim) -> Result<(), StoreError> {
        self.retry("release", || self.inner.release(claim)).await
    }

    async fn found(&self, key: &str, slot: Slot, posted: &Posted) -> Result<(), StoreError> {
        self.retry("found", || self.inner.found(key, slot, posted)).await
    }
}

#[async_trait]
impl TaskIndex for Retrying<dyn TaskIndex> {
    async fn find(&self, task_id: &str) -> Result<Option<FoundTask>, StoreError> {
        self.retry("find", || self.inner.find(task_id)).await
    }

    async fn task(&self, key: &str) -> Result<Option<FoundTask>, StoreError> {
        self.retry("task", || self.inner.task(key)).await
    }

    async fn count_streamed(&self, key: &str, batch: &str, delta: i64) -> Result<i64, StoreError> {
        self.retry("count streamed", || self.inner.count_streamed(key, batch, delta)).await
    }
}

#[async_trait]
impl JobStore for Retrying<dyn JobStore> {
    async fn record_start(&self, start: &JobStart) -> Result<(), StoreError> {
        self.retry("record start", || self.inner.record_start(start)).await
    }

    async fn record_run(&self, run: &JobRun) -> Result<JobState, StoreError> {
        self.retry("record run", || self.inner.record_run(run)).await
    }

    async fn jobs(&self) -> Result<Vec<JobState>, StoreError> {
        self.retry("jobs", || self.inner.jobs()).await
    }

    async fn set_outage(&self, job: &str, since: Option<Timestamp>) -> Result<(), StoreError> {
        self.retry("set outage", || self.inner.set_outage(job, since)).await
    }

    async fn head(&self, job: &str) -> Result<Option<JobState>, StoreError> {
        self.retry("job head", || self.inner.head(job)).await
    }

    async fn acknowledge(&self, job: &str, ack: &Acknowledged) -> Result<(), StoreError> {
        self.retry("acknowledge", || self.inner.acknowledge(job, ack)).await
    }

    async fn set_mute(&self, job: &str, mute: Option<&crate::mute::Mute>) -> Result<(), StoreError> {
        self.retry("mute", || self.inner.set_mute(job, mute)).await
    }

    async fn forget_runs(&self, job: &str, task_ids: &[String]) -> Result<(), StoreError> {
        self.retry("forget runs", || self.inner.forget_runs(job, task_ids)).await
    }

    async fn watching_since(&self, now: Timestamp) -> Result<Timestamp, StoreError> {
        self.retry("watching since", || self.inner.watching_since(now)).await
    }
}

#[async_trait]
impl GroupStore for Retrying<dyn GroupStore> {
    async fn add(&self, key: &str, change: &GroupChange, expires_at: Timestamp) -> Result<Group, StoreError> {
        self.retry("group add", || self.inner.add(key, change, expires_at)).await
    }

    async fn group(&self, key: &str) -> Result<Group, StoreError> {
        self.retry("group", || self.inner.group(key)).await
    }

    async fn take_turn(&self, key: &str, turn: TurnTimes) -> Result<Option<Group>, StoreError> {
        self.retry("take turn", || self.inner.take_turn(key, turn)).await
    }

    async fn register_waiter(&self, key: &str, mark: Timestamp, now: Timestamp) -> Result<bool, StoreError> {
        self.retry("register waiter", || self.inner.register_waiter(key, mark, now)).await
    }

    async fn unregister_waiter(&self, key: &str, mark: Timestamp) -> Result<(), StoreError> {
        self.retry("unregister waiter", || self.inner.unregister_waiter(key, mark)).await
    }

    async fn end_turn(&self, key: &str, version: i64, outcome: TurnEnd) -> Result<(), StoreError> {
        self.retry("end turn", || self.inner.end_turn(key, version, outcome)).await
    }
}
