//! Grouped tasks: a start that joins its job's group instead of posting,
//! an outcome that is counted in the group's message, and a failure that
//! is still told on its own, in the group's thread and in the channel.

use std::time::Duration;

use tracing::{error, warn};

use super::{Handled, Tasks};
use crate::error::NotifyError;
use crate::event::EcsTask;
use crate::group::{self, Anchor, Group, Grouping, Part, Role, Step, TURN_LEASE, UPDATE_GAP};
use crate::jobs::{Job, Notify};
use crate::lifecycle::Outcome;
use crate::message::{self, JobContext};
use crate::ports::{Claim, GroupChange, Posted, QueuedPost, Slot, StartClaim, StoreError, TurnEnd, TurnTimes};
use crate::time::Timestamp;

/// How often a start retries its claim when the job's group changes under
/// it (a group closing as another opens).
const JOIN_ATTEMPTS: usize = 4;
/// Kept free before the deadline when waiting for a turn.
const TURN_RESERVE: Duration = Duration::from_secs(5);

/// How a job's start claim treats bursts: jobs that post their starts
/// group them, unless `group_window` is 0.
pub(super) fn lead(job: &Job) -> Option<Grouping> {
    (job.group_window > 0 && job.notify == Notify::All)
        .then_some(Grouping::Lead { window: Duration::from_secs(job.group_window), replacing: None })
}

/// A group's message: where it is, what it counts (`key`), and what it
/// says of the job.
#[derive(Clone, Copy)]
struct GroupMessage<'a> {
    key: &'a str,
    at: &'a Posted,
    ctx: &'a JobContext<'a>,
    job: &'a Job,
    task: &'a EcsTask,
}

/// A grouped task's outcome, and what telling it needs.
pub(super) struct Done<'a> {
    pub key: &'a str,
    pub claim: &'a Claim,
    pub ctx: &'a JobContext<'a>,
    pub job: &'a Job,
    pub task: &'a EcsTask,
    pub outcome: &'a Outcome,
    pub deadline: Timestamp,
}

