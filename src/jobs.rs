//! Per-job configuration (`JOBS_CONFIG`): which task is which job, where its
//! notices go, which of them are sent, who is mentioned when it fails.
//!
//! Rules are tried in order; the first whose matchers all hold gives the
//! job's settings. Anything a rule leaves out falls back to the defaults.

use serde::Deserialize;

use crate::event::EcsTask;
use crate::log_levels::Threshold;

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

/// Where a job's container logs are, as templates over `{family}`, `{job}`
/// and `{container}`; the stream is `{stream_prefix}/{container}/{task_id}`
/// as ECS's `awslogs` driver names it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logs {
    pub group: String,
    pub stream_prefix: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
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
    #[serde(default)]
    pub jobs: Vec<Rule>,
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
            jobs: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
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
}

/// All given conditions must hold. Names may use `*` as a wildcard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matcher {
    #[serde(default)]
    pub family: Option<String>,
    #[serde(default)]
    pub container: Option<String>,
    /// A substring of a container's command override (words joined by spaces).
    #[serde(default)]
    pub command: Option<String>,
    /// Override environment variables that must have these values.
    #[serde(default)]
    pub environment: std::collections::BTreeMap<String, String>,
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("JOBS_CONFIG: {0}")]
pub struct JobsConfigError(pub String);

