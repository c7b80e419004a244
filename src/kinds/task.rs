//! ECS task state changes: a start message when a job's task is RUNNING,
//! its outcome in the start message's thread when it STOPPED, at most one
//! of each whatever the delivery order, duplication or concurrency.

use std::time::Duration;

use serde::Serialize;
use tracing::{Instrument, debug, error, info, info_span, warn};

use self::group::Done;
use crate::changes::{self, RunSetup};
use crate::claim::Notices;
use crate::error::NotifyError;
use crate::event::EcsTask;
use crate::health::{self, Run};
use crate::job_control::{RunSpec, choose_network};
use crate::jobs::{Job, LogStream, Notify};
use crate::lifecycle::{self, Decision, Outcome};
use crate::message::{self, Controls, JobContext};
use crate::ports::{
    Claim, GroupStore, JobRun, JobStart, JobStore, LogSource, Outbox, Posted, Record, Slot, StartClaim, StoreError,
    TaskDefinitions, TaskFacts, TaskIndex, TokenSource,
};
use crate::settings::Settings;
use crate::summary::{self, JobLog};
use crate::time::Timestamp;

/// What an invocation did with a task event; also the Lambda's response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Handled {
    PostedStart {
        key: String,
        channel: String,
        ts: String,
    },
    PostedCompletion {
        key: String,
        channel: String,
        ts: String,
        threaded: bool,
    },
    /// A start in a group: counted in the group's message, which is its
    /// thread.
    JoinedGroup {
        key: String,
        group: String,
        channel: String,
        ts: String,
    },
    /// A stop request's reply in the task's thread (`ts` is `answered`
    /// when the thread says so already: stopped from Slack).
    PostedStopNotice {
        key: String,
        channel: String,
        ts: String,
    },
    /// A muted job's event: recorded, not posted.
    Muted {
        task_id: String,
    },
    /// A grouped task's success: counted, not posted.
    CountedInGroup {
        key: String,
        group: String,
    },
    /// A grouped task's failure: counted, and its reply queued to be posted
    /// in turn with the channel's other posts.
    QueuedCompletion {
        key: String,
        group: String,
    },
    /// Already posted, being posted by another invocation, or a start that
    /// arrived after the task's completion.
    Skipped {
        key: String,
        slot: &'static str,
    },
    Ignored {
        reason: String,
    },
}

/// How often a completion looks again for a start being posted.
const START_POLL: Duration = Duration::from_millis(250);
/// Kept free before the deadline when reading logs: for the post after it.
const LOG_READ_RESERVE: Duration = Duration::from_secs(3);

/// The ports and settings the task workflow needs.
pub struct Tasks<'a> {
    pub settings: &'a Settings,
    pub notices: Notices<'a>,
    pub logs: &'a dyn LogSource,
    pub jobs: &'a dyn JobStore,
    pub groups: &'a dyn GroupStore,
    /// Where a group's failures are queued; without it they are posted
    /// at once.
    pub outbox: Option<&'a dyn Outbox>,
    pub secrets: &'a dyn TokenSource,
    /// Which containers are essential (and where they log).
    pub definitions: &'a dyn TaskDefinitions,
    /// Failed runs by task id: a recovery edits their messages.
    pub tasks: &'a dyn TaskIndex,
}

