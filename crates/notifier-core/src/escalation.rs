//! Escalation: a failure, or a missed-run alert, that nobody said they are
//! on within `escalate_after` gets one reply in its thread, broadcast,
//! mentioning `escalate_to`. The scheduled watch asks [`due`]; the reply is
//! claimed, so it is posted once.

use std::time::Duration;

use serde::Deserialize;

use crate::schedule::parse_duration;
use crate::time::Timestamp;

/// The shortest `escalate_after`: the watch runs every few minutes anyway.
pub const SHORTEST: Duration = Duration::from_secs(60);
/// The longest `escalate_after`.
pub const LONGEST: Duration = Duration::from_secs(7 * 86400);
/// How long after it fell due an escalation is still made: a watch that
/// was down for days does not wake everyone for last week's failure.
pub const WINDOW: Duration = Duration::from_secs(86400);

/// `escalate_after` as `JOBS_CONFIG` gives it: a duration, or `off` (a
/// rule's way to escalate none of its jobs' failures).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    After(Duration),
    Off,
}

impl After {
    pub fn parse(text: &str) -> Result<After, String> {
        if text.trim().eq_ignore_ascii_case("off") {
            return Ok(After::Off);
        }
        let d = parse_duration(text).map_err(|e| format!("{e}, or off"))?;
        if d < SHORTEST {
            return Err(format!("{text:?}: escalate after a minute at least"));
        }
        if d > LONGEST {
            return Err(format!("{text:?}: escalate after 7 days at most"));
        }
        Ok(After::After(d))
    }
}

impl<'de> Deserialize<'de> for After {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        After::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Who a job's unacknowledged failures are escalated to, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    pub after: Duration,
    /// Slack user IDs (`U…`, `W…`) and user-group IDs (`S…`), checked.
    pub to: Vec<String>,
}

impl Escalation {
    /// The mentions, as Slack writes them: `<@U…>` and `<!subteam^S…>`.
    pub fn mentions(&self) -> String {
        self.to.iter().map(|id| mention(id)).collect::<Vec<_>>().join(" ")
    }
}

fn mention(id: &str) -> String {
    if id.starts_with('S') { format!("<!subteam^{id}>") } else { format!("<@{id}>") }
}

/// Whether `id` is a Slack user (`U…`, `W…`) or user-group (`S…`) ID.
pub fn is_recipient(id: &str) -> bool {
    (2..=32).contains(&id.len())
        && matches!(id.as_bytes()[0], b'U' | b'W' | b'S')
        && id.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// Checks `escalate_to` (named `key` in errors).
pub fn check_recipients(key: &str, ids: &[String]) -> Result<(), String> {
    match ids.iter().find(|id| !is_recipient(id)) {
        Some(bad) => Err(format!(
            "{key}: {bad:?} is not a Slack user ID (U…) or user-group ID (S…); \
             give IDs, not names or <@…> mentions"
        )),
        None => Ok(()),
    }
}

/// Whether a notice posted at `posted` that nobody
/// acknowledged is to be escalated at `now`: from `after` past its post,
/// for [`WINDOW`] more. Never for a notice posted before the watch began
/// watching (`since`): it was not the watch's to escalate.
pub fn due(escalation: &Escalation, posted: Timestamp, acknowledged: bool, now: Timestamp, since: Timestamp) -> bool {
    let from = posted + escalation.after;
    !acknowledged && posted >= since && now >= from && now < from + WINDOW
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thirty_minutes() -> Escalation {
        Escalation { after: Duration::from_secs(1800), to: vec!["U024BE7LH".into(), "S0DATAENG".into()] }
    }

    #[test]
    fn after_is_a_duration_within_bounds_or_off() {
        assert_eq!(After::parse("30m"), Ok(After::After(Duration::from_secs(1800))));
        assert_eq!(After::parse("OFF"), Ok(After::Off));
        assert!(After::parse("30s").unwrap_err().contains("a minute at least"));
        assert!(After::parse("8d").unwrap_err().contains("7 days at most"));
        assert!(After::parse("soon").unwrap_err().contains("is not a duration"));
    }

    #[test]
    fn recipients_are_user_and_group_ids_mentioned_as_slack_writes_them() {
        assert_eq!(thirty_minutes().mentions(), "<@U024BE7LH> <!subteam^S0DATAENG>");
        assert!(check_recipients("escalate_to", &["W0ENTERPR".into()]).is_ok());
        let err = check_recipients("jobs[1].escalate_to", &["<@U1>".into()]).unwrap_err();
        assert!(err.starts_with("jobs[1].escalate_to: \"<@U1>\" is not a Slack user ID"), "{err}");
        assert!(check_recipients("escalate_to", &["alice".into()]).is_err());
        assert!(check_recipients("escalate_to", &["U".into()]).is_err());
    }

    #[test]
    fn due_from_after_past_the_post_for_a_day_unless_acknowledged_or_older_than_the_watch() {
        let e = thirty_minutes();
        let posted = Timestamp::from_secs(1_000_000);
        let after = |secs| posted + Duration::from_secs(secs);
        let never = Timestamp::EPOCH;
        assert!(!due(&e, posted, false, after(1799), never), "not yet");
        assert!(due(&e, posted, false, after(1800), never));
        assert!(due(&e, posted, false, after(1800 + 86399), never));
        assert!(!due(&e, posted, false, after(1800 + 86400), never), "too late to wake anyone");
        assert!(!due(&e, posted, true, after(1800), never), "someone is on it");
        assert!(!due(&e, posted, false, after(1800), after(1)), "before the watch");
        assert!(!due(&e, Timestamp::MAX, false, Timestamp::MAX, never), "no overflow");
    }
}
