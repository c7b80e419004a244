//! Per-job configuration (`JOBS_CONFIG`): which task is which job, where its
//! notices go, which of them are sent, who is mentioned when it fails.
//!
//! Rules are tried in order; the first whose matchers all hold gives the
//! job's settings. Anything a rule leaves out falls back to the defaults.

mod matcher;

use serde::Deserialize;

use std::time::Duration;

use crate::escalation::{self, After, Escalation};
use crate::event::EcsTask;
use crate::log_levels::Threshold;
use crate::schedule::{self, Schedule};

pub use matcher::Matcher;

/// Tasks of a job that start within this many seconds of the first form a
/// group with one message.
pub const DEFAULT_GROUP_WINDOW_SECS: u64 = 60;

/// A success this many times slower than the job's usual run says so.
pub const DEFAULT_SLOW_FACTOR: f64 = 2.0;
/// How long after its due time a scheduled run may start before it is missed.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(300);

/// Streamed replies per task before the one "further lines are in the log
/// stream" note.
pub const DEFAULT_STREAM_REPLIES: u32 = 20;

/// Which notices a job sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Notify {
    /// Start message, completion in its thread.
    #[default]
    All,
    /// Nothing on start or success; a top-level message when it fails.
    Failures,
    None,
}

/// A suspicion of the job's history that a job may silence: `on` (the
/// default) or `off`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Toggle {
    #[default]
    On,
    Off,
}

impl Toggle {
    pub fn on(self) -> bool {
        self == Toggle::On
    }
}

/// A runbook's address: https only, and nothing that would end a Slack
/// link (`|`, `<`, `>`) or a URL (whitespace). Checked as it is read, so
/// the error names where it is (`jobs[1].runbook: …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runbook(pub String);

/// The longest runbook address taken.
pub const MAX_RUNBOOK_CHARS: usize = 1000;

impl Runbook {
    pub fn parse(url: &str) -> Result<Runbook, String> {
        let host = url.strip_prefix("https://").ok_or_else(|| format!("{url:?} is not an https:// URL"))?;
        if host.split(['/', '?', '#']).next().is_none_or(str::is_empty) {
            return Err(format!("{url:?} has no host"));
        }
        if url.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '|' | '<' | '>')) {
            return Err(format!("{url:?}: a URL has no spaces, |, < or >"));
        }
        if url.chars().count() > MAX_RUNBOOK_CHARS {
            return Err(format!("longer than {MAX_RUNBOOK_CHARS} characters"));
        }
        Ok(Runbook(url.to_owned()))
    }
}

impl<'de> Deserialize<'de> for Runbook {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let url = String::deserialize(deserializer)?;
        Runbook::parse(&url).map_err(serde::de::Error::custom)
    }
}

/// Where a job's container logs are, as templates over `{family}`, `{job}`
/// and `{container}`; the stream is `{stream_prefix}/{container}/{task_id}`
/// as ECS's `awslogs` driver names it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logs {
    pub group: String,
    pub stream_prefix: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    /// Removed from the task definition family to make the default job name.
    #[serde(default)]
    pub strip_prefix: Option<String>,
    /// Default job names in snake_case (`reddit-scraper` → `reddit_scraper`).
    #[serde(default)]
    pub snake_case: bool,
    /// Report tasks started by ECS services too (off: services are not jobs).
    #[serde(default)]
    pub include_services: bool,
    /// Override environment variables whose values are shown on the start
    /// message. Others are never shown: they may be secrets.
    #[serde(default)]
    pub show_environment: Vec<String>,
    #[serde(default)]
    pub logs: Option<Logs>,
    /// A job summary with `failed` > 0 makes the run a failure (default: it
    /// is shown as a warning on a success).
    #[serde(default)]
    pub summary_failures_fail_job: bool,
    /// The least level of a job's log line that is streamed into its thread.
    #[serde(default)]
    pub stream_logs: Threshold,
    /// Streamed replies per task; then one note, then nothing.
    #[serde(default = "default_stream_replies")]
    pub stream_logs_max_replies: u32,
    /// A success that took this many times the job's usual run time says
    /// so; so does a run still going after it.
    #[serde(default = "default_slow_factor")]
    pub slow_factor: f64,
    /// Slack user IDs who may stop and re-run jobs from Slack. None: no
    /// buttons, every action refused.
    #[serde(default)]
    pub operators: Vec<String>,
    /// How a re-run gets its network when no schedule says.
    #[serde(default)]
    pub run: Option<RunNetwork>,
    /// Seconds after a job's task starts within which its other tasks join
    /// it in a group (one message, counted outcomes); 0: no groups.
    #[serde(default = "default_group_window")]
    pub group_window: u64,
    /// Where the team's notes on its jobs are: linked on failures and
    /// missed runs.
    #[serde(default)]
    pub runbook: Option<Runbook>,
    /// A success under a quarter of the usual run time says so.
    #[serde(default)]
    pub fast_run: Toggle,
    /// A summary key that is 0 where it usually is not says so.
    #[serde(default)]
    pub zero_counts: Toggle,
    /// How long a failure or missed-run alert may go unacknowledged
    /// before it is escalated to `escalate_to`; unset: never.
    #[serde(default)]
    pub escalate_after: Option<After>,
    #[serde(default)]
    pub escalate_to: Vec<String>,
    #[serde(default)]
    pub jobs: Vec<Rule>,
}

