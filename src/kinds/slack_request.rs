//! Requests from Slack through the Function URL: the Stop and Re-run
//! buttons, and the `/jobs` command. The notifier's only surface open to
//! the internet:
//!
//! - each request's signature is checked before anything else; a refusal
//!   does nothing and answers 401 with nothing more;
//! - only a job's operators may act; anyone may ask `/jobs status`;
//! - each action is claimed, so a double click or a replayed request does
//!   nothing more;
//! - the answer is out within 2.5 s of Slack sending the request: what
//!   fits is done before it, what does not is claimed, acknowledged and
//!   handed over (`ports::Deferral`) to be finished after it.
//!
//! An HTTP kind: it answers with a status code and never fails the
//! invocation. Secrets, signatures and bodies are never logged.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_lambda_events::http::{HeaderMap, HeaderValue};
use aws_lambda_events::lambda_function_urls::{LambdaFunctionUrlRequest, LambdaFunctionUrlResponse};
use base64::Engine;
use serde::Deserialize;
use tracing::{Instrument, info, info_span, warn};

use super::mute::{MuteEnd, end_mute};
use crate::claim::Notices;
use crate::job_control::{self, Command, RunRequest, RunSpec, choose_network, client_token, task_arn_parts};
use crate::jobs::{Job, Notify};
use crate::message::job_control as say;
use crate::message::mute::muted_message;
use crate::message::{Message, Reply};
use crate::mute::{Ended, Length, Mute};
use crate::ports::{
    Claim, ClaimResult, Clock, Deferral, Deferred, Discovery, FoundSchedule, FoundTask, HeldClaim, JobState, JobStore,
    Posted, Schedules, Slot, TaskControl, TaskIndex, TokenSource,
};
use crate::settings::Settings;
use crate::signature;
use crate::time::Timestamp;

pub type HttpResponse = LambdaFunctionUrlResponse;

/// Slack waits 3 seconds for an answer; this one is out within 2.5 of
/// Slack sending the request, whatever is left to do.
pub const ANSWER_WITHIN: Duration = Duration::from_millis(2500);
/// Kept back for handing an action over (Lambda's asynchronous `Invoke`
/// answers in tens of milliseconds) and for the answer itself.
pub const DEFER_RESERVE: Duration = Duration::from_millis(400);
/// What starting or stopping a task and saying so in its thread usually
/// take at most: with less time left, the action is deferred at once.
pub const ACTION_TAKES: Duration = Duration::from_millis(1200);
/// A claim's lease past the invocation's deadline when its action may be
/// finished by a deferred invocation (whose timeout is at most 10 s).
const DEFERRED_LEASE: Duration = Duration::from_secs(60);

/// When Slack sent the request: the later of `X-Slack-Request-Timestamp`
/// (seconds) and the Function URL's `requestContext.timeEpoch` (ms); never
/// later than now (a clock ahead of ours gives no extra time).
pub fn sent_at(timestamp_header: Option<&str>, time_epoch_ms: i64, now: Timestamp) -> Timestamp {
    let header = timestamp_header.and_then(|t| Timestamp::parse_slack_secs(t.trim()).ok()).unwrap_or(Timestamp::EPOCH);
    header.max(Timestamp::from_millis(time_epoch_ms)).max(Timestamp::EPOCH).min(now)
}

/// The time left to answer a request Slack sent at `sent`.
pub fn answer_budget(sent: Timestamp, now: Timestamp) -> Duration {
    (sent + ANSWER_WITHIN).duration_since(now)
}

/// How much time an action has: until its answer is due (a request from
/// Slack), or until the invocation's deadline (a deferred action, whose
/// answer was given already).
#[derive(Debug, Clone, Copy)]
struct Budget {
    /// The answer is due then (tokio's clock); `None`: deferred, nothing
    /// waits for an answer.
    answer_by: Option<tokio::time::Instant>,
    /// The invocation's deadline.
    deadline: Timestamp,
}

impl Budget {
    fn deferred(deadline: Timestamp) -> Budget {
        Budget { answer_by: None, deadline }
    }

    fn left(&self) -> Option<Duration> {
        self.answer_by.map(|by| by.saturating_duration_since(tokio::time::Instant::now()))
    }

    /// Whether `needs` still fits before the answer, with the reserve.
    fn has_room(&self, needs: Duration) -> bool {
        self.left().is_none_or(|left| left >= needs + DEFER_RESERVE)
    }

    /// Until when a piece of work may run before the answer.
    fn work_until(&self) -> Option<tokio::time::Instant> {
        self.answer_by.map(|by| by.checked_sub(DEFER_RESERVE).unwrap_or(by))
    }

    /// A discovery's time: what leaves room for the action after it.
    fn discovery_until(&self, now: Timestamp) -> Timestamp {
        let left = match self.left() {
            Some(left) => left.saturating_sub(ACTION_TAKES + DEFER_RESERVE),
            None => self.deadline.duration_since(now).saturating_sub(ACTION_TAKES),
        };
        now + left
    }

    /// The deadline a claim is taken with: long enough, when the action may
    /// be deferred, for the deferred invocation to hold it.
    fn lease(&self) -> Timestamp {
        self.deadline + DEFERRED_LEASE
    }
}

/// What a deferred invocation did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finished {
    /// Always `finished`.
    pub action: String,
    /// What was deferred: `stop`, `rerun`, `run`.
    pub deferred: String,
}

/// The result of work that may not fit in the answer's time.
enum Outcome<T> {
    Done(T),
    /// Out of time: hand it over.
    Defer,
}

pub struct SlackRequests<'a> {
    pub settings: &'a Settings,
    pub notices: Notices<'a>,
    pub secrets: &'a dyn TokenSource,
    pub tasks: &'a dyn TaskIndex,
    pub jobs: &'a dyn JobStore,
    pub schedules: &'a dyn Schedules,
    pub control: &'a dyn TaskControl,
    pub deferral: &'a dyn Deferral,
    pub clock: &'a dyn Clock,
}

/// A `block_actions` interaction: a button was pressed.
#[derive(Debug, Deserialize)]
struct Interaction {
    #[serde(rename = "type")]
    kind: String,
    user: User,
    #[serde(default)]
    response_url: Option<String>,
    #[serde(default)]
    actions: Vec<Action>,
    /// Unique per interaction: a menu choice is done once per trigger.
    #[serde(default)]
    trigger_id: String,
}

