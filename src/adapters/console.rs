//! A Slack stand-in for the replay command: prints each message as a
//! readable preview with a link that opens it in Slack's Block Kit
//! Builder, and, when asked, as the JSON that would be sent.

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use crate::message::{Block, Message, Reply, Text};
use crate::ports::{Posted, SlackError, SlackPoster};
use crate::time::Timestamp;

/// Where Slack's Block Kit Builder opens a message given in the link.
pub const BLOCK_KIT_BUILDER: &str = "https://app.slack.com/block-kit-builder/#";

pub struct ConsolePoster {
    out: Mutex<Box<dyn Write + Send>>,
    next_ts: AtomicU64,
    /// Print each message's JSON after its preview.
    json: bool,
    /// Each message's Block Kit Builder link, numbered from 1 in the
    /// previews: long, so printed together at the end (`BuilderLinks`).
    links: BuilderLinks,
}

/// The Block Kit Builder links of the messages printed so far.
pub type BuilderLinks = std::sync::Arc<Mutex<Vec<String>>>;

impl ConsolePoster {
    pub fn stdout(json: bool) -> Self {
        Self::new(Box::new(std::io::stdout()), json)
    }

    pub fn new(out: Box<dyn Write + Send>, json: bool) -> Self {
        ConsolePoster { out: Mutex::new(out), next_ts: AtomicU64::new(1), json, links: BuilderLinks::default() }
    }

    /// The links of the messages printed, as they are printed.
    pub fn links(&self) -> BuilderLinks {
        self.links.clone()
    }
}

impl ConsolePoster {
    fn print(&self, heading: &str, message: &Message) -> Result<(), SlackError> {
        let number = {
            let mut links = self.links.lock().map_err(|_| SlackError::Transport("console poisoned".into()))?;
            links.push(block_kit_builder(message));
            links.len()
        };
        let mut text = format!("{}\n└─ in Slack's Block Kit Builder: link [{number}]\n", preview(heading, message));
        if self.json {
            let json = serde_json::to_string(message).map_err(|e| SlackError::Transport(e.to_string()))?;
            text.push_str(&format!("   JSON: {json}\n"));
        }
        let mut out = self.out.lock().map_err(|_| SlackError::Transport("console poisoned".into()))?;
        out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(|e| SlackError::Transport(e.to_string()))
    }
}

#[async_trait]
impl SlackPoster for ConsolePoster {
    async fn post(&self, message: &Message, _deadline: Timestamp) -> Result<Posted, SlackError> {
        let ts = format!("1700000000.{:06}", self.next_ts.fetch_add(1, Ordering::Relaxed));
        let place = match &message.thread_ts {
            Some(parent) => format!("reply in thread {parent}"),
            None => "new message".to_owned(),
        };
        self.print(&format!("{} · {place} · ts {ts}", message.channel), message)?;
        Ok(Posted { channel: message.channel.clone(), ts })
    }

    async fn update(&self, at: &Posted, message: &Message, _deadline: Timestamp) -> Result<(), SlackError> {
        self.print(&format!("{} · message {} updated", at.channel, at.ts), message)
    }

    async fn respond(&self, _response_url: &str, reply: &Reply, _deadline: Timestamp) -> Result<(), SlackError> {
        let text = format!("┌─ {} answer\n│ {}\n", reply.response_type, readable(&reply.text).replace('\n', "\n│ "));
        let mut out = self.out.lock().map_err(|_| SlackError::Transport("console poisoned".into()))?;
        out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(|e| SlackError::Transport(e.to_string()))
    }

    /// The console keeps nothing to read back.
    async fn message_at(
        &self,
        _at: &Posted,
        _thread: Option<&str>,
        _deadline: Timestamp,
    ) -> Result<Option<Message>, SlackError> {
        Ok(None)
    }

    /// The console keeps nothing to look in; the replay's store records
    /// every post.
    async fn find_posted(
        &self,
        _channel: &str,
        _thread: Option<&str>,
        _mark: &crate::message::NoticeMark,
        _oldest: Timestamp,
        _deadline: Timestamp,
    ) -> Result<Option<Posted>, SlackError> {
        Ok(None)
    }
}

