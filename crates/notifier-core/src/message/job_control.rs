//! Job control in Slack: the Stop and Re-run buttons, what is said in a
//! run's thread when someone acts, and the answers to `/jobs`.

use serde::Serialize;

use super::{Block, Button, Choice, Element, Message, Overflow, Text, button, context, limits, message, text};
use crate::health::Run;
use crate::jobs::is_user_id;

pub const STOP_ACTION: &str = "stop_task";
pub const RERUN_ACTION: &str = "rerun_task";
/// "👀 I'm on it", on every failure message: anyone may press it.
pub const ACK_ACTION: &str = "ack_failure";

/// An answer to a person: a slash command's HTTP answer, or a post to an
/// interaction's `response_url`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reply {
    /// `ephemeral` (only the asker sees it) or `in_channel`.
    pub response_type: &'static str,
    pub text: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocks: Vec<Block>,
    /// Never replace the message whose button was pressed.
    pub replace_original: bool,
}

impl Reply {
    /// Only the asker sees it. `mrkdwn` is the crate's own, escaped.
    pub fn ephemeral(mrkdwn: String) -> Reply {
        Reply { response_type: "ephemeral", text: mrkdwn, blocks: Vec::new(), replace_original: false }
    }

    pub fn in_channel(mrkdwn: String) -> Reply {
        Reply { response_type: "in_channel", text: mrkdwn, blocks: Vec::new(), replace_original: false }
    }
}

/// `<@U…>`, for an ID Slack gave us and we checked: it names the person
/// who acted and nothing else.
pub fn who(user_id: &str) -> String {
    if is_user_id(user_id) { format!("<@{user_id}>") } else { "someone".into() }
}

/// The start message's Stop button.
pub fn stop_actions(job: &str, task_arn: &str, task_id: &str) -> Block {
    let question = format!("Stop task {task_id} of {job} now? ECS stops its containers (SIGTERM, then SIGKILL).");
    Block::Actions {
        elements: vec![Element::Button(button(
            "Stop",
            STOP_ACTION,
            task_arn.to_owned(),
            true,
            (&format!("Stop {job}?"), &question, "Stop"),
        ))],
    }
}

/// A failed run's buttons: "👀 I'm on it" (`ack`: anyone may press it; it
/// acts on nothing, so it asks nothing first) and Re-run (`rerun`:
/// operators, with a confirm dialog). `None` when it offers neither.
pub fn failure_actions(job: &str, task_arn: &str, rerun: bool, ack: bool) -> Option<Block> {
    let mut elements = Vec::new();
    if ack {
        elements.push(Element::Button(ack_button(task_arn)));
    }
    if rerun {
        let question = format!(
            "Start {job} again with what the failed run had: the same task definition revision, command and environment?"
        );
        elements.push(Element::Button(button(
            "Re-run",
            RERUN_ACTION,
            task_arn.to_owned(),
            false,
            (&format!("Re-run {job}?"), &question, "Re-run"),
        )));
    }
    (!elements.is_empty()).then_some(Block::Actions { elements })
}

/// "👀 I'm on it" for what `value` names: a run's task ARN, or an open
/// missed-run alert's key (`outage#<job>#<first due>`).
fn ack_button(value: &str) -> Button {
    Button {
        text: Text::PlainText { text: "👀 I'm on it".into(), emoji: true },
        action_id: ACK_ACTION.into(),
        value: value.to_owned(),
        style: None,
        confirm: None,
    }
}

/// An open missed-run alert's button: anyone may take it.
pub fn ack_actions(value: &str) -> Block {
    Block::Actions { elements: vec![Element::Button(ack_button(value))] }
}

/// "🔕 Mute…" on a failed run's messages: a menu of how long, for the
/// job's operators (anyone sees it; only they are obeyed).
pub const MUTE_ACTION: &str = "mute_job";

/// The mute menu's choices: the value is `<length>#<task id>`, the length
/// as `/jobs mute` takes it, the task to find the job (and its rule) by.
pub const MUTE_CHOICES: [(&str, &str); 3] =
    [("🔕 Mute for 1 hour", "1h"), ("🔕 Mute for 24 hours", "24h"), ("🔕 Mute until it succeeds", "until-success")];