#[derive(Debug, Deserialize)]
struct User {
    id: String,
}

#[derive(Debug, Deserialize)]
struct Action {
    action_id: String,
    #[serde(default)]
    value: String,
    /// A menu's choice (its `value` is what the option carries).
    #[serde(default)]
    selected_option: Option<Selected>,
}

#[derive(Debug, Deserialize)]
struct Selected {
    value: String,
}

/// What to tell the person who acted.
type Answer = Reply;

/// Who is acting, and what a deferral of their action carries.
struct Asked<'r> {
    user: &'r str,
    response_url: Option<&'r str>,
    /// A claim taken by the invocation that answered (a deferred action).
    held: Option<&'r HeldClaim>,
    /// The action's claim was settled or given back.
    resolved: AtomicBool,
}

impl<'r> Asked<'r> {
    fn new(user: &'r str, response_url: Option<&'r str>, held: Option<&'r HeldClaim>) -> Asked<'r> {
        Asked { user, response_url, held, resolved: AtomicBool::new(false) }
    }

    fn resolve(&self) {
        self.resolved.store(true, Ordering::Relaxed);
    }
}

/// What an "👀 I'm on it" press takes: whose, what (a task id, or an
/// alert's key, as the job's record keeps it), and the messages to stamp
/// with the thread each is in.
struct Taken {
    job: String,
    id: String,
    places: Vec<(Posted, Option<String>)>,
}

impl SlackRequests<'_> {
    pub async fn handle(&self, request: &LambdaFunctionUrlRequest, deadline: Timestamp) -> HttpResponse {
        let span = info_span!("slack_request", request_id = request.request_context.request_id.as_deref());
        self.answer(request, deadline).instrument(span).await
    }

    /// Finishes an action a request's answer deferred: its result goes to
    /// the run's thread and the `response_url`, as if it had been done at
    /// once. A second delivery finds the action done and does nothing.
    pub async fn finish(&self, action: &Deferred, deadline: Timestamp) -> Finished {
        let budget = Budget::deferred(deadline);
        let finished = Finished { action: "finished".into(), deferred: action.name().into() };
        info!(deferred = action.name(), "finishing a deferred Slack action");
        let (user, response_url, held) = match action {
            Deferred::Stop { user, response_url, claim, .. }
            | Deferred::Rerun { user, response_url, claim, .. }
            | Deferred::Ack { user, response_url, claim, .. }
            | Deferred::Run { user, response_url, claim, .. } => (user, response_url.as_deref(), claim),
        };
        // A second delivery finds the action done: nothing more, not even
        // a second answer.
        match self.notices.claim(&held.claim(self.clock.now())).await {
            Ok(ClaimResult::Claimed(_)) => {}
            Ok(ClaimResult::Taken(_)) => {
                info!(deferred = action.name(), "a deferred action found itself done already: nothing more");
                return finished;
            }
            Err(e) => {
                warn!(error = %e, "a deferred action's claim could not be read: not done (it lapses with its lease)");
                return finished;
            }
        }
        let asked = Asked::new(user, response_url, Some(held));
        let answer = match action {
            Deferred::Stop { task_arn, command, .. } => self.stop_arn(task_arn, &asked, *command, budget).await,
            Deferred::Rerun { task_arn, .. } => self.rerun(task_arn, &asked, budget).await,
            Deferred::Ack { task_arn, .. } => self.acknowledge(task_arn, &asked, budget).await,
            Deferred::Run { job, channel, trigger, .. } => self.run(job, &asked, channel, trigger, budget).await,
        };
        // A refusal, or an answer that did nothing, is final too: the claim
        // is settled, so a second delivery does not answer again.
        if !asked.resolved.load(Ordering::Relaxed) {
            self.notices.done(&held.claim(self.clock.now()), "").await;
        }
        if let (Some(answer), Some(url)) = (answer, response_url) {
            if let Err(e) = self.notices.slack.respond(url, &answer, deadline).await {
                warn!(error = %e, "could not answer the one who asked");
            }
        }
        finished
    }

    async fn answer(&self, request: &LambdaFunctionUrlRequest, deadline: Timestamp) -> HttpResponse {
        let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
        let now = self.clock.now();
        let sent = sent_at(header("x-slack-request-timestamp"), request.request_context.time_epoch, now);
        let left = answer_budget(sent, now).min(deadline.duration_since(now));
        // Nowhere to hand an action over (a local run): all is done before
        // the answer, however long it takes.
        let answer_by = self.deferral.available().then(|| tokio::time::Instant::now() + left);
        let budget = Budget { answer_by, deadline };
        let Some(body) = raw_body(request) else {
            warn!("refused a request: its body does not decode");
            return status(401);
        };
        let secret = match self.secrets.signing_secret().await {
            Ok(secret) => secret,
            Err(e) => {
                // A refusal like any other: an unchecked caller learns
                // nothing of the notifier's state.
                warn!(error = %e, "the Slack secret was not read: requests cannot be checked");
                return status(401);
            }
        };
        let now = self.notices.clock.now();
        if let Err(refusal) = signature::verify(
            secret.as_ref(),
            header("x-slack-request-timestamp"),
            header("x-slack-signature"),
            &body,
            now,
        ) {
            warn!(reason = %refusal, "refused a request");
            return status(401);
        }
        let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
        if let Some(payload) = form.get("payload") {
            self.interaction(payload, budget).await
        } else if form.contains_key("command") {
            // A command is claimed by its trigger: without one, a repeated
            // request could not be told from a new one.
            if form.get("trigger_id").is_none_or(|t| t.trim().is_empty()) {
                warn!("refused a slash command without a trigger_id");
                return text(400, "a slash command without a trigger_id: nothing was done");
            }
            let reply = self.command(&form, budget).await;
            json(&reply)
        } else {
            text(400, "expected a Slack interaction (payload) or a slash command (command)")
        }
    }

