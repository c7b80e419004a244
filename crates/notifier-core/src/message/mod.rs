//! Slack messages: the Block Kit model and the builders for each notice.
//!
//! Builders take raw event text and do all escaping and cutting here, so a
//! message that leaves this module is within Slack's limits and mentions no
//! one unless configuration said so.

mod escalation;
mod group;
mod health;
pub mod job_control;
pub mod links;
mod logs;
pub mod mute;
pub mod recovery;
mod registration;
mod task;
pub mod text;

pub use escalation::{Escalated, escalation_message};
pub use group::{group_headline, group_message};
pub use health::{
    DigestLine, Outage, back_on_schedule_message, digest_message, missed_again_message, outage_key, outage_message,
    still_running_message,
};
pub use job_control::Reply;
pub use logs::{StreamContext, log_lines_message, stream_cap_message};
pub use registration::registration_message;
pub use task::{
    Controls, JobContext, SPOT_WARNING, completion_message, finished_start_message, note_text, runbook_link,
    since_success_text, start_message, stopping_message, stopping_start_message,
};

use serde::{Deserialize, Serialize};

/// Block Kit limits (Slack API reference, "Blocks" and "Composition objects").
pub mod limits {
    pub const BLOCKS: usize = 50;
    pub const HEADER_TEXT: usize = 150;
    pub const SECTION_TEXT: usize = 3000;
    pub const FIELDS: usize = 10;
    pub const FIELD_TEXT: usize = 2000;
    pub const CONTEXT_ELEMENTS: usize = 10;
    pub const ACTIONS_ELEMENTS: usize = 25;
    pub const BUTTON_TEXT: usize = 75;
    pub const BUTTON_VALUE: usize = 2000;
    pub const ACTION_ID: usize = 255;
    pub const CONFIRM_TITLE: usize = 100;
    pub const CONFIRM_TEXT: usize = 300;
    pub const CONFIRM_BUTTON: usize = 30;
    pub const OVERFLOW_OPTIONS: usize = 5;
    pub const OPTION_TEXT: usize = 75;
    pub const OPTION_VALUE: usize = 150;
    /// Slack truncates `text` past 40,000 characters; notifications show far
    /// less, so the fallback is kept short.
    pub const FALLBACK_TEXT: usize = 3000;
}

/// A `chat.postMessage` request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub channel: String,
    /// Fallback shown in notifications and by clients without Block Kit.
    pub text: String,
    pub blocks: Vec<Block>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<String>,
    /// A thread reply also shown in the channel.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reply_broadcast: bool,
    #[serde(default)]
    pub unfurl_links: bool,
    #[serde(default)]
    pub unfurl_media: bool,
    /// Which notice the message is (Slack's message metadata): an
    /// invocation that could not record where its message landed leaves it
    /// for a later one to find in the channel (`claim`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

/// Slack's message metadata, as this notifier marks its notices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    pub event_type: String,
    pub event_payload: NoticeMark,
}

/// The record and slot a message was posted for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeMark {
    pub key: String,
    pub slot: String,
}

/// The `event_type` of the notifier's marks.
pub const NOTICE_EVENT: &str = "ecs_slack_notifier_notice";

impl Message {
    /// The message marked as the notice of `key`'s `slot`.
    pub fn marked(&self, key: &str, slot: &str) -> Message {
        let mut message = self.clone();
        message.metadata = Some(Metadata {
            event_type: NOTICE_EVENT.into(),
            event_payload: NoticeMark { key: key.into(), slot: slot.into() },
        });
        message
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    Header {
        text: Text,
    },
    Section {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<Text>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        fields: Vec<Text>,
    },
    Context {
        elements: Vec<Text>,
    },
    Actions {
        elements: Vec<Element>,
    },
}

/// An interactive element of an `actions` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
// A message holds a few of these, built once: boxing the button buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum Element {
    Button(Button),
    /// A "⋮" menu: the chosen option's `value` comes back.
    Overflow(Overflow),
}

impl Element {
    pub fn action_id(&self) -> &str {
        match self {
            Element::Button(b) => &b.action_id,
            Element::Overflow(o) => &o.action_id,
        }
    }
}

/// An overflow menu's options (2 to 5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overflow {
    pub action_id: String,
    pub options: Vec<Choice>,
}

/// One option of a menu: its text, and the `value` that comes back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub text: Text,
    pub value: String,
}

/// A button of an `actions` block; its `value` comes back when pressed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Button {
    pub text: Text,
    pub action_id: String,
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<Confirm>,
}

