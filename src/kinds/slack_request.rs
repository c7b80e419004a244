//! Requests from Slack through the Function URL: the Stop and Re-run
//! buttons, and the `/jobs` command. The notifier's only surface open to
//! the internet:
//!
//! - each request's signature is checked before anything else; a refusal
//!   does nothing and answers 401 with nothing more;
//! - only a job's operators may act; anyone may ask `/jobs status`;
//! - each action is claimed, so a double click or a replayed request does
//!   nothing more;
//! - the work is done before the answer, within Slack's 3 seconds.
//!
//! An HTTP kind: it answers with a status code and never fails the
//! invocation. Secrets, signatures and bodies are never logged.

use std::collections::HashMap;
use std::time::SystemTime;

use aws_lambda_events::http::{HeaderMap, HeaderValue};
use aws_lambda_events::lambda_function_urls::{LambdaFunctionUrlRequest, LambdaFunctionUrlResponse};
use base64::Engine;
use serde::Deserialize;
use tracing::{Instrument, info, info_span, warn};

use crate::claim::{Notices, epoch_secs};
use crate::control::{self, Command, RunRequest, RunSpec, choose_network, client_token, task_arn_parts};
use crate::jobs::{Job, Notify};
use crate::message::control as say;
use crate::message::{Message, Reply};
use crate::ports::{
    Claim, ClaimResult, FoundSchedule, FoundTask, JobState, JobStore, Posted, Schedules, Slot, TaskControl, TaskIndex,
    TokenSource,
};
use crate::settings::Settings;
use crate::signature;

pub type HttpResponse = LambdaFunctionUrlResponse;

pub struct SlackRequests<'a> {
    pub settings: &'a Settings,
    pub notices: Notices<'a>,
    pub secrets: &'a dyn TokenSource,
    pub tasks: &'a dyn TaskIndex,
    pub jobs: &'a dyn JobStore,
    pub schedules: &'a dyn Schedules,
    pub control: &'a dyn TaskControl,
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
}

/// What to tell the person who acted.
type Answer = Reply;

