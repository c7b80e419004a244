//! Start and completion messages for ECS jobs.

use super::{Block, Field, Message, code_section, context, control, field_sections, header, links, message, text};
use crate::event::EcsTask;
use crate::health::{self, Note};
use crate::jobs::{LogStream, Notify};
use crate::lifecycle::Outcome;
use crate::summary::JobLog;

/// Lines of a failed job's log shown in its completion.
pub const FAILURE_LOG_LINES: usize = 20;

/// What a message needs to know beyond the event itself.
#[derive(Debug, Clone, Copy)]
pub struct JobContext<'a> {
    pub job: &'a str,
    pub environment: &'a str,
    pub channel: &'a str,
    pub notify: Notify,
    /// Slack mention syntax from configuration (validated there); only
    /// failure messages carry it.
    pub mention: Option<&'a str>,
    /// Override environment variables whose values may be shown.
    pub show_environment: &'a [String],
    pub log_stream: Option<&'a LogStream>,
    /// What the task's log said, when it was read.
    pub log: Option<&'a JobLog>,
    /// What the job's history says of this run.
    pub notes: &'a [Note],
    /// Which buttons it offers.
    pub controls: Controls,
    /// The task is one of a group: its reply in the group's thread names it.
    pub grouped: bool,
}

/// The job-control buttons a message offers (see `kinds::slack_request`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Controls {
    /// Stop, on a running job's start message.
    pub stop: bool,
    /// Re-run, on a failed run's reply and updated start message.
    pub rerun: bool,
}

impl<'a> JobContext<'a> {
    pub fn new(job: &'a str, environment: &'a str, channel: &'a str) -> Self {
        JobContext {
            job,
            environment,
            channel,
            notify: Notify::All,
            mention: None,
            show_environment: &[],
            log_stream: None,
            log: None,
            notes: &[],
            controls: Controls { stop: false, rerun: false },
            grouped: false,
        }
    }
}

/// A history note as people would say it.
pub fn note_text(note: &Note) -> String {
    match note {
        Note::Slow { factor, usual } => format!("⏱ {factor:.1}× its usual {}", text::duration(*usual)),
        Note::Streak(n) => format!("🔁 {} failure in a row", health::ordinal(*n)),
        Note::Recovered(n) => format!("💚 recovered after {n} failure{}", if *n == 1 { "" } else { "s" }),
    }
}

/// The notes after a headline, for the fallback text.
fn with_notes(headline: &str, notes: &[Note]) -> String {
    if notes.is_empty() {
        return headline.to_owned();
    }
    let notes: Vec<String> = notes.iter().map(note_text).collect();
    format!("{headline} · {}", notes.join(" · "))
}

fn notes_context(notes: &[Note]) -> Option<Block> {
    (!notes.is_empty()).then(|| context(notes.iter().map(note_text).collect()))
}

pub fn start_message(ctx: &JobContext, task: &EcsTask) -> Message {
    let headline = format!("🚀 {} started", ctx.job);
    let mut blocks = run_blocks(ctx, task, &headline, None);
    if ctx.controls.stop {
        blocks.push(control::stop_actions(ctx.job, &task.task_arn, task.task_id()));
    }
    message(ctx.channel, &headline, blocks, None)
}

/// The start message once the job has finished, to replace it in place
/// (`chat.update`): the channel then reads as a list of runs and results.
pub fn finished_start_message(ctx: &JobContext, task: &EcsTask, outcome: &Outcome) -> Message {
    let headline = headline(ctx.job, outcome);
    let mut blocks = run_blocks(ctx, task, &headline, Some("Details in the thread."));
    if let Some(notes) = notes_context(ctx.notes) {
        blocks.insert(1, notes);
    }
    if ctx.controls.rerun && !outcome.succeeded {
        blocks.push(control::rerun_actions(ctx.job, &task.task_arn));
    }
    message(ctx.channel, &with_notes(&headline, ctx.notes), blocks, None)
}

fn run_blocks(ctx: &JobContext, task: &EcsTask, headline: &str, note: Option<&str>) -> Vec<Block> {
    let mut blocks = vec![header(headline)];
    blocks.extend(field_sections(run_fields(ctx, task, true)));
    blocks.extend(command_sections(task));
    blocks.extend(environment_section(ctx, task));
    blocks.extend(links_context(ctx, task, note));
    blocks
}

