//! A Slack stand-in for the replay command: prints each message as a
//! readable preview and as the JSON that would be sent.

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::message::{Block, Message, Text};
use crate::ports::{Posted, SlackError, SlackPoster};

pub struct ConsolePoster {
    out: Mutex<Box<dyn Write + Send>>,
    next_ts: AtomicU64,
}

impl ConsolePoster {
    pub fn stdout() -> Self {
        Self::new(Box::new(std::io::stdout()))
    }

    pub fn new(out: Box<dyn Write + Send>) -> Self {
        ConsolePoster { out: Mutex::new(out), next_ts: AtomicU64::new(1) }
    }
}

impl SlackPoster for ConsolePoster {
    async fn post(&self, message: &Message) -> Result<Posted, SlackError> {
        let ts = format!("1700000000.{:06}", self.next_ts.fetch_add(1, Ordering::Relaxed));
        let json = serde_json::to_string_pretty(message).map_err(|e| SlackError::Transport(e.to_string()))?;
        let text = format!("{}\n{json}\n", preview(message, &ts));
        let mut out = self.out.lock().map_err(|_| SlackError::Transport("console poisoned".into()))?;
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| SlackError::Transport(e.to_string()))?;
        Ok(Posted { channel: message.channel.clone(), ts })
    }
}

/// Roughly what Slack would show, in plain text.
pub fn preview(message: &Message, ts: &str) -> String {
    let place = match &message.thread_ts {
        Some(parent) => format!("reply in thread {parent}"),
        None => "new message".to_owned(),
    };
    let mut lines = vec![format!("┌─ {} · {place} · ts {ts}", message.channel), format!("│ notification: {}", message.text)];
    for block in &message.blocks {
        match block {
            Block::Header { text } => lines.push(format!("│ ▌{}", text.as_str())),
            Block::Section { text, fields } => {
                lines.extend(text.iter().flat_map(|t| indent(t)));
                for field in fields {
                    lines.push(format!("│   {}", field.as_str().replacen('\n', ": ", 1).replace('\n', ", ")));
                }
            }
            Block::Context { elements } => {
                let joined: Vec<&str> = elements.iter().map(Text::as_str).collect();
                lines.push(format!("│   ({})", joined.join(" · ")));
            }
        }
    }
    lines.push("└─ JSON:".into());
    lines.join("\n")
}

fn indent(text: &Text) -> Vec<String> {
    text.as_str().lines().map(|l| format!("│   {l}")).collect()
}
