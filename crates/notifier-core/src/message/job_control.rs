//! Job control in Slack: the Stop and Re-run buttons, what is said in a
//! run's thread when someone acts, and the answers to `/jobs`.

use serde::Serialize;

use super::{Block, Message, Text, button, context, limits, message, text};
use crate::health::Run;
use crate::jobs::is_user_id;

pub const STOP_ACTION: &str = "stop_task";
pub const RERUN_ACTION: &str = "rerun_task";

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
        elements: vec![button(
            "Stop",
            STOP_ACTION,
            task_arn.to_owned(),
            true,
            (&format!("Stop {job}?"), &question, "Stop"),
        )],
    }
}

/// A failed run's Re-run button.
pub fn rerun_actions(job: &str, task_arn: &str) -> Block {
    let question = format!(
        "Start {job} again with what the failed run had: the same task definition revision, command and environment?"
    );
    Block::Actions {
        elements: vec![button(
            "Re-run",
            RERUN_ACTION,
            task_arn.to_owned(),
            false,
            (&format!("Re-run {job}?"), &question, "Re-run"),
        )],
    }
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

/// `/jobs status`: each job's last run.
pub fn status_reply(jobs: &[(String, Option<&Run>, usize)]) -> Reply {
    if jobs.is_empty() {
        return Reply::ephemeral("No job has run since the notifier began keeping their history.".into());
    }
    let lines: Vec<String> = jobs
        .iter()
        .map(|(job, last, running)| {
            let last = match last {
                None => "no finished run yet".to_owned(),
                Some(run) => {
                    let outcome = if run.succeeded == Some(true) { "✅ succeeded" } else { "❌ failed" };
                    let when = run
                        .end
                        .and_then(|e| chrono::DateTime::from_timestamp(e, 0))
                        .map(text::slack_date)
                        .unwrap_or_else(|| "at an unknown time".into());
                    let took = run.run_time.map(|t| format!(" in {}", text::duration(t))).unwrap_or_default();
                    format!("{outcome}{took}, {when}")
                }
            };
            let running = if *running > 0 { format!(" · {running} running") } else { String::new() };
            format!("*{}*  {last}{running}", text::escape_truncated(job, 200))
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
        for block in [stop_actions(&job, arn, "9781c248b1ab4c5b9d5f0d7f1e2c3a4b"), rerun_actions(&job, arn)] {
            assert_eq!(limit_violation(std::slice::from_ref(&block)), None);
            let json = serde_json::to_value(&block).unwrap();
            assert_eq!(json["elements"][0]["type"], "button");
            assert_eq!(json["elements"][0]["value"], arn);
            assert!(json["elements"][0]["confirm"]["title"].is_object(), "a confirm dialog");
        }
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
            start: Some(1_795_700_000),
            end: Some(1_795_700_241),
            run_time: Some(std::time::Duration::from_secs(241)),
            succeeded: Some(true),
            failed: None,
            interrupted: false,
            ..Run::default()
        };
        let jobs: Vec<(String, Option<&Run>, usize)> =
            (0..200).map(|i| (format!("job{i:03}"), (i % 2 == 0).then_some(&run), i % 3)).collect();
        let reply = status_reply(&jobs);
        assert_eq!(limit_violation(&reply.blocks), None);
        let json = serde_json::to_string(&reply).unwrap();
        assert!(json.contains("*job000*  ✅ succeeded in 4m 1s, <!date^1795700241^"), "{json:.300}");
        assert!(json.contains("*job001*  no finished run yet · 1 running"), "{json:.600}");
        assert_eq!(reply.response_type, "ephemeral");
    }
}
