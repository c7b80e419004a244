//! The scheduled watch, an EventBridge "Scheduled Event" every few
//! minutes: runs that were due and never started, runs going on far longer
//! than usual, the daily digest, and keeping job records small. "Now" is
//! the event's time, so replays and tests are deterministic.
//!
//! Every notice is claimed, so a check that runs twice, or twice at once,
//! posts nothing twice. A failure on one job does not stop the others; the
//! invocation then fails so that Lambda tries again.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Serialize;
use tracing::{debug, info, warn};

use super::mute::{MuteEnd, end_mute};
use crate::claim::Notices;
use crate::error::NotifyError;
use crate::escalation::{self, Escalation};
use crate::health::{self, Run};
use crate::job_control::RunSpec;
use crate::jobs::{DEFAULT_GRACE, Job, JobSchedule, Notify};
use crate::message::{self, DigestLine, Escalated, Outage, outage_key};
use crate::mute::{Ended, Mute};
use crate::ports::{ClaimResult, FoundSchedule, JobState, JobStore, Posted, Schedules, Slot, TaskIndex, TokenSource};
use crate::schedule::{Missed, Schedule};
use crate::settings::Settings;
use crate::time::Timestamp;

/// Replies in an outage's thread, one per later missed run, at most.
const MAX_MISSED_REPLIES: u32 = 10;
/// A run with no end after this long lost its STOPPED event.
const STALE_RUN: Duration = Duration::from_secs(7 * 24 * 3600);
/// Runs in a digest's sparkline.
const SPARKLINE_RUNS: usize = 20;
const DAY: Duration = Duration::from_secs(24 * 3600);

/// What a check did; also the Lambda's response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename = "watched")]
pub struct Watched {
    pub scheduled_jobs: usize,
    pub missed_alerts: usize,
    pub back_on_schedule: usize,
    pub still_running: usize,
    pub digests: usize,
    pub escalated: usize,
    pub unmuted: usize,
    pub forgotten_runs: usize,
    /// Why the discovery of the account's schedules stopped short, when it
    /// did: the schedules it did not read are not watched this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_cut_short: Option<String>,
}

pub struct Watch<'a> {
    pub settings: &'a Settings,
    pub notices: Notices<'a>,
    pub jobs: &'a dyn JobStore,
    pub tasks: &'a dyn TaskIndex,
    pub schedules: &'a dyn Schedules,
    /// Whether the signing secret is set: alerts offer "👀 I'm on it" then.
    pub secrets: &'a dyn TokenSource,
}

/// A job and one of its schedules.
struct Scheduled {
    job: Job,
    schedule: JobSchedule,
}

