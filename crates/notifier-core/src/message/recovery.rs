//! A failure message edited in place once its job recovers: "✅ recovered
//! at 10:12 (next run succeeded)", linking the run that did. The ❌ stays.

use super::job_control::ACK_ACTION;
use super::{Block, Text, context, limits};
use crate::time::Timestamp;

/// How many failure messages a recovery edits at most: the most recent.
pub const RECOVERY_EDITS: usize = 10;

const RECOVERED: &str = "✅ recovered";

/// Slack's link to a message: `ts` without its dot, after `p`. `None` for
/// anything that is not a channel ID and a `ts`.
pub fn message_url(channel: &str, ts: &str) -> Option<String> {
    let channel_ok = !channel.is_empty() && channel.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    let (secs, micros) = ts.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    (channel_ok && digits(secs) && digits(micros))
        .then(|| format!("https://slack.com/archives/{channel}/p{secs}{micros}"))
}

/// The note a recovered failure gets.
pub fn recovered_note(at: Timestamp, link: Option<&str>) -> String {
    let when = format!("<!date^{}^{{time}}|{}>", at.secs(), at.format_utc("%H:%M UTC"));
    match link {
        Some(url) => format!("{RECOVERED} at {when} (<{url}|next run succeeded>)"),
        None => format!("{RECOVERED} at {when} (next run succeeded)"),
    }
}

/// A failure message's blocks once its job recovered: the note added, and
/// "👀 I'm on it" gone (nobody need be on it now; Re-run stays). `None`
/// when it says so already, so a second edit changes nothing.
pub fn recovered_blocks(blocks: &[Block], note: &str) -> Option<Vec<Block>> {
    let said = blocks.iter().any(|b| {
        matches!(b, Block::Context { elements } if elements.iter().any(|e| matches!(e,
            Text::Mrkdwn { text } | Text::PlainText { text, .. } if text.starts_with(RECOVERED))))
    });
    if said {
        return None;
    }
    let mut blocks: Vec<Block> = blocks
        .iter()
        .cloned()
        .filter_map(|block| match block {
            Block::Actions { elements } => {
                let elements: Vec<_> = elements.into_iter().filter(|e| e.action_id() != ACK_ACTION).collect();
                (!elements.is_empty()).then_some(Block::Actions { elements })
            }
            other => Some(other),
        })
        .collect();
    // Within Slack's limit, the note is kept over the last block.
    blocks.truncate(limits::BLOCKS - 1);
    blocks.push(context(vec![note.to_owned()]));
    Some(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::job_control::failure_actions;

    #[test]
    fn a_message_link_is_built_from_checked_parts_only() {
        assert_eq!(
            message_url("C0JOBS", "1795700000.000100").as_deref(),
            Some("https://slack.com/archives/C0JOBS/p1795700000000100")
        );
        assert_eq!(message_url("C0JOBS|x", "1.2"), None);
        assert_eq!(message_url("C0JOBS", "answered"), None);
        assert_eq!(message_url("C0JOBS", "1>2.3"), None);
    }

    #[test]
    fn a_recovery_adds_its_note_once_and_takes_the_button_away() {
        let header = Block::Header { text: Text::PlainText { text: "❌ prices failed".into(), emoji: true } };
        let actions = failure_actions("prices", "arn:aws:ecs:us-east-1:1:task/c/t1", true, true).unwrap();
        let at = Timestamp::from_secs(1_795_745_520);
        let note = recovered_note(at, message_url("C1", "1795745520.000200").as_deref());
        assert_eq!(
            note,
            "✅ recovered at <!date^1795745520^{time}|02:12 UTC> (<https://slack.com/archives/C1/p1795745520000200|next run succeeded>)"
        );
        let edited = recovered_blocks(&[header.clone(), actions], &note).unwrap();
        let json = serde_json::to_string(&edited).unwrap();
        assert!(json.contains("❌ prices failed"), "the ❌ stays: {json}");
        assert!(!json.contains("ack_failure") && json.contains("rerun_task"), "{json}");
        assert!(
            json.ends_with(&format!(
                r#"{{"type":"context","elements":[{{"type":"mrkdwn","text":{}}}]}}]"#,
                serde_json::to_string(&note).unwrap()
            )),
            "{json}"
        );
        assert_eq!(recovered_blocks(&edited, &note), None, "said once");
        // Only "I'm on it": the actions block goes with it.
        let alone = failure_actions("prices", "arn", false, true).unwrap();
        let edited = recovered_blocks(&[header.clone(), alone], &recovered_note(at, None)).unwrap();
        assert_eq!(edited.len(), 2);
        let full: Vec<Block> = std::iter::repeat_n(header, limits::BLOCKS).collect();
        assert_eq!(recovered_blocks(&full, &note).unwrap().len(), limits::BLOCKS, "within the limit");
    }
}