/// The "are you sure?" dialog of a button.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confirm {
    pub title: Text,
    pub text: Text,
    pub confirm: Text,
    pub deny: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Text {
    PlainText {
        text: String,
        /// Slack may leave it out of a message it gives back.
        #[serde(default)]
        emoji: bool,
    },
    Mrkdwn {
        text: String,
    },
}

impl Text {
    pub fn as_str(&self) -> &str {
        match self {
            Text::PlainText { text, .. } | Text::Mrkdwn { text } => text,
        }
    }
}

/// Plain text, cut to `max` characters: nothing in it is parsed.
fn plain(raw: &str, max: usize) -> Text {
    Text::PlainText { text: text::truncate_plain(raw, max), emoji: true }
}

/// A button that asks first.
fn button(label: &str, action_id: &str, value: String, danger: bool, confirm: (&str, &str, &str)) -> Button {
    let (title, question, yes) = confirm;
    let style = danger.then(|| "danger".to_owned());
    Button {
        text: plain(label, limits::BUTTON_TEXT),
        action_id: action_id.to_owned(),
        value,
        style: style.clone(),
        confirm: Some(Confirm {
            title: plain(title, limits::CONFIRM_TITLE),
            text: plain(question, limits::CONFIRM_TEXT),
            confirm: plain(yes, limits::CONFIRM_BUTTON),
            deny: plain("Cancel", limits::CONFIRM_BUTTON),
            style,
        }),
    }
}

/// A header block; headers are plain text, so nothing in them is parsed.
fn header(raw: &str) -> Block {
    let one_line: String = raw.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    Block::Header { text: Text::PlainText { text: text::truncate_plain(&one_line, limits::HEADER_TEXT), emoji: true } }
}

/// One `*label*` + value field. `value` is mrkdwn the caller has already
/// made safe; use [`Field::raw`] for event text.
#[derive(Debug, Clone)]
struct Field {
    label: String,
    mrkdwn: String,
}

/// Labels are ours or, for job summaries, a job's keys: escaped and short.
const LABEL_MAX: usize = 100;

impl Field {
    /// A field whose value comes from an event or a user: escaped and cut.
    fn raw(label: &str, value: &str) -> Field {
        let label = text::escape_truncated(label, LABEL_MAX);
        let room = limits::FIELD_TEXT - label.chars().count() - 3;
        Field { mrkdwn: text::escape_truncated(value, room), label }
    }

    /// A field whose value is mrkdwn built by this crate.
    fn trusted(label: &str, mrkdwn: String) -> Field {
        Field { label: text::escape_truncated(label, LABEL_MAX), mrkdwn }
    }

    fn into_text(self) -> Text {
        Text::Mrkdwn { text: format!("*{}*\n{}", self.label, self.mrkdwn) }
    }
}

/// Sections of at most ten fields each.
fn field_sections(fields: Vec<Field>) -> impl Iterator<Item = Block> {
    let mut fields = fields.into_iter().map(Field::into_text).peekable();
    std::iter::from_fn(move || {
        fields.peek()?;
        Some(Block::Section { text: None, fields: fields.by_ref().take(limits::FIELDS).collect() })
    })
}

/// A section with a bold label over event text shown verbatim in a code block.
fn code_section(label: &str, raw: &str) -> Block {
    let label = text::escape_truncated(label, LABEL_MAX);
    let room = limits::SECTION_TEXT - label.chars().count() - 12;
    Block::Section {
        text: Some(Text::Mrkdwn { text: format!("*{label}*\n```{}```", text::escape_truncated(raw, room)) }),
        fields: Vec::new(),
    }
}

fn context(mrkdwn: Vec<String>) -> Block {
    Block::Context {
        elements: mrkdwn.into_iter().take(limits::CONTEXT_ELEMENTS).map(|text| Text::Mrkdwn { text }).collect(),
    }
}

fn message(channel: &str, fallback_raw: &str, mut blocks: Vec<Block>, thread_ts: Option<&str>) -> Message {
    blocks.truncate(limits::BLOCKS);
    Message {
        channel: channel.to_owned(),
        text: text::escape_truncated(fallback_raw, limits::FALLBACK_TEXT),
        blocks,
        thread_ts: thread_ts.map(str::to_owned),
        reply_broadcast: false,
        unfurl_links: false,
        unfurl_media: false,
        metadata: None,
    }
}