impl Tasks<'_> {
    /// Joins `anchor`'s group with the held start claim's task; when that
    /// group has closed, leads a new one.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn join(
        &self,
        key: &str,
        claim: &Claim,
        mut anchor: Anchor,
        ctx: &JobContext<'_>,
        job: &Job,
        task: &EcsTask,
        deadline: Timestamp,
    ) -> Result<Handled, NotifyError> {
        let skipped = || Handled::Skipped { key: key.into(), slot: Slot::Start.name() };
        for _ in 0..JOIN_ATTEMPTS {
            let closed = match self.notices.claim_start(claim, &Grouping::Join(anchor.clone())).await? {
                StartClaim::Claimed(_) => return self.joined(key, claim, &anchor, ctx, job, task, deadline).await,
                StartClaim::Taken(_) => return Ok(skipped()),
                StartClaim::InGroup(next) => {
                    anchor = next;
                    continue;
                }
                StartClaim::Closed => anchor.task_id.clone(),
            };
            let lead = Grouping::Lead { window: Duration::from_secs(job.group_window), replacing: Some(closed) };
            match self.notices.claim_start(claim, &lead).await? {
                StartClaim::Claimed(_) => return self.post_start_message(key, claim, ctx, task, deadline).await,
                StartClaim::Taken(_) => return Ok(skipped()),
                StartClaim::InGroup(next) => anchor = next,
                StartClaim::Closed => return Err(StoreError::other("a leading start was answered as a join").into()),
            }
        }
        Err(NotifyError::NotYet("the job's group kept changing"))
    }

    /// In the group: counted, and its thread is the group's message.
    #[allow(clippy::too_many_arguments)]
    async fn joined(
        &self,
        key: &str,
        claim: &Claim,
        anchor: &Anchor,
        ctx: &JobContext<'_>,
        job: &Job,
        task: &EcsTask,
        deadline: Timestamp,
    ) -> Result<Handled, NotifyError> {
        let anchor_record = self.notices.store.get(&anchor.key).await;
        let message = match anchor_record {
            Ok(record) => self.start_thread(&anchor.key, record, ctx.channel, deadline).await,
            Err(e) => Err(e),
        };
        let at = match message {
            Ok(Some(at)) => at,
            Ok(None) => {
                let cause = NotifyError::NotYet("the group's first message is not posted yet");
                return Err(self.notices.released(claim, cause).await);
            }
            Err(e) => return Err(self.notices.released(claim, e.into()).await),
        };
        let change = GroupChange { task_key: key.to_owned(), anchor: false, part: Part::Running };
        let message = GroupMessage { key: &anchor.group_key(), at: &at, ctx, job, task };
        if let Err(e) = self.count(&message, &change, deadline).await {
            return Err(self.notices.released(claim, e).await);
        }
        // Its thread is the group's: log lines and buttons find it there.
        if let Err(e) = self.notices.store.settle(claim, &at).await {
            error!(key, error = %e, "counted in its group but could not record it; a redelivery counts it again, harmlessly");
        }
        Ok(Handled::JoinedGroup { key: key.into(), group: anchor.key.clone(), channel: at.channel, ts: at.ts })
    }

    /// A grouped task's outcome: counted in the group's message; a failure
    /// is also posted on its own in the group's thread, broadcast.
    pub(super) async fn finish_in_group(
        &self,
        group: &str,
        thread: &Posted,
        done: Done<'_>,
    ) -> Result<Handled, NotifyError> {
        let part = if done.outcome.succeeded { Part::Succeeded } else { Part::Failed };
        let change = GroupChange { task_key: done.key.to_owned(), anchor: done.key == group, part };
        let key = group::group_key(group);
        let message = GroupMessage { key: &key, at: thread, ctx: done.ctx, job: done.job, task: done.task };
        if let Err(e) = self.count(&message, &change, done.deadline).await {
            return Err(self.notices.released(done.claim, e).await);
        }
        if done.outcome.succeeded {
            if let Err(e) = self.notices.store.settle(done.claim, thread).await {
                error!(key = done.key, error = %e, "counted but could not record it; a redelivery counts it again, harmlessly");
            }
            return Ok(Handled::CountedInGroup { key: done.key.into(), group: group.into() });
        }
        let ctx = JobContext { grouped: true, ..*done.ctx };
        let reply = message::completion_message(&ctx, done.task, done.outcome, Some(&thread.ts));
        let Some(outbox) = self.outbox else {
            let posted = self.notices.post(done.claim, &reply, done.deadline).await?;
            return Ok(Handled::PostedCompletion {
                key: done.key.into(),
                channel: posted.channel,
                ts: posted.ts,
                threaded: true,
            });
        };
        // Released first: the queue's consumer claims it to post, and a
        // failed send leaves it for this event's retry.
        self.notices.release(done.claim).await;
        outbox.queue(&QueuedPost { key: done.key.into(), slot: Slot::Completion, message: reply }).await?;
        Ok(Handled::QueuedCompletion { key: done.key.into(), group: group.into() })
    }

    /// Adds to the group's counts, then sees that its message shows them:
    /// changes it now, or waits to change it for everyone who comes
    /// meanwhile, or leaves that to the task already waiting (`group::step`).
    async fn count(
        &self,
        message: &GroupMessage<'_>,
        change: &GroupChange,
        deadline: Timestamp,
    ) -> Result<(), NotifyError> {
        let key = message.key;
        let clock = self.notices.clock;
        let expires_at = clock.now() + self.settings.record_ttl;
        let mut group = self.groups.add(key, change, expires_at).await?;
        let mut role = Role::Counted(group.version);
        loop {
            let now = clock.now();
            match group::step(&group, role, now, UPDATE_GAP) {
                Step::Done => return Ok(()),
                Step::Unregister => {
                    if let Role::Waiter(mark) = role {
                        self.groups.unregister_waiter(key, mark).await?;
                    }
                    return Ok(());
                }
                Step::Take => {
                    let until = now + TURN_LEASE;
                    let times = TurnTimes { now, gap: UPDATE_GAP, until };
                    let Some(taken) = self.groups.take_turn(key, times).await? else {
                        group = self.groups.group(key).await?;
                        continue;
                    };
                    // Given up before the lease ends: no change lands after a newer one.
                    let by = deadline.min((until - Duration::from_secs(1)).max(Timestamp::EPOCH));
                    return self.show(message, &taken, by).await;
                }
                Step::Wait(then) => {
                    if then > deadline - TURN_RESERVE {
                        return Err(NotifyError::NotYet("the group's message is busy"));
                    }
                    if let Role::Counted(_) = role {
                        // Unique enough: two marks alike would both wait, harmlessly.
                        let mark = then + TURN_LEASE + Duration::from_millis(fastrand::u64(0..1000));
                        if !self.groups.register_waiter(key, mark, now).await? {
                            return Ok(());
                        }
                        role = Role::Waiter(mark);
                    }
                    clock.sleep(then.duration_since(now).max(Duration::from_millis(1))).await;
                    group = self.groups.group(key).await?;
                }
            }
        }
    }

    /// Changes the group's message during this invocation's turn.
    async fn show(&self, message: &GroupMessage<'_>, group: &Group, deadline: Timestamp) -> Result<(), NotifyError> {
        let GroupMessage { key, at, ctx, job, task } = *message;
        let counts = group.counts();
        let text = ctx.labelled(message::group_message(
            ctx.job,
            ctx.environment,
            &at.channel,
            task,
            &counts,
            job.group_window,
        ));
        let outcome = match self.notices.slack.update(at, &text, deadline).await {
            Ok(()) => Ok(TurnEnd::Shown { at: self.notices.clock.now() }),
            Err(e) => Err((TurnEnd::Failed, e)),
        };
        let end = match &outcome {
            Ok(end) | Err((end, _)) => *end,
        };
        if let Err(e) = self.groups.end_turn(key, group.version, end).await {
            warn!(key, error = %e, "could not end the group's turn; the next change waits out the lease");
        }
        outcome.map(drop).map_err(|(_, e)| e.into())
    }
}

#[cfg(test)]
mod tests;
