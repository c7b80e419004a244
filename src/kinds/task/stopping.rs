//! A running task that ECS was asked to stop (`RUNNING` with
//! `desiredStatus` `STOPPED`): Spot reclaiming its capacity, a `StopTask`,
//! a deployment. One reply in its start message's thread, said once, and
//! the start message updated to say it is stopping. Without a start
//! message nothing is posted: the STOPPED event that follows tells all.

use tracing::warn;

use super::{Handled, Tasks};
use crate::claim::ANSWERED;
use crate::error::NotifyError;
use crate::event::EcsTask;
use crate::lifecycle::StopRequest;
use crate::message::{self, JobContext};
use crate::ports::{ClaimResult, Record, Slot};
use crate::time::Timestamp;

impl Tasks<'_> {
    pub(super) async fn post_stopping(
        &self,
        key: &str,
        ctx: &JobContext<'_>,
        task: &EcsTask,
        stop: &StopRequest,
        deadline: Timestamp,
    ) -> Result<Handled, NotifyError> {
        let ignored =
            |why: &str| Ok(Handled::Ignored { reason: format!("{}: stop requested: {why}", task.last_status) });
        let record = self.notices.store.get(key).await?;
        if record.group.is_some() {
            return ignored("the task is in a group, whose thread tells its outcome");
        }
        if self.outcome_told(&record) {
            return ignored("its outcome is told already");
        }
        let Some(start) = self.start_thread(key, record, ctx.channel, deadline).await? else {
            return ignored("no start message to reply to; its STOPPED event tells how it ended");
        };
        let notice = format!("stopping#{}", task.task_arn);
        let claim = self.notices.claim_for(&notice, Slot::Once, deadline);
        if let ClaimResult::Taken(_) = self.notices.claim(&claim).await? {
            return Ok(Handled::Skipped { key: notice, slot: Slot::Once.name() });
        }
        let ts = if !stop.spot && self.stopped_from_slack(&task.task_arn).await {
            // The thread already says who asked, and that its outcome follows.
            self.notices.done(&claim, &start.channel).await;
            ANSWERED.to_owned()
        } else {
            let reply = message::stopping_message(&JobContext { channel: &start.channel, ..*ctx }, stop, &start.ts);
            self.notices.post(&claim, &reply, deadline).await?.ts
        };
        // Best effort, and only while the outcome has not replaced it.
        match self.notices.store.get(key).await {
            Ok(record) if !self.outcome_told(&record) => {
                let stopping = message::stopping_start_message(ctx, task, stop);
                if let Err(e) = self.notices.slack.update(&start, &stopping, deadline).await {
                    warn!(key, error = %e, "could not update the start message to say it is stopping");
                }
            }
            Ok(_) => {}
            Err(e) => warn!(key, error = %e, "start message not updated: the task's record was not read"),
        }
        Ok(Handled::PostedStopNotice { key: notice, channel: start.channel, ts })
    }

    /// Its completion is posted, or being posted.
    fn outcome_told(&self, record: &Record) -> bool {
        record.completion.posted.is_some() || record.completion.in_flight(self.notices.clock.now())
    }

    /// Whether the Stop button (or `/jobs stop`) asked ECS to stop it.
    async fn stopped_from_slack(&self, task_arn: &str) -> bool {
        match self.notices.store.get(&format!("action#stop#{task_arn}")).await {
            Ok(record) => record.once.posted.is_some() || record.once.in_flight(self.notices.clock.now()),
            Err(e) => {
                warn!(error = %e, "could not tell whether it was stopped from Slack");
                false
            }
        }
    }
}
