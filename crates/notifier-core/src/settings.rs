//! What shapes messages and delivery, read once at start-up, and its
//! defaults. `config` fills it from the environment.

use std::time::Duration;

use chrono::NaiveTime;

use crate::jobs::JobsConfig;

/// Slack's Web API; tests and proxies point `SLACK_API_URL` elsewhere.
pub const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api";
/// Where Slack's `response_url`s point; only tests point
/// `SLACK_RESPONSE_URL_PREFIX` elsewhere.
pub const DEFAULT_SLACK_RESPONSE_URL_PREFIX: &str = "https://hooks.slack.com/";
pub const DEFAULT_ENVIRONMENT: &str = "default";
pub const DEFAULT_RECORD_TTL_DAYS: u64 = 14;
/// A job's record (its recent runs) outlives a year without runs: it is
/// pushed back by every run, so only jobs gone for good expire.
pub const JOB_RECORD_TTL: Duration = Duration::from_secs(400 * 24 * 3600);

/// Which inputs this function answers (`NOTIFIER_ROLE`): the template
/// deploys the one build twice, as the Slack-requests function (the
/// Function URL, and what it defers to itself) and as the notifier (events,
/// logs, the post queue, the watch). Unset: both, as a local run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    #[default]
    Both,
    Slack,
    Events,
}

impl Role {
    pub fn parse(text: &str) -> Option<Role> {
        match text.to_ascii_lowercase().as_str() {
            "slack" => Some(Role::Slack),
            "events" => Some(Role::Events),
            "both" => Some(Role::Both),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Both => "both",
            Role::Slack => "slack",
            Role::Events => "events",
        }
    }

    pub fn takes_slack(self) -> bool {
        self != Role::Events
    }

    pub fn takes_events(self) -> bool {
        self != Role::Slack
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Which inputs it answers.
    pub role: Role,
    pub default_channel: String,
    pub users_channel: Option<String>,
    pub environment: String,
    /// `ENVIRONMENT` was set: job notifications' text (what a phone's lock
    /// screen shows) starts with `[environment]`, so two stacks posting to
    /// one channel can be told apart.
    pub label_notifications: bool,
    pub non_essential_containers: Vec<String>,
    pub jobs: JobsConfig,
    /// The most time reading a job's log may take before the completion is
    /// posted without it.
    pub log_budget: Duration,
    /// How long thread records are kept (DynamoDB TTL).
    pub record_ttl: Duration,
    /// How long a job's record is kept after its last run.
    pub job_record_ttl: Duration,
    /// How long a completion waits for a start message that another
    /// invocation is posting right now, so it can thread under it.
    pub start_wait: Duration,
    /// The daily digest is posted by the first scheduled check at or after
    /// this time (UTC); `None`: no digest.
    pub digest_at: Option<NaiveTime>,
}

/// 09:00 UTC.
pub fn default_digest_at() -> NaiveTime {
    NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default()
}

impl Settings {
    /// The label notifications carry: the environment, when it was set.
    pub fn label(&self) -> Option<&str> {
        self.label_notifications.then_some(self.environment.as_str())
    }

    pub fn new(default_channel: impl Into<String>) -> Settings {
        Settings {
            role: Role::Both,
            default_channel: default_channel.into(),
            users_channel: None,
            environment: DEFAULT_ENVIRONMENT.into(),
            label_notifications: false,
            non_essential_containers: Vec::new(),
            jobs: JobsConfig::default(),
            log_budget: Duration::from_secs(2),
            record_ttl: Duration::from_secs(DEFAULT_RECORD_TTL_DAYS * 24 * 3600),
            job_record_ttl: JOB_RECORD_TTL,
            start_wait: Duration::from_secs(5),
            digest_at: Some(default_digest_at()),
        }
    }

    /// Where sign-ups go.
    pub fn users_channel(&self) -> &str {
        self.users_channel.as_deref().unwrap_or(&self.default_channel)
    }
}