impl Watch<'_> {
    fn labelled(&self, msg: crate::message::Message) -> crate::message::Message {
        crate::message::labelled(self.settings.label(), msg)
    }

    pub async fn handle(&self, now: Timestamp, deadline: Timestamp) -> Result<Watched, NotifyError> {
        let states = self.jobs.jobs().await?;
        let since = self.jobs.watching_since(now).await?;
        let mut failures = Vec::new();
        let mut cut_short = None;
        let scheduled = self.scheduled(deadline, &mut cut_short, &mut failures).await;
        let mut watched =
            Watched { scheduled_jobs: scheduled.len(), discovery_cut_short: cut_short, ..Watched::default() };
        let mut mutes = self.mutes(&states).await;
        for (job, mute) in mutes.clone() {
            if !mute.holds(now) {
                match self.expire(&job, &mute, &states, &scheduled, now, deadline).await {
                    Ok(ended) => watched.unmuted += usize::from(ended),
                    Err(e) => {
                        warn!(job, error = %e, "an expired mute was not ended");
                        failures.push(e);
                        continue;
                    }
                }
                mutes.remove(&job);
            }
        }
        // A muted job's checks say nothing; the digest still lists it.
        let unmuted = |job: &str| !mutes.contains_key(job);
        for item in scheduled.iter().filter(|s| unmuted(&s.job.name)) {
            let state = states.iter().find(|s| s.job == item.job.name);
            if let Err(e) = self.check_schedule(item, state, now, since, deadline, &mut watched).await {
                warn!(job = %item.job.name, error = %e, "schedule check failed");
                failures.push(e);
            }
        }
        for state in states.iter().filter(|s| unmuted(&s.job)) {
            if let Err(e) = self.check_running(state, now, deadline, &mut watched).await {
                warn!(job = %state.job, error = %e, "running check failed");
                failures.push(e);
            }
            if let Err(e) = self.escalate(state, &scheduled, now, since, deadline, &mut watched).await {
                warn!(job = %state.job, error = %e, "escalation check failed");
                failures.push(e);
            }
        }
        if let Err(e) = self.digest(&states, &scheduled, &mutes, now, deadline, &mut watched).await {
            warn!(error = %e, "digest failed");
            failures.push(e);
        }
        info!(?watched, failures = failures.len(), "watched");
        match failures.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(watched),
        }
    }

    /// Configured schedules, and for jobs without one, the schedules found
    /// in the account.
    async fn scheduled(
        &self,
        deadline: Timestamp,
        cut_short: &mut Option<String>,
        failures: &mut Vec<NotifyError>,
    ) -> Vec<Scheduled> {
        let config = &self.settings.jobs;
        let mut scheduled: Vec<Scheduled> = config
            .scheduled()
            .filter(|job| job.notify != Notify::None)
            .filter_map(|job| Some(Scheduled { schedule: job.schedule.clone()?, job }))
            .collect();
        // Half the invocation for discovery, the rest for the checks; one
        // cut short says which part it read.
        let now = Timestamp::now().min(deadline);
        let until = now + deadline.duration_since(now) / 2;
        let found = match self.schedules.discover(until).await {
            Ok(discovery) => {
                if let Some(why) = &discovery.cut_short {
                    warn!(cut_short = %why, "schedule discovery cut short: some discovered schedules are not watched this time");
                }
                cut_short.clone_from(&discovery.cut_short);
                discovery.found
            }
            Err(e) => {
                warn!(error = %e, "schedules not discovered");
                failures.push(NotifyError::Schedules(e));
                Vec::new()
            }
        };
        for found in found {
            let job = config.job(&found.target.as_task());
            if job.schedule.is_some() || job.notify == Notify::None || job.is_service {
                continue;
            }
            match discovered_schedule(&found) {
                Ok(schedule) => scheduled.push(Scheduled { job, schedule }),
                Err(reason) => debug!(source = %found.source, reason, "schedule not watched"),
            }
        }
        scheduled
    }

    fn channel<'j>(&'j self, job: &'j Job) -> &'j str {
        job.channel.as_deref().unwrap_or(&self.settings.default_channel)
    }

    /// A job record's settings: the rule its last run fell under, when that
    /// rule still names it so (an unnamed rule's jobs carry no rule's name).
    fn job_of_record(&self, state: &JobState) -> Job {
        self.settings.jobs.job_named_as(&state.job, state.last_run.as_ref().map(RunSpec::as_task).as_ref())
    }

    async fn check_schedule(
        &self,
        item: &Scheduled,
        state: Option<&JobState>,
        now: Timestamp,
        since: Timestamp,
        deadline: Timestamp,
        watched: &mut Watched,
    ) -> Result<(), NotifyError> {
        let Scheduled { job, schedule } = item;
        let latest = state.and_then(JobState::latest_start);
        let missed = schedule.schedule.missed(now, schedule.grace, latest, since);
        let last_run = state.and_then(|s| s.runs.iter().max_by_key(|r| r.start.or(r.end)));
        let outage = |missed: Missed, back_at| Outage {
            job: &job.name,
            channel: self.channel(job),
            schedule,
            missed,
            last_run,
            back_at,
            runbook: job.runbook.as_deref(),
            on_it: None,
            ack: false,
        };
        let open = state.and_then(|s| s.outage);
        match (open, missed) {
            (Some(first), _) if latest.is_some_and(|l| l > first) => {
                let back_at = latest;
                let starts: Vec<Timestamp> =
                    state.map(|s| s.runs.iter().filter_map(|r| r.start).collect()).unwrap_or_default();
                let count =
                    schedule.schedule.missed_between(first, latest.unwrap_or(first), schedule.grace, &starts).max(1);
                let ended = Missed { first, last: first, count };
                let on_it = self.alert_on_it(&job.name, first).await;
                if self
                    .back_on_schedule(&Outage { on_it: on_it.as_deref(), ..outage(ended, back_at) }, first, deadline)
                    .await?
                {
                    watched.back_on_schedule += 1;
                }
                self.jobs.set_outage(&job.name, None).await?;
            }
            (Some(first), Some(m)) if m.first.secs() == first.secs() && m.count > 1 => {
                let on_it = self.alert_on_it(&job.name, first).await;
                let replied = self
                    .missed_again(
                        &Outage { on_it: on_it.as_deref(), ack: self.buttons().await, ..outage(m, None) },
                        first,
                        deadline,
                    )
                    .await?;
                watched.missed_alerts += usize::from(replied);
            }
            (None, Some(m)) => {
                let key = outage_key(&job.name, m.first);
                let claim = self.notices.claim_for(&key, Slot::Once, deadline);
                if let ClaimResult::Claimed(_) = self.notices.claim(&claim).await? {
                    let alert = Outage { ack: self.buttons().await, ..outage(m, None) };
                    self.notices.post(&claim, &self.labelled(message::outage_message(&alert)), deadline).await?;
                    watched.missed_alerts += 1;
                }
                // Also when the alert was posted and recording the outage failed.
                self.jobs.set_outage(&job.name, Some(m.first)).await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Each muted job's mute. Only operators mute, so with no operator in
    /// `JOBS_CONFIG` nothing is read.
    async fn mutes(&self, states: &[JobState]) -> HashMap<String, Mute> {
        let config = &self.settings.jobs;
        let operated = !config.operators.is_empty()
            || config.jobs.iter().any(|rule| rule.operators.as_ref().is_some_and(|ops| !ops.is_empty()));
        if !operated {
            return HashMap::new();
        }
        super::mutes(self.jobs, states).await
    }

    /// A mute whose time is up: ended, and what happened meanwhile said
    /// once. `false`: it was ended already.
    async fn expire(
        &self,
        job: &str,
        mute: &Mute,
        states: &[JobState],
        scheduled: &[Scheduled],
        now: Timestamp,
        deadline: Timestamp,
    ) -> Result<bool, NotifyError> {
        let state = states.iter().find(|s| s.job == job);
        let settings = state.map_or_else(|| self.settings.jobs.job_named(job), |s| self.job_of_record(s));
        let runs = state.map_or(&[][..], |s| &s.runs[..]);
        let until = mute.until.unwrap_or(now).min(now);
        let starts: Vec<Timestamp> = runs.iter().filter_map(|r| r.start).collect();
        let missed = scheduled
            .iter()
            .filter(|s| s.job.name == job)
            .map(|s| s.schedule.schedule.missed_between(mute.since, until, s.schedule.grace, &starts))
            .max()
            .unwrap_or(0);
        let channel = scheduled
            .iter()
            .find(|s| s.job.name == job)
            .map(|s| self.channel(&s.job).to_owned())
            .or_else(|| state.and_then(|s| s.channel.clone()))
            .unwrap_or_else(|| self.channel(&settings).to_owned());
        let end = MuteEnd {
            job,
            channel: &channel,
            label: self.settings.label(),
            mute,
            ended: Ended::Expired,
            meanwhile: super::mute::meanwhile(runs, &settings, mute, until, missed),
        };
        end_mute(&self.notices, self.jobs, end, deadline).await
    }

    /// Whether alerts offer "👀 I'm on it": only where Slack's presses can
    /// be checked, as on failures.
    async fn buttons(&self) -> bool {
        match self.secrets.signing_secret().await {
            Ok(secret) => secret.is_some(),
            Err(e) => {
                warn!(error = %e, "no buttons: the Slack secret was not read");
                false
            }
        }
    }

    /// Who took the outage's alert, for its edits to keep saying so: the
    /// job's head (one `GetItem`, only when the alert is edited). A head
    /// that cannot be read names nobody (logged).
    async fn alert_on_it(&self, job: &str, first: Timestamp) -> Option<String> {
        match self.jobs.head(job).await {
            Ok(head) => head.and_then(|h| h.on_it(&outage_key(job, first)).map(str::to_owned)),
            Err(e) => {
                warn!(job, error = %e, "the job's record was not read: who is on its alert is not said");
                None
            }
        }
    }

    /// Where the outage's alert is, when it was posted.
    async fn alert(&self, job: &str, first: Timestamp) -> Result<Option<Posted>, NotifyError> {
        Ok(self.notices.store.get(&outage_key(job, first)).await?.once.posted)
    }

    /// A later missed run of an open outage: a reply in the alert's thread
    /// (up to a few), and the alert's count brought up to date.
    async fn missed_again(
        &self,
        outage: &Outage<'_>,
        first: Timestamp,
        deadline: Timestamp,
    ) -> Result<bool, NotifyError> {
        let Some(alert) = self.alert(outage.job, first).await? else { return Ok(false) };
        let mut replied = false;
        if outage.missed.count <= MAX_MISSED_REPLIES {
            let key = format!("missed#{}#{}", outage.job, outage.missed.last.secs());
            let claim = self.notices.claim_for(&key, Slot::Once, deadline);
            if let ClaimResult::Taken(_) = self.notices.claim(&claim).await? {
                return Ok(false);
            }
            self.notices
                .post(&claim, &self.labelled(message::missed_again_message(outage, &alert.ts)), deadline)
                .await?;
            replied = true;
        }
        self.update(&alert, &self.labelled(message::outage_message(outage)), deadline).await;
        Ok(replied)
    }

    async fn back_on_schedule(
        &self,
        outage: &Outage<'_>,
        first: Timestamp,
        deadline: Timestamp,
    ) -> Result<bool, NotifyError> {
        let key = format!("back#{}#{}", outage.job, first.secs());
        let claim = self.notices.claim_for(&key, Slot::Once, deadline);
        if let ClaimResult::Taken(_) = self.notices.claim(&claim).await? {
            return Ok(false);
        }
        match self.alert(outage.job, first).await {
            Ok(Some(alert)) => {
                self.notices
                    .post(&claim, &self.labelled(message::back_on_schedule_message(outage, &alert.ts)), deadline)
                    .await?;
                self.update(&alert, &self.labelled(message::outage_message(outage)), deadline).await;
            }
            Ok(None) => {
                self.notices.post(&claim, &self.labelled(message::outage_message(outage)), deadline).await?;
            }
            Err(e) => return Err(self.notices.released(&claim, e).await),
        }
        Ok(true)
    }

    /// Best effort: the alert's count or state, edited in place.
    async fn update(&self, at: &Posted, message: &crate::message::Message, deadline: Timestamp) {
        if let Err(e) = self.notices.slack.update(at, message, deadline).await {
            warn!(error = %e, "could not update the missed-run alert");
        }
    }

    /// Runs going on past their job's slow factor, and runs that lost
    /// their end; and a record trimmed to its recent runs.
    async fn check_running(
        &self,
        state: &JobState,
        now: Timestamp,
        deadline: Timestamp,
        watched: &mut Watched,
    ) -> Result<(), NotifyError> {
        let finished = health::finished(&state.runs, "");
        let mut forget: Vec<String> = Vec::new();
        let job = self.job_of_record(state);
        let usual = health::usual_run_time(&finished);
        for run in state.runs.iter().filter(|r| !r.finished()) {
            let Some(start) = run.start else { continue };
            let running = now.duration_since(start);
            if running > STALE_RUN {
                forget.push(run.task_id.clone());
                continue;
            }
            let Some(usual) = usual else { continue };
            if running.as_secs_f64() >= job.slow_factor * usual.as_secs_f64()
                && self.still_running(&job, run, running, usual, deadline).await?
            {
                watched.still_running += 1;
            }
        }
        if !forget.is_empty() {
            self.jobs.forget_runs(&state.job, &forget).await?;
            watched.forgotten_runs += forget.len();
        }
        Ok(())
    }

    async fn still_running(
        &self,
        job: &Job,
        run: &Run,
        running: Duration,
        usual: Duration,
        deadline: Timestamp,
    ) -> Result<bool, NotifyError> {
        let Some(thread) = self.tasks.find(&run.task_id).await?.and_then(|found| found.record.start.posted) else {
            debug!(task = %run.task_id, "still running, with no thread to say so in");
            return Ok(false);
        };
        let claim = self.notices.claim_for(&format!("still#{}", run.task_id), Slot::Once, deadline);
        if let ClaimResult::Taken(_) = self.notices.claim(&claim).await? {
            return Ok(false);
        }
        let message =
            self.labelled(message::still_running_message(&job.name, &thread.channel, &thread.ts, running, usual));
        self.notices.post(&claim, &message, deadline).await?;
        Ok(true)
    }

    /// A job's latest failure, and its open missed-run alert, that nobody
    /// said they are on within its `escalate_after` (from the run's end, and
    /// from the alert's due time: event times, as everywhere in the watch): one reply each in its
    /// thread, broadcast, mentioning `escalate_to` (claimed: once).
    async fn escalate(
        &self,
        state: &JobState,
        scheduled: &[Scheduled],
        now: Timestamp,
        since: Timestamp,
        deadline: Timestamp,
        watched: &mut Watched,
    ) -> Result<(), NotifyError> {
        let job = self.job_of_record(state);
        let Some(escalation) = job.escalation.as_ref().filter(|_| job.notify != Notify::None) else {
            return Ok(());
        };
        // An alert is posted once its first due time is a grace past.
        let grace = scheduled.iter().find(|s| s.job.name == state.job).map_or(DEFAULT_GRACE, |s| s.schedule.grace);
        if let Some(first) = state.outage {
            let posted = first + grace;
            if escalation::due(escalation, posted, false, now, since)
                && self.alert_on_it(&state.job, first).await.is_none()
            {
                if let Some(alert) = self.alert(&state.job, first).await? {
                    let key = format!("escalate#{}", outage_key(&state.job, first));
                    let what = (Escalated::MissedRun, now.duration_since(posted));
                    watched.escalated +=
                        usize::from(self.escalation(&key, &job, escalation, &alert, what, deadline).await?);
                }
            }
        }
        let Some(last) = state.runs.iter().filter(|r| r.finished()).max_by_key(|r| r.end) else { return Ok(()) };
        let Some(end) = last
            .end
            .filter(|end| last.succeeded == Some(false) && escalation::due(escalation, *end, false, now, since))
        else {
            return Ok(());
        };
        let Some(found) = self.tasks.find(&last.task_id).await? else { return Ok(()) };
        // A grouped task's failure is told on its group's message.
        let told = match found.record.group.as_deref().filter(|anchor| *anchor != found.key) {
            Some(anchor) => self.notices.store.get(anchor).await?,
            None => found.record.clone(),
        };
        // The thread is the start message's, else the failure's own.
        let Some(thread) = told.start.message().or(told.completion.message()).cloned() else {
            debug!(task = %last.task_id, "a failure with no message to escalate in");
            return Ok(());
        };
        let head = self.jobs.head(&state.job).await?;
        if head.as_ref().and_then(|h| h.on_it(&last.task_id)).is_some() {
            return Ok(());
        }
        let key = format!("escalate#{}", found.key);
        let what = (Escalated::Failure, now.duration_since(end));
        watched.escalated += usize::from(self.escalation(&key, &job, escalation, &thread, what, deadline).await?);
        Ok(())
    }

    /// Posts one escalation under its claim; `false`: claimed before.
    async fn escalation(
        &self,
        key: &str,
        job: &Job,
        escalation: &Escalation,
        thread: &Posted,
        (what, waited): (Escalated, Duration),
        deadline: Timestamp,
    ) -> Result<bool, NotifyError> {
        let claim = self.notices.claim_for(key, Slot::Once, deadline);
        if let ClaimResult::Taken(_) = self.notices.claim(&claim).await? {
            return Ok(false);
        }
        let message = message::escalation_message(
            &job.name,
            &thread.channel,
            &thread.ts,
            what,
            waited,
            escalation,
            job.runbook.as_deref(),
        );
        self.notices.post(&claim, &self.labelled(message), deadline).await?;
        info!(job = %job.name, key, "escalated");
        Ok(true)
    }

    /// The first check at or after `DIGEST_AT` posts one digest per channel.
    async fn digest(
        &self,
        states: &[JobState],
        scheduled: &[Scheduled],
        mutes: &HashMap<String, Mute>,
        now: Timestamp,
        deadline: Timestamp,
        watched: &mut Watched,
    ) -> Result<(), NotifyError> {
        let Some(digest_at) = self.settings.digest_at else { return Ok(()) };
        let due = now.on_utc_day_at(digest_at);
        if now < due {
            return Ok(());
        }
        let (from, to) = (now - DAY, now);
        // Who is on each job's last run, when that failed.
        let on_it = super::on_it(self.jobs, states).await;
        let mut channels: BTreeMap<String, Vec<DigestLine>> = BTreeMap::new();
        let mut names: Vec<&str> = states.iter().map(|s| s.job.as_str()).collect();
        names.extend(scheduled.iter().map(|s| s.job.name.as_str()));
        names.sort_unstable();
        names.dedup();
        for name in names {
            let state = states.iter().find(|s| s.job == name);
            let job = state.map_or_else(|| self.settings.jobs.job_named(name), |s| self.job_of_record(s));
            if job.notify == Notify::None {
                continue;
            }
            let runs = state.map_or(&[][..], |s| &s.runs);
            let finished = health::finished(runs, "");
            let figures = health::day_figures(&finished, from, to, SPARKLINE_RUNS);
            let starts: Vec<Timestamp> = runs.iter().filter_map(|r| r.start).collect();
            let missed = scheduled
                .iter()
                .filter(|s| s.job.name == name)
                .map(|s| s.schedule.schedule.missed_between(from, to, s.schedule.grace, &starts))
                .max()
                .unwrap_or(0);
            if figures.runs == 0 && missed == 0 {
                continue;
            }
            let channel = scheduled
                .iter()
                .find(|s| s.job.name == name)
                .map(|s| self.channel(&s.job).to_owned())
                .or_else(|| state.and_then(|s| s.channel.clone()))
                .unwrap_or_else(|| self.channel(&job).to_owned());
            let on_it = on_it.get(name).cloned();
            let muted = mutes.get(name).cloned();
            channels.entry(channel).or_default().push(DigestLine {
                job: name.to_owned(),
                figures,
                missed,
                on_it,
                muted,
            });
        }
        for (channel, lines) in channels {
            let key = format!("digest#{}#{channel}", due.format_utc("%Y-%m-%d"));
            let claim = self.notices.claim_for(&key, Slot::Once, deadline);
            if let ClaimResult::Claimed(_) = self.notices.claim(&claim).await? {
                self.notices
                    .post(&claim, &self.labelled(message::digest_message(&channel, now, &lines)), deadline)
                    .await?;
                watched.digests += 1;
            }
        }
        Ok(())
    }
}

fn discovered_schedule(found: &FoundSchedule) -> Result<JobSchedule, String> {
    let schedule = Schedule::parse(&found.expression, found.time_zone.as_deref()).map_err(|e| e.to_string())?;
    Ok(JobSchedule {
        schedule,
        grace: DEFAULT_GRACE + found.flexible_window,
        source: found.source.clone(),
        enabled: found.enabled,
    })
}

#[cfg(test)]
mod tests;