/// The completion: a reply under the start message when `thread_ts` is
/// known, else a standalone message that carries the run's details itself.
pub fn completion_message(ctx: &JobContext, task: &EcsTask, outcome: &Outcome, thread_ts: Option<&str>) -> Message {
    let headline = headline(ctx.job, outcome);
    let mention = ctx.mention.filter(|_| !outcome.succeeded);
    let mut fields = Vec::new();
    if ctx.grouped && thread_ts.is_some() {
        fields.push(Field::trusted("Task", format!("`{}`", text::escape_truncated(task.task_id(), 200))));
    }
    if let Some(run_time) = outcome.run_time {
        fields.push(Field::trusted("Run time", text::duration(run_time)));
    }
    if !outcome.containers.is_empty() {
        let codes: Vec<String> = outcome
            .containers
            .iter()
            .map(|c| {
                let code = c.exit_code.map_or_else(|| "no exit code".to_owned(), |c| c.to_string());
                let sidecar = if c.essential { "" } else { " (not essential)" };
                format!("{}: {code}{sidecar}", c.name)
            })
            .collect();
        fields.push(Field::raw("Exit codes", &codes.join("\n")));
    }
    if let Some(stop_code) = &outcome.stop_code {
        fields.push(Field::raw("Stop code", stop_code));
    }
    let summary = ctx.log.and_then(|log| log.summary.as_ref());
    if let Some(summary) = summary {
        fields.extend(summary.stats.iter().map(|(key, value)| Field::raw(key, value)));
    }
    if thread_ts.is_none() {
        fields.extend(run_fields(ctx, task, false));
    }
    let mut blocks = vec![header(&headline)];
    blocks.extend(notes_context(ctx.notes));
    if let Some(mention) = mention {
        blocks
            .push(Block::Section { text: Some(super::Text::Mrkdwn { text: mention.to_owned() }), fields: Vec::new() });
    }
    blocks.extend(field_sections(fields));
    if let Some(reason) = outcome.reason.as_deref().filter(|_| !outcome.succeeded) {
        blocks.push(code_section("Reason", reason));
    }
    let last_lines =
        ctx.log.map_or(&[][..], |log| &log.last_lines[log.last_lines.len().saturating_sub(FAILURE_LOG_LINES)..]);
    if !outcome.succeeded && !last_lines.is_empty() {
        blocks.push(code_section(&format!("Last {} log lines", last_lines.len()), &last_lines.join("\n")));
    }
    let note = match (thread_ts, outcome.never_started, ctx.notify) {
        (Some(_), _, _) => None,
        (None, true, _) => Some("The task stopped before its containers ran, so there was no start message."),
        (None, false, Notify::Failures) => Some("This job posts only failures (notify: failures)."),
        (None, false, _) => Some("No start message was posted for this task, so this one stands alone."),
    };
    if thread_ts.is_none() {
        blocks.extend(command_sections(task));
        blocks.extend(environment_section(ctx, task));
    }
    if let Some(log_note) = ctx.log.and_then(|log| log.note.as_deref()) {
        blocks.push(context(vec![text::escape_truncated(log_note, 500)]));
    }
    blocks.extend(links_context(ctx, task, note));
    if ctx.controls.rerun && !outcome.succeeded {
        blocks.push(control::rerun_actions(ctx.job, &task.task_arn));
    }
    let mut msg = message(ctx.channel, &with_notes(&headline, ctx.notes), blocks, thread_ts);
    // Failures in a thread are also shown in the channel, never hidden.
    msg.reply_broadcast = thread_ts.is_some() && !outcome.succeeded;
    if let Some(mention) = mention {
        msg.text = format!("{mention} {}", msg.text);
    }
    msg
}

fn headline(job: &str, outcome: &Outcome) -> String {
    let took = outcome.run_time.map(|t| format!(" in {}", text::duration(t))).unwrap_or_default();
    match (outcome.succeeded, outcome.never_started, outcome.run_time) {
        (true, _, _) if outcome.reported_failures.is_some() => {
            format!("⚠️ {job} succeeded{took}, {} failed", outcome.reported_failures.unwrap_or_default())
        }
        (true, _, Some(_)) => format!("✅ {job} succeeded{took}"),
        (true, _, None) => format!("✅ {job} succeeded"),
        (false, true, _) => format!("❌ {job} failed to start"),
        (false, false, Some(t)) => format!("❌ {job} failed after {}", text::duration(t)),
        (false, false, None) => format!("❌ {job} failed"),
    }
}