/// Checks a message against the Block Kit limits the builders promise.
/// Returns the first violation. Used by tests and the fake Slack alike.
pub fn limit_violation(blocks: &[Block]) -> Option<String> {
    if blocks.len() > limits::BLOCKS {
        return Some(format!("{} blocks > {}", blocks.len(), limits::BLOCKS));
    }
    let too_long = |what: &str, t: &Text, max: usize| {
        let n = t.as_str().chars().count();
        (n > max).then(|| format!("{what} of {n} characters > {max}"))
    };
    blocks.iter().find_map(|block| match block {
        Block::Header { text } => too_long("header", text, limits::HEADER_TEXT),
        Block::Section { text, fields } => {
            if text.is_none() && fields.is_empty() {
                return Some("empty section".into());
            }
            if fields.len() > limits::FIELDS {
                return Some(format!("{} fields > {}", fields.len(), limits::FIELDS));
            }
            text.as_ref()
                .and_then(|t| too_long("section text", t, limits::SECTION_TEXT))
                .or_else(|| fields.iter().find_map(|f| too_long("field", f, limits::FIELD_TEXT)))
        }
        Block::Context { elements } => {
            if elements.is_empty() || elements.len() > limits::CONTEXT_ELEMENTS {
                return Some(format!("context with {} elements", elements.len()));
            }
            elements.iter().find_map(|e| too_long("context element", e, limits::SECTION_TEXT))
        }
        Block::Actions { elements } => {
            if elements.is_empty() || elements.len() > limits::ACTIONS_ELEMENTS {
                return Some(format!("actions with {} elements", elements.len()));
            }
            let over = |what: &str, n: usize, max: usize| (n > max).then(|| format!("{what} of {n} > {max}"));
            elements.iter().find_map(|e| {
                let b = match e {
                    Element::Button(b) => b,
                    Element::Overflow(o) => {
                        return over("overflow options", o.options.len(), limits::OVERFLOW_OPTIONS)
                            .or_else(|| (o.options.len() < 2).then(|| "an overflow of fewer than 2 options".into()))
                            .or_else(|| over("action_id", o.action_id.len(), limits::ACTION_ID))
                            .or_else(|| {
                                o.options.iter().find_map(|c| {
                                    too_long("option text", &c.text, limits::OPTION_TEXT)
                                        .or_else(|| over("option value", c.value.chars().count(), limits::OPTION_VALUE))
                                })
                            });
                    }
                };
                too_long("button text", &b.text, limits::BUTTON_TEXT)
                    .or_else(|| over("action_id", b.action_id.len(), limits::ACTION_ID))
                    .or_else(|| over("button value", b.value.chars().count(), limits::BUTTON_VALUE))
                    .or_else(|| {
                        let c = b.confirm.as_ref()?;
                        too_long("confirm title", &c.title, limits::CONFIRM_TITLE)
                            .or_else(|| too_long("confirm text", &c.text, limits::CONFIRM_TEXT))
                            .or_else(|| too_long("confirm button", &c.confirm, limits::CONFIRM_BUTTON))
                            .or_else(|| too_long("deny button", &c.deny, limits::CONFIRM_BUTTON))
                    })
            })
        }
    })
}

/// `msg` with the environment's label in front of its notification text
/// (what a phone's lock screen shows), when there is one: two stacks
/// posting to one channel are told apart (`[staging] ❌ …`).
pub fn labelled(label: Option<&str>, mut msg: Message) -> Message {
    if let Some(label) = label {
        msg.text = format!("[{}] {}", text::escape_truncated(label, 100), msg.text);
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_split_into_sections_of_ten() {
        let fields: Vec<Field> = (0..23).map(|i| Field::raw("n", &i.to_string())).collect();
        let sections: Vec<Block> = field_sections(fields).collect();
        let sizes: Vec<usize> = sections
            .iter()
            .map(|b| match b {
                Block::Section { fields, .. } => fields.len(),
                _ => 0,
            })
            .collect();
        assert_eq!(sizes, [10, 10, 3]);
        assert_eq!(limit_violation(&sections), None);
    }

    #[test]
    fn huge_values_stay_within_limits() {
        let huge = "<!channel> ".repeat(2000);
        let blocks = vec![
            header(&huge),
            code_section("Reason", &huge),
            Block::Section { text: None, fields: vec![Field::raw("Name", &huge).into_text()] },
        ];
        assert_eq!(limit_violation(&blocks), None);
        let Block::Section { text: Some(reason), .. } = &blocks[1] else { panic!() };
        assert!(!reason.as_str().contains('<'));
    }

    #[test]
    fn serializes_to_block_kit_json() {
        let msg = message("C1", "a & b", vec![header("Hi"), context(vec!["x".into()])], Some("1.2"));
        let json = serde_json::to_value(&msg).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "channel": "C1", "text": "a &amp; b", "thread_ts": "1.2",
                "unfurl_links": false, "unfurl_media": false,
                "blocks": [
                    {"type": "header", "text": {"type": "plain_text", "text": "Hi", "emoji": true}},
                    {"type": "context", "elements": [{"type": "mrkdwn", "text": "x"}]}
                ]
            })
        );
    }
}
