//! One module per kind of input, each with its own outcome type and error
//! policy. The asynchronous kinds (EventBridge events, Logs deliveries)
//! return errors, so that Lambda retries the event; the HTTP kind (Slack's
//! requests) answers with a status code and never fails the invocation;
//! the post queue's consumer hands failed messages back to SQS.

pub mod logs;
pub(crate) mod mute;
pub mod queued;
pub mod registration;
pub mod slack_request;
pub mod task;
pub mod watch;

use std::collections::HashMap;

use crate::ports::{JobState, JobStore};

/// Who is on each job's last run, for the jobs whose last run failed and
/// was acknowledged: the job's head is read (one `GetItem`) only for those,
/// since the index that lists the jobs does not carry acknowledgements.
/// A head that cannot be read names nobody (logged).
pub(crate) async fn on_it(jobs: &dyn JobStore, states: &[JobState]) -> HashMap<String, String> {
    let failed = states.iter().filter_map(|s| {
        let last = s.runs.iter().filter(|r| r.finished()).max_by_key(|r| r.end)?;
        (last.succeeded == Some(false)).then_some((s.job.as_str(), last.task_id.as_str()))
    });
    let reads = failed.map(|(job, task)| async move {
        match jobs.head(job).await {
            Ok(head) => head.and_then(|h| h.on_it(task).map(|user| (job.to_owned(), user.to_owned()))),
            Err(e) => {
                tracing::warn!(job, error = %e, "the job's record was not read: who is on its failure is not said");
                None
            }
        }
    });
    futures_util::future::join_all(reads).await.into_iter().flatten().collect()
}

/// Each job's mute, for the jobs that are muted: every job's head is read
/// (one `GetItem` each, at once), since the index that lists the jobs does
/// not carry mutes. Only the watch and `/jobs status` ask, never an event.
/// A head that cannot be read gives no mute (logged).
pub(crate) async fn mutes(jobs: &dyn JobStore, states: &[JobState]) -> HashMap<String, crate::mute::Mute> {
    let reads = states.iter().map(|s| async move {
        match jobs.head(&s.job).await {
            Ok(head) => head.and_then(|h| h.mute).map(|m| (s.job.clone(), m)),
            Err(e) => {
                tracing::warn!(job = %s.job, error = %e, "the job's record was not read: its mute is not known");
                None
            }
        }
    });
    futures_util::future::join_all(reads).await.into_iter().flatten().collect()
}