/// What identifies a run: shown on the start message, and on a standalone
/// completion that has no start message to point to.
fn run_fields(ctx: &JobContext, task: &EcsTask, with_start_time: bool) -> Vec<Field> {
    let mut fields = vec![Field::raw("Environment", ctx.environment)];
    if let Some(cluster) = task.cluster_name() {
        fields.push(Field::raw("Cluster", cluster));
    }
    fields.push(Field::trusted("Task", format!("`{}`", text::escape_truncated(task.task_id(), 200))));
    if let Some(launch) = launch(task) {
        fields.push(Field::raw("Launch type", &launch));
    }
    if let Some(size) = size(task) {
        fields.push(Field::raw("CPU / memory", &size));
    }
    if let Some(started_by) = &task.started_by {
        fields.push(Field::raw("Started by", started_by));
    }
    let images: Vec<&str> = task.containers.iter().filter_map(|c| c.image.as_deref()).map(short_image).collect();
    if !images.is_empty() {
        fields.push(Field::raw("Image", &dedup(images).join("\n")));
    }
    if with_start_time {
        if let Some(started) = task.started_at {
            fields.push(Field::trusted("Started", text::slack_date(started)));
        }
    }
    fields
}

fn command_sections(task: &EcsTask) -> impl Iterator<Item = Block> + '_ {
    let single = task.command_overrides().count() == 1;
    task.command_overrides().map(move |(container, command)| {
        let label = if single { "Command".to_owned() } else { format!("Command ({container})") };
        code_section(&label, &command.join(" "))
    })
}

/// Allow-listed override variables, as `NAME=value` lines.
fn environment_section(ctx: &JobContext, task: &EcsTask) -> Option<Block> {
    let shown: Vec<String> = task
        .environment_overrides()
        .filter(|(name, _)| ctx.show_environment.iter().any(|allowed| allowed == name))
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    (!shown.is_empty()).then(|| code_section("Environment overrides", &shown.join("\n")))
}

fn links_context(ctx: &JobContext, task: &EcsTask, note: Option<&str>) -> Option<Block> {
    let mut elements: Vec<String> = note.map(str::to_owned).into_iter().collect();
    if let Some(url) = links::ecs_task_url(task) {
        elements.push(format!("<{url}|Task in the ECS console>"));
    }
    if let (Some(region), Some(logs)) = (task.region(), ctx.log_stream) {
        elements.push(format!("<{}|Logs>", links::log_stream_url(region, logs)));
    }
    (!elements.is_empty()).then(|| context(elements))
}

fn launch(task: &EcsTask) -> Option<String> {
    let kind = task.launch_type.as_deref().or(task.capacity_provider_name.as_deref())?;
    Some(match &task.platform_version {
        Some(v) => format!("{kind} {v}"),
        None => kind.to_owned(),
    })
}

/// ECS gives CPU in units of 1/1024 vCPU and memory in MiB.
fn size(task: &EcsTask) -> Option<String> {
    let cpu = task.cpu.as_deref().map(|units| match units.parse::<f64>() {
        Ok(u) => format!("{} vCPU", u / 1024.0),
        Err(_) => units.to_owned(),
    });
    let memory = task.memory.as_deref().map(|m| format!("{m} MiB"));
    match (cpu, memory) {
        (Some(c), Some(m)) => Some(format!("{c} / {m}")),
        (c, m) => c.or(m),
    }
}

/// `123.dkr.ecr.us-east-1.amazonaws.com/jobs:2026.11.26` → `jobs:2026.11.26`:
/// the registry host is the same on every run and crowds out the tag.
fn short_image(image: &str) -> &str {
    image.rsplit('/').next().unwrap_or(image)
}

