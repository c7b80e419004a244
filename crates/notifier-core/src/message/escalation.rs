//! The escalation of a failure or a missed-run alert nobody is on.

use std::time::Duration;

use super::{Block, Message, Text, message, text};
use crate::escalation::Escalation;

/// What went unacknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escalated {
    Failure,
    MissedRun,
}

/// One reply in the notice's thread, broadcast to the channel, mentioning
/// `escalate_to`: "🚨 <@U…> prices failed 30m ago and nobody is on it yet."
pub fn escalation_message(
    job: &str,
    channel: &str,
    thread_ts: &str,
    what: Escalated,
    waited: Duration,
    escalation: &Escalation,
    runbook: Option<&str>,
) -> Message {
    let what = match what {
        Escalated::Failure => "failed",
        Escalated::MissedRun => "missed its run",
    };
    let waited = text::approx_duration(waited);
    let headline = format!("🚨 {job} {what} {waited} ago and nobody is on it yet");
    let line = format!(
        "🚨 {} *{}* {what} {waited} ago and nobody is on it yet. Press *👀 I'm on it* to take it.",
        escalation.mentions(),
        text::escape_truncated(job, 200)
    );
    let mut blocks = vec![Block::Section { text: Some(Text::Mrkdwn { text: line }), fields: Vec::new() }];
    blocks.extend(runbook.map(|url| super::context(vec![super::runbook_link(url)])));
    let mut msg = message(channel, &headline, blocks, Some(thread_ts));
    msg.reply_broadcast = true;
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_escalation_mentions_its_people_in_the_thread_broadcast_and_escapes_the_job() {
        let e = Escalation { after: Duration::from_secs(1800), to: vec!["U024BE7LH".into(), "S0DATAENG".into()] };
        let msg = escalation_message(
            "<!channel> prices",
            "C1",
            "1795700000.000100",
            Escalated::Failure,
            Duration::from_secs(1860),
            &e,
            Some("https://runbooks.example/prices"),
        );
        assert_eq!(msg.thread_ts.as_deref(), Some("1795700000.000100"));
        assert!(msg.reply_broadcast);
        let json = serde_json::to_string(&msg.blocks).unwrap();
        assert!(
            json.contains("🚨 <@U024BE7LH> <!subteam^S0DATAENG> *&lt;!channel&gt; prices* failed 31m ago"),
            "{json}"
        );
        assert!(json.contains("<https://runbooks.example/prices|📖 Runbook>"), "{json}");
        assert!(msg.text.contains("failed 31m ago and nobody is on it yet"), "{}", msg.text);
        let missed =
            escalation_message("prices", "C1", "1.2", Escalated::MissedRun, Duration::from_secs(3600), &e, None);
        assert!(missed.text.contains("prices missed its run 1h 0m ago"), "{}", missed.text);
    }
}