    /// A button press: answered 200 at once; what the presser should know
    /// goes to them through the interaction's `response_url`.
    async fn interaction(&self, payload: &str, budget: Budget) -> HttpResponse {
        let interaction: Interaction = match serde_json::from_str(payload) {
            Ok(interaction) => interaction,
            Err(e) => return text(400, &format!("unreadable interaction payload: {e}")),
        };
        let Some(action) = interaction.actions.first().filter(|_| interaction.kind == "block_actions") else {
            return status(200);
        };
        let asked = Asked::new(interaction.user.id.as_str(), interaction.response_url.as_deref(), None);
        let answer = match action.action_id.as_str() {
            say::STOP_ACTION => self.stop_arn(&action.value, &asked, false, budget).await,
            say::RERUN_ACTION => self.rerun(&action.value, &asked, budget).await,
            say::ACK_ACTION => self.acknowledge(&action.value, &asked, budget).await,
            say::MUTE_ACTION => {
                let choice = action.selected_option.as_ref().map_or("", |s| s.value.as_str());
                Some(self.mute_from_menu(choice, &asked, &interaction.trigger_id, budget).await)
            }
            other => Some(Reply::ephemeral(format!(
                "This notifier has no action `{}`.",
                crate::message::text::escape(other)
            ))),
        };
        if let (Some(answer), Some(url)) = (answer, interaction.response_url.as_deref()) {
            let respond = self.notices.slack.respond(url, &answer, budget.deadline);
            let answered = match budget.work_until() {
                Some(until) => tokio::time::timeout_at(until, respond).await.unwrap_or_else(|_| {
                    warn!("the answer to the button's presser was not sent: the time to answer ran out");
                    Ok(())
                }),
                None => respond.await,
            };
            if let Err(e) = answered {
                warn!(error = %e, "could not answer the button's presser");
            }
        }
        status(200)
    }

    /// `/jobs …`: the answer is the HTTP response's body.
    async fn command(&self, form: &HashMap<String, String>, budget: Budget) -> Reply {
        let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
        let asked = Asked::new(field("user_id"), form.get("response_url").map(String::as_str), None);
        let command = job_control::parse_command(field("text"));
        info!(command = command.name(), user = asked.user, "slash command");
        match command {
            Command::Status => self.status().await,
            Command::Help => say::help_reply(),
            Command::Unknown(text) => say::unknown_reply(&text),
            Command::Stop(task_id) => self.stop_id(&task_id, &asked, budget).await,
            Command::Usage(usage) => say::usage_reply(&usage),
            Command::Mute(job, length) => self.mute(&job, length, &asked, field("trigger_id"), budget).await,
            Command::Unmute(job) => self.unmute(&job, &asked, budget).await,
            Command::Run(job) => self
                .run(&job, &asked, field("channel_id"), field("trigger_id"), budget)
                .await
                .unwrap_or_else(|| Reply::ephemeral("That command was done already.".into())),
        }
    }

    async fn status(&self) -> Reply {
        let states = match self.jobs.jobs().await {
            Ok(states) => states,
            Err(e) => return failed("read the jobs' history", &e),
        };
        let states: Vec<JobState> =
            states.into_iter().filter(|s| self.job_of_record(s).notify != Notify::None).collect();
        let (on_it, mutes) = tokio::join!(super::on_it(self.jobs, &states), super::mutes(self.jobs, &states));
        let mut jobs: Vec<say::StatusLine> = states
            .iter()
            .map(|s| {
                let last = s.runs.iter().filter(|r| r.finished()).max_by_key(|r| r.end);
                say::StatusLine {
                    job: s.job.clone(),
                    last,
                    running: s.runs.iter().filter(|r| !r.finished()).count(),
                    on_it: on_it.get(&s.job).map(String::as_str),
                    muted: mutes.get(&s.job),
                }
            })
            .collect();
        jobs.sort_by(|a, b| a.job.cmp(&b.job));
        say::status_reply(&jobs)
    }

    /// A job's record and settings by name, for a command that names it:
    /// its operators are the rule's its last run fell under. `Err`: what to
    /// say (an unknown job, a store that cannot be read).
    async fn named_job(&self, name: &str) -> Result<(Job, Option<JobState>), Answer> {
        let states = self.jobs.jobs().await.map_err(|e| failed("read the jobs' history", &e))?;
        let state = states.iter().find(|s| s.job == name).cloned();
        let configured = self.settings.jobs.scheduled().any(|j| j.name == name)
            || self.settings.jobs.jobs.iter().any(|r| r.name.as_deref() == Some(name));
        match state {
            Some(state) => Ok((self.job_of_record(&state), Some(state))),
            None if configured => Ok((self.settings.jobs.job_named(name), None)),
            None => {
                let mut known: Vec<&str> = states.iter().map(|s| s.job.as_str()).collect();
                known.sort_unstable();
                Err(Reply::ephemeral(format!(
                    "I know no job `{}`. Jobs I know: {}.",
                    crate::message::text::escape_truncated(name, 100),
                    crate::message::text::escape_truncated(&known.join(", "), 1000)
                )))
            }
        }
    }

    /// `/jobs mute <job> <length>`, operators only: kept on the job's
    /// record, and said once in its channel (one mute per command: a
    /// repeated request, same trigger, does nothing more).
    async fn mute(&self, name: &str, length: Length, asked: &Asked<'_>, trigger: &str, budget: Budget) -> Reply {
        let (job, state) = match self.named_job(name).await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
        let job = match permit(job, asked.user, "mute") {
            Ok(job) => job,
            Err(refusal) => return refusal,
        };
        self.mute_job(&job, state.as_ref(), length, asked, &format!("command#{trigger}"), trigger, budget).await
    }

    /// "🔕 Mute…" on a failure: the job is the failed run's, by the rule
    /// that matches it (as for Stop and Re-run), operators only.
    async fn mute_from_menu(&self, choice: &str, asked: &Asked<'_>, trigger: &str, budget: Budget) -> Reply {
        let Some((length, task_id)) = say::parse_mute_choice(choice).filter(|_| !trigger.is_empty()) else {
            return Reply::ephemeral("That menu names no mute.".into());
        };
        let found = match self.tasks.find(task_id).await {
            Ok(Some(found)) => found,
            Ok(None) => return Reply::ephemeral("I know nothing of this run any more.".into()),
            Err(e) => return failed("find the run", &e),
        };
        let job = match self.authorize(&found, asked.user, "mute") {
            Ok(job) => job,
            Err(refusal) => return refusal,
        };
        let state = match self.jobs.head(&job.name).await {
            Ok(head) => head,
            Err(e) => return failed("read the job's record", &e),
        };
        self.mute_job(&job, state.as_ref(), length, asked, &format!("action#mute#{trigger}"), trigger, budget).await
    }