fn dedup(mut items: Vec<&str>) -> Vec<&str> {
    let mut seen = std::collections::HashSet::new();
    items.retain(|i| seen.insert(*i));
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventKind, parse};
    use crate::jobs::JobsConfig;
    use crate::lifecycle::{Decision, decide};
    use crate::message::limit_violation;
    use crate::testing::fixture;

    fn task(path: &str) -> EcsTask {
        let EventKind::EcsTask(task) = parse(fixture(path)).unwrap().kind else { panic!("{path}") };
        *task
    }

    fn render(path: &str, thread_ts: Option<&str>) -> Message {
        let task = task(path);
        let job = JobsConfig::default().job(&task).name;
        let ctx = JobContext::new(&job, "prod", "C0JOBS");
        match decide(&task, &[]) {
            Decision::Start => start_message(&ctx, &task),
            Decision::Finish(outcome) => completion_message(&ctx, &task, &outcome, thread_ts),
            Decision::Ignore(why) => panic!("{path}: {why}"),
        }
    }

    fn all_text(msg: &Message) -> String {
        serde_json::to_string(&msg.blocks).unwrap() + &msg.text
    }

    /// (event, thread_ts, fallback text, strings the blocks must contain)
    #[test]
    fn messages_for_the_sample_events() {
        let table: [(&str, Option<&str>, &str, &[&str]); 5] = [
            (
                "events/ecs-task-running.json",
                None,
                "🚀 market-pulse-collect-stock-prices started",
                &[
                    "*Environment*\\nprod",
                    "*Cluster*\\nmarket-pulse",
                    "`9781c248b1ab4c5b9d5f0d7f1e2c3a4b`",
                    "FARGATE 1.4.0",
                    "0.5 vCPU / 1024 MiB",
                    "events-rule/market-pulse-collect-stock",
                    "market-pulse-jobs:2026.11.26-3f9c2e1",
                    "```python -m jobs.collect_stock_prices --type current```",
                    "<!date^1795701623^",
                ],
            ),
            (
                "events/ecs-task-stopped-success.json",
                Some("1.000100"),
                "✅ market-pulse-collect-stock-prices succeeded in 4m 1s",
                &["*Run time*\\n4m 1s", "collect-stock-prices: 0", "EssentialContainerExited"],
            ),
            (
                "events/ecs-task-stopped-failure.json",
                Some("1.000100"),
                "❌ market-pulse-analyze-sentiment failed after 12m 18s",
                &["analyze-sentiment: 137", "```OutOfMemoryError: Container killed due to memory usage```"],
            ),
            (
                "events/ecs-task-stopped-failure.json",
                None,
                "❌ market-pulse-analyze-sentiment failed after 12m 18s",
                &["analyze-sentiment: 137", "*Cluster*\\nmarket-pulse", "No start message was posted"],
            ),
            (
                "events/ecs-task-never-started.json",
                None,
                "❌ market-pulse-reddit-scraper failed to start",
                &["TaskFailedToStart", "CannotPullContainerError", "stopped before its containers ran"],
            ),
        ];
        for (path, thread_ts, fallback, wants) in table {
            let msg = render(path, thread_ts);
            assert_eq!(msg.text, fallback, "{path}");
            assert_eq!(msg.thread_ts.as_deref(), thread_ts, "{path}");
            assert_eq!(msg.channel, "C0JOBS");
            assert_eq!(limit_violation(&msg.blocks), None, "{path}");
            let json = all_text(&msg);
            for want in wants {
                assert!(json.contains(want), "{path}: {want:?} not in {json}");
            }
        }
    }

    #[test]
    fn sidecars_are_marked_in_the_exit_codes() {
        let mut t = task("events/ecs-task-stopped-success.json");
        let mut sidecar = t.containers[0].clone();
        sidecar.name = "log_router".into();
        sidecar.exit_code = Some(143);
        t.containers.push(sidecar);
        let Decision::Finish(outcome) = decide(&t, &["log_router".to_string()]) else { panic!() };
        let msg = completion_message(&JobContext::new("job", "prod", "C1"), &t, &outcome, Some("1.1"));
        assert!(
            all_text(&msg).contains("collect-stock-prices: 0\\nlog_router: 143 (not essential)"),
            "{}",
            all_text(&msg)
        );
        assert!(msg.text.starts_with("✅"));
    }

    #[test]
    fn the_reason_is_shown_only_on_failure() {
        assert!(!all_text(&render("events/ecs-task-stopped-success.json", Some("1.1"))).contains("Reason"));
    }

    #[test]
    fn event_text_cannot_mention_anyone() {
        let mut t = task("events/ecs-task-stopped-failure.json");
        let hostile = "<!channel> <@U024BE7LH> <https://evil|click> & more";
        t.started_by = Some(hostile.into());
        t.containers[0].name = hostile.into();
        t.containers[0].reason = Some(hostile.repeat(500));
        t.overrides = Some(crate::event::Overrides {
            container_overrides: vec![crate::event::ContainerOverride {
                name: "x".into(),
                command: Some(vec![hostile.into()]),
                ..Default::default()
            }],
            ..Default::default()
        });
        let Decision::Finish(outcome) = decide(&t, &[]) else { panic!() };
        let ctx = JobContext::new("job", hostile, "C1");
        for msg in [start_message(&ctx, &t), completion_message(&ctx, &t, &outcome, None)] {
            assert_eq!(limit_violation(&msg.blocks), None);
            let json = all_text(&msg);
            for bad in ["<!channel>", "<@U", "<https://evil"] {
                assert!(!json.contains(bad), "{bad} in {json}");
            }
            assert!(json.contains("&lt;!channel&gt;"));
        }
    }
}
