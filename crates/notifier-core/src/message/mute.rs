//! What is said in a job's channel when it is muted and unmuted.

use super::{Message, job_control::who, message, text};
use crate::mute::{Ended, Meanwhile, Mute};
use crate::time::Timestamp;

/// A time as Slack shows it to each reader (`mrkdwn`), or as plain text
/// for a notification's fallback.
fn at(t: Timestamp, mrkdwn: bool) -> String {
    if mrkdwn { text::slack_date(t) } else { t.format_utc("%Y-%m-%d %H:%M UTC") }
}

/// How `/jobs status` and the digest mark a muted job.
pub fn muted_note(mute: &Mute) -> String {
    match mute.until {
        Some(until) => format!("🔕 muted until {}", at(until, true)),
        None => "🔕 muted until it succeeds".to_owned(),
    }
}

/// Once, in the job's channel: who muted it and until when.
pub fn muted_message(channel: &str, job: &str, mute: &Mute) -> Message {
    let until = |mrkdwn| match mute.until {
        Some(until) => format!("until {}", at(until, mrkdwn)),
        None => "until it next succeeds".to_owned(),
    };
    let escaped = text::escape_truncated(job, 200);
    let mrkdwn = format!(
        "🔕 {} muted *{escaped}* {}. Its starts, outcomes and missed-run alerts are not posted meanwhile, only counted; `/jobs unmute {escaped}` ends it.",
        who(&mute.by),
        until(true)
    );
    let blocks = vec![super::Block::Section { text: Some(super::Text::Mrkdwn { text: mrkdwn }), fields: Vec::new() }];
    message(channel, &format!("🔕 {job} muted {}", until(false)), blocks, None)
}

/// What happened meanwhile, as one line (`mrkdwn`: with Slack's dates).
pub fn meanwhile_text(m: &Meanwhile, mrkdwn: bool) -> String {
    let more = if m.at_least { " or more" } else { "" };
    let mut parts = vec![format!("{} run{}{more}", m.runs, if m.runs == 1 { "" } else { "s" })];
    if m.failed > 0 {
        let last = match m.last_failure {
            Some((end, code)) => {
                let code = code.map(|c| format!(", exit {c}")).unwrap_or_default();
                format!(" (last failure {}{code})", at(end, mrkdwn))
            }
            None => String::new(),
        };
        parts.push(format!("{} failed{last}", m.failed));
    }
    if m.missed > 0 {
        parts.push(format!("{} missed", m.missed));
    }
    parts.join(", ")
}

/// Once, when a mute ends: "🔔 collect_stock_prices unmuted: 3 runs, 1
/// failed (last failure 04:10)".
pub fn unmuted_message(channel: &str, job: &str, meanwhile: &Meanwhile, ended: &Ended) -> Message {
    let escaped = text::escape_truncated(job, 200);
    let why = match ended {
        Ended::By(user) => format!("{} unmuted it", who(user)),
        Ended::Expired => "its mute ended".to_owned(),
        Ended::Succeeded => "it succeeded".to_owned(),
    };
    let mrkdwn = format!("🔔 *{escaped}* unmuted: {} ({why}).", meanwhile_text(meanwhile, true));
    let blocks = vec![super::Block::Section { text: Some(super::Text::Mrkdwn { text: mrkdwn }), fields: Vec::new() }];
    message(channel, &format!("🔔 {job} unmuted: {}", meanwhile_text(meanwhile, false)), blocks, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mute::Length;

    #[test]
    fn the_unmute_says_what_happened_meanwhile_escaped() {
        let mute = Mute::new("m1", "U024BE7LH", Timestamp::from_secs(1_795_700_000), Length::UntilSuccess);
        let m = Meanwhile {
            runs: 3,
            failed: 1,
            last_failure: Some((Timestamp::from_secs(1_795_700_200), Some(1))),
            missed: 0,
            at_least: false,
        };
        let msg = unmuted_message("C1", "collect_stock_prices", &m, &Ended::Succeeded);
        assert_eq!(
            msg.text,
            "🔔 collect_stock_prices unmuted: 3 runs, 1 failed (last failure 2026-11-26 13:36 UTC, exit 1)"
        );
        let json = serde_json::to_string(&msg.blocks).unwrap();
        assert!(json.contains("(last failure <!date^1795700200^"), "{json}");
        assert!(json.contains("UTC>, exit 1) (it succeeded)."), "{json}");
        let muted = muted_message("C1", "<!channel>", &mute);
        let json = serde_json::to_string(&muted).unwrap();
        assert!(json.contains("🔕 <@U024BE7LH> muted *&lt;!channel&gt;* until it next succeeds"), "{json}");
        assert_eq!(meanwhile_text(&Meanwhile::default(), false), "0 runs");
        let many = Meanwhile { runs: 50, missed: 2, at_least: true, ..Meanwhile::default() };
        assert_eq!(meanwhile_text(&many, false), "50 runs or more, 2 missed");
        assert_eq!(muted.text, "🔕 &lt;!channel&gt; muted until it next succeeds");
        let by = unmuted_message("C1", "j", &Meanwhile::default(), &Ended::By("U0OPERATOR".into()));
        assert!(serde_json::to_string(&by.blocks).unwrap().contains("(<@U0OPERATOR> unmuted it)"));
    }
}
