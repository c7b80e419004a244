//! Why an invocation failed. Asynchronous kinds return these so that Lambda
//! retries the event and, in the end, sends it to the dead-letter queue.

use crate::input::InputError;
use crate::ports::{OutboxError, ScheduleError, SlackError, StoreError, StoreErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Slack(#[from] SlackError),
    #[error("schedules: {0}")]
    Schedules(ScheduleError),
    #[error(transparent)]
    Queue(#[from] OutboxError),
    /// Something this event needs is still being written; Lambda's retry
    /// (a minute later) will find it.
    #[error("not yet: {0}; the retry will post")]
    NotYet(&'static str),
}

/// Slack's answers that no retry changes, and what to fix.
const SLACK_WILL_NOT_HEAL: [(&str, &str); 9] = [
    (
        "channel_not_found",
        "the channel ID is wrong or the bot cannot see it: check SLACK_DEFAULT_CHANNEL and the jobs' `channel`",
    ),
    ("not_in_channel", "invite the bot to the channel (/invite @the-bot)"),
    ("is_archived", "the channel is archived: unarchive it or point the job at another"),
    ("invalid_blocks", "Slack refused the message's blocks: report it with the event (it is in the log)"),
    ("invalid_blocks_format", "Slack refused the message's blocks: report it with the event (it is in the log)"),
    ("msg_too_long", "Slack refused the message as too long: report it with the event (it is in the log)"),
    ("missing_scope", "add the scope the app manifest (slack/manifest.yaml) lists and reinstall the app"),
    ("invalid_auth", "the bot token is refused: put a valid token in the secret"),
    ("token_revoked", "the bot token was revoked: put a new token in the secret"),
];

impl NotifyError {
    /// What to fix, when no retry can succeed: the answer will not change
    /// until someone changes something. `None` for what may heal.
    pub fn will_not_heal(&self) -> Option<&'static str> {
        match self {
            NotifyError::Slack(SlackError::Api(code)) => {
                SLACK_WILL_NOT_HEAL.iter().find(|(c, _)| c == code).map(|(_, fix)| *fix)
            }
            NotifyError::Slack(SlackError::AuthUnchanged(_)) => {
                Some("the bot token is refused and the secret holds the same one: rotate the token in the secret")
            }
            NotifyError::Store(e) => match e.kind {
                StoreErrorKind::TooLarge => Some("an item would exceed DynamoDB's 400 KB: report it with the event"),
                StoreErrorKind::Invalid => {
                    Some("DynamoDB refused the request as invalid: check that the table is the template's (run doctor)")
                }
                _ => None,
            },
            NotifyError::Input(InputError::WrongFunction { .. }) => {
                Some("this input belongs to the other function: point its trigger at it (template.yaml, run doctor)")
            }
            _ => None,
        }
    }

    /// The error's type, as Lambda and the metric name it.
    pub fn error_type(&self) -> &'static str {
        match self {
            NotifyError::Input(input) => input.error_type(),
            NotifyError::Store(_) => "ThreadStoreError",
            NotifyError::Slack(_) => "SlackError",
            NotifyError::Schedules(_) => "SchedulesError",
            NotifyError::Queue(_) => "PostQueueError",
            NotifyError::NotYet(_) => "NotYet",
        }
    }
}

/// An embedded-metric-format log line counting one error that will not
/// heal: CloudWatch turns it into the `WillNotHeal` metric the template
/// alarms on, with no call to CloudWatch. Pure; the caller prints it.
pub fn will_not_heal_metric(function: &str, error: &NotifyError, fix: &str, now_ms: u64) -> String {
    serde_json::json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": "EcsSlackNotifier",
                "Dimensions": [["FunctionName"]],
                "Metrics": [{"Name": "WillNotHeal", "Unit": "Count"}],
            }],
        },
        "FunctionName": function,
        "WillNotHeal": 1,
        "error_type": error.error_type(),
        "error": error.to_string(),
        "fix": fix,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_will_not_heal_says_what_to_fix_and_the_rest_is_retried() {
        let slack = |code: &str| NotifyError::Slack(SlackError::Api(code.into()));
        assert!(slack("not_in_channel").will_not_heal().unwrap().contains("/invite"));
        assert!(slack("channel_not_found").will_not_heal().unwrap().contains("SLACK_DEFAULT_CHANNEL"));
        assert!(slack("invalid_blocks").will_not_heal().is_some());
        assert!(NotifyError::Slack(SlackError::AuthUnchanged("invalid_auth".into())).will_not_heal().is_some());
        let store = |kind| NotifyError::Store(StoreError::new(kind, "x"));
        assert!(store(StoreErrorKind::TooLarge).will_not_heal().unwrap().contains("400 KB"));
        assert!(store(StoreErrorKind::Invalid).will_not_heal().is_some());
        for healing in [
            store(StoreErrorKind::Throttled),
            store(StoreErrorKind::Conflict),
            store(StoreErrorKind::Unavailable),
            slack("internal_error"),
            NotifyError::Slack(SlackError::RateLimited { retry_after_secs: Some(1) }),
            NotifyError::Slack(SlackError::Http { status: 503, detail: String::new() }),
            NotifyError::NotYet("the group's message is busy"),
        ] {
            assert_eq!(healing.will_not_heal(), None, "{healing}");
        }
    }

    #[test]
    fn the_metric_line_is_embedded_metric_format() {
        let e = NotifyError::Slack(SlackError::Api("not_in_channel".into()));
        let line = will_not_heal_metric("notifier", &e, e.will_not_heal().unwrap(), 1_795_708_800_000);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "EcsSlackNotifier");
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"], "WillNotHeal");
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0], "FunctionName");
        assert_eq!((v["FunctionName"].as_str(), v["WillNotHeal"].as_i64()), (Some("notifier"), Some(1)));
        assert_eq!(v["error"], "Slack API error: not_in_channel");
        assert_eq!(v["_aws"]["Timestamp"], 1_795_708_800_000u64);
    }
}