    /// Mutes `job` once per `key` (a command's, a menu choice's), and says
    /// so in its channel.
    #[allow(clippy::too_many_arguments)]
    async fn mute_job(
        &self,
        job: &Job,
        state: Option<&JobState>,
        length: Length,
        asked: &Asked<'_>,
        key: &str,
        trigger: &str,
        budget: Budget,
    ) -> Reply {
        let claim = match self.claim(key, asked, budget, "That was done already.").await {
            Ok(claim) => claim,
            Err(answer) => return answer.unwrap_or_else(|| Reply::ephemeral("That was done already.".into())),
        };
        let mute = Mute::new(trigger, asked.user, self.clock.now(), length);
        if let Err(e) = self.jobs.set_mute(&job.name, Some(&mute)).await {
            let e = self.notices.released(&claim, e.into()).await;
            return failed("mute the job", &e);
        }
        info!(user = asked.user, job = %job.name, until = ?mute.until, "muted from Slack");
        let channel = self.job_channel(job, state);
        let said = crate::message::labelled(self.settings.label(), muted_message(&channel, &job.name, &mute));
        let name = crate::message::text::escape_truncated(&job.name, 100);
        match self.notices.post(&claim, &said, budget.deadline).await {
            Ok(_) => {
                Reply::ephemeral(format!("🔕 Muted *{name}*; its channel says so. `/jobs unmute {name}` ends it."))
            }
            Err(e) => Reply::ephemeral(format!(
                "🔕 Muted *{name}*, but its channel could not be told: {}",
                crate::message::text::escape_truncated(&e.to_string(), 300)
            )),
        }
    }

    /// `/jobs unmute <job>`, operators only: ends the mute and says in the
    /// job's channel what happened meanwhile, once.
    async fn unmute(&self, name: &str, asked: &Asked<'_>, budget: Budget) -> Reply {
        let (job, state) = match self.named_job(name).await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
        let job = match permit(job, asked.user, "unmute") {
            Ok(job) => job,
            Err(refusal) => return refusal,
        };
        let escaped = crate::message::text::escape_truncated(&job.name, 100);
        let mute = match self.jobs.head(&job.name).await {
            Ok(head) => head.and_then(|h| h.mute),
            Err(e) => return failed("read the job's record", &e),
        };
        let Some(mute) = mute else {
            return Reply::ephemeral(format!("*{escaped}* is not muted. Nothing was done."));
        };
        let now = self.clock.now();
        let runs = state.as_ref().map_or(&[][..], |s| &s.runs[..]);
        let end = MuteEnd {
            job: &job.name,
            channel: &self.job_channel(&job, state.as_ref()),
            label: self.settings.label(),
            mute: &mute,
            ended: Ended::By(asked.user.to_owned()),
            meanwhile: super::mute::meanwhile(runs, &job, &mute, now, 0),
        };
        match end_mute(&self.notices, self.jobs, end, budget.deadline).await {
            Ok(true) => Reply::ephemeral(format!("🔔 Unmuted *{escaped}*; its channel says what happened meanwhile.")),
            Ok(false) => Reply::ephemeral(format!("*{escaped}* was unmuted already. Nothing more was done.")),
            Err(e) => failed("unmute the job", &e),
        }
    }

    /// Where a job posts: its rule's channel, else where its runs posted,
    /// else the default.
    fn job_channel(&self, job: &Job, state: Option<&JobState>) -> String {
        job.channel
            .clone()
            .or_else(|| state.and_then(|s| s.channel.clone()))
            .unwrap_or_else(|| self.settings.default_channel.clone())
    }

    /// The job a task is, by the rule that matches it (as its buttons
    /// were decided), and whether `user` may act on it. Never by the name
    /// its record keeps: tasks of different rules can share a name.
    fn authorize(&self, found: &FoundTask, user: &str, action: &str) -> Result<Job, Answer> {
        let Some(spec) = found.run.as_ref().or(found.facts.spec.as_ref()) else {
            info!(user, job = %found.facts.job, action, "refused: the record keeps no task to match rules against");
            return Err(Reply::ephemeral(format!(
                "I cannot tell which rule of JOBS_CONFIG this task falls under any more, so I will not {action} it."
            )));
        };
        let job = self.settings.jobs.job(&spec.as_task());
        permit(job, user, action)
    }

    /// A job record's settings: the rule its last run fell under, when that
    /// rule still names it so.
    fn job_of_record(&self, state: &JobState) -> Job {
        self.settings.jobs.job_named_as(&state.job, state.last_run.as_ref().map(RunSpec::as_task).as_ref())
    }

    /// A claim on an action, or what to say when it was done already. A
    /// deferred action holds the claim its answer took: claiming it again
    /// with its token holds unless the action was done (a second delivery
    /// of the deferred action), and then says nothing.
    async fn claim(
        &self,
        key: &str,
        asked: &Asked<'_>,
        budget: Budget,
        already: &str,
    ) -> Result<Claim, Option<Answer>> {
        let claim = match asked.held {
            Some(held) => held.claim(self.clock.now()),
            None => self.notices.claim_for(key, Slot::Once, budget.lease()),
        };
        match self.notices.claim(&claim).await {
            Ok(ClaimResult::Claimed(_)) => Ok(claim),
            Ok(ClaimResult::Taken(_)) if asked.held.is_some() => {
                info!(key, "a deferred action found itself done already: nothing more");
                Err(None)
            }
            Ok(ClaimResult::Taken(_)) => Err(Some(Reply::ephemeral(already.to_owned()))),
            Err(e) => Err(Some(failed("record the action", &e))),
        }
    }

