//! Configuration from environment variables, read once at start-up.

use std::time::Duration;

use crate::jobs::{JobsConfig, JobsConfigError};
use crate::ports::{SlackToken, TokenError};
use crate::settings::{
    DEFAULT_ENVIRONMENT, DEFAULT_RECORD_TTL_DAYS, DEFAULT_SLACK_API_URL, DEFAULT_SLACK_RESPONSE_URL_PREFIX, Role,
    Settings, default_digest_at,
};
use crate::signature::SigningSecret;

#[derive(Debug, Clone)]
pub struct Config {
    pub settings: Settings,
    pub token: TokenConfig,
    pub threads_table: Option<String>,
    pub slack_api_url: String,
    /// Answers to Slack's requests go only to `response_url`s that start
    /// with this.
    pub slack_response_url_prefix: String,
    /// Read job summaries and failure logs from CloudWatch Logs.
    pub read_job_logs: bool,
    /// The SQS FIFO queue that paces a burst's posts (`POST_QUEUE_URL`).
    pub post_queue_url: Option<String>,
    /// This function's name (`AWS_LAMBDA_FUNCTION_NAME`): what a Slack
    /// request's deferred part invokes.
    pub function_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenConfig {
    /// Secrets Manager secret name or ARN (the token, and the signing
    /// secret for job control).
    Secret(String),
    /// For local runs: `SLACK_BOT_TOKEN`, and `SLACK_SIGNING_SECRET` when set.
    Static(SlackToken, Option<SigningSecret>),
    Missing,
}

/// What an entry point cannot run without, beyond the default channel.
#[derive(Debug, Clone, Copy)]
pub struct Needs {
    pub table: bool,
    pub token: bool,
}

impl Needs {
    pub const LAMBDA: Needs = Needs { table: true, token: true };
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

impl Config {
    pub fn from_env(needs: Needs) -> Result<Config, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok(), needs)
    }

    /// Reads every variable through `get`, so tests need not touch the
    /// process environment. All problems are reported in one error.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>, needs: Needs) -> Result<Config, ConfigError> {
        let get = |name: &str| get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let mut missing = Vec::new();
        let mut problems = Vec::new();