/// `actions` with the mute menu added (made when there is none).
pub fn with_mute_menu(actions: Option<Block>, task_id: Option<&str>) -> Option<Block> {
    let Some(task_id) = task_id else { return actions };
    let menu = Element::Overflow(Overflow {
        action_id: MUTE_ACTION.into(),
        options: MUTE_CHOICES
            .iter()
            .map(|(label, length)| Choice {
                text: Text::PlainText { text: (*label).into(), emoji: true },
                value: format!("{length}#{task_id}"),
            })
            .collect(),
    });
    match actions {
        Some(Block::Actions { mut elements }) => {
            elements.push(menu);
            Some(Block::Actions { elements })
        }
        other => Some(other.unwrap_or(Block::Actions { elements: vec![menu] })),
    }
}

/// A mute menu's value: how long, and the failed run's task id.
pub fn parse_mute_choice(value: &str) -> Option<(crate::mute::Length, &str)> {
    let (length, task_id) = value.split_once('#')?;
    let length = crate::mute::Length::parse(length).ok()?;
    crate::job_control::is_task_id(task_id).then_some((length, task_id))
}

/// What an acknowledgement stamps on a failure message.
pub fn on_it(user_id: &str) -> String {
    format!("👀 {} is on it", who(user_id))
}

/// A failure message's blocks once `user_id` is on it: its "I'm on it"
/// button gives way to "👀 <@U…> is on it" (Re-run stays). `None` when it
/// has no such button (not a failure message, or stamped already).
pub fn acknowledged_blocks(blocks: &[Block], user_id: &str) -> Option<Vec<Block>> {
    let at = blocks.iter().position(
        |b| matches!(b, Block::Actions { elements } if elements.iter().any(|e| e.action_id() == ACK_ACTION)),
    )?;
    let mut blocks = blocks.to_vec();
    let stamp = context(vec![on_it(user_id)]);
    match &mut blocks[at] {
        Block::Actions { elements } => elements.retain(|e| e.action_id() != ACK_ACTION),
        _ => unreachable!("found as an actions block"),
    }
    if matches!(&blocks[at], Block::Actions { elements } if elements.is_empty()) {
        blocks[at] = stamp;
    } else {
        blocks.insert(at, stamp);
    }
    blocks.truncate(limits::BLOCKS);
    Some(blocks)
}

/// To a later presser: the failure is someone's already (`holder`, when
/// known), and nothing changed.
pub fn acknowledged_already_reply(holder: Option<&str>, presser: &str) -> Reply {
    Reply::ephemeral(match holder {
        Some(holder) if holder == presser => "👀 You are on it already. Nothing changed.".to_owned(),
        Some(holder) => format!("👀 {} is on it already. Nothing changed.", who(holder)),
        None => "👀 Someone is on it already. Nothing changed.".to_owned(),
    })
}

fn thread_note(channel: &str, thread_ts: &str, mrkdwn: String, fallback: &str) -> Message {
    let blocks = vec![Block::Section { text: Some(Text::Mrkdwn { text: mrkdwn }), fields: Vec::new() }];
    message(channel, fallback, blocks, Some(thread_ts))
}

/// In the run's thread: who asked ECS to stop it.
pub fn stop_requested_message(channel: &str, thread_ts: &str, job: &str, user_id: &str, task_id: &str) -> Message {
    let mrkdwn = format!(
        "🛑 {} asked ECS to stop this run of *{}* (task `{}`). Its outcome follows when it has stopped.",
        who(user_id),
        text::escape_truncated(job, 200),
        text::escape_truncated(task_id, 64)
    );
    thread_note(channel, thread_ts, mrkdwn, &format!("🛑 Stop requested for {job}"))
}

/// In the failed run's thread: who re-ran it, and the new task.
pub fn rerun_started_message(channel: &str, thread_ts: &str, job: &str, user_id: &str, new_task: &str) -> Message {
    let mrkdwn = format!(
        "🔁 {} re-ran *{}*: task `{}` started. Its own start message follows in the channel.",
        who(user_id),
        text::escape_truncated(job, 200),
        text::escape_truncated(new_task, 64)
    );
    thread_note(channel, thread_ts, mrkdwn, &format!("🔁 {job} re-run"))
}