    /// Runs `work` if it fits before the answer (with `needs` time left),
    /// bounded by the answer's time; `Defer` when it does not fit.
    async fn in_time<T>(&self, budget: Budget, needs: Duration, work: impl Future<Output = Outcome<T>>) -> Outcome<T> {
        let Some(until) = budget.work_until() else { return work.await };
        if !budget.has_room(needs) {
            return Outcome::Defer;
        }
        tokio::time::timeout_at(until, work).await.unwrap_or(Outcome::Defer)
    }

    /// Hands a claimed action over, to be finished after the answer; on
    /// failure gives the claim back and says so.
    async fn defer(&self, action: Deferred, claim: &Claim, ack: Option<String>) -> Option<Answer> {
        match self.deferral.defer(&action).await {
            Ok(()) => {
                info!(deferred = action.name(), "acknowledged; finished after the answer");
                ack.map(Reply::ephemeral)
            }
            Err(e) => {
                self.notices.release(claim).await;
                Some(failed("hand the action over to be finished", &e))
            }
        }
    }

    async fn stop_id(&self, task_id: &str, asked: &Asked<'_>, budget: Budget) -> Reply {
        if !job_control::is_task_id(task_id) {
            return Reply::ephemeral("Give a task id: `/jobs stop 9781c248b1ab4c5b9d5f0d7f1e2c3a4b`.".into());
        }
        match self.tasks.find(task_id).await {
            Ok(Some(found)) => {
                let arn = found.key.trim_start_matches("task#").to_owned();
                let done = || Reply::ephemeral("Asked ECS to stop it; its thread says so.".into());
                self.stop(&arn, found, asked, true, budget).await.unwrap_or_else(done)
            }
            Ok(None) => {
                Reply::ephemeral(format!("I know no task `{task_id}`: only tasks whose start I posted can be stopped."))
            }
            Err(e) => failed("find the task", &e),
        }
    }

    async fn stop_arn(&self, task_arn: &str, asked: &Asked<'_>, command: bool, budget: Budget) -> Option<Answer> {
        if task_arn_parts(task_arn).is_none() {
            return Some(Reply::ephemeral("That button names no task.".into()));
        }
        match self.tasks.task(&format!("task#{task_arn}")).await {
            Ok(Some(found)) => self.stop(task_arn, found, asked, command, budget).await,
            Ok(None) => Some(Reply::ephemeral("I know nothing of this task any more.".into())),
            Err(e) => Some(failed("find the task", &e)),
        }
    }

    /// Stops a task once, and says who did it in its thread. `None`: done,
    /// and the thread says so.
    async fn stop(
        &self,
        task_arn: &str,
        found: FoundTask,
        asked: &Asked<'_>,
        command: bool,
        budget: Budget,
    ) -> Option<Answer> {
        let user = asked.user;
        let job = match self.authorize(&found, user, "stop") {
            Ok(job) => job,
            Err(answer) => return Some(answer),
        };
        let Some((cluster, task_id)) = task_arn_parts(task_arn) else {
            warn!(job = %job.name, "not stopped: the task's ARN names no cluster and task id");
            return Some(Reply::ephemeral(
                "I cannot stop this task: its ARN does not name its cluster and task id. Nothing was done.".into(),
            ));
        };
        let claim = match self
            .claim(&format!("action#stop#{task_arn}"), asked, budget, "This task was stopped from Slack already.")
            .await
        {
            Ok(claim) => claim,
            Err(answer) => return answer,
        };
        let work = async {
            let reason = format!("Stopped from Slack by {user}");
            if let Err(e) = self.control.stop_task(cluster, task_id, &reason).await {
                asked.resolve();
                self.notices.release(&claim).await;
                return Outcome::Done(Some(failed("stop the task", &e)));
            }
            info!(user, job = %job.name, task = task_id, "stopped from Slack");
            let thread = found.record.start.posted.as_ref().or(found.record.completion.posted.as_ref());
            let said = |t: &Posted| say::stop_requested_message(&t.channel, &t.ts, &job.name, user, task_id);
            Outcome::Done(self.say_in_thread(asked, &claim, thread.map(said), budget.deadline).await)
        };
        match self.in_time(budget, ACTION_TAKES, work).await {
            Outcome::Done(answer) => answer,
            Outcome::Defer => {
                let action = Deferred::Stop {
                    task_arn: task_arn.to_owned(),
                    user: user.to_owned(),
                    response_url: asked.response_url.map(str::to_owned),
                    command,
                    claim: HeldClaim::of(&claim),
                };
                let ack = command.then(|| format!("Stopping `{task_id}`… its thread will say so."));
                self.defer(action, &claim, ack).await
            }
        }
    }

    async fn rerun(&self, task_arn: &str, asked: &Asked<'_>, budget: Budget) -> Option<Answer> {
        if task_arn_parts(task_arn).is_none() {
            return Some(Reply::ephemeral("That button names no task.".into()));
        }
        let user = asked.user;
        let found = match self.tasks.task(&format!("task#{task_arn}")).await {
            Ok(Some(found)) => found,
            Ok(None) => return Some(Reply::ephemeral("I know nothing of this run any more.".into())),
            Err(e) => return Some(failed("find the run", &e)),
        };
        let job = match self.authorize(&found, user, "re-run") {
            Ok(job) => job,
            Err(answer) => return Some(answer),
        };
        let Some(spec) = found.run.clone() else {
            return Some(Reply::ephemeral("I did not keep what this run had, so I cannot re-run it.".into()));
        };
        let key = format!("action#rerun#{task_arn}");
        let claim = match self.claim(&key, asked, budget, "This run was re-run from Slack already.").await {
            Ok(claim) => claim,
            Err(answer) => return answer,
        };
        let work = async {
            let Some(from_schedule) = self.schedule_network(&spec, budget).await else { return Outcome::Defer };
            let network = match choose_network(&spec, from_schedule, job.run.as_ref()) {
                Ok(network) => network,
                Err(why) => {
                    asked.resolve();
                    self.notices.release(&claim).await;
                    return Outcome::Done(Some(Reply::ephemeral(format!(
                        "Not re-run: {why}. Give the job `run` settings in JOBS_CONFIG."
                    ))));
                }
            };
            let request = RunRequest::rerun(&spec, network, job_control::started_by(user), client_token(&key));
            let new_task = match self.control.run_task(&request).await {
                Ok(arn) => arn,
                Err(e) => {
                    asked.resolve();
                    self.notices.release(&claim).await;
                    return Outcome::Done(Some(failed("start the re-run", &e)));
                }
            };
            let new_id = new_task.rsplit('/').next().unwrap_or(&new_task).to_owned();
            info!(user, job = %job.name, task = %new_id, "re-run from Slack");
            let thread = found.record.start.posted.as_ref().or(found.record.completion.posted.as_ref());
            let said = |t: &Posted| say::rerun_started_message(&t.channel, &t.ts, &job.name, user, &new_id);
            Outcome::Done(self.say_in_thread(asked, &claim, thread.map(said), budget.deadline).await)
        };
        match self.in_time(budget, ACTION_TAKES, work).await {
            Outcome::Done(answer) => answer,
            Outcome::Defer => {
                let action = Deferred::Rerun {
                    task_arn: task_arn.to_owned(),
                    user: user.to_owned(),
                    response_url: asked.response_url.map(str::to_owned),
                    claim: HeldClaim::of(&claim),
                };
                self.defer(action, &claim, None).await
            }
        }
    }