        let default_channel = get("SLACK_DEFAULT_CHANNEL").unwrap_or_else(|| {
            missing.push("SLACK_DEFAULT_CHANNEL");
            String::new()
        });
        let threads_table = get("THREADS_TABLE");
        if needs.table && threads_table.is_none() {
            missing.push("THREADS_TABLE");
        }
        let token = match (get("SLACK_TOKEN_SECRET_ID"), get("SLACK_BOT_TOKEN")) {
            (Some(secret), _) => TokenConfig::Secret(secret),
            (None, Some(token)) => {
                TokenConfig::Static(SlackToken::new(token), get("SLACK_SIGNING_SECRET").map(SigningSecret::new))
            }
            (None, None) => TokenConfig::Missing,
        };
        if !missing.is_empty() {
            problems.push(format!("missing required environment variable(s): {}", missing.join(", ")));
        }
        if needs.token && token == TokenConfig::Missing {
            problems.push(TokenError::NotConfigured.to_string());
        }
        let ttl_days = match get("THREAD_TTL_DAYS").map(|v| v.parse::<u64>()) {
            None => DEFAULT_RECORD_TTL_DAYS,
            Some(Ok(days)) if (1..=365).contains(&days) => days,
            Some(_) => {
                problems.push("THREAD_TTL_DAYS must be a whole number of days from 1 to 365".into());
                DEFAULT_RECORD_TTL_DAYS
            }
        };
        let read_job_logs = match get("JOB_LOGS").as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("off" | "false" | "0") => false,
            Some("on" | "true" | "1") => true,
            Some(_) => {
                problems.push("JOB_LOGS must be on or off".into());
                false
            }
        };
        let digest_at = match get("DIGEST_AT").as_deref() {
            None => Some(default_digest_at()),
            Some(off) if off.eq_ignore_ascii_case("off") => None,
            Some(time) => match chrono::NaiveTime::parse_from_str(time, "%H:%M") {
                Ok(time) => Some(time),
                Err(_) => {
                    problems.push(format!("DIGEST_AT must be a time of day HH:MM (UTC) or off, not {time:?}"));
                    None
                }
            },
        };
        let response_url_prefix =
            get("SLACK_RESPONSE_URL_PREFIX").unwrap_or_else(|| DEFAULT_SLACK_RESPONSE_URL_PREFIX.into());
        if !is_url_prefix(&response_url_prefix) {
            problems.push(format!(
                "SLACK_RESPONSE_URL_PREFIX must be an http(s) URL ending in / (like {DEFAULT_SLACK_RESPONSE_URL_PREFIX}), \
                 not {response_url_prefix:?}"
            ));
        }
        let jobs = match (get("JOBS_CONFIG"), get("JOBS_CONFIG_FILE")) {
            (Some(json), _) => JobsConfig::parse(&json).map_err(|e| e.to_string()),
            (None, Some(path)) => match std::fs::read_to_string(&path) {
                Err(e) => Err(format!("reading JOBS_CONFIG_FILE {path}: {e}")),
                // Errors name the file, which is what to open; some editors
                // save a byte-order mark in front.
                Ok(json) => JobsConfig::parse(json.trim_start_matches('\u{feff}'))
                    .map_err(|JobsConfigError(e)| format!("JOBS_CONFIG_FILE {path}: {e}")),
            },
            (None, None) => Ok(JobsConfig::default()),
        }
        .unwrap_or_else(|e| {
            problems.push(e);
            JobsConfig::default()
        });
        let role = match get("NOTIFIER_ROLE") {
            None => Role::Both,
            Some(text) => Role::parse(&text).unwrap_or_else(|| {
                problems.push(format!("NOTIFIER_ROLE must be slack, events or both, not {text:?}"));
                Role::Both
            }),
        };
        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }
        let mut settings = Settings::new(default_channel);
        settings.role = role;
        settings.users_channel = get("SLACK_USERS_CHANNEL");
        settings.label_notifications = get("ENVIRONMENT").is_some();
        settings.environment = get("ENVIRONMENT").unwrap_or_else(|| DEFAULT_ENVIRONMENT.into());
        settings.non_essential_containers = get("NON_ESSENTIAL_CONTAINERS")
            .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default();
        settings.record_ttl = Duration::from_secs(ttl_days * 24 * 3600);
        settings.jobs = jobs;
        settings.digest_at = digest_at;
        Ok(Config {
            settings,
            token,
            threads_table,
            slack_api_url: get("SLACK_API_URL").unwrap_or_else(|| DEFAULT_SLACK_API_URL.into()),
            slack_response_url_prefix: response_url_prefix,
            read_job_logs,
            post_queue_url: get("POST_QUEUE_URL"),
            function_name: get("AWS_LAMBDA_FUNCTION_NAME"),
        })
    }
}

