//! The end of a job's mute, said once, whoever ends it: `/jobs unmute`, the
//! watch when its time is up, or the success that ends `until-success`.

use tracing::info;

use crate::claim::Notices;
use crate::error::NotifyError;
use crate::health::Run;
use crate::jobs::Job;
use crate::message::{self, mute::unmuted_message};
use crate::mute::{Ended, Meanwhile, Mute};
use crate::ports::{ClaimResult, HISTORY_RUNS, JobStore, Slot};
use crate::time::Timestamp;

/// Where and how a mute's end is said.
pub(crate) struct MuteEnd<'a> {
    pub job: &'a str,
    pub channel: &'a str,
    pub label: Option<&'a str>,
    pub mute: &'a Mute,
    pub ended: Ended,
    pub meanwhile: Meanwhile,
}

/// Ends the mute and says what happened meanwhile, once: the end is
/// claimed (`unmute#<job>#<since>`), so two enders (a double click, the
/// watch and a success at once, a retried event) end it and say so once.
/// `false`: it was ended already.
pub(crate) async fn end_mute(
    notices: &Notices<'_>,
    jobs: &dyn JobStore,
    end: MuteEnd<'_>,
    deadline: Timestamp,
) -> Result<bool, NotifyError> {
    let claim = notices.claim_for(&end.mute.end_key(end.job), Slot::Once, deadline);
    if let ClaimResult::Taken(_) = notices.claim(&claim).await? {
        return Ok(false);
    }
    if let Err(e) = jobs.set_mute(end.job, None).await {
        return Err(notices.released(&claim, e.into()).await);
    }
    let said = unmuted_message(end.channel, end.job, &end.meanwhile, &end.ended);
    notices.post(&claim, &message::labelled(end.label, said), deadline).await?;
    info!(job = end.job, ended = ?end.ended, "unmuted");
    Ok(true)
}

/// What happened during `mute` until `now`, read off the job's recent runs
/// (`runs`, at most the history's length) and its configured schedule;
/// `missed`: runs the watch found missed that the schedule here does not
/// know (a discovered schedule).
pub(crate) fn meanwhile(runs: &[Run], job: &Job, mute: &Mute, now: Timestamp, missed: u32) -> Meanwhile {
    let complete = runs.len() < HISTORY_RUNS || runs.iter().any(|r| r.end.is_some_and(|e| e < mute.since));
    let starts: Vec<Timestamp> = runs.iter().filter_map(|r| r.start).collect();
    let scheduled = job.schedule.as_ref().map_or(0, |s| s.schedule.missed_between(mute.since, now, s.grace, &starts));
    Meanwhile::of(runs, mute.since, now, scheduled.max(missed), complete)
}

/// The job's mute, when one holds at `now`. Only operators can mute, so
/// the job's head is read (one `GetItem`) only for a job with operators. A
/// head that cannot be read mutes nothing (logged): a notice is never lost
/// to a mute.
pub(crate) async fn mute_now(jobs: &dyn JobStore, job: &Job, now: Timestamp) -> Option<Mute> {
    if job.operators.is_empty() {
        return None;
    }
    match jobs.head(&job.name).await {
        Ok(head) => head?.mute.filter(|m| m.holds(now)),
        Err(e) => {
            tracing::warn!(error = %e, "the job's record was not read: posting as if it were not muted");
            None
        }
    }
}