/// `/jobs run`'s answer, in the channel: who started what.
pub fn job_started_reply(job: &str, user_id: &str, new_task: &str, how: &str) -> Reply {
    Reply::in_channel(format!(
        "🔁 {} started *{}* ({}): task `{}`. Its start message follows.",
        who(user_id),
        text::escape_truncated(job, 200),
        text::escape_truncated(how, 200),
        text::escape_truncated(new_task, 64)
    ))
}

/// A job's line in `/jobs status`.
#[derive(Debug, Clone)]
pub struct StatusLine<'a> {
    pub job: String,
    pub last: Option<&'a Run>,
    pub running: usize,
    /// Who is on its last run, when it failed and someone said so.
    pub on_it: Option<&'a str>,
    /// Its mute, while it is muted.
    pub muted: Option<&'a crate::mute::Mute>,
}

/// `/jobs status`: each job's last run.
pub fn status_reply(jobs: &[StatusLine]) -> Reply {
    if jobs.is_empty() {
        return Reply::ephemeral("No job has run since the notifier began keeping their history.".into());
    }
    let lines: Vec<String> = jobs
        .iter()
        .map(|StatusLine { job, last: last_run, running, on_it, muted }| {
            let last = match last_run {
                None => "no finished run yet".to_owned(),
                Some(run) => {
                    let outcome = if run.succeeded == Some(true) { "✅ succeeded" } else { "❌ failed" };
                    let when = run.end.map(text::slack_date).unwrap_or_else(|| "at an unknown time".into());
                    let took = run.run_time.map(|t| format!(" in {}", text::duration(t))).unwrap_or_default();
                    format!("{outcome}{took}, {when}")
                }
            };
            let running = if *running > 0 { format!(" · {running} running") } else { String::new() };
            let on_it = match on_it {
                Some(user) if last_run.is_some_and(|r| r.succeeded != Some(true)) => {
                    format!(" · {}", self::on_it(user))
                }
                _ => String::new(),
            };
            let muted = muted.map(|m| format!(" · {}", super::mute::muted_note(m))).unwrap_or_default();
            format!("*{}*  {last}{running}{on_it}{muted}", text::escape_truncated(job, 200))
        })
        .collect();
    let mut blocks = Vec::new();
    let mut section = String::new();
    for line in lines {
        if section.chars().count() + line.chars().count() + 1 > limits::SECTION_TEXT {
            blocks.push(Block::Section {
                text: Some(Text::Mrkdwn { text: std::mem::take(&mut section) }),
                fields: Vec::new(),
            });
        }
        if !section.is_empty() {
            section.push('\n');
        }
        section.push_str(&line);
    }
    blocks.push(Block::Section { text: Some(Text::Mrkdwn { text: section }), fields: Vec::new() });
    blocks.truncate(limits::BLOCKS - 1);
    blocks.push(context(vec!["`/jobs run <job>` · `/jobs stop <task id>` (operators) · `/jobs help`".into()]));
    let count = if jobs.len() == 1 { "1 job".to_owned() } else { format!("{} jobs", jobs.len()) };
    Reply { blocks, ..Reply::ephemeral(count) }
}

pub fn help_reply() -> Reply {
    Reply::ephemeral(
        "*/jobs* — the company's ECS jobs\n\
         • `/jobs status`: each job's last run, how it went, when\n\
         • `/jobs run <job>`: run a job now, as its schedule runs it (or as its last run ran) — operators only\n\
         • `/jobs stop <task id>`: stop a running task — operators only\n\
         • `/jobs mute <job> 2h` (or `1d`, `until-success`) and `/jobs unmute <job>`: hold a job's messages back for a while — operators only\n\
         • `/jobs help`: this\n\
         Failed runs also have a *Re-run* button, running ones a *Stop* button."
            .into(),
    )
}