/// A scheme, a host and a path ending in `/`: what follows the prefix can
/// only be more path, never another host.
fn is_url_prefix(prefix: &str) -> bool {
    let Some(rest) = prefix.strip_prefix("https://").or_else(|| prefix.strip_prefix("http://")) else {
        return false;
    };
    let host = rest.split('/').next().unwrap_or_default();
    prefix.ends_with('/')
        && !host.is_empty()
        && !host.contains(['@', '\\', '?', '#'])
        && !prefix.contains(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)], needs: Needs) -> Result<Config, String> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| vars.get(k).cloned(), needs).map_err(|e| e.to_string())
    }

    #[test]
    fn lambda_needs_channel_table_and_token_in_one_error() {
        let err = config(&[], Needs::LAMBDA).unwrap_err();
        assert!(
            err.contains("missing required environment variable(s): SLACK_DEFAULT_CHANNEL, THREADS_TABLE"),
            "{err}"
        );
        assert!(err.contains("Slack bot token not configured"), "{err}");

        let err = config(&[("SLACK_DEFAULT_CHANNEL", "C1"), ("THREADS_TABLE", "t")], Needs::LAMBDA).unwrap_err();
        assert_eq!(err, "configuration: Slack bot token not configured: set SLACK_TOKEN_SECRET_ID or SLACK_BOT_TOKEN");

        let err =
            config(&[("SLACK_DEFAULT_CHANNEL", " "), ("THREADS_TABLE", "t"), ("SLACK_BOT_TOKEN", "x")], Needs::LAMBDA)
                .unwrap_err();
        assert!(err.contains("SLACK_DEFAULT_CHANNEL"), "{err}");
    }

    #[test]
    fn secret_wins_over_static_token_and_defaults_apply() {
        let c = config(
            &[
                ("SLACK_DEFAULT_CHANNEL", "C1"),
                ("THREADS_TABLE", "t"),
                ("SLACK_TOKEN_SECRET_ID", "slack/bot"),
                ("SLACK_BOT_TOKEN", "xoxb-local"),
                ("NON_ESSENTIAL_CONTAINERS", "log_router, ,xray"),
            ],
            Needs::LAMBDA,
        )
        .unwrap();
        assert_eq!(c.token, TokenConfig::Secret("slack/bot".into()));
        assert_eq!(c.slack_api_url, "https://slack.com/api");
        assert_eq!(c.slack_response_url_prefix, "https://hooks.slack.com/");
        assert_eq!(c.settings.environment, "default");
        assert_eq!(c.settings.users_channel, None);
        assert_eq!(c.settings.non_essential_containers, ["log_router", "xray"]);
        assert_eq!(c.settings.record_ttl, Duration::from_secs(14 * 86400));
    }

    #[test]
    fn jobs_config_from_the_variable_or_a_file() {
        let local = Needs { table: false, token: false };
        let file = &format!("{}/config/jobs.example.json", crate::REPO_ROOT);
        let c = config(&[("SLACK_DEFAULT_CHANNEL", "C1"), ("JOBS_CONFIG_FILE", file)], local).unwrap();
        assert_eq!(c.settings.jobs.jobs.len(), 5);
        let c = config(&[("SLACK_DEFAULT_CHANNEL", "C1"), ("JOBS_CONFIG", r#"{"include_services": true}"#)], local)
            .unwrap();
        assert!(c.settings.jobs.include_services);

        let err = config(&[("SLACK_DEFAULT_CHANNEL", "C1"), ("JOBS_CONFIG", r#"{"jobs": [{"match": {}}]}"#)], local)
            .unwrap_err();
        assert!(err.contains("JOBS_CONFIG: jobs[0].match"), "{err}");
        let err = config(&[("SLACK_DEFAULT_CHANNEL", "C1"), ("JOBS_CONFIG_FILE", "/no/such.json")], local).unwrap_err();
        assert!(err.contains("reading JOBS_CONFIG_FILE /no/such.json"), "{err}");

        // An error in the file names the file, which is what to open.
        let path = std::env::temp_dir().join(format!("jobs-config-test-{}.json", std::process::id()));
        std::fs::write(&path, "\u{feff}{\"jobs\": [{\"match\": {\"family\": \"x\"}, \"notify\": \"sometimes\"}]}")
            .unwrap();
        let file = path.to_string_lossy().into_owned();
        let err = config(&[("SLACK_DEFAULT_CHANNEL", "C1"), ("JOBS_CONFIG_FILE", &file)], local).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert!(err.contains(&format!("JOBS_CONFIG_FILE {file}: jobs[0].notify: unknown variant")), "{err}");
        assert!(!err.contains("JOBS_CONFIG:"), "{err}");
    }

    #[test]
    fn the_digest_time_or_off() {
        let local = Needs { table: false, token: false };
        let at =
            |v: &str| config(&[("SLACK_DEFAULT_CHANNEL", "C1"), ("DIGEST_AT", v)], local).map(|c| c.settings.digest_at);
        assert_eq!(at("07:30").unwrap(), chrono::NaiveTime::from_hms_opt(7, 30, 0));
        assert_eq!(at("OFF").unwrap(), None);
        let default = config(&[("SLACK_DEFAULT_CHANNEL", "C1")], local).unwrap().settings.digest_at;
        assert_eq!(default, chrono::NaiveTime::from_hms_opt(9, 0, 0));
        assert!(at("9am").unwrap_err().contains("DIGEST_AT must be a time of day HH:MM (UTC) or off"));
    }

    #[test]
    fn the_response_url_prefix_names_a_whole_host() {
        let local = Needs { table: false, token: false };
        let prefix = |v: &str| {
            config(&[("SLACK_DEFAULT_CHANNEL", "C1"), ("SLACK_RESPONSE_URL_PREFIX", v)], local)
                .map(|c| c.slack_response_url_prefix)
        };
        assert_eq!(prefix("http://127.0.0.1:4000/hooks/").unwrap(), "http://127.0.0.1:4000/hooks/");
        for bad in ["https://hooks.slack.com", "hooks.slack.com/", "https:///", "https://a@b/", "ftp://x/"] {
            assert!(prefix(bad).unwrap_err().contains("SLACK_RESPONSE_URL_PREFIX must be"), "{bad}");
        }
    }

    #[test]
    fn bad_ttl_is_named() {
        let err =
            config(&[("SLACK_DEFAULT_CHANNEL", "C1"), ("THREAD_TTL_DAYS", "0")], Needs { table: false, token: false })
                .unwrap_err();
        assert!(err.contains("THREAD_TTL_DAYS"), "{err}");
    }
}
