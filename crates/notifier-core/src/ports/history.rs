//! Each job's record: its recent runs (the history the health checks read)
//! and an open outage of missed runs.

use async_trait::async_trait;

use crate::group::Anchor;
use crate::health::Run;
use crate::job_control::RunSpec;
use crate::mute::Mute;
use crate::time::Timestamp;

use super::error::StoreError;

/// How many of a job's most recent runs its record gives: the history the
/// health checks, the digest and `/jobs status` read. Older runs are not
/// read, and lapse with their TTL.
pub const HISTORY_RUNS: usize = 50;

/// A task's start, recorded on its job's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStart {
    pub job: String,
    /// Where the job posts: the digest and missed-run alerts go there.
    pub channel: String,
    pub task_id: String,
    pub started: Timestamp,
    /// When the job's record may be deleted (TTL).
    pub expires_at: Timestamp,
}

/// A finished run, recorded on its job's record.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRun {
    pub job: String,
    pub channel: String,
    pub run: Run,
    /// What the run had: `/jobs run` runs the job as its last run did.
    pub spec: Option<RunSpec>,
    pub expires_at: Timestamp,
}

/// Who said they are on a failed run ("👀 I'm on it"): the job's latest
/// acknowledgement, kept on its record (one, never a list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledged {
    /// The failed run's task id, or the missed-run alert's key
    /// (`outage#<job>#<first due>`).
    pub task_id: String,
    /// The Slack user who pressed first.
    pub user: String,
    pub at: Timestamp,
}

/// A job's record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobState {
    pub job: String,
    pub channel: Option<String>,
    /// Its most recent runs, finished and running, at most
    /// [`HISTORY_RUNS`], in no order.
    pub runs: Vec<Run>,
    /// The first due time of an outage of missed runs that was reported
    /// and has not ended.
    pub outage: Option<Timestamp>,
    /// What its last finished run had.
    pub last_run: Option<RunSpec>,
    /// The task that opened its latest group.
    pub anchor: Option<Anchor>,
    /// Its latest acknowledged failure: given by [`JobStore::head`] only
    /// (the index [`JobStore::jobs`] reads does not carry it).
    pub acknowledged: Option<Acknowledged>,
    /// Its mute, while it is muted: given by [`JobStore::head`] only.
    pub mute: Option<Mute>,
}

impl JobState {
    /// Who is on the run `task_id`, when someone said so.
    pub fn on_it(&self, task_id: &str) -> Option<&str> {
        self.acknowledged.as_ref().filter(|a| a.task_id == task_id).map(|a| a.user.as_str())
    }

    /// The latest start of any run.
    pub fn latest_start(&self) -> Option<Timestamp> {
        self.runs.iter().filter_map(|r| r.start).max()
    }
}

#[async_trait]
pub trait JobStore: Send + Sync {
    /// A start that no claim records (a job that posts no start message).
    async fn record_start(&self, start: &JobStart) -> Result<(), StoreError>;
    /// Records a finished run (again, harmlessly, for a retried event) and
    /// returns the job's record as it was just before.
    async fn record_run(&self, run: &JobRun) -> Result<JobState, StoreError>;
    /// Every job's record, without `acknowledged` and `mute` (read with `head`).
    async fn jobs(&self) -> Result<Vec<JobState>, StoreError>;
    /// Opens (`Some(first due time)`) or closes (`None`) a job's outage.
    async fn set_outage(&self, job: &str, since: Option<Timestamp>) -> Result<(), StoreError>;
    /// A job's record without its runs (one read): `None` when it has none.
    async fn head(&self, job: &str) -> Result<Option<JobState>, StoreError>;
    /// Records who is on a failed run (after its acknowledgement's claim):
    /// replaces the job's earlier acknowledgement.
    async fn acknowledge(&self, job: &str, ack: &Acknowledged) -> Result<(), StoreError>;
    /// Mutes a job (`Some`, replacing an earlier mute) or ends its mute.
    async fn set_mute(&self, job: &str, mute: Option<&Mute>) -> Result<(), StoreError>;
    /// Drops runs from a job's history (runs that lost their end).
    async fn forget_runs(&self, job: &str, task_ids: &[String]) -> Result<(), StoreError>;
    /// When the scheduled watch first ran, set by its first call to `now`:
    /// runs due before it are not judged.
    async fn watching_since(&self, now: Timestamp) -> Result<Timestamp, StoreError>;
}