pub fn unknown_reply(asked: &str) -> Reply {
    Reply::ephemeral(format!(
        "I don't know `/jobs {}`. Try `/jobs status`, `/jobs run <job>`, `/jobs stop <task id>` or `/jobs help`.",
        text::escape_truncated(asked, 200)
    ))
}

pub fn usage_reply(usage: &str) -> Reply {
    Reply::ephemeral(format!("{}. Nothing was done.", text::escape_truncated(usage, 300)))
}

pub fn not_allowed_reply(action: &str, job: &str) -> Reply {
    Reply::ephemeral(format!(
        "You are not allowed to {action} *{}*: only its operators are (`operators` in the notifier's JOBS_CONFIG). Nothing was done.",
        text::escape_truncated(job, 200)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::limit_violation;

    #[test]
    fn buttons_keep_to_slacks_limits_and_ask_first() {
        let job = "a".repeat(500);
        let arn = "arn:aws:ecs:us-east-1:123456789012:task/market-pulse/9781c248b1ab4c5b9d5f0d7f1e2c3a4b";
        let rerun = failure_actions(&job, arn, true, false).unwrap();
        for block in [stop_actions(&job, arn, "9781c248b1ab4c5b9d5f0d7f1e2c3a4b"), rerun] {
            assert_eq!(limit_violation(std::slice::from_ref(&block)), None);
            let json = serde_json::to_value(&block).unwrap();
            assert_eq!(json["elements"][0]["type"], "button");
            assert_eq!(json["elements"][0]["value"], arn);
            assert!(json["elements"][0]["confirm"]["title"].is_object(), "a confirm dialog");
        }
    }

    #[test]
    fn the_ack_button_asks_nothing_and_stays_within_limits() {
        let arn =
            format!("arn:aws:ecs:us-east-1:123456789012:task/{}/9781c248b1ab4c5b9d5f0d7f1e2c3a4b", "c".repeat(255));
        assert_eq!(failure_actions("j", &arn, false, false), None);
        let both = failure_actions("j", &arn, true, true).unwrap();
        assert_eq!(limit_violation(std::slice::from_ref(&both)), None);
        let json = serde_json::to_value(&both).unwrap();
        assert_eq!(json["elements"][0]["action_id"], ACK_ACTION);
        assert_eq!(json["elements"][0]["text"]["text"], "👀 I'm on it");
        assert_eq!(json["elements"][0]["value"], arn.as_str());
        assert!(json["elements"][0].get("confirm").is_none(), "acts on nothing: nothing to confirm");
        assert_eq!(json["elements"][1]["action_id"], RERUN_ACTION);
    }

    #[test]
    fn acknowledging_stamps_the_presser_once_and_keeps_rerun() {
        let arn = "arn:aws:ecs:us-east-1:123456789012:task/c/abc";
        let head = context(vec!["head".into()]);
        let blocks = vec![head.clone(), failure_actions("j", arn, true, true).unwrap()];
        let stamped = acknowledged_blocks(&blocks, "U024BE7LH").unwrap();
        assert_eq!(stamped.len(), 3);
        assert_eq!(stamped[1], context(vec!["👀 <@U024BE7LH> is on it".into()]));
        assert!(
            matches!(&stamped[2], Block::Actions { elements } if elements.len() == 1 && elements[0].action_id() == RERUN_ACTION)
        );
        assert_eq!(acknowledged_blocks(&stamped, "U0OTHER"), None, "stamped once");
        // Without Re-run, the stamp takes the buttons' place.
        let alone = acknowledged_blocks(&[head.clone(), failure_actions("j", arn, false, true).unwrap()], "U024BE7LH");
        assert_eq!(alone.unwrap(), vec![head.clone(), context(vec!["👀 <@U024BE7LH> is on it".into()])]);
        // A user id that is not one names nobody.
        let evil = acknowledged_blocks(&blocks, "<!channel>").unwrap();
        assert_eq!(evil[1], context(vec!["👀 someone is on it".into()]));
        assert_eq!(acknowledged_blocks(&[head], "U024BE7LH"), None, "no button: not a failure");
    }

    #[test]
    fn blocks_as_slack_gives_them_back_are_read_and_stamped() {
        // conversations.history adds `block_id`, `verbatim` and may leave out `emoji`.
        let from_slack = serde_json::json!([
            {"type": "header", "block_id": "h1", "text": {"type": "plain_text", "text": "❌ j failed"}},
            {"type": "context", "block_id": "c1", "elements": [{"type": "mrkdwn", "text": "x", "verbatim": false}]},
            {"type": "actions", "block_id": "a1", "elements": [
                {"type": "button", "action_id": ACK_ACTION, "value": "arn", "text": {"type": "plain_text", "text": "👀 I'm on it", "emoji": true}}]}
        ]);
        let blocks: Vec<Block> = serde_json::from_value(from_slack).unwrap();
        let stamped = acknowledged_blocks(&blocks, "U024BE7LH").unwrap();
        assert_eq!(stamped[2], context(vec!["👀 <@U024BE7LH> is on it".into()]));
        assert_eq!(stamped.len(), 3);
    }

    #[test]
    fn a_later_presser_is_told_who_has_it() {
        assert!(
            acknowledged_already_reply(Some("U1AAAAAAA"), "U2BBBBBBB").text.contains("<@U1AAAAAAA> is on it already")
        );
        assert!(
            acknowledged_already_reply(Some("U1AAAAAAA"), "U1AAAAAAA").text.starts_with("👀 You are on it already")
        );
        assert!(acknowledged_already_reply(None, "U1AAAAAAA").text.contains("Someone is on it already"));
    }

    #[test]
    fn who_names_only_a_checked_user_id() {
        assert_eq!(who("U024BE7LH"), "<@U024BE7LH>");
        assert_eq!(who("U024|evil>"), "someone");
        let msg = stop_requested_message("C1", "1.1", "<!channel>", "U024BE7LH", "abc");
        let json = serde_json::to_string(&msg).unwrap();
        assert!(json.contains("<@U024BE7LH> asked ECS to stop") && !json.contains("<!channel>"), "{json}");
    }

    #[test]
    fn status_lists_each_jobs_last_run_within_limits() {
        let run = Run {
            task_id: "t".into(),
            start: Some(crate::time::Timestamp::from_secs(1_795_700_000)),
            end: Some(crate::time::Timestamp::from_secs(1_795_700_241)),
            run_time: Some(std::time::Duration::from_secs(241)),
            succeeded: Some(true),
            failed: None,
            interrupted: false,
            ..Run::default()
        };
        let failed = Run { succeeded: Some(false), ..run.clone() };
        let mut jobs: Vec<StatusLine> = (0..200)
            .map(|i| StatusLine {
                job: format!("job{i:03}"),
                last: (i % 2 == 0).then_some(&run),
                running: i % 3,
                on_it: Some("U024BE7LH"),
                muted: None,
            })
            .collect();
        jobs[2].last = Some(&failed);
        let mute = crate::mute::Mute {
            id: "m1".into(),
            by: "U1".into(),
            since: crate::time::Timestamp::EPOCH,
            until: run.start,
        };
        jobs[4].muted = Some(&mute);
        let reply = status_reply(&jobs);
        assert_eq!(limit_violation(&reply.blocks), None);
        let json = serde_json::to_string(&reply).unwrap();
        assert!(json.contains("*job000*  ✅ succeeded in 4m 1s, <!date^1795700241^"), "{json:.300}");
        assert!(json.contains("*job001*  no finished run yet · 1 running\\n"), "{json:.600}");
        assert!(json.contains("*job002*  ❌ failed in 4m 1s, <!date^1795700241^"), "{json:.900}");
        assert!(json.contains("· 2 running · 👀 <@U024BE7LH> is on it"), "only on a failure: {json:.900}");
        assert!(json.contains("*job004*  ✅ succeeded in 4m 1s, <!date^1795700241^"), "{json:.1500}");
        assert!(json.contains("· 1 running · 🔕 muted until <!date^1795700000^"), "{json:.1500}");
        assert_eq!(reply.response_type, "ephemeral");
    }
}
