//! The handler: one event in, at most one Slack notice out, whatever the
//! delivery order, duplication or concurrency of events.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;
use tracing::{debug, error, info, warn};

use crate::event::{self, EcsTask, EventError, EventKind, Incoming, Registration};
use crate::jobs::{Job, JobsConfig, LogStream, Notify};
use crate::lifecycle::{self, Decision, Outcome};
use crate::message::{self, JobContext, Message};
use crate::ports::{
    Claim, ClaimResult, LogSource, Posted, Record, SlackError, SlackPoster, Slot, StoreError, ThreadStore,
};
use crate::summary::{self, JobLog};

/// Settings that shape messages and delivery; read once at start-up.
#[derive(Debug, Clone)]
pub struct Settings {
    pub default_channel: String,
    pub users_channel: Option<String>,
    pub environment: String,
    pub non_essential_containers: Vec<String>,
    pub jobs: JobsConfig,
    /// The most time reading a job's log may take before the completion is
    /// posted without it.
    pub log_budget: Duration,
    /// How long thread records are kept (DynamoDB TTL).
    pub record_ttl: Duration,
    /// How long a completion waits for a start message that another
    /// invocation is posting right now, so it can thread under it.
    pub start_wait: Duration,
}

impl Settings {
    pub fn new(default_channel: impl Into<String>) -> Settings {
        Settings {
            default_channel: default_channel.into(),
            users_channel: None,
            environment: "default".into(),
            non_essential_containers: Vec::new(),
            jobs: JobsConfig::default(),
            log_budget: Duration::from_secs(2),
            record_ttl: Duration::from_secs(14 * 24 * 3600),
            start_wait: Duration::from_secs(5),
        }
    }
}

