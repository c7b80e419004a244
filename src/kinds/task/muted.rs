//! A muted job's task events: recorded in its history, not posted; the
//! success that ends an `until-success` mute says what happened meanwhile.

use tracing::info;

use super::{Handled, Tasks};
use crate::error::NotifyError;
use crate::event::EcsTask;
use crate::jobs::Job;
use crate::kinds::mute::{MuteEnd, end_mute};
use crate::lifecycle::Decision;
use crate::mute::Mute;
use crate::time::Timestamp;

impl Tasks<'_> {
    /// The job's mute, when one holds now (see `mute_now`).
    pub(super) async fn mute_of(&self, job: &Job) -> Option<Mute> {
        crate::kinds::mute::mute_now(self.jobs, job, self.notices.clock.now()).await
    }

    /// Recorded as a run that posts nothing; a success ends an
    /// `until-success` mute, and that end is said once.
    pub(super) async fn muted(
        &self,
        task: &EcsTask,
        job: &Job,
        decision: &Decision,
        mute: Mute,
        deadline: Timestamp,
    ) -> Result<Handled, NotifyError> {
        let Decision::Finish(outcome) = decision else {
            if let Decision::Start = decision {
                self.jobs.record_start(&self.job_start(task, job)).await?;
            }
            return Ok(Handled::Muted { task_id: task.task_id().to_owned() });
        };
        let run = self.job_run(task, job, outcome, &[]);
        let before = self.jobs.record_run(&run).await?;
        let Some(ended) = mute.ended_by(outcome.succeeded && outcome.interrupted.is_none()) else {
            return Ok(Handled::Muted { task_id: task.task_id().to_owned() });
        };
        let now = self.notices.clock.now();
        let mut runs = before.runs;
        runs.retain(|r| r.task_id != run.run.task_id);
        runs.push(run.run);
        let meanwhile = crate::kinds::mute::meanwhile(&runs, job, &mute, now, 0);
        let end = MuteEnd {
            job: &job.name,
            channel: self.channel(job),
            label: self.settings.label(),
            mute: &mute,
            ended,
            meanwhile,
        };
        if end_mute(&self.notices, self.jobs, end, deadline).await? {
            info!("a success ended the job's mute");
        }
        Ok(Handled::Muted { task_id: task.task_id().to_owned() })
    }
}
