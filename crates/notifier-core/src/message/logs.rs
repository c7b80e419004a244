//! Log lines streamed into a job's thread, and the note that ends them.

use super::{Block, Message, Text, context, limits, message, text};
use crate::log_levels::{Level, Line, Threshold};

/// A line is cut to this many characters: one huge line must not crowd
/// out the others.
const LINE_MAX: usize = 500;

/// Where streamed lines go and where they came from.
#[derive(Debug, Clone, Copy)]
pub struct StreamContext<'a> {
    pub job: &'a str,
    pub channel: &'a str,
    pub thread_ts: &'a str,
    pub threshold: Threshold,
    /// The log stream in the CloudWatch console, when known.
    pub stream_url: Option<&'a str>,
    /// This reply's number among the task's streamed replies, and the cap.
    pub reply: u32,
    pub max_replies: u32,
}

fn emoji(level: Level) -> &'static str {
    match level {
        Level::Critical => "🛑",
        Level::Error => "❗",
        Level::Warning => "⚠️",
        Level::Info => "ℹ️",
        Level::Debug => "🔎",
    }
}

fn level_name(level: Level, count: usize) -> String {
    let name = match level {
        Level::Critical => "critical",
        Level::Error => "error",
        Level::Warning => "warning",
        Level::Info => "info line",
        Level::Debug => "debug line",
    };
    let plural = if count == 1 || level == Level::Critical { "" } else { "s" };
    format!("{} {name}{plural}", text::thousands(count as u64))
}

/// `2 errors, 1 warning`: entries by level, most severe first; a traceback
/// is part of the error it follows.
fn tally(lines: &[Line]) -> String {
    let mut counts: Vec<(Level, usize)> = Vec::new();
    for line in lines.iter().filter(|l| !l.joined) {
        match counts.iter_mut().find(|(level, _)| *level == line.level) {
            Some((_, n)) => *n += 1,
            None => counts.push((line.level, 1)),
        }
    }
    counts.sort_by_key(|(level, _)| std::cmp::Reverse(*level));
    counts.iter().map(|(level, n)| level_name(*level, *n)).collect::<Vec<_>>().join(", ")
}

/// One reply for one delivery: the lines in a code block, escaped and cut
/// to fit, with how many were left out and a link to the stream.
pub fn log_lines_message(ctx: &StreamContext, lines: &[Line]) -> Message {
    let worst = lines.iter().map(|l| l.level).max().unwrap_or(Level::Debug);
    let headline = format!("{} {} log: {}", emoji(worst), ctx.job, tally(lines));
    let title = format!("*{}*", text::escape_truncated(&headline, 300));
    // Room for the title, a newline and the code fences.
    let room = limits::SECTION_TEXT - title.chars().count() - 8;
    let mut shown = Vec::new();
    let mut used = 0;
    for line in lines {
        let escaped = text::escape_truncated(&line.text, LINE_MAX);
        let cost = escaped.chars().count() + 1;
        if used + cost > room {
            break;
        }
        used += cost;
        shown.push(escaped);
    }
    let left_out = lines.len() - shown.len();
    let body = format!("{title}\n```{}```", shown.join("\n"));
    let mut notes = Vec::new();
    if left_out > 0 {
        let s = if left_out == 1 { "" } else { "s" };
        notes.push(format!("{} more line{s} left out", text::thousands(left_out as u64)));
    }
    if let Some(url) = ctx.stream_url {
        notes.push(format!("<{url}|Log stream>"));
    }
    notes.push(format!("Streamed at {} and above · reply {} of {}", ctx.threshold.name(), ctx.reply, ctx.max_replies));
    let blocks = vec![Block::Section { text: Some(Text::Mrkdwn { text: body }), fields: Vec::new() }, context(notes)];
    message(ctx.channel, &headline, blocks, Some(ctx.thread_ts))
}

/// The reply after the last one allowed: nothing more is streamed.
pub fn stream_cap_message(ctx: &StreamContext) -> Message {
    let headline = format!("🔇 {}: further lines are in the log stream", ctx.job);
    let mut notes = vec![format!(
        "{} replies of lines at {} and above were streamed into this thread; no more will be.",
        ctx.max_replies,
        ctx.threshold.name()
    )];
    if let Some(url) = ctx.stream_url {
        notes.push(format!("<{url}|Log stream>"));
    }
    let blocks = vec![
        Block::Section {
            text: Some(Text::Mrkdwn { text: format!("*{}*", text::escape_truncated(&headline, 300)) }),
            fields: Vec::new(),
        },
        context(notes),
    ];
    message(ctx.channel, &headline, blocks, Some(ctx.thread_ts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log_levels::select;
    use crate::message::limit_violation;

    fn ctx() -> StreamContext<'static> {
        StreamContext {
            job: "analyze_sentiment",
            channel: "C1",
            thread_ts: "1.2",
            threshold: Threshold::Warning,
            stream_url: Some("https://console.example/logs"),
            reply: 3,
            max_replies: 20,
        }
    }

    #[test]
    fn lines_go_in_a_code_block_in_the_thread_with_a_tally() {
        let lines = select(
            &["WARNING stale quote", "ERROR:root:boom", "Traceback (most recent call last):", "ValueError: x"],
            Threshold::Warning,
        );
        let msg = log_lines_message(&ctx(), &lines);
        assert_eq!(msg.thread_ts.as_deref(), Some("1.2"));
        assert_eq!(msg.text, "❗ analyze_sentiment log: 1 error, 1 warning");
        let json = serde_json::to_string(&msg.blocks).unwrap();
        assert!(json.contains("```WARNING stale quote\\nERROR:root:boom\\nTraceback"), "{json}");
        assert!(json.contains("<https://console.example/logs|Log stream>"), "{json}");
        assert!(json.contains("reply 3 of 20") && !json.contains("left out"), "{json}");
        assert_eq!(limit_violation(&msg.blocks), None);
    }

    #[test]
    fn a_flood_is_one_reply_within_limits_that_says_what_was_left_out() {
        let flood: Vec<String> = (0..5000).map(|i| format!("ERROR <!channel> row {i} failed")).collect();
        let refs: Vec<&str> = flood.iter().map(String::as_str).collect();
        let msg = log_lines_message(&ctx(), &select(&refs, Threshold::Warning));
        assert_eq!(limit_violation(&msg.blocks), None);
        let json = serde_json::to_string(&msg).unwrap();
        assert!(!json.contains("<!channel>"), "escaped");
        assert!(msg.text.contains("5,000 errors"), "{}", msg.text);
        assert!(json.contains("more lines left out"), "{json:.400}");
        let huge = ["ERROR ".to_owned() + &"x".repeat(100_000)];
        let refs: Vec<&str> = huge.iter().map(String::as_str).collect();
        assert_eq!(limit_violation(&log_lines_message(&ctx(), &select(&refs, Threshold::Warning)).blocks), None);
    }

    #[test]
    fn the_cap_note_links_the_stream() {
        let msg = stream_cap_message(&ctx());
        assert_eq!(msg.text, "🔇 analyze_sentiment: further lines are in the log stream");
        assert!(serde_json::to_string(&msg.blocks).unwrap().contains("|Log stream>"));
        assert_eq!(limit_violation(&msg.blocks), None);
    }
}