/// What an invocation did; also the Lambda's response body.
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
    PostedRegistration {
        key: String,
        channel: String,
        ts: String,
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

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Slack(#[from] SlackError),
}

impl From<NotifyError> for lambda_runtime::Diagnostic {
    fn from(e: NotifyError) -> Self {
        let error_type = match &e {
            NotifyError::Event(_) => "InvalidEvent",
            NotifyError::Store(_) => "ThreadStoreError",
            NotifyError::Slack(_) => "SlackError",
        };
        lambda_runtime::Diagnostic { error_type: error_type.into(), error_message: e.to_string() }
    }
}

pub struct Notifier<S, P, L> {
    settings: Settings,
    store: S,
    slack: P,
    logs: L,
}

/// Seconds a claim outlives the invocation's deadline: a clock-skew margin.
const LEASE_MARGIN_SECS: i64 = 10;
const START_POLL: Duration = Duration::from_millis(250);

impl<S: ThreadStore, P: SlackPoster, L: LogSource> Notifier<S, P, L> {
    pub fn new(settings: Settings, store: S, slack: P, logs: L) -> Self {
        Notifier { settings, store, slack, logs }
    }

    /// Handles one Lambda payload. `deadline` is the invocation's deadline.
    pub async fn handle(&self, payload: Value, deadline: SystemTime) -> Result<Handled, NotifyError> {
        let incoming = event::parse(payload).inspect_err(|e| warn!(error = %e, "rejected event"))?;
        match &incoming.kind {
            EventKind::EcsTask(task) => self.handle_task(task, deadline).await,
            EventKind::UserRegistered(reg) => self.handle_registration(&incoming, reg, deadline).await,
            EventKind::Unhandled => {
                debug!(detail_type = %incoming.detail_type, source = %incoming.source, "ignored: no message for this detail-type");
                Ok(Handled::Ignored { reason: format!("no message for detail-type {:?}", incoming.detail_type) })
            }
        }
    }

    async fn handle_task(&self, task: &EcsTask, deadline: SystemTime) -> Result<Handled, NotifyError> {
        let job = self.settings.jobs.job(task);
        let decision = lifecycle::decide(task, &self.settings.non_essential_containers);
        let decision = lifecycle::apply_policy(decision, &job, self.settings.jobs.include_services);
        let log_stream = job.log_stream(task);
        let ctx = JobContext {
            job: &job.name,
            environment: &self.settings.environment,
            channel: job.channel.as_deref().unwrap_or(&self.settings.default_channel),
            notify: job.notify,
            mention: job.mention.as_deref(),
            show_environment: &job.show_environment,
            log_stream: log_stream.as_ref(),
            log: None,
        };
        let key = format!("task#{}", task.task_arn);
        let result = match &decision {
            Decision::Ignore(reason) => {
                debug!(job = job.name, task = task.task_id(), status = %task.last_status, version = task.version, reason, "ignored");
                return Ok(Handled::Ignored { reason: format!("{}: {reason}", task.last_status) });
            }
            Decision::Start => self.post_start(&key, &ctx, task, deadline).await,
            Decision::Finish(outcome) => self.post_completion(&key, &ctx, &job, task, outcome, deadline).await,
        };
        match &result {
            Ok(handled) => {
                info!(job = job.name, task = task.task_id(), status = %task.last_status, version = task.version, action = ?handled, "decision")
            }
            Err(e) => {
                error!(job = job.name, task = task.task_id(), status = %task.last_status, version = task.version, error = %e, "failed")
            }
        }
        result
    }

    async fn post_start(
        &self,
        key: &str,
        ctx: &JobContext<'_>,
        task: &EcsTask,
        deadline: SystemTime,
    ) -> Result<Handled, NotifyError> {
        let claim = self.claim_for(key, Slot::Start, deadline);
        if let ClaimResult::Taken(_) = self.store.claim(&claim).await? {
            return Ok(Handled::Skipped { key: key.into(), slot: Slot::Start.name() });
        }
        let posted = self.post_claimed(&claim, &message::start_message(ctx, task), deadline).await?;
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
        deadline: SystemTime,
    ) -> Result<Handled, NotifyError> {
        let claim = self.claim_for(key, Slot::Completion, deadline);
        let record = match self.store.claim(&claim).await? {
            ClaimResult::Taken(_) => return Ok(Handled::Skipped { key: key.into(), slot: Slot::Completion.name() }),
            ClaimResult::Claimed(record) => record,
        };
        let thread = match self.start_thread(&claim, record, deadline).await {
            Ok(thread) => thread,
            Err(e) => return Err(self.released(&claim, e.into()).await),
        };
        let (log, stream) = self.read_log(task, ctx.log_stream, deadline).await;
        let failed = log.summary.as_ref().and_then(|s| s.failed);
        let outcome = outcome.clone().with_reported_failures(failed, job.summary_failures_fail_job);
        if job.notify == Notify::Failures && outcome.succeeded {
            // Read the log only to learn it did not fail after all.
            self.release(&claim).await;
            return Ok(Handled::Ignored { reason: "notify is failures: it succeeded".into() });
        }
        let ctx = JobContext {
            channel: thread.as_ref().map_or(ctx.channel, |start| start.channel.as_str()),
            log_stream: stream.as_ref().or(ctx.log_stream),
            log: Some(&log),
            ..*ctx
        };
        let message = message::completion_message(&ctx, task, &outcome, thread.as_ref().map(|start| start.ts.as_str()));
        let posted = self.post_claimed(&claim, &message, deadline).await?;
        if let Some(start) = &thread {
            // Best effort: the outcome is posted; a start message left
            // unchanged is cosmetic and must not make the event retry.
            let finished = message::finished_start_message(&ctx, task, &outcome);
            if let Err(e) = self.slack.update(start, &finished, deadline).await {
                warn!(key, error = %e, "could not update the start message with the outcome");
            }
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
        deadline: SystemTime,
    ) -> (JobLog, Option<LogStream>) {
        let left =
            deadline.duration_since(SystemTime::now()).unwrap_or_default().saturating_sub(Duration::from_secs(3));
        let budget = self.settings.log_budget.min(left);
        let tail = match tokio::time::timeout(budget, self.logs.tail(task, configured)).await {
            Ok(Ok(Some(tail))) => tail,
            Ok(Ok(None)) => return (JobLog::default(), None),
            Ok(Err(e)) => {
                warn!(task = task.task_id(), error = %e, "job log not read");
                return (JobLog { note: Some(format!("Logs not read: {e}")), ..JobLog::default() }, None);
            }
            Err(_) => {
                warn!(task = task.task_id(), budget_ms = budget.as_millis() as u64, "job log not read in time");
                let note = format!("Logs not read: no answer within {} ms.", budget.as_millis());
                return (JobLog { note: Some(note), ..JobLog::default() }, None);
            }
        };
        let findings = summary::find(&tail.lines);
        for line in &findings.malformed {
            warn!(task = task.task_id(), line = %line.chars().take(200).collect::<String>(), "ignored a JOB_SUMMARY line that is not a JSON object");
        }
        (JobLog { summary: findings.summary, last_lines: tail.lines, note: None }, tail.stream)
    }

    /// The start message to thread under. When another invocation is
    /// posting it right now (RUNNING and STOPPED of a short task arrive
    /// together), waits briefly for it rather than post a standalone reply.
    async fn start_thread(
        &self,
        claim: &Claim,
        mut record: Record,
        deadline: SystemTime,
    ) -> Result<Option<Posted>, StoreError> {
        let now = SystemTime::now();
        let wait_until =
            (now + self.settings.start_wait).min(deadline.checked_sub(Duration::from_secs(2)).unwrap_or(now));
        while record.start.in_flight(epoch_secs(SystemTime::now())) && SystemTime::now() + START_POLL < wait_until {
            tokio::time::sleep(START_POLL).await;
            record = self.store.get(&claim.key).await?;
        }
        Ok(record.start.posted)
    }

    async fn handle_registration(
        &self,
        incoming: &Incoming,
        reg: &Registration,
        deadline: SystemTime,
    ) -> Result<Handled, NotifyError> {
        // Keyed on the user, not the event id: an app that retries PutEvents
        // sends a new event id for the same sign-up.
        let key = format!("registration#{}", reg.user_id);
        let claim = self.claim_for(&key, Slot::Once, deadline);
        let result = match self.store.claim(&claim).await? {
            ClaimResult::Taken(_) => Ok(Handled::Skipped { key: key.clone(), slot: Slot::Once.name() }),
            ClaimResult::Claimed(_) => {
                let channel = self.settings.users_channel.as_deref().unwrap_or(&self.settings.default_channel);
                let message = message::registration_message(reg, incoming.time, &self.settings.environment, channel);
                self.post_claimed(&claim, &message, deadline).await.map(|posted| Handled::PostedRegistration {
                    key: key.clone(),
                    channel: posted.channel,
                    ts: posted.ts,
                })
            }
        };
        match &result {
            Ok(handled) => info!(event_id = ?incoming.id, user = %reg.user_id, action = ?handled, "decision"),
            Err(e) => error!(event_id = ?incoming.id, user = %reg.user_id, error = %e, "failed"),
        }
        result
    }

    /// Posts under a held claim: on failure the claim is released so the
    /// event's retry can post; on success it is settled.
    async fn post_claimed(
        &self,
        claim: &Claim,
        message: &Message,
        deadline: SystemTime,
    ) -> Result<Posted, NotifyError> {
        let posted = match self.slack.post(message, deadline).await {
            Ok(posted) => posted,
            Err(e) => return Err(self.released(claim, e.into()).await),
        };
        // The message is out. Failing now would make the retry post it
        // again, so a lost write is logged, not returned.
        if let Err(e) = self.store.settle(claim, &posted).await {
            error!(key = %claim.key, slot = claim.slot.name(), error = %e, "posted but could not record it; a redelivery may post again");
        }
        Ok(posted)
    }

    async fn released(&self, claim: &Claim, cause: NotifyError) -> NotifyError {
        self.release(claim).await;
        cause
    }

    async fn release(&self, claim: &Claim) {
        if let Err(e) = self.store.release(claim).await {
            warn!(key = %claim.key, error = %e, "could not release claim; it lapses with its lease");
        }
    }

    fn claim_for(&self, key: &str, slot: Slot, deadline: SystemTime) -> Claim {
        let now = SystemTime::now();
        Claim {
            key: key.to_owned(),
            slot,
            token: claim_token(now),
            now: epoch_secs(now),
            lease_until: epoch_secs(deadline.max(now)) + LEASE_MARGIN_SECS,
            expires_at: epoch_secs(now + self.settings.record_ttl),
        }
    }
}

pub(crate) fn epoch_secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Unique per attempt across execution environments: a per-process random
/// value (std's hasher seed), the time and a counter.
fn claim_token(now: SystemTime) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static PROCESS: OnceLock<u64> = OnceLock::new();
    let process = PROCESS.get_or_init(|| RandomState::new().build_hasher().finish());
    let nanos = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{process:016x}-{nanos:x}-{:x}", COUNTER.fetch_add(1, Ordering::Relaxed))
}