    /// "👀 I'm on it": anyone may press it, and it acts on nothing in AWS.
    /// The first press is claimed once: it is kept on the job's record and
    /// stamped on the failure's messages; a later one changes nothing and
    /// tells its presser who has it. `None`: the stamps say it. `value`
    /// names a failed run (its task ARN) or an open missed-run alert.
    async fn acknowledge(&self, value: &str, asked: &Asked<'_>, budget: Budget) -> Option<Answer> {
        let taken = match self.taken(value).await {
            Ok(taken) => taken,
            Err(answer) => return Some(answer),
        };
        let user = asked.user;
        let key = format!("action#ack#{value}");
        let claim = match asked.held {
            Some(held) => held.claim(self.clock.now()),
            None => self.notices.claim_for(&key, Slot::Once, budget.lease()),
        };
        match self.notices.claim(&claim).await {
            Ok(ClaimResult::Claimed(_)) => {}
            Ok(ClaimResult::Taken(_)) if asked.held.is_some() => {
                info!(key, "a deferred acknowledgement found itself done already: nothing more");
                return None;
            }
            Ok(ClaimResult::Taken(_)) => {
                let holder = match self.jobs.head(&taken.job).await {
                    Ok(head) => head.and_then(|h| h.on_it(&taken.id).map(str::to_owned)),
                    Err(e) => {
                        warn!(error = %e, "the job's record was not read: who is on it is not said");
                        None
                    }
                };
                return Some(say::acknowledged_already_reply(holder.as_deref(), user));
            }
            Err(e) => return Some(failed("record that you are on it", &e)),
        }
        let ack = crate::ports::Acknowledged { task_id: taken.id.clone(), user: user.to_owned(), at: self.clock.now() };
        let work = async {
            if let Err(e) = self.jobs.acknowledge(&taken.job, &ack).await {
                asked.resolve();
                self.notices.release(&claim).await;
                return Outcome::Done(Some(failed("record that you are on it", &e)));
            }
            info!(user, job = %taken.job, of = %taken.id, "acknowledged from Slack");
            let unstamped = self.stamp(&taken.places, user, budget.deadline).await;
            asked.resolve();
            let channel = taken.places.first().map_or("", |(at, _)| at.channel.as_str());
            self.notices.done(&claim, channel).await;
            Outcome::Done(unstamped.map(|why| {
                Reply::ephemeral(format!(
                    "👀 You are on it, but I could not show it on the failure: {}",
                    crate::message::text::escape_truncated(&why, 500)
                ))
            }))
        };
        match self.in_time(budget, ACTION_TAKES, work).await {
            Outcome::Done(answer) => answer,
            Outcome::Defer => {
                let action = Deferred::Ack {
                    task_arn: value.to_owned(),
                    user: user.to_owned(),
                    response_url: asked.response_url.map(str::to_owned),
                    claim: HeldClaim::of(&claim),
                };
                self.defer(action, &claim, None).await
            }
        }
    }

    /// What an "👀 I'm on it" button's `value` names, found in the store:
    /// a failed run (its task ARN) or an open missed-run alert (its key).
    /// `Err`: the answer that says why not.
    async fn taken(&self, value: &str) -> Result<Taken, Answer> {
        if value.starts_with("outage#") {
            let job = value
                .strip_prefix("outage#")
                .and_then(|rest| rest.rsplit_once('#'))
                .filter(|(job, first)| !job.is_empty() && first.parse::<i64>().is_ok())
                .map(|(job, _)| job.to_owned())
                .ok_or_else(|| Reply::ephemeral("That button names no alert.".into()))?;
            let record = self.notices.store.get(value).await.map_err(|e| failed("find the alert", &e))?;
            let alert = record
                .once
                .message()
                .cloned()
                .ok_or_else(|| Reply::ephemeral("I know nothing of this alert any more.".into()))?;
            return Ok(Taken { job, id: value.to_owned(), places: vec![(alert, None)] });
        }
        if task_arn_parts(value).is_none() {
            return Err(Reply::ephemeral("That button names no task.".into()));
        }
        let found = match self.tasks.task(&format!("task#{value}")).await {
            Ok(Some(found)) => found,
            Ok(None) => return Err(Reply::ephemeral("I know nothing of this run any more.".into())),
            Err(e) => return Err(failed("find the run", &e)),
        };
        // Its reply, and its start message updated to ❌.
        let places = found.record.failure_places();
        Ok(Taken { job: found.facts.job, id: found.facts.task_id, places })
    }

    /// Stamps "👀 <@U…> is on it" on the messages that show what was taken
    /// (where each is, and the thread it is in), read back from Slack and
    /// changed in that one part. A message stamped already is left alone,
    /// so a second attempt changes nothing. `Some(why)`: not every message
    /// could be stamped.
    async fn stamp(&self, places: &[(Posted, Option<String>)], user: &str, deadline: Timestamp) -> Option<String> {
        let mut problems = Vec::new();
        for (at, thread) in places {
            let message = match self.notices.slack.message_at(at, thread.as_deref(), deadline).await {
                Ok(Some(message)) => message,
                Ok(None) => {
                    problems.push("the message is not there any more".to_owned());
                    continue;
                }
                Err(e) => {
                    warn!(error = %e, "a failure message was not read: not stamped");
                    problems.push(e.to_string());
                    continue;
                }
            };
            let Some(blocks) = say::acknowledged_blocks(&message.blocks, user) else { continue };
            if let Err(e) = self.notices.slack.update(at, &Message { blocks, ..message }, deadline).await {
                warn!(error = %e, "a failure message was not stamped");
                problems.push(e.to_string());
            }
        }
        (!problems.is_empty()).then(|| problems.join("; "))
    }