impl SlackRequests<'_> {
    pub async fn handle(&self, request: &LambdaFunctionUrlRequest, deadline: SystemTime) -> HttpResponse {
        let span = info_span!("slack_request", request_id = request.request_context.request_id.as_deref());
        self.answer(request, deadline).instrument(span).await
    }

    async fn answer(&self, request: &LambdaFunctionUrlRequest, deadline: SystemTime) -> HttpResponse {
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
        let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
        let now = epoch_secs(self.notices.clock.now());
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
            self.interaction(payload, deadline).await
        } else if form.contains_key("command") {
            // A command is claimed by its trigger: without one, a repeated
            // request could not be told from a new one.
            if form.get("trigger_id").is_none_or(|t| t.trim().is_empty()) {
                warn!("refused a slash command without a trigger_id");
                return text(400, "a slash command without a trigger_id: nothing was done");
            }
            let reply = self.command(&form, deadline).await;
            json(&reply)
        } else {
            text(400, "expected a Slack interaction (payload) or a slash command (command)")
        }
    }

    /// A button press: answered 200 at once; what the presser should know
    /// goes to them through the interaction's `response_url`.
    async fn interaction(&self, payload: &str, deadline: SystemTime) -> HttpResponse {
        let interaction: Interaction = match serde_json::from_str(payload) {
            Ok(interaction) => interaction,
            Err(e) => return text(400, &format!("unreadable interaction payload: {e}")),
        };
        let Some(action) = interaction.actions.first().filter(|_| interaction.kind == "block_actions") else {
            return status(200);
        };
        let user = interaction.user.id.as_str();
        let answer = match action.action_id.as_str() {
            say::STOP_ACTION => self.stop_arn(&action.value, user, deadline).await,
            say::RERUN_ACTION => self.rerun(&action.value, user, deadline).await,
            other => Some(Reply::ephemeral(format!(
                "This notifier has no action `{}`.",
                crate::message::text::escape(other)
            ))),
        };
        if let (Some(answer), Some(url)) = (answer, interaction.response_url.as_deref()) {
            if let Err(e) = self.notices.slack.respond(url, &answer, deadline).await {
                warn!(error = %e, "could not answer the button's presser");
            }
        }
        status(200)
    }

    /// `/jobs …`: the answer is the HTTP response's body.
    async fn command(&self, form: &HashMap<String, String>, deadline: SystemTime) -> Reply {
        let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
        let user = field("user_id");
        let asked = control::parse_command(field("text"));
        info!(command = asked.name(), user, "slash command");
        match asked {
            Command::Status => self.status().await,
            Command::Help => say::help_reply(),
            Command::Unknown(text) => say::unknown_reply(&text),
            Command::Stop(task_id) => self.stop_id(&task_id, user, deadline).await,
            Command::Run(job) => self.run(&job, user, field("channel_id"), field("trigger_id"), deadline).await,
        }
    }

    async fn status(&self) -> Reply {
        let states = match self.jobs.jobs().await {
            Ok(states) => states,
            Err(e) => return failed("read the jobs' history", &e),
        };
        let mut jobs: Vec<(String, Option<&crate::health::Run>, usize)> = states
            .iter()
            .filter(|s| self.job_of_record(s).notify != Notify::None)
            .map(|s| {
                let last = s.runs.iter().filter(|r| r.finished()).max_by_key(|r| r.end);
                (s.job.clone(), last, s.runs.iter().filter(|r| !r.finished()).count())
            })
            .collect();
        jobs.sort_by(|a, b| a.0.cmp(&b.0));
        say::status_reply(&jobs)
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

    /// A claim on an action, or what to say when it was done already.
    async fn claim(&self, key: &str, deadline: SystemTime, already: &str) -> Result<Claim, Answer> {
        let claim = self.notices.claim_for(key, Slot::Once, deadline);
        match self.notices.claim(&claim).await {
            Ok(ClaimResult::Claimed(_)) => Ok(claim),
            Ok(ClaimResult::Taken(_)) => Err(Reply::ephemeral(already.to_owned())),
            Err(e) => Err(failed("record the action", &e)),
        }
    }

    async fn stop_id(&self, task_id: &str, user: &str, deadline: SystemTime) -> Reply {
        if !control::is_task_id(task_id) {
            return Reply::ephemeral("Give a task id: `/jobs stop 9781c248b1ab4c5b9d5f0d7f1e2c3a4b`.".into());
        }
        match self.tasks.find(task_id).await {
            Ok(Some(found)) => {
                let arn = found.key.trim_start_matches("task#").to_owned();
                let done = || Reply::ephemeral("Asked ECS to stop it; its thread says so.".into());
                self.stop(&arn, found, user, deadline).await.unwrap_or_else(done)
            }
            Ok(None) => {
                Reply::ephemeral(format!("I know no task `{task_id}`: only tasks whose start I posted can be stopped."))
            }
            Err(e) => failed("find the task", &e),
        }
    }

    async fn stop_arn(&self, task_arn: &str, user: &str, deadline: SystemTime) -> Option<Answer> {
        if task_arn_parts(task_arn).is_none() {
            return Some(Reply::ephemeral("That button names no task.".into()));
        }
        match self.tasks.task(&format!("task#{task_arn}")).await {
            Ok(Some(found)) => self.stop(task_arn, found, user, deadline).await,
            Ok(None) => Some(Reply::ephemeral("I know nothing of this task any more.".into())),
            Err(e) => Some(failed("find the task", &e)),
        }
    }

    /// Stops a task once, and says who did it in its thread. `None`: done,
    /// and the thread says so.
    async fn stop(&self, task_arn: &str, found: FoundTask, user: &str, deadline: SystemTime) -> Option<Answer> {
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
            .claim(&format!("action#stop#{task_arn}"), deadline, "This task was stopped from Slack already.")
            .await
        {
            Ok(claim) => claim,
            Err(answer) => return Some(answer),
        };
        let reason = format!("Stopped from Slack by {user}");
        if let Err(e) = self.control.stop_task(cluster, task_id, &reason).await {
            self.notices.release(&claim).await;
            return Some(failed("stop the task", &e));
        }
        info!(user, job = %job.name, task = task_id, "stopped from Slack");
        let thread = found.record.start.posted.or(found.record.completion.posted);
        let said = |t: &Posted| say::stop_requested_message(&t.channel, &t.ts, &job.name, user, task_id);
        self.say_in_thread(&claim, thread.as_ref().map(said), deadline).await
    }

    async fn rerun(&self, task_arn: &str, user: &str, deadline: SystemTime) -> Option<Answer> {
        if task_arn_parts(task_arn).is_none() {
            return Some(Reply::ephemeral("That button names no task.".into()));
        }
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
        let claim = match self.claim(&key, deadline, "This run was re-run from Slack already.").await {
            Ok(claim) => claim,
            Err(answer) => return Some(answer),
        };
        let network = match choose_network(&spec, self.schedule_network(&spec).await, job.run.as_ref()) {
            Ok(network) => network,
            Err(why) => {
                self.notices.release(&claim).await;
                return Some(Reply::ephemeral(format!(
                    "Not re-run: {why}. Give the job `run` settings in JOBS_CONFIG."
                )));
            }
        };
        let request = RunRequest::rerun(&spec, network, control::started_by(user), client_token(&key));
        let new_task = match self.control.run_task(&request).await {
            Ok(arn) => arn,
            Err(e) => {
                self.notices.release(&claim).await;
                return Some(failed("start the re-run", &e));
            }
        };
        let new_id = new_task.rsplit('/').next().unwrap_or(&new_task).to_owned();
        info!(user, job = %job.name, task = %new_id, "re-run from Slack");
        let thread = found.record.start.posted.or(found.record.completion.posted);
        let said = |t: &Posted| say::rerun_started_message(&t.channel, &t.ts, &job.name, user, &new_id);
        self.say_in_thread(&claim, thread.as_ref().map(said), deadline).await
    }

    /// The network of the schedule that starts the job: the rule that
    /// started this run, else a schedule of the same job on its cluster.
    async fn schedule_network(&self, spec: &RunSpec) -> Option<control::Network> {
        let found = match self.schedules.schedules().await {
            Ok(found) => found,
            Err(e) => {
                warn!(error = %e, "schedules not read; the re-run's network comes from elsewhere");
                return None;
            }
        };
        let rule = spec.rule().map(|name| format!("rule {name}"));
        let by_rule = found.iter().find(|f| Some(&f.source) == rule.as_ref());
        let run = spec.as_task();
        let by_job = || {
            found.iter().find(|f| {
                f.target.cluster_arn == spec.cluster && self.settings.jobs.same_job(&f.target.as_task(), &run)
            })
        };
        by_rule.or_else(by_job).and_then(|f| f.target.network())
    }

    /// `/jobs run <job>`: as its schedule's target runs it, else as its
    /// last run ran. Who may run it is decided by the rule that what is
    /// about to run falls under, as for a button.
    async fn run(&self, name: &str, user: &str, channel: &str, trigger: &str, deadline: SystemTime) -> Reply {
        let states = match self.jobs.jobs().await {
            Ok(states) => states,
            Err(e) => return failed("read the jobs' history", &e),
        };
        let targets = self.schedules.schedules().await.unwrap_or_else(|e| {
            warn!(error = %e, "schedules not read");
            Vec::new()
        });
        let config = &self.settings.jobs;
        let target = targets.iter().find(|f| config.job(&f.target.as_task()).name == name);
        let state = states.iter().find(|s| s.job == name);
        let configured = config.scheduled().any(|j| j.name == name);
        if target.is_none() && state.is_none() && !configured {
            let mut known: Vec<&str> = states.iter().map(|s| s.job.as_str()).collect();
            known.sort_unstable();
            return Reply::ephemeral(format!(
                "I know no job `{}`. Jobs I know: {}.",
                crate::message::text::escape_truncated(name, 100),
                crate::message::text::escape_truncated(&known.join(", "), 1000)
            ));
        }
        // One run per command: a repeated request (same trigger) does nothing more.
        let key = format!("command#{trigger}");
        let copied = match (target, state.and_then(|s| s.last_run.as_ref())) {
            (Some(target), _) => Copied::Schedule(target),
            (None, Some(spec)) => Copied::LastRun(spec),
            (None, None) => {
                return Reply::ephemeral("Not run: it has no schedule to copy and no finished run to copy.".into());
            }
        };
        let job = match permit(config.job(&copied.as_task()), user, "run") {
            Ok(job) => job,
            Err(refusal) => return refusal,
        };
        let started_by = control::started_by(user);
        let (request, how) = match copied {
            Copied::Schedule(target) => {
                (target.target.run_request(started_by, client_token(&key)), format!("as its {} runs it", target.source))
            }
            Copied::LastRun(spec) => match choose_network(spec, None, job.run.as_ref()) {
                Ok(network) => {
                    (RunRequest::rerun(spec, network, started_by, client_token(&key)), "as its last run ran".to_owned())
                }
                Err(why) => return Reply::ephemeral(format!("Not run: {why}.")),
            },
        };
        let claim = match self.claim(&key, deadline, "That command was done already.").await {
            Ok(claim) => claim,
            Err(answer) => return answer,
        };
        match self.control.run_task(&request).await {
            Ok(arn) => {
                let id = arn.rsplit('/').next().unwrap_or(&arn).to_owned();
                info!(user, job = name, task = %id, "run from Slack");
                self.notices.done(&claim, channel).await;
                say::job_started_reply(name, user, &id, &how)
            }
            Err(e) => {
                self.notices.release(&claim).await;
                failed("start the job", &e)
            }
        }
    }

    /// Says what was done in the run's thread, under the action's claim;
    /// with no thread, marks the action done and tells the asker instead.
    async fn say_in_thread(&self, claim: &Claim, message: Option<Message>, deadline: SystemTime) -> Option<Answer> {
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