/// Roughly what Slack would show, in plain text.
pub fn preview(heading: &str, message: &Message) -> String {
    let mut lines = vec![format!("┌─ {heading}"), format!("│ notification: {}", readable(&message.text))];
    for block in &message.blocks {
        match block {
            Block::Header { text } => lines.push(format!("│ ▌{}", text.as_str())),
            Block::Section { text, fields } => {
                lines.extend(text.iter().flat_map(indent));
                for field in fields {
                    lines.push(format!("│   {}", readable(field.as_str()).replacen('\n', ": ", 1).replace('\n', ", ")));
                }
            }
            Block::Context { elements } => {
                let joined: Vec<String> = elements.iter().map(|e| readable(e.as_str())).collect();
                lines.push(format!("│   ({})", joined.join(" · ")));
            }
            Block::Actions { elements } => {
                let buttons: Vec<String> = elements
                    .iter()
                    .map(|e| match e {
                        crate::message::Element::Button(b) => format!("[{}]", b.text.as_str()),
                        crate::message::Element::Overflow(_) => "[⋮]".to_owned(),
                    })
                    .collect();
                lines.push(format!("│   {}", buttons.join(" ")));
            }
        }
    }
    lines.join("\n")
}

/// A link that opens the message's blocks in Slack's Block Kit Builder,
/// which shows them as Slack renders them (sign in to a workspace first).
pub fn block_kit_builder(message: &Message) -> String {
    let payload = serde_json::json!({ "blocks": message.blocks }).to_string();
    format!("{BLOCK_KIT_BUILDER}{}", encode_fragment(&payload))
}

/// Percent-encodes what a URL fragment cannot hold as it is, as
/// `encodeURIComponent` does (`:` and `,` kept: a fragment may hold them).
fn encode_fragment(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')' => {
                out.push(byte as char)
            }
            b':' | b',' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn indent(text: &Text) -> Vec<String> {
    readable(text.as_str()).lines().map(|l| format!("│   {l}")).collect()
}

/// Shows mrkdwn roughly as Slack renders it: dates and links as their text
/// (links marked ↗; the JSON has the URL), entities decoded. Escaped text
/// has no `<`, so every `<` here starts one of the crate's own tokens.
fn readable(mrkdwn: &str) -> String {
    let mut out = String::with_capacity(mrkdwn.len());
    let mut rest = mrkdwn;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let token = &rest[start..];
        match (token.find('|'), token.find('>')) {
            (Some(bar), Some(end)) if bar < end => {
                out.push_str(&token[bar + 1..end]);
                if !token.starts_with("<!date^") {
                    out.push_str(" ↗");
                }
                rest = &token[end + 1..];
            }
            (_, Some(end)) => {
                out.push_str(&token[..=end]);
                rest = &token[end + 1..];
            }
            (_, None) => {
                out.push_str(token);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builder_link_holds_the_blocks_and_decodes_back() {
        let message = Message {
            channel: "C1".into(),
            text: "🚀 job started".into(),
            blocks: vec![Block::Header {
                text: Text::PlainText { text: "🚀 job \"started\" & <more>".into(), emoji: true },
            }],
            thread_ts: None,
            reply_broadcast: false,
            unfurl_links: false,
            unfurl_media: false,
            metadata: None,
        };
        let link = block_kit_builder(&message);
        let encoded = link.strip_prefix(BLOCK_KIT_BUILDER).unwrap();
        assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"%-_.!~*'():,".contains(&b)), "{encoded}");
        let mut bytes = Vec::new();
        let mut rest = encoded.as_bytes();
        while let Some((&b, tail)) = rest.split_first() {
            if b == b'%' {
                bytes.push(u8::from_str_radix(std::str::from_utf8(&tail[..2]).unwrap(), 16).unwrap());
                rest = &tail[2..];
            } else {
                bytes.push(b);
                rest = tail;
            }
        }
        let decoded: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(decoded, serde_json::json!({ "blocks": message.blocks }));
    }

    #[test]
    fn readable_shows_dates_and_decodes_entities() {
        let table = [
            ("*Started*\n<!date^1^{date_short_pretty}|2026-11-26 14:00:23 UTC>", "*Started*\n2026-11-26 14:00:23 UTC"),
            ("&lt;!channel&gt; &amp; co", "<!channel> & co"),
            ("<!date^broken", "<!date^broken"),
            ("<https://x.example/a?b=c|Logs> · note", "Logs ↗ · note"),
            ("<!subteam^S1> failed <https://x|Logs>", "<!subteam^S1> failed Logs ↗"),
        ];
        for (mrkdwn, want) in table {
            assert_eq!(readable(mrkdwn), want);
        }
    }
}