    /// The network of the schedule that starts the job: the rule that
    /// started this run (one `ListTargetsByRule`) or its EventBridge
    /// Scheduler schedule ([`Self::schedule_of_run`]), else a schedule of
    /// the same job on its cluster (a discovery, cached). `None`: the
    /// discovery was cut short before the answer was due (defer);
    /// `Some(None)`: no schedule's network.
    async fn schedule_network(&self, spec: &RunSpec, budget: Budget) -> Option<Option<job_control::Network>> {
        if let Some(name) = spec.rule() {
            match self.schedules.rule(name).await {
                // The rule is the run's schedule: nothing else to look at.
                Ok(targets) if !targets.is_empty() => {
                    return Some(targets.iter().find_map(|f| f.target.network()));
                }
                Ok(_) => {
                    info!(rule = name, "the run's rule has no ECS target any more; looking for the job's schedule")
                }
                Err(e) => warn!(error = %e, "the run's rule not read; the re-run's network comes from elsewhere"),
            }
        }
        if let Some(named) = spec.schedule() {
            match self.schedule_of_run(spec, &named, budget).await {
                // The schedule is the run's: nothing else to look at.
                Ok(Some(found)) => return Some(found.target.network()),
                Ok(None) => info!(
                    schedule = named.prefix(),
                    "the run's schedule is not there, or no longer runs it; looking for the job's schedule"
                ),
                Err(e) => warn!(error = %e, "the run's schedule not read; the re-run's network comes from elsewhere"),
            }
        }
        let now = self.clock.now();
        let discovery = match self.schedules.discover(budget.discovery_until(now)).await {
            Ok(discovery) => discovery,
            Err(e) => {
                warn!(error = %e, "schedules not read; the re-run's network comes from elsewhere");
                return Some(None);
            }
        };
        if let Some(why) = &discovery.cut_short {
            if budget.answer_by.is_some() {
                return None;
            }
            warn!(cut_short = %why, "schedule discovery cut short; the re-run's network may come from elsewhere");
        }
        let run = spec.as_task();
        let by_job = discovery
            .found
            .iter()
            .find(|f| f.target.cluster_arn == spec.cluster && self.settings.jobs.same_job(&f.target.as_task(), &run));
        Some(by_job.and_then(|f| f.target.network()))
    }