fn default_group_window() -> u64 {
    DEFAULT_GROUP_WINDOW_SECS
}

/// The `awsvpc` network of a re-run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunNetwork {
    pub subnets: Vec<String>,
    #[serde(default)]
    pub security_groups: Vec<String>,
    #[serde(default)]
    pub assign_public_ip: bool,
}

fn default_slow_factor() -> f64 {
    DEFAULT_SLOW_FACTOR
}

fn default_stream_replies() -> u32 {
    DEFAULT_STREAM_REPLIES
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            strip_prefix: None,
            snake_case: false,
            include_services: false,
            show_environment: Vec::new(),
            logs: None,
            summary_failures_fail_job: false,
            stream_logs: Threshold::default(),
            stream_logs_max_replies: DEFAULT_STREAM_REPLIES,
            slow_factor: DEFAULT_SLOW_FACTOR,
            operators: Vec::new(),
            run: None,
            group_window: DEFAULT_GROUP_WINDOW_SECS,
            runbook: None,
            fast_run: Toggle::On,
            zero_counts: Toggle::On,
            escalate_after: None,
            escalate_to: Vec::new(),
            jobs: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(rename = "match")]
    pub matcher: Matcher,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub notify: Option<Notify>,
    #[serde(default)]
    pub mention: Mentions,
    #[serde(default)]
    pub show_environment: Vec<String>,
    #[serde(default)]
    pub logs: Option<Logs>,
    #[serde(default)]
    pub summary_failures_fail_job: Option<bool>,
    #[serde(default)]
    pub stream_logs: Option<Threshold>,
    #[serde(default)]
    pub stream_logs_max_replies: Option<u32>,
    #[serde(default)]
    pub slow_factor: Option<f64>,
    /// When the job is due to run, in AWS's syntax: `rate(15 minutes)` or
    /// `cron(0 6 * * ? *)`. Without one, schedules are discovered.
    #[serde(default)]
    pub schedule: Option<String>,
    /// The schedule's IANA time zone; UTC when absent.
    #[serde(default)]
    pub timezone: Option<String>,
    /// How late a scheduled run may start (`5m`, the default; `90s`, `1h`).
    #[serde(default)]
    pub grace: Option<String>,
    #[serde(default)]
    pub operators: Option<Vec<String>>,
    #[serde(default)]
    pub run: Option<RunNetwork>,
    #[serde(default)]
    pub group_window: Option<u64>,
    #[serde(default)]
    pub runbook: Option<Runbook>,
    #[serde(default)]
    pub fast_run: Option<Toggle>,
    #[serde(default)]
    pub zero_counts: Option<Toggle>,
    #[serde(default)]
    pub escalate_after: Option<After>,
    #[serde(default)]
    pub escalate_to: Option<Vec<String>>,
    /// `schedule`, `timezone` and `grace`, parsed at start-up.
    #[serde(skip)]
    pub parsed_schedule: Option<JobSchedule>,
}

/// When a job is due, and how late it may start.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSchedule {
    pub schedule: Schedule,
    pub grace: Duration,
    /// Where it comes from: `JOBS_CONFIG`, or the rule or schedule found.
    pub source: String,
    /// A disabled EventBridge rule or schedule runs nothing.
    pub enabled: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Mentions {
    #[default]
    Nobody,
    One(String),
    Many(Vec<String>),
}

impl Mentions {
    fn list(&self) -> &[String] {
        match self {
            Mentions::Nobody => &[],
            Mentions::One(one) => std::slice::from_ref(one),
            Mentions::Many(many) => many,
        }
    }
}