impl JobsConfig {
    /// Parses and validates; errors name the offending entry, e.g.
    /// `jobs[2].notify: unknown variant …`.
    pub fn parse(json: &str) -> Result<JobsConfig, JobsConfigError> {
        let de = &mut serde_json::Deserializer::from_str(json);
        let config: JobsConfig = serde_path_to_error::deserialize(de).map_err(|e| {
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

    fn validate(&self) -> Result<(), JobsConfigError> {
        for (i, rule) in self.jobs.iter().enumerate() {
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
        }
        Ok(())
    }

    /// The job a task belongs to.
    pub fn job(&self, task: &EcsTask) -> Job {
        let rule = self.jobs.iter().find(|rule| rule.matcher.matches(task));
        let family = task.family().unwrap_or_else(|| task.task_id());
        let name = rule.and_then(|r| r.name.clone()).unwrap_or_else(|| self.default_name(family));
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
            is_service: task.group.as_deref().is_some_and(|g| g.starts_with("service:")),
            summary_failures_fail_job: rule
                .and_then(|r| r.summary_failures_fail_job)
                .unwrap_or(self.summary_failures_fail_job),
            stream_logs: rule.and_then(|r| r.stream_logs).unwrap_or(self.stream_logs),
            stream_logs_max_replies: rule
                .and_then(|r| r.stream_logs_max_replies)
                .unwrap_or(self.stream_logs_max_replies),
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

/// A CloudWatch Logs stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogStream {
    pub group: String,
    pub stream: String,
}

impl Job {
    /// Where the task's main container logs, when the job's log settings
    /// say: the first container's stream, as the `awslogs` driver names it.
    pub fn log_stream(&self, task: &EcsTask) -> Option<LogStream> {
        let logs = self.logs.as_ref()?;
        let container = task.containers.first().map(|c| c.name.as_str())?;
        let family = task.family().unwrap_or_default();
        let group =
            logs.group.replace("{family}", family).replace("{job}", &self.name).replace("{container}", container);
        Some(LogStream { group, stream: format!("{}/{container}/{}", logs.stream_prefix, task.task_id()) })
    }
}

impl Matcher {
    fn matches(&self, task: &EcsTask) -> bool {
        let family_ok = self.family.as_deref().is_none_or(|want| task.family().is_some_and(|f| glob(want, f)));
        let container_ok =
            self.container.as_deref().is_none_or(|want| task.containers.iter().any(|c| glob(want, &c.name)));
        let command_ok = self
            .command
            .as_deref()
            .is_none_or(|want| task.command_overrides().any(|(_, command)| command.join(" ").contains(want)));
        let environment_ok = self
            .environment
            .iter()
            .all(|(name, value)| task.environment_overrides().any(|(n, v)| n == name && v == value));
        family_ok && container_ok && command_ok && environment_ok
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
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
mod tests {
    use super::*;
    use crate::event::{ContainerOverride, KeyValue, Overrides};

    fn task(family: &str, container: &str, command: &[&str], env: &[(&str, &str)]) -> EcsTask {
        EcsTask {
            task_arn: "arn:aws:ecs:us-east-1:1:task/c/abc".into(),
            group: Some(format!("family:{family}")),
            containers: vec![crate::event::Container { name: container.into(), ..Default::default() }],
            overrides: Some(Overrides {
                container_overrides: vec![ContainerOverride {
                    name: container.into(),
                    command: (!command.is_empty()).then(|| command.iter().map(|s| s.to_string()).collect()),
                    environment: env
                        .iter()
                        .map(|(n, v)| KeyValue { name: n.to_string(), value: v.to_string() })
                        .collect(),
                }],
            }),
            ..EcsTask::default()
        }
    }

    fn example() -> JobsConfig {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/jobs.example.json");
        JobsConfig::parse(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn the_products_five_jobs() {
        let config = example();
        let prices = "market-pulse-collect-stock-prices";
        let reddit = "market-pulse-reddit-scraper";
        let cmd = |s: &'static str| s.split(' ').collect::<Vec<_>>();
        let table = [
            (
                task(prices, "collect-stock-prices", &cmd("python -m jobs.collect_stock_prices --type current"), &[]),
                "collect_stock_prices",
                Notify::Failures,
            ),
            (
                task(
                    prices,
                    "collect-stock-prices",
                    &cmd("python -m jobs.collect_stock_prices --type historical"),
                    &[],
                ),
                "collect_stock_prices_historical",
                Notify::All,
            ),
            (task(prices, "collect-stock-prices", &[], &[]), "collect_stock_prices", Notify::Failures),
            (task("market-pulse-analyze-sentiment", "analyze-sentiment", &[], &[]), "analyze_sentiment", Notify::All),
            (task(reddit, "reddit-scraper", &[], &[]), "reddit_scraper", Notify::All),
            (task(reddit, "reddit-scraper", &[], &[("BACKFILL", "true")]), "reddit_scraper_backfill", Notify::All),
        ];
        for (task, name, notify) in table {
            let job = config.job(&task);
            assert_eq!((job.name.as_str(), job.notify), (name, notify), "{:?}", task.overrides);
        }
    }

    #[test]
    fn defaults_without_rules() {
        let config = JobsConfig::default();
        let job = config.job(&task("market-pulse-etl", "app", &[], &[]));
        assert_eq!(job.name, "market-pulse-etl");
        assert_eq!((job.notify, job.channel, job.mention, job.is_service), (Notify::All, None, None, false));
        let config =
            JobsConfig { strip_prefix: Some("market-pulse-".into()), snake_case: true, ..JobsConfig::default() };
        assert_eq!(config.job(&task("market-pulse-reddit-scraper", "x", &[], &[])).name, "reddit_scraper");
        assert_eq!(config.job(&task("other-job", "x", &[], &[])).name, "other_job");
        assert_eq!(config.job(&task("market-pulse-", "x", &[], &[])).name, "market_pulse_", "never empty");
    }

    #[test]
    fn log_streams_follow_the_awslogs_naming() {
        let config = example();
        let t = task("market-pulse-analyze-sentiment", "analyze-sentiment", &[], &[]);
        let job = config.job(&t);
        assert_eq!(
            job.log_stream(&t),
            Some(LogStream {
                group: "/ecs/market-pulse-analyze-sentiment".into(),
                stream: "ecs/analyze-sentiment/abc".into()
            })
        );
        assert_eq!(JobsConfig::default().job(&t).log_stream(&t), None, "unknown without log settings");
    }

    #[test]
    fn stream_settings_default_and_override_per_rule() {
        let config = JobsConfig::parse(
            r#"{"stream_logs": "error", "jobs": [
                {"match": {"family": "noisy"}, "stream_logs": "off"},
                {"match": {"family": "chatty"}, "stream_logs": "info", "stream_logs_max_replies": 5}
            ]}"#,
        )
        .unwrap();
        let job = |family| config.job(&task(family, "c", &[], &[]));
        assert_eq!((job("other").stream_logs, job("other").stream_logs_max_replies), (Threshold::Error, 20));
        assert_eq!(job("noisy").stream_logs, Threshold::Off);
        assert_eq!((job("chatty").stream_logs, job("chatty").stream_logs_max_replies), (Threshold::Info, 5));
        assert_eq!(JobsConfig::default().job(&task("x", "c", &[], &[])).stream_logs, Threshold::Warning);
        let err = JobsConfig::parse(r#"{"stream_logs": "loud"}"#).unwrap_err().to_string();
        assert!(err.contains("stream_logs: unknown variant `loud`, expected one of"), "{err}");
    }

    #[test]
    fn services_are_recognised() {
        let mut t = task("web", "app", &[], &[]);
        t.group = Some("service:web-api".into());
        assert!(JobsConfig::default().job(&t).is_service);
    }

    #[test]
    fn first_matching_rule_wins_and_all_matchers_must_hold() {
        let config = JobsConfig::parse(
            r#"{"jobs": [
                {"match": {"family": "etl-*", "container": "main", "command": "--full"}, "name": "full"},
                {"match": {"family": "etl-*"}, "name": "any", "mention": ["<!here>", "<@U024BE7LH>"]},
                {"match": {"family": "*"}, "name": "never reached for etl"}
            ]}"#,
        )
        .unwrap();
        assert_eq!(config.job(&task("etl-daily", "main", &["run", "--full"], &[])).name, "full");
        assert_eq!(config.job(&task("etl-daily", "side", &["run", "--full"], &[])).name, "any");
        assert_eq!(
            config.job(&task("etl-daily", "main", &["run"], &[])).mention.as_deref(),
            Some("<!here> <@U024BE7LH>")
        );
        assert_eq!(config.job(&task("web", "main", &[], &[])).name, "never reached for etl");
    }

    #[test]
    fn glob_patterns() {
        let table = [
            ("abc", "abc", true),
            ("abc", "abcd", false),
            ("a*", "abc", true),
            ("*c", "abc", true),
            ("a*c", "abbbc", true),
            ("a*b*c", "axbyc", true),
            ("a*b*c", "axcyb", false),
            ("*", "", true),
            ("a*a", "a", false),
        ];
        for (pattern, text, want) in table {
            assert_eq!(glob(pattern, text), want, "{pattern} ~ {text}");
        }
    }

    #[test]
    fn invalid_configuration_points_at_the_entry() {
        let table = [
            ("{not json", "JOBS_CONFIG: key must be a string at line 1 column 2"),
            (
                r#"{"jobs": [{"match": {"family": "a"}, "notify": "sometimes"}]}"#,
                "jobs[0].notify: unknown variant `sometimes`",
            ),
            (r#"{"jobs": [{"match": {"family": "a"}}, {"match": {}}]}"#, "jobs[1].match: give at least one of"),
            (r#"{"jobs": [{"match": {"family": "a"}, "chanel": "C1"}]}"#, "jobs[0].chanel: unknown field `chanel`"),
            (
                r#"{"jobs": [{"match": {"family": "a"}, "mention": "@oncall"}]}"#,
                "jobs[0].mention: \"@oncall\" is not a Slack mention",
            ),
            (r#"{"jobs": [{"match": {"family": "a"}, "mention": "<!subteam^S1> <@U2>"}]}"#, "is not a Slack mention"),
            (r#"{"jobs": [{"match": {"family": "a"}, "name": " "}]}"#, "jobs[0].name: must not be empty"),
            (r#"{"show_environment": "TICKERS"}"#, "show_environment: invalid type: string"),
        ];
        for (json, want) in table {
            let err = JobsConfig::parse(json).unwrap_err().to_string();
            assert!(err.contains(want), "{json}: {err}");
        }
    }

    #[test]
    fn mentions_are_only_slack_mention_syntax() {
        for ok in ["<!subteam^S0123ABC>", "<@U024BE7LH>", "<@W0123>", "<!here>", "<!channel>"] {
            assert!(valid_mention(ok), "{ok}");
        }
        for bad in ["<!subteam^>", "<@u024>", "<!everyone", "here", "<@U1|name>", "<https://x|y>"] {
            assert!(!valid_mention(bad), "{bad}");
        }
    }
}