    /// The EventBridge Scheduler schedule that started a run, by its
    /// `startedBy`: a whole name is one `GetSchedule` in the group
    /// `default`; a cut one (or a whole one found elsewhere) one listing
    /// under the name (`ListSchedules` `NamePrefix`), of which only those
    /// on the run's cluster are read, one by one, until one runs the run's
    /// family. Never a discovery.
    async fn schedule_of_run(
        &self,
        spec: &RunSpec,
        named: &job_control::ScheduleName,
        budget: Budget,
    ) -> Result<Option<FoundSchedule>, crate::ports::ScheduleError> {
        let runs_it =
            |found: &FoundSchedule| spec.runs_as(&found.target.cluster_arn, &found.target.task_definition_arn);
        let first = named.first_read();
        if let Some((group, name)) = first {
            if let Some(found) = self.schedules.schedule(group, name).await?.filter(runs_it) {
                return Ok(Some(found));
            }
        }
        let listed = self.schedules.named(named.prefix(), budget.discovery_until(self.clock.now())).await?;
        if let Some(why) = &listed.cut_short {
            warn!(cut_short = %why, "the schedules under the run's schedule's name were not all listed");
        }
        for candidate in job_control::schedules_to_read(named, spec, &listed.schedules, first) {
            if let Some(found) = self.schedules.schedule(&candidate.group, &candidate.name).await?.filter(runs_it) {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// `/jobs run <job>`: as its schedule's target runs it, else as its
    /// last run ran. Who may run it is decided by the rule that what is
    /// about to run falls under, as for a button. `None`: a deferred run
    /// found itself done already.
    async fn run(&self, name: &str, asked: &Asked<'_>, channel: &str, trigger: &str, budget: Budget) -> Option<Reply> {
        let user = asked.user;
        // One run per command: a repeated request (same trigger) does nothing more.
        let key = format!("command#{trigger}");
        let states = match self.jobs.jobs().await {
            Ok(states) => states,
            Err(e) => return Some(failed("read the jobs' history", &e)),
        };
        let discovery = self.schedules.discover(budget.discovery_until(self.clock.now())).await.unwrap_or_else(|e| {
            warn!(error = %e, "schedules not read");
            Discovery::default()
        });
        if discovery.cut_short.is_some() && budget.answer_by.is_some() {
            // The account's schedules take longer to read than Slack waits:
            // acknowledged now, run by a deferred invocation.
            let claim = match self.claim(&key, asked, budget, "That command was done already.").await {
                Ok(claim) => claim,
                Err(answer) => return answer,
            };
            let action = Deferred::Run {
                job: name.to_owned(),
                user: user.to_owned(),
                channel: channel.to_owned(),
                trigger: trigger.to_owned(),
                response_url: asked.response_url.map(str::to_owned),
                claim: HeldClaim::of(&claim),
            };
            let ack = format!(
                "Running *{}*… I'm reading its schedules, and will say here when it has started.",
                crate::message::text::escape_truncated(name, 100)
            );
            return self.defer(action, &claim, Some(ack)).await;
        }
        let cut_short = discovery.cut_short.as_deref().map(|why| {
            warn!(cut_short = %why, "schedule discovery cut short");
            format!(" (I could not read every schedule in time: {}.)", crate::message::text::escape_truncated(why, 300))
        });
        let note = cut_short.as_deref().unwrap_or_default();
        let config = &self.settings.jobs;
        let targets = &discovery.found;
        let target = targets.iter().find(|f| config.job(&f.target.as_task()).name == name);
        let state = states.iter().find(|s| s.job == name);
        let configured = config.scheduled().any(|j| j.name == name);
        if target.is_none() && state.is_none() && !configured {
            let mut known: Vec<&str> = states.iter().map(|s| s.job.as_str()).collect();
            known.sort_unstable();
            return Some(Reply::ephemeral(format!(
                "I know no job `{}`. Jobs I know: {}.{note}",
                crate::message::text::escape_truncated(name, 100),
                crate::message::text::escape_truncated(&known.join(", "), 1000)
            )));
        }
        let copied = match (target, state.and_then(|s| s.last_run.as_ref())) {
            (Some(target), _) => Copied::Schedule(target),
            (None, Some(spec)) => Copied::LastRun(spec),
            (None, None) => {
                return Some(Reply::ephemeral(format!(
                    "Not run: it has no schedule to copy and no finished run to copy.{note}"
                )));
            }
        };
        let job = match permit(config.job(&copied.as_task()), user, "run") {
            Ok(job) => job,
            Err(refusal) => return Some(refusal),
        };
        let started_by = job_control::started_by(user);
        let (request, how) = match copied {
            Copied::Schedule(target) => {
                (target.target.run_request(started_by, client_token(&key)), format!("as its {} runs it", target.source))
            }
            Copied::LastRun(spec) => match choose_network(spec, None, job.run.as_ref()) {
                Ok(network) => (
                    RunRequest::rerun(spec, network, started_by, client_token(&key)),
                    format!("as its last run ran{}", if cut_short.is_some() { ", not all schedules read" } else { "" }),
                ),
                Err(why) => return Some(Reply::ephemeral(format!("Not run: {why}.{note}"))),
            },
        };
        let claim = match self.claim(&key, asked, budget, "That command was done already.").await {
            Ok(claim) => claim,
            Err(answer) => return answer,
        };
        let work = async {
            match self.control.run_task(&request).await {
                Ok(arn) => {
                    let id = arn.rsplit('/').next().unwrap_or(&arn).to_owned();
                    info!(user, job = name, task = %id, "run from Slack");
                    asked.resolve();
                    self.notices.done(&claim, channel).await;
                    Outcome::Done(say::job_started_reply(name, user, &id, &how))
                }
                Err(e) => {
                    asked.resolve();
                    self.notices.release(&claim).await;
                    Outcome::Done(failed("start the job", &e))
                }
            }
        };
        match self.in_time(budget, ACTION_TAKES, work).await {
            Outcome::Done(reply) => Some(reply),
            Outcome::Defer => {
                let action = Deferred::Run {
                    job: name.to_owned(),
                    user: user.to_owned(),
                    channel: channel.to_owned(),
                    trigger: trigger.to_owned(),
                    response_url: asked.response_url.map(str::to_owned),
                    claim: HeldClaim::of(&claim),
                };
                let ack = format!(
                    "Running *{}*… I'll say here when it has started.",
                    crate::message::text::escape_truncated(name, 100)
                );
                self.defer(action, &claim, Some(ack)).await
            }
        }
    }

    /// Says what was done in the run's thread, under the action's claim;
    /// with no thread, marks the action done and tells the asker instead.
    async fn say_in_thread(
        &self,
        asked: &Asked<'_>,
        claim: &Claim,
        message: Option<Message>,
        deadline: Timestamp,
    ) -> Option<Answer> {
        asked.resolve();
        match message {
            Some(message) => match self.notices.post(claim, &message, deadline).await {
                Ok(_) => None,
                Err(e) => Some(Reply::ephemeral(format!(
                    "Done, but I could not say so in its thread: {}",
                    crate::message::text::escape_truncated(&e.to_string(), 500)
                ))),
            },
            None => {
                self.notices.done(claim, "").await;
                Some(Reply::ephemeral("Done.".into()))
            }
        }
    }
}

/// What `/jobs run` copies.
enum Copied<'a> {
    Schedule(&'a FoundSchedule),
    LastRun(&'a RunSpec),
}

impl Copied<'_> {
    /// What is about to run, as the rules see it.
    fn as_task(&self) -> crate::event::EcsTask {
        match self {
            Copied::Schedule(found) => found.target.as_task(),
            Copied::LastRun(spec) => spec.as_task(),
        }
    }
}

/// `job`, when `user` is one of its operators; else what to tell them.
fn permit(job: Job, user: &str, action: &str) -> Result<Job, Answer> {
    if job.operators.iter().any(|op| op == user) {
        Ok(job)
    } else {
        info!(user, job = %job.name, action, "refused: not an operator");
        Err(say::not_allowed_reply(action, &job.name))
    }
}

/// The body as Slack sent it: the signature is over these bytes.
fn raw_body(request: &LambdaFunctionUrlRequest) -> Option<Vec<u8>> {
    let body = request.body.as_deref().unwrap_or_default();
    if request.is_base64_encoded {
        base64::engine::general_purpose::STANDARD.decode(body.trim()).ok()
    } else {
        Some(body.as_bytes().to_vec())
    }
}

fn failed(what: &str, error: &dyn std::fmt::Display) -> Reply {
    warn!(error = %error, "could not {what}");
    Reply::ephemeral(format!(
        "I could not {what}: {}. Nothing else was done.",
        crate::message::text::escape_truncated(&error.to_string(), 500)
    ))
}

fn response(code: i64, content_type: Option<&'static str>, body: Option<String>) -> HttpResponse {
    let mut response = LambdaFunctionUrlResponse::default();
    response.status_code = code;
    if let Some(content_type) = content_type {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static(content_type));
        response.headers = headers;
    }
    response.body = body;
    response
}

/// A bare status: what a refusal says.
fn status(code: i64) -> HttpResponse {
    response(code, None, None)
}

fn text(code: i64, message: &str) -> HttpResponse {
    response(code, Some("text/plain; charset=utf-8"), Some(message.to_owned()))
}

fn json(reply: &Reply) -> HttpResponse {
    let body = serde_json::to_string(reply).unwrap_or_else(|_| r#"{"text":"internal error"}"#.into());
    response(200, Some("application/json"), Some(body))
}

#[cfg(test)]
mod tests;