/// What the rules say about one task.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub name: String,
    pub channel: Option<String>,
    pub notify: Notify,
    /// Slack mention syntax, validated at start-up; used on failures only.
    pub mention: Option<String>,
    pub show_environment: Vec<String>,
    pub logs: Option<Logs>,
    pub is_service: bool,
    pub summary_failures_fail_job: bool,
    pub stream_logs: Threshold,
    pub stream_logs_max_replies: u32,
    pub slow_factor: f64,
    /// Its schedule in `JOBS_CONFIG`, when it has one.
    pub schedule: Option<JobSchedule>,
    /// Who may stop and re-run it from Slack.
    pub operators: Vec<String>,
    pub run: Option<RunNetwork>,
    /// Seconds within which its tasks group; 0: never.
    pub group_window: u64,
    /// Its runbook's address, https.
    pub runbook: Option<String>,
    /// Which suspicions of its history it says.
    pub suspicions: crate::health::Suspicions,
    /// Who its unacknowledged failures are escalated to, and when.
    pub escalation: Option<Escalation>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("JOBS_CONFIG: {0}")]
pub struct JobsConfigError(pub String);

impl JobsConfig {
    /// Parses and validates; errors name the offending entry, e.g.
    /// `jobs[2].notify: unknown variant …`.
    pub fn parse(json: &str) -> Result<JobsConfig, JobsConfigError> {
        let de = &mut serde_json::Deserializer::from_str(json);
        let mut config: JobsConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." || path == "?" {
                JobsConfigError(inner.to_string())
            } else {
                JobsConfigError(format!("{path}: {inner}"))
            }
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&mut self) -> Result<(), JobsConfigError> {
        if !is_factor(self.slow_factor) {
            return Err(JobsConfigError(format!("slow_factor: {} is not a factor of 1 or more", self.slow_factor)));
        }
        check_operators("operators", &self.operators)?;
        check_network("run", self.run.as_ref())?;
        escalation::check_recipients("escalate_to", &self.escalate_to).map_err(JobsConfigError)?;
        if matches!(self.escalate_after, Some(After::After(_))) && self.escalate_to.is_empty() {
            return Err(JobsConfigError(
                "escalate_after: give escalate_to too: whom to mention (user IDs U…, user-group IDs S…)".into(),
            ));
        }
        for (i, rule) in self.jobs.iter_mut().enumerate() {
            rule.parsed_schedule = rule.schedule(i)?;
            if let Some(operators) = &rule.operators {
                check_operators(&format!("jobs[{i}].operators"), operators)?;
            }
            check_network(&format!("jobs[{i}].run"), rule.run.as_ref())?;
            if rule.slow_factor.is_some_and(|f| !is_factor(f)) {
                return Err(JobsConfigError(format!("jobs[{i}].slow_factor: must be a factor of 1 or more")));
            }
            let m = &rule.matcher;
            if m.family.is_none() && m.container.is_none() && m.command.is_none() && m.environment.is_empty() {
                return Err(JobsConfigError(format!(
                    "jobs[{i}].match: give at least one of family, container, command, environment"
                )));
            }
            for mention in rule.mention.list() {
                if !valid_mention(mention) {
                    return Err(JobsConfigError(format!(
                        "jobs[{i}].mention: {mention:?} is not a Slack mention \
                         (use <!subteam^ID>, <@USER_ID>, <!here> or <!channel>)"
                    )));
                }
            }
            if let Some(name) = &rule.name {
                if name.trim().is_empty() {
                    return Err(JobsConfigError(format!("jobs[{i}].name: must not be empty")));
                }
            }
            if rule.channel.as_deref().is_some_and(|c| c.trim().is_empty()) {
                return Err(JobsConfigError(format!("jobs[{i}].channel: must not be empty")));
            }
            if let Some(to) = &rule.escalate_to {
                escalation::check_recipients(&format!("jobs[{i}].escalate_to"), to).map_err(JobsConfigError)?;
            }
            let after = rule.escalate_after.or(self.escalate_after);
            let to = rule.escalate_to.as_ref().unwrap_or(&self.escalate_to);
            if matches!(after, Some(After::After(_))) && to.is_empty() {
                return Err(JobsConfigError(format!(
                    "jobs[{i}].escalate_after: give escalate_to too (here or at the top level): whom to mention"
                )));
            }
        }
        self.check_names()
    }

    /// The job a task belongs to.
    pub fn job(&self, task: &EcsTask) -> Job {
        let rule = self.rule_of(task).map(|i| &self.jobs[i]);
        // Never a bare task id while anything better is known.
        let base = task.default_name().unwrap_or_else(|| task.task_id());
        let name = rule.and_then(|r| r.name.clone()).unwrap_or_else(|| self.default_name(base));
        let is_service = task.is_service();
        self.settings(rule, name, is_service)
    }

    /// The job of this name: its rule's settings when a rule names it, the
    /// defaults otherwise. Not for who may act on a job: an unnamed rule's
    /// jobs are named after their family, which no rule names.
    pub fn job_named(&self, name: &str) -> Job {
        let rule = self.jobs.iter().find(|rule| rule.name.as_deref() == Some(name));
        self.settings(rule, name.to_owned(), false)
    }

    /// The job of this name, as the rule that matches `run` (one of its
    /// runs) has it when that rule still gives this name; else `job_named`.
    pub fn job_named_as(&self, name: &str, run: Option<&EcsTask>) -> Job {
        run.map(|task| self.job(task)).filter(|job| job.name == name).unwrap_or_else(|| self.job_named(name))
    }

    /// Whether two tasks are the same job: under the same rule, with the
    /// same name (one unnamed rule names each family's tasks apart).
    pub fn same_job(&self, a: &EcsTask, b: &EcsTask) -> bool {
        self.rule_of(a) == self.rule_of(b) && self.job(a).name == self.job(b).name
    }

    /// The first rule that matches the task, by position.
    fn rule_of(&self, task: &EcsTask) -> Option<usize> {
        self.jobs.iter().position(|rule| rule.matcher.matches(task))
    }

    /// Refuses two rules whose tasks would have the same job name: a job's
    /// history, `/jobs run` and its schedule find it by name, and one name
    /// must not stand for two rules' settings and operators.
    fn check_names(&self) -> Result<(), JobsConfigError> {
        let mut seen: Vec<(String, usize)> = Vec::new();
        for (i, rule) in self.jobs.iter().enumerate() {
            // A wildcard family's names are known only when its tasks run.
            let (name, how) = match (&rule.name, rule.matcher.family.as_deref()) {
                (Some(name), _) => (name.clone(), format!("jobs[{i}].name: {name:?}")),
                (None, Some(family)) if !family.contains('*') => {
                    let name = self.default_name(family);
                    (name.clone(), format!("jobs[{i}]: its tasks' default name {name:?} (family {family:?})"))
                }
                _ => continue,
            };
            if let Some((_, first)) = seen.iter().find(|(seen, _)| *seen == name) {
                return Err(JobsConfigError(format!(
                    "{how} is already the name of jobs[{first}]'s tasks: give each rule a name of its own"
                )));
            }
            seen.push((name, i));
        }
        Ok(())
    }

    /// The jobs `JOBS_CONFIG` gives a schedule.
    pub fn scheduled(&self) -> impl Iterator<Item = Job> + '_ {
        self.jobs
            .iter()
            .filter(|rule| rule.parsed_schedule.is_some())
            .filter_map(|rule| Some(self.settings(Some(rule), rule.name.clone()?, false)))
    }

    fn settings(&self, rule: Option<&Rule>, name: String, is_service: bool) -> Job {
        let mut show_environment = self.show_environment.clone();
        if let Some(rule) = rule {
            show_environment.extend(rule.show_environment.iter().cloned());
        }
        let mentions = rule.map_or(&[][..], |r| r.mention.list());
        Job {
            name,
            channel: rule.and_then(|r| r.channel.clone()),
            notify: rule.and_then(|r| r.notify).unwrap_or_default(),
            mention: (!mentions.is_empty()).then(|| mentions.join(" ")),
            show_environment,
            logs: rule.and_then(|r| r.logs.clone()).or_else(|| self.logs.clone()),
            is_service,
            summary_failures_fail_job: rule
                .and_then(|r| r.summary_failures_fail_job)
                .unwrap_or(self.summary_failures_fail_job),
            stream_logs: rule.and_then(|r| r.stream_logs).unwrap_or(self.stream_logs),
            stream_logs_max_replies: rule
                .and_then(|r| r.stream_logs_max_replies)
                .unwrap_or(self.stream_logs_max_replies),
            slow_factor: rule.and_then(|r| r.slow_factor).unwrap_or(self.slow_factor),
            schedule: rule.and_then(|r| r.parsed_schedule.clone()),
            operators: rule.and_then(|r| r.operators.clone()).unwrap_or_else(|| self.operators.clone()),
            run: rule.and_then(|r| r.run.clone()).or_else(|| self.run.clone()),
            group_window: rule.and_then(|r| r.group_window).unwrap_or(self.group_window),
            runbook: rule.and_then(|r| r.runbook.as_ref()).or(self.runbook.as_ref()).map(|r| r.0.clone()),
            suspicions: crate::health::Suspicions {
                fast_run: rule.and_then(|r| r.fast_run).unwrap_or(self.fast_run).on(),
                zero_counts: rule.and_then(|r| r.zero_counts).unwrap_or(self.zero_counts).on(),
            },
            escalation: match rule.and_then(|r| r.escalate_after).or(self.escalate_after) {
                Some(After::After(after)) => Some(Escalation {
                    after,
                    to: rule.and_then(|r| r.escalate_to.clone()).unwrap_or_else(|| self.escalate_to.clone()),
                }),
                _ => None,
            },
        }
    }

    fn default_name(&self, family: &str) -> String {
        let stripped = self
            .strip_prefix
            .as_deref()
            .and_then(|p| family.strip_prefix(p))
            .filter(|rest| !rest.is_empty())
            .unwrap_or(family);
        if self.snake_case { stripped.replace('-', "_") } else { stripped.to_owned() }
    }
}