impl Tasks<'_> {
    pub async fn handle(&self, task: &EcsTask, deadline: Timestamp) -> Result<Handled, NotifyError> {
        let task = &lifecycle::with_overrides(task, &self.settings.non_essential_containers);
        let job = self.settings.jobs.job(task);
        let span = info_span!("task", job = %job.name, task = task.task_id(), status = %task.last_status, version = task.version);
        async {
            let task = &self.with_definition(task, &job, deadline).await;
            let decided = lifecycle::decide(task, &self.settings.non_essential_containers);
            let decision = lifecycle::apply_policy(decided.clone(), &job, self.settings.jobs.include_services);
            if let Decision::Ignore(reason) = decision {
                // A job that posts only its failures still has a history
                // and a schedule to keep.
                if self.has_history(&job) {
                    self.record_unposted(task, &job, &decided).await?;
                }
                debug!(reason, "ignored");
                return Ok(Handled::Ignored { reason: format!("{}: {reason}", task.last_status) });
            }
            if let Some(mute) = self.mute_of(&job).await {
                debug!(until = ?mute.until, "muted");
                return self.muted(task, &job, &decision, mute, deadline).await;
            }
            let result = self.notify(task, &job, &decision, deadline).await;
            match &result {
                Ok(handled) => info!(action = ?handled, "decision"),
                Err(e) => error!(error = %e, "failed"),
            }
            result
        }
        .instrument(span)
        .await
    }

    /// Jobs with a history: all but `notify: none` and ignored services.
    fn has_history(&self, job: &Job) -> bool {
        job.notify != Notify::None && (!job.is_service || self.settings.jobs.include_services)
    }

    fn channel<'j>(&'j self, job: &'j Job) -> &'j str {
        job.channel.as_deref().unwrap_or(&self.settings.default_channel)
    }

    fn job_start(&self, task: &EcsTask, job: &Job) -> JobStart {
        let now = self.notices.clock.now();
        JobStart {
            job: job.name.clone(),
            channel: self.channel(job).to_owned(),
            task_id: task.task_id().to_owned(),
            started: task.started_at.or(task.created_at).unwrap_or(now),
            expires_at: now + self.settings.job_record_ttl,
        }
    }

    /// The run's record: with what it had and its summary's counts, so
    /// later runs can say what changed and what is unusual.
    fn job_run(&self, task: &EcsTask, job: &Job, outcome: &Outcome, counts: &[(String, u64)]) -> JobRun {
        let now = self.notices.clock.now();
        let end = task.execution_stopped_at.or(task.stopped_at).unwrap_or(now);
        JobRun {
            job: job.name.clone(),
            channel: self.channel(job).to_owned(),
            run: Run {
                task_id: task.task_id().to_owned(),
                start: task.started_at,
                end: Some(end),
                run_time: outcome.run_time,
                succeeded: Some(outcome.succeeded),
                failed: outcome.reported_failures,
                interrupted: outcome.interrupted.is_some(),
                exit_code: outcome.failing_exit_code(),
                setup: Some(Box::new(RunSetup::of(task))),
                counts: health::kept_counts(counts),
            },
            spec: RunSpec::of(task),
            expires_at: now + self.settings.job_record_ttl,
        }
    }

    /// The history of a run that posts nothing.
    async fn record_unposted(&self, task: &EcsTask, job: &Job, decided: &Decision) -> Result<(), NotifyError> {
        match decided {
            Decision::Start => self.jobs.record_start(&self.job_start(task, job)).await?,
            Decision::Finish(outcome) => {
                self.jobs.record_run(&self.job_run(task, job, outcome, &[])).await?;
            }
            Decision::Stopping(_) | Decision::Ignore(_) => {}
        }
        Ok(())
    }

    /// What a task's record keeps of its job, written with its claims.
    fn facts(task: &EcsTask, job: &Job) -> TaskFacts {
        TaskFacts {
            task_id: task.task_id().to_owned(),
            job: job.name.clone(),
            stream_logs: job.stream_logs,
            stream_logs_max_replies: job.stream_logs_max_replies,
            spec: RunSpec::of(task),
        }
    }

    /// The buttons a job's messages offer: none without the signing
    /// secret that Slack's presses are checked with; "👀 I'm on it" (anyone
    /// may press it) on every failure; Stop and Re-run only with operators.
    async fn controls(&self, task: &EcsTask, job: &Job) -> Controls {
        match self.secrets.signing_secret().await {
            Ok(Some(_)) => {}
            Ok(None) => return Controls::default(),
            Err(e) => {
                warn!(error = %e, "no buttons: the Slack secret was not read");
                return Controls::default();
            }
        }
        if job.operators.is_empty() {
            return Controls { ack: true, ..Controls::default() };
        }
        // Re-run only where a network can be found (or none is needed); a
        // rule or schedule that started the task gives its own.
        let rerun = RunSpec::of(task).is_some_and(|spec| {
            spec.rule().is_some() || spec.schedule().is_some() || choose_network(&spec, None, job.run.as_ref()).is_ok()
        });
        Controls { stop: true, rerun, ack: true, mute: true }
    }

    async fn notify(
        &self,
        task: &EcsTask,
        job: &Job,
        decision: &Decision,
        deadline: Timestamp,
    ) -> Result<Handled, NotifyError> {
        let log_stream = job.log_stream(task);
        let controls = self.controls(task, job).await;
        let ctx = JobContext {
            job: &job.name,
            environment: &self.settings.environment,
            label: self.settings.label(),
            channel: self.channel(job),
            notify: job.notify,
            mention: job.mention.as_deref(),
            show_environment: &job.show_environment,
            log_stream: log_stream.as_ref(),
            log: None,
            notes: &[],
            controls,
            grouped: false,
            runbook: job.runbook.as_deref(),
            since_success: None,
        };
        let key = format!("task#{}", task.task_arn);
        match decision {
            Decision::Ignore(reason) => Ok(Handled::Ignored { reason: format!("{}: {reason}", task.last_status) }),
            Decision::Start => self.post_start(&key, &ctx, job, task, deadline).await,
            Decision::Stopping(stop) => self.post_stopping(&key, &ctx, task, stop, deadline).await,
            Decision::Finish(outcome) => self.post_completion(&key, &ctx, job, task, outcome, deadline).await,
        }
    }

    async fn post_start(
        &self,
        key: &str,
        ctx: &JobContext<'_>,
        job: &Job,
        task: &EcsTask,
        deadline: Timestamp,
    ) -> Result<Handled, NotifyError> {
        let mut claim = self.notices.claim_for(key, Slot::Start, deadline);
        // What a log stream or a button needs to find this task's thread and job.
        claim.facts = Some(Self::facts(task, job));
        // The job's record learns of the start in the same write.
        claim.job_start = Some(self.job_start(task, job));
        let claimed = match group::lead(job) {
            Some(lead) => self.notices.claim_start(&claim, &lead).await?,
            None => self.notices.claim(&claim).await?.into(),
        };
        match claimed {
            StartClaim::Claimed(_) => self.post_start_message(key, &claim, ctx, task, deadline).await,
            StartClaim::Taken(_) => Ok(Handled::Skipped { key: key.into(), slot: Slot::Start.name() }),
            StartClaim::InGroup(anchor) => self.join(key, &claim, anchor, ctx, job, task, deadline).await,
            StartClaim::Closed => Err(StoreError::other("a leading start was answered as a join").into()),
        }
    }

    async fn post_start_message(
        &self,
        key: &str,
        claim: &Claim,
        ctx: &JobContext<'_>,
        task: &EcsTask,
        deadline: Timestamp,
    ) -> Result<Handled, NotifyError> {
        let posted = self.notices.post(claim, &message::start_message(ctx, task), deadline).await?;
        Ok(Handled::PostedStart { key: key.into(), channel: posted.channel, ts: posted.ts })
    }

    #[allow(clippy::too_many_arguments)]
    async fn post_completion(
        &self,
        key: &str,
        ctx: &JobContext<'_>,
        job: &Job,
        task: &EcsTask,
        outcome: &Outcome,
        deadline: Timestamp,
    ) -> Result<Handled, NotifyError> {
        let mut claim = self.notices.claim_for(key, Slot::Completion, deadline);
        // A Re-run button finds what to run, and whose job it is, here.
        claim.facts = Some(Self::facts(task, job));
        claim.run = RunSpec::of(task);
        let record = match self.notices.claim(&claim).await? {
            crate::ports::ClaimResult::Taken(_) => {
                return Ok(Handled::Skipped { key: key.into(), slot: Slot::Completion.name() });
            }
            crate::ports::ClaimResult::Claimed(record) => record,
        };
        let group = record.group.clone();
        let thread = match self.thread(&claim.key, record, ctx.channel, deadline).await {
            Ok(thread) => thread,
            Err(e) => return Err(self.notices.released(&claim, e.into()).await),
        };
        let (log, stream) = self.read_log(task, ctx.log_stream, deadline).await;
        let failed = log.summary.as_ref().and_then(|s| s.failed);
        let outcome = outcome.clone().with_reported_failures(failed, job.summary_failures_fail_job);
        let counts = log.summary.as_ref().map_or(&[][..], |s| &s.counts[..]);
        let before = match self.jobs.record_run(&self.job_run(task, job, &outcome, counts)).await {
            Ok(before) => before,
            Err(e) => return Err(self.notices.released(&claim, e.into()).await),
        };
        let history = health::finished(&before.runs, task.task_id());
        // An interruption is neither a failure of the job's own nor its recovery.
        let (notes, since_success) = match outcome.interrupted {
            Some(_) => (Vec::new(), None),
            None => {
                let mut notes =
                    health::completion_notes(&history, outcome.succeeded, outcome.run_time, job.slow_factor);
                let (ran, counts) = (outcome.run_time, counts);
                notes.extend(health::suspicious_notes(&history, outcome.succeeded, ran, counts, job.suspicions));
                let since =
                    (!outcome.succeeded).then(|| changes::since_last_success(&history, &RunSetup::of(task))).flatten();
                (notes, since)
            }
        };
        if job.notify == Notify::Failures && outcome.succeeded {
            // Read the log only to learn it did not fail after all.
            self.notices.release(&claim).await;
            return Ok(Handled::Ignored { reason: "notify is failures: it succeeded".into() });
        }
        let ctx = JobContext {
            channel: thread.as_ref().map_or(ctx.channel, |start| start.channel.as_str()),
            log_stream: stream.as_ref().or(ctx.log_stream),
            log: Some(&log),
            notes: &notes,
            since_success: since_success.as_ref(),
            ..*ctx
        };
        if let (Some(group), Some(thread)) = (group, &thread) {
            let done = Done { key, claim: &claim, ctx: &ctx, job, task, outcome: &outcome, deadline };
            return self.finish_in_group(&group, thread, done).await;
        }
        let message = message::completion_message(&ctx, task, &outcome, thread.as_ref().map(|start| start.ts.as_str()));
        let posted = self.notices.post(&claim, &message, deadline).await?;
        if let Some(start) = &thread {
            // Best effort: the outcome is posted; a start message left
            // unchanged is cosmetic and must not make the event retry.
            let finished = message::finished_start_message(&ctx, task, &outcome);
            if let Err(e) = self.notices.slack.update(start, &finished, deadline).await {
                warn!(key, error = %e, "could not update the start message with the outcome");
            }
        }
        if outcome.succeeded && outcome.interrupted.is_none() {
            let at = task.stopped_at.unwrap_or_else(|| self.notices.clock.now());
            self.resolve(&history, &posted, at, deadline).await;
        }
        Ok(Handled::PostedCompletion {
            key: key.into(),
            channel: posted.channel,
            ts: posted.ts,
            threaded: thread.is_some(),
        })
    }

    /// Best effort within a short budget: a log that cannot be read leaves
    /// a note, never a failed or late notice.
    async fn read_log(
        &self,
        task: &EcsTask,
        configured: Option<&LogStream>,
        deadline: Timestamp,
    ) -> (JobLog, Option<LogStream>) {
        let left = deadline.duration_since(self.notices.clock.now()).saturating_sub(LOG_READ_RESERVE);
        let budget = self.settings.log_budget.min(left);
        let tail = match tokio::time::timeout(budget, self.logs.tail(task, configured)).await {
            Ok(Ok(Some(tail))) => tail,
            Ok(Ok(None)) => return (JobLog::default(), None),
            Ok(Err(e)) => {
                warn!(error = %e, "job log not read");
                return (JobLog { note: Some(format!("Logs not read: {e}")), ..JobLog::default() }, None);
            }
            Err(_) => {
                warn!(budget_ms = budget.as_millis() as u64, "job log not read in time");
                let note = format!("Logs not read: no answer within {} ms.", budget.as_millis());
                return (JobLog { note: Some(note), ..JobLog::default() }, None);
            }
        };
        let findings = summary::find(&tail.lines);
        for line in &findings.malformed {
            warn!(line = %line.chars().take(200).collect::<String>(), "ignored a JOB_SUMMARY line that is not a JSON object");
        }
        (JobLog { summary: findings.summary, last_lines: tail.lines, note: None }, tail.stream)
    }

    /// Where a completion goes: its start message's thread; for a task in
    /// a group, the group's, even while its own start is still being
    /// counted.
    async fn thread(
        &self,
        key: &str,
        record: Record,
        channel: &str,
        deadline: Timestamp,
    ) -> Result<Option<Posted>, StoreError> {
        match &record.group {
            Some(anchor) if anchor != key && record.start.posted.is_none() => {
                let anchor_record = self.notices.store.get(anchor).await?;
                self.start_thread(anchor, anchor_record, channel, deadline).await
            }
            _ => self.start_thread(key, record, channel, deadline).await,
        }
    }

    /// The start message to thread under. When another invocation is
    /// posting it right now (RUNNING and STOPPED of a short task arrive
    /// together), waits briefly for it rather than post a standalone reply.
    ///
    /// A start that was claimed and never recorded (its invocation could
    /// not write the `ts`, or died) may still have been posted: it is
    /// looked for in `channel` by its mark, and recorded when found, so
    /// the outcome still threads under it and updates it.
    async fn start_thread(
        &self,
        key: &str,
        mut record: Record,
        channel: &str,
        deadline: Timestamp,
    ) -> Result<Option<Posted>, StoreError> {
        let clock = self.notices.clock;
        let now = clock.now();
        let wait_until = (now + self.settings.start_wait).min(deadline - Duration::from_secs(2));
        while record.start.in_flight(clock.now()) && clock.now() + START_POLL < wait_until {
            clock.sleep(START_POLL).await;
            record = self.notices.store.get(key).await?;
        }
        let start = &record.start;
        let (Some(tried), None) = (start.tried, &start.posted) else { return Ok(record.start.posted) };
        if start.in_flight(clock.now()) {
            return Ok(None);
        }
        let mark = crate::message::NoticeMark { key: key.to_owned(), slot: Slot::Start.name().into() };
        match self.notices.slack.find_posted(channel, None, &mark, tried - Duration::from_secs(60), deadline).await {
            Ok(Some(found)) => {
                info!(key, "found the start message an earlier attempt posted and never recorded");
                self.notices.store.found(key, Slot::Start, &found).await?;
                Ok(Some(found))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                warn!(key, error = %e, "could not look for an unrecorded start message");
                Ok(None)
            }
        }
    }
}

mod essentials;
#[cfg(test)]
mod faults;
mod group;
mod muted;
mod recovery;
mod stopping;
#[cfg(test)]
mod tests;