/// Slack user IDs: `U…` or `W…` (Enterprise Grid), upper-case letters and
/// digits.
pub fn is_user_id(id: &str) -> bool {
    id.len() >= 2
        && id.len() <= 32
        && (id.starts_with('U') || id.starts_with('W'))
        && id.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

fn check_operators(key: &str, operators: &[String]) -> Result<(), JobsConfigError> {
    match operators.iter().find(|id| !is_user_id(id)) {
        Some(bad) => Err(JobsConfigError(format!(
            "{key}: {bad:?} is not a Slack user ID (like U024BE7LH; in Slack, a profile's ⋮ menu, Copy member ID)"
        ))),
        None => Ok(()),
    }
}

fn check_network(key: &str, network: Option<&RunNetwork>) -> Result<(), JobsConfigError> {
    match network {
        Some(n) if n.subnets.is_empty() => Err(JobsConfigError(format!("{key}.subnets: give at least one subnet"))),
        _ => Ok(()),
    }
}

fn is_factor(f: f64) -> bool {
    f.is_finite() && f >= 1.0
}

impl Rule {
    /// The rule's `schedule`, `timezone` and `grace`, checked.
    fn schedule(&self, i: usize) -> Result<Option<JobSchedule>, JobsConfigError> {
        let Some(expression) = &self.schedule else {
            for (key, given) in [("timezone", self.timezone.is_some()), ("grace", self.grace.is_some())] {
                if given {
                    return Err(JobsConfigError(format!("jobs[{i}].{key}: only for a rule with a schedule")));
                }
            }
            return Ok(None);
        };
        if self.name.is_none() {
            return Err(JobsConfigError(format!(
                "jobs[{i}].schedule: a scheduled rule needs a name, the job it schedules"
            )));
        }
        let schedule = Schedule::parse(expression, self.timezone.as_deref()).map_err(|e| {
            JobsConfigError(format!(
                "jobs[{i}].{}: {e}",
                if e.to_string().contains("time zone") { "timezone" } else { "schedule" }
            ))
        })?;
        let grace = match &self.grace {
            Some(text) => {
                schedule::parse_duration(text).map_err(|e| JobsConfigError(format!("jobs[{i}].grace: {e}")))?
            }
            None => DEFAULT_GRACE,
        };
        Ok(Some(JobSchedule { schedule, grace, source: "JOBS_CONFIG".into(), enabled: true }))
    }
}

/// A CloudWatch Logs stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogStream {
    pub group: String,
    pub stream: String,
}

impl Job {
    /// Where the task's main container logs, when the job's log settings
    /// say: the stream of the essential container that failed, else of the
    /// essential one, as the `awslogs` driver names it.
    pub fn log_stream(&self, task: &EcsTask) -> Option<LogStream> {
        let logs = self.logs.as_ref()?;
        let container = task.main_container().map(|c| c.name.as_str())?;
        let family = task.family().unwrap_or_default();
        let group =
            logs.group.replace("{family}", family).replace("{job}", &self.name).replace("{container}", container);
        Some(LogStream { group, stream: format!("{}/{container}/{}", logs.stream_prefix, task.task_id()) })
    }
}

fn valid_mention(m: &str) -> bool {
    let id_ok = |id: &str| !id.is_empty() && id.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    match m {
        "<!here>" | "<!channel>" => true,
        _ => m
            .strip_prefix("<!subteam^")
            .or_else(|| m.strip_prefix("<@"))
            .and_then(|rest| rest.strip_suffix('>'))
            .is_some_and(id_ok),
    }
}

#[cfg(test)]
mod tests;
