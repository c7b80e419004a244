//! Start and completion messages for ECS jobs, and what is said when ECS
//! is asked to stop one.

use super::{
    Block, Field, Message, Text, code_section, context, field_sections, header, job_control, links, message, text,
};
use crate::cause::{self, Cause};
use crate::changes::SinceSuccess;
use crate::event::EcsTask;
use crate::health::{self, Note};
use crate::jobs::{LogStream, Notify};
use crate::lifecycle::{Interruption, Outcome, StopRequest};
use crate::summary::JobLog;

/// Lines of a failed job's log shown in its completion.
pub const FAILURE_LOG_LINES: usize = 20;

/// What a message needs to know beyond the event itself.
#[derive(Debug, Clone, Copy)]
pub struct JobContext<'a> {
    pub job: &'a str,
    pub environment: &'a str,
    /// Put in front of the notification text (`[staging] …`) when set: the
    /// environment, when `ENVIRONMENT` was set.
    pub label: Option<&'a str>,
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
    /// The job's runbook (an https URL, validated at start-up), linked on
    /// its failures.
    pub runbook: Option<&'a str>,
    /// On a failure: what changed since the last success, when this is the
    /// first failure after it.
    pub since_success: Option<&'a SinceSuccess>,
}

/// The job-control buttons a message offers (see `kinds::slack_request`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Controls {
    /// Stop, on a running job's start message.
    pub stop: bool,
    /// Re-run, on a failed run's reply and updated start message.
    pub rerun: bool,
    /// "👀 I'm on it", on the same messages: anyone may press it.
    pub ack: bool,
    /// "🔕 Mute…", on the same messages: for operators.
    pub mute: bool,
}

impl<'a> JobContext<'a> {
    pub fn new(job: &'a str, environment: &'a str, channel: &'a str) -> Self {
        JobContext {
            job,
            environment,
            label: None,
            channel,
            notify: Notify::All,
            mention: None,
            show_environment: &[],
            log_stream: None,
            log: None,
            notes: &[],
            controls: Controls { stop: false, rerun: false, ack: false, mute: false },
            grouped: false,
            runbook: None,
            since_success: None,
        }
    }

    /// The message with its label in front of its notification text (what
    /// a phone's lock screen shows).
    pub fn labelled(&self, msg: Message) -> Message {
        super::labelled(self.label, msg)
    }
}

/// A history note as people would say it.
pub fn note_text(note: &Note) -> String {
    match note {
        Note::Slow { factor, usual } => format!("⏱ {factor:.1}× its usual {}", text::duration(*usual)),
        Note::Streak(n) => format!("🔁 {} failure in a row", health::ordinal(*n)),
        Note::Recovered(n) => format!("💚 recovered after {n} failure{}", if *n == 1 { "" } else { "s" }),
        Note::Fast { took, usual } => {
            format!("⚡ ran in {}; usually {}", text::duration(*took), text::approx_duration(*usual))
        }
        Note::Zero { key, usual } => {
            format!("`{}: 0`, usually {}", text::escape_truncated(key, 100), text::thousands(*usual))
        }
    }
}

/// Changes shown at most on one line; the rest are counted.
const MAX_CHANGES_SHOWN: usize = 8;

/// "Likely cause: … · Check: …", and AWS's page on the error.
fn cause_context(cause: &Cause) -> Block {
    let mut elements = vec![format!("*Likely cause:* {} · *Check:* {}", cause.likely, cause.check)];
    elements.extend(cause.doc.map(|url| format!("<{url}|AWS on this error>")));
    context(elements)
}

/// "Changed since the last success (yesterday 10:04): image a → b · …".
pub fn since_success_text(since: &SinceSuccess) -> String {
    let when = since
        .at
        .map(|t| format!(" (<!date^{}^{{date_pretty}} {{time}}|{}>)", t.secs(), t.format_utc("%Y-%m-%d %H:%M UTC")));
    let when = when.unwrap_or_default();
    if since.changes.is_empty() {
        return format!("Nothing changed since the last success{when}");
    }
    let value = |v: &str| text::escape_truncated(short_image(v), 150);
    let mut said: Vec<String> = since
        .changes
        .iter()
        .take(MAX_CHANGES_SHOWN)
        .map(|c| {
            let what = text::escape_truncated(&c.what, 150);
            match (&c.from, &c.to) {
                (Some(from), Some(to)) => format!("{what} {} → {}", value(from), value(to)),
                (None, Some(to)) => format!("{what}: {}", value(to)),
                (Some(from), None) => format!("{what}: {}", value(from)),
                (None, None) => what,
            }
        })
        .collect();
    if since.changes.len() > MAX_CHANGES_SHOWN {
        said.push(format!("{} more", since.changes.len() - MAX_CHANGES_SHOWN));
    }
    format!("Changed since the last success{when}: {}", said.join(" · "))
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

/// The start message, compact enough for a phone: the job, its
/// environment, who started it and its image, the rest on one line, and
/// the Stop button. The completion carries the details.
pub fn start_message(ctx: &JobContext, task: &EcsTask) -> Message {
    let headline = format!("🚀 {} started", ctx.job);
    let mut blocks = run_blocks(ctx, task, &headline, None);
    if ctx.controls.stop {
        blocks.push(job_control::stop_actions(ctx.job, &task.task_arn, task.task_id()));
    }
    ctx.labelled(message(ctx.channel, &headline, blocks, None))
}

/// The start message once the job has finished, to replace it in place
/// (`chat.update`): the channel then reads as a list of runs and results.
pub fn finished_start_message(ctx: &JobContext, task: &EcsTask, outcome: &Outcome) -> Message {
    let headline = headline(ctx.job, outcome);
    let mut blocks = run_blocks(ctx, task, &headline, Some("Details in the thread."));
    if let Some(notes) = notes_context(ctx.notes) {
        blocks.insert(1, notes);
    }
    if !outcome.succeeded {
        blocks.extend(job_control::with_mute_menu(
            job_control::failure_actions(ctx.job, &task.task_arn, ctx.controls.rerun, ctx.controls.ack),
            ctx.controls.mute.then(|| task.task_id()),
        ));
    }
    ctx.labelled(message(ctx.channel, &with_notes(&headline, ctx.notes), blocks, None))
}

/// The start message while ECS stops the task: no Stop button any more.
pub fn stopping_start_message(ctx: &JobContext, task: &EcsTask, stop: &StopRequest) -> Message {
    let headline = match stop.spot {
        true => format!("⚠️ {} is being interrupted by Spot", ctx.job),
        false => format!("🛑 {} is stopping", ctx.job),
    };
    let blocks = run_blocks(ctx, task, &headline, Some("Stopping: see the thread."));
    ctx.labelled(message(ctx.channel, &headline, blocks, None))
}

/// What Spot's warning means, or why ECS is stopping the task.
pub const SPOT_WARNING: &str = "⚠️ Spot is reclaiming this task: it will be stopped in about 2 minutes";

/// The one reply in a running task's thread when ECS is asked to stop it.
pub fn stopping_message(ctx: &JobContext, stop: &StopRequest, thread_ts: &str) -> Message {
    let (said, fallback) = match stop.spot {
        true => (
            format!("*{SPOT_WARNING}*"),
            format!("⚠️ Spot is reclaiming {}: it will be stopped in about 2 minutes", ctx.job),
        ),
        false => {
            let by = stop_requester(stop.stop_code.as_deref());
            let reason = stop.reason.as_deref().unwrap_or("no reason given");
            (
                format!("🛑 *ECS is stopping this task* ({by}): {}", text::escape_truncated(reason, 1000)),
                format!("🛑 {} is stopping: {reason}", ctx.job),
            )
        }
    };
    let mut blocks = vec![Block::Section { text: Some(Text::Mrkdwn { text: said }), fields: Vec::new() }];
    let mut about: Vec<String> = Vec::new();
    if let Some(code) = &stop.stop_code {
        about.push(format!("Stop code `{}`", text::escape_truncated(code, 100)));
    }
    if let (true, Some(reason)) = (stop.spot, &stop.reason) {
        about.push(text::escape_truncated(reason, 500));
    }
    about.push("Its outcome follows when it has stopped.".into());
    blocks.push(context(vec![about.join(" · ")]));
    ctx.labelled(message(ctx.channel, &fallback, blocks, Some(thread_ts)))
}

/// Who asks ECS to stop a task, by its stop code.
fn stop_requester(stop_code: Option<&str>) -> &'static str {
    match stop_code {
        Some("UserInitiated") => "a StopTask request",
        Some("ServiceSchedulerInitiated") => "its service's scheduler",
        _ => "ECS",
    }
}

/// The header, one section of what tells runs apart (environment, who
/// started it, its image), one context line with the rest.
fn run_blocks(ctx: &JobContext, task: &EcsTask, headline: &str, note: Option<&str>) -> Vec<Block> {
    let mut fields = vec![Field::raw("Environment", ctx.environment)];
    if let Some(started_by) = &task.started_by {
        fields.push(Field::raw("Started by", started_by));
    }
    let image = task
        .main_container()
        .and_then(|c| c.image.as_deref())
        .or_else(|| task.containers.iter().find_map(|c| c.image.as_deref()));
    if let Some(image) = image {
        fields.push(Field::raw("Image", short_image(image)));
    }
    let mut blocks = vec![header(headline)];
    blocks.extend(field_sections(fields));
    blocks.push(context(run_line(ctx, task, note)));
    blocks
}

/// The run's other facts, each a context element: where and how it runs,
/// its command and shown variables, the note, the links.
fn run_line(ctx: &JobContext, task: &EcsTask, note: Option<&str>) -> Vec<String> {
    let mut facts: Vec<String> = Vec::new();
    if let Some(cluster) = task.cluster_name() {
        facts.push(text::escape_truncated(cluster, 200));
    }
    facts.push(format!("`{}`", text::escape_truncated(task.task_id(), 200)));
    if let Some(launch) = launch(task) {
        facts.push(text::escape_truncated(&launch, 200));
    }
    if let Some((_, size)) = size(task) {
        facts.push(text::escape_truncated(&size, 200));
    }
    if let Some(started) = task.started_at {
        facts.push(format!("started {}", text::slack_date(started)));
    }
    let mut elements = vec![facts.join(" · ")];
    for (container, command) in task.command_overrides() {
        let single = task.command_overrides().count() == 1;
        let label = if single { String::new() } else { format!("{}: ", text::escape_truncated(container, 100)) };
        elements.push(format!("{label}`{}`", text::escape_truncated(&command.join(" "), 1000)));
    }
    let shown = shown_environment(ctx, task);
    if !shown.is_empty() {
        elements.push(format!("`{}`", text::escape_truncated(&shown.join(" "), 1000)));
    }
    elements.extend(note.map(str::to_owned));
    elements.extend(links(ctx, task));
    elements
}

/// The completion: a reply under the start message when `thread_ts` is
/// known, else a standalone message that carries the run's details itself.
pub fn completion_message(ctx: &JobContext, task: &EcsTask, outcome: &Outcome, thread_ts: Option<&str>) -> Message {
    let headline = headline(ctx.job, outcome);
    // An interruption is not the job's failure: nobody is called for it.
    let mention = ctx.mention.filter(|_| !outcome.succeeded && outcome.interrupted.is_none());
    let mut fields = Vec::new();
    if ctx.grouped && thread_ts.is_some() {
        fields.push(Field::trusted("Task", format!("`{}`", text::escape_truncated(task.task_id(), 200))));
    }
    if let Some(interruption) = outcome.interrupted {
        fields.push(Field::trusted("Stopped by", stopped_by(interruption).to_owned()));
    }
    // A task that never ran has no exit codes to show.
    if outcome.containers.iter().any(|c| c.exit_code.is_some())
        || (!outcome.never_started && !outcome.containers.is_empty())
    {
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
        fields.extend(run_fields(ctx, task));
    }
    let mut blocks = vec![header(&headline)];
    blocks.extend(notes_context(ctx.notes));
    if let Some(mention) = mention {
        blocks.push(Block::Section { text: Some(Text::Mrkdwn { text: mention.to_owned() }), fields: Vec::new() });
    }
    // Why: the reason, what it likely means, what changed since the last
    // success.
    let mut why: Vec<Block> = outcome
        .reason
        .as_deref()
        .filter(|_| !outcome.succeeded)
        .map(|r| code_section("Reason", r))
        .into_iter()
        .collect();
    if !outcome.succeeded {
        why.extend(cause::explain(&cause::Facts::of(task, outcome)).map(|c| cause_context(&c)));
        if outcome.interrupted.is_none() {
            why.extend(ctx.since_success.map(|since| context(vec![since_success_text(since)])));
        }
    }
    // A task that never started is told by why: that leads.
    let (why_first, why_after) = if outcome.never_started { (why, Vec::new()) } else { (Vec::new(), why) };
    blocks.extend(why_first);
    blocks.extend(field_sections(fields));
    blocks.extend(why_after);
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
    let mut elements: Vec<String> = note.map(str::to_owned).into_iter().collect();
    elements.extend(links(ctx, task));
    if let (Some(runbook), false, None) = (ctx.runbook, outcome.succeeded, outcome.interrupted) {
        elements.push(runbook_link(runbook));
    }
    if !elements.is_empty() {
        blocks.push(context(elements));
    }
    if !outcome.succeeded {
        blocks.extend(job_control::with_mute_menu(
            job_control::failure_actions(ctx.job, &task.task_arn, ctx.controls.rerun, ctx.controls.ack),
            ctx.controls.mute.then(|| task.task_id()),
        ));
    }
    let mut msg = message(ctx.channel, &with_notes(&headline, ctx.notes), blocks, thread_ts);
    // Failures in a thread are also shown in the channel, never hidden.
    msg.reply_broadcast = thread_ts.is_some() && !outcome.succeeded;
    if let Some(mention) = mention {
        msg.text = format!("{mention} {}", msg.text);
    }
    ctx.labelled(msg)
}

/// The job's runbook, validated at start-up as an https URL with nothing
/// that ends a Slack link.
pub fn runbook_link(url: &str) -> String {
    format!("<{url}|📖 Runbook>")
}

fn stopped_by(interruption: Interruption) -> &'static str {
    match interruption {
        Interruption::Spot => "Fargate Spot, reclaiming its capacity",
        Interruption::StopTask => "a StopTask request",
        Interruption::Scheduler => "its service's scheduler",
    }
}

fn headline(job: &str, outcome: &Outcome) -> String {
    let took = outcome.run_time.map(|t| format!(" in {}", text::duration(t))).unwrap_or_default();
    let after = outcome.run_time.map(|t| format!(" after {}", text::duration(t))).unwrap_or_default();
    if let Some(interruption) = outcome.interrupted {
        let when = if outcome.never_started { " before it started".to_owned() } else { after };
        return match interruption {
            Interruption::Spot => format!("⚠️ {job} interrupted by Spot{when}"),
            Interruption::StopTask | Interruption::Scheduler => format!("🛑 {job} was stopped{when}"),
        };
    }
    match (outcome.succeeded, outcome.never_started, outcome.run_time) {
        (true, _, _) if outcome.reported_failures.is_some() => {
            format!("⚠️ {job} succeeded{took}, {} failed", outcome.reported_failures.unwrap_or_default())
        }
        (true, _, _) => format!("✅ {job} succeeded{took}"),
        (false, true, _) => format!("❌ {job} failed to start"),
        (false, false, _) => format!("❌ {job} failed{after}"),
    }
}

/// What identifies a run, in full: on a standalone completion, which has
/// no start message to point to.
fn run_fields(ctx: &JobContext, task: &EcsTask) -> Vec<Field> {
    let mut fields = vec![Field::raw("Environment", ctx.environment)];
    if let Some(cluster) = task.cluster_name() {
        fields.push(Field::raw("Cluster", cluster));
    }
    fields.push(Field::trusted("Task", format!("`{}`", text::escape_truncated(task.task_id(), 200))));
    if let Some(launch) = launch(task) {
        fields.push(Field::raw("Launch type", &launch));
    }
    if let Some((label, size)) = size(task) {
        fields.push(Field::raw(label, &size));
    }
    if let Some(started_by) = &task.started_by {
        fields.push(Field::raw("Started by", started_by));
    }
    let images: Vec<&str> = task.containers.iter().filter_map(|c| c.image.as_deref()).map(short_image).collect();
    if !images.is_empty() {
        fields.push(Field::raw("Image", &dedup(images).join("\n")));
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

/// Allow-listed override variables, as `NAME=value`.
fn shown_environment(ctx: &JobContext, task: &EcsTask) -> Vec<String> {
    task.environment_overrides()
        .filter(|(name, _)| ctx.show_environment.iter().any(|allowed| allowed == name))
        .map(|(name, value)| format!("{name}={value}"))
        .collect()
}

fn environment_section(ctx: &JobContext, task: &EcsTask) -> Option<Block> {
    let shown = shown_environment(ctx, task);
    (!shown.is_empty()).then(|| code_section("Environment overrides", &shown.join("\n")))
}

fn links(ctx: &JobContext, task: &EcsTask) -> Vec<String> {
    let mut elements = Vec::new();
    if let Some(url) = links::ecs_task_url(task) {
        elements.push(format!("<{url}|Task in the ECS console>"));
    }
    if let (Some(region), Some(logs)) = (task.region(), ctx.log_stream) {
        elements.push(format!("<{}|Logs>", links::log_stream_url(region, logs)));
    }
    elements
}

/// `FARGATE 1.4.0`; its capacity provider when it has one (`FARGATE_SPOT`
/// says more than `FARGATE`).
fn launch(task: &EcsTask) -> Option<String> {
    let kind = task.capacity_provider_name.as_deref().or(task.launch_type.as_deref())?;
    Some(match &task.platform_version {
        Some(v) => format!("{kind} {v}"),
        None => kind.to_owned(),
    })
}

/// ECS gives CPU in units of 1/1024 vCPU and memory in MiB. An EC2 task
/// without a CPU reservation says `0`: left out, not "0 vCPU".
fn size(task: &EcsTask) -> Option<(&'static str, String)> {
    let cpu = task.cpu.as_deref().filter(|units| units.trim().parse::<f64>() != Ok(0.0)).map(|units| {
        match units.trim().parse::<f64>() {
            Ok(u) => format!("{} vCPU", u / 1024.0),
            Err(_) => units.to_owned(),
        }
    });
    let memory = task.memory.as_deref().map(|m| format!("{m} MiB"));
    match (cpu, memory) {
        (Some(c), Some(m)) => Some(("CPU / memory", format!("{c} / {m}"))),
        (Some(c), None) => Some(("CPU", c)),
        (None, Some(m)) => Some(("Memory", m)),
        (None, None) => None,
    }
}

/// `123.dkr.ecr.us-east-1.amazonaws.com/jobs:2026.11.26` → `jobs:2026.11.26`:
/// an ECR registry host is the same on every run and crowds out the tag.
/// Anything else is kept whole: `msh100/rtcw` is a Docker Hub namespace,
/// and another registry's host says where the image came from.
pub(super) fn short_image(image: &str) -> &str {
    match image.split_once('/') {
        Some((host, rest)) if is_ecr_host(host) => rest,
        _ => image,
    }
}

fn is_ecr_host(host: &str) -> bool {
    let private =
        host.contains(".dkr.ecr") && (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn"));
    private || host == "public.ecr.aws"
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
            other => panic!("{path}: {other:?}"),
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
                    "*Started by*\\nevents-rule/market-pulse-collect-stock",
                    "*Image*\\nmarket-pulse-jobs:2026.11.26-3f9c2e1",
                    "market-pulse · `9781c248b1ab4c5b9d5f0d7f1e2c3a4b` · FARGATE 1.4.0 · 0.5 vCPU / 1024 MiB · started <!date^1795701623^",
                    "`python -m jobs.collect_stock_prices --type historical`",
                ],
            ),
            (
                "events/ecs-task-stopped-success.json",
                Some("1.000100"),
                "✅ market-pulse-collect-stock-prices succeeded in 4m 1s",
                &["collect-stock-prices: 0", "EssentialContainerExited"],
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
    fn the_start_message_is_compact_and_says_nothing_twice() {
        let t = task("events/ecs-task-running.json");
        let mut ctx = JobContext::new("collect_stock_prices", "prod", "C1");
        ctx.controls.stop = true;
        let msg = start_message(&ctx, &t);
        let kinds: Vec<&str> = msg
            .blocks
            .iter()
            .map(|b| match b {
                Block::Header { .. } => "header",
                Block::Section { .. } => "section",
                Block::Context { .. } => "context",
                Block::Actions { .. } => "actions",
            })
            .collect();
        assert_eq!(kinds, ["header", "section", "context", "actions"], "{:?}", msg.blocks);
        let Block::Section { fields, .. } = &msg.blocks[1] else { panic!() };
        let labels: Vec<&str> = fields.iter().map(|f| f.as_str().split('\n').next().unwrap()).collect();
        assert_eq!(labels, ["*Environment*", "*Started by*", "*Image*"]);
        let Block::Context { elements } = &msg.blocks[2] else { panic!() };
        assert!(elements[0].as_str().starts_with("market-pulse · `9781c248b1ab4c5b9d5f0d7f1e2c3a4b` · FARGATE"));
        assert!(elements.iter().any(|e| e.as_str().contains("|Task in the ECS console>")));

        let Decision::Finish(outcome) = decide(&task("events/ecs-task-stopped-success.json"), &[]) else { panic!() };
        let done = completion_message(&ctx, &t, &outcome, Some("1.1"));
        assert!(!all_text(&done).contains("Run time"), "the header says it: {}", all_text(&done));
    }

    #[test]
    fn the_environment_leads_the_notification_text_when_set() {
        let t = task("events/ecs-task-stopped-failure.json");
        let Decision::Finish(outcome) = decide(&t, &[]) else { panic!() };
        let mut ctx = JobContext::new("analyze_sentiment", "staging", "C1");
        ctx.label = Some("staging");
        ctx.mention = Some("<@U024BE7LH>");
        assert_eq!(start_message(&ctx, &t).text, "[staging] 🚀 analyze_sentiment started");
        let done = completion_message(&ctx, &t, &outcome, Some("1.1"));
        assert_eq!(done.text, "[staging] <@U024BE7LH> ❌ analyze_sentiment failed after 12m 18s");
        ctx.label = Some("<!channel>");
        assert_eq!(start_message(&ctx, &t).text, "[&lt;!channel&gt;] 🚀 analyze_sentiment started");
    }

    #[test]
    fn a_task_that_never_started_leads_with_its_reason() {
        let t = task("events/ecs-task-never-started.json");
        let Decision::Finish(outcome) = decide(&t, &[]) else { panic!() };
        let msg = completion_message(&JobContext::new("reddit_scraper", "prod", "C1"), &t, &outcome, None);
        let Block::Section { text: Some(reason), .. } = &msg.blocks[1] else { panic!("{:?}", msg.blocks[1]) };
        assert!(reason.as_str().starts_with("*Reason*\n```CannotPullContainerError"), "{reason:?}");
        assert!(!all_text(&msg).contains("no exit code"), "{}", all_text(&msg));
    }

    #[test]
    fn spot_warnings_stop_requests_and_interrupted_runs() {
        let t = task("events/ecs-task-running.json");
        let mut ctx = JobContext::new("collect_stock_prices", "prod", "C1");
        ctx.controls = Controls { stop: true, rerun: true, ack: true, mute: true };
        let spot = StopRequest {
            spot: true,
            stop_code: Some("SpotInterruption".into()),
            reason: Some("Your Spot Task was interrupted.".into()),
        };
        let reply = stopping_message(&ctx, &spot, "1.1");
        assert_eq!(reply.thread_ts.as_deref(), Some("1.1"));
        assert!(!reply.reply_broadcast);
        assert!(all_text(&reply).contains(SPOT_WARNING), "{}", all_text(&reply));
        assert!(all_text(&reply).contains("Stop code `SpotInterruption` · Your Spot Task was interrupted."));
        let stopping = stopping_start_message(&ctx, &t, &spot);
        assert_eq!(stopping.text, "⚠️ collect_stock_prices is being interrupted by Spot");
        assert!(!stopping.blocks.iter().any(|b| matches!(b, Block::Actions { .. })), "no Stop button any more");

        let user = StopRequest {
            spot: false,
            stop_code: Some("UserInitiated".into()),
            reason: Some("Task stopped by <!here>".into()),
        };
        let reply = stopping_message(&ctx, &user, "1.1");
        assert!(
            all_text(&reply)
                .contains("🛑 *ECS is stopping this task* (a StopTask request): Task stopped by &lt;!here&gt;"),
            "{}",
            all_text(&reply)
        );

        let mut stopped = task("events/ecs-task-stopped-success.json");
        stopped.stop_code = Some("SpotInterruption".into());
        stopped.stopped_reason = Some("Your Spot Task was interrupted.".into());
        stopped.containers[0].exit_code = Some(143);
        let Decision::Finish(outcome) = decide(&stopped, &[]) else { panic!() };
        ctx.mention = Some("<!subteam^S0DATAENG>");
        let done = completion_message(&ctx, &stopped, &outcome, Some("1.1"));
        assert_eq!(
            done.text, "⚠️ collect_stock_prices interrupted by Spot after 4m 1s",
            "not the job's failure: no mention"
        );
        assert!(done.reply_broadcast);
        let json = all_text(&done);
        assert!(json.contains("*Stopped by*\\nFargate Spot, reclaiming its capacity"), "{json}");
        assert!(json.contains("```Your Spot Task was interrupted.```"), "{json}");
        assert!(json.contains(job_control::RERUN_ACTION), "a Re-run button, as for failures: {json}");
        assert_eq!(
            finished_start_message(&ctx, &stopped, &outcome).text,
            "⚠️ collect_stock_prices interrupted by Spot after 4m 1s"
        );
        stopped.stop_code = Some("UserInitiated".into());
        let Decision::Finish(outcome) = decide(&stopped, &[]) else { panic!() };
        assert_eq!(
            completion_message(&ctx, &stopped, &outcome, Some("1.1")).text,
            "🛑 collect_stock_prices was stopped after 4m 1s"
        );
    }

    #[test]
    fn images_keep_their_namespace_and_lose_only_an_ecr_host() {
        let table = [
            ("123456789012.dkr.ecr.us-east-1.amazonaws.com/market-pulse-jobs:1", "market-pulse-jobs:1"),
            ("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/jobs:1", "team/jobs:1"),
            ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/jobs:1", "jobs:1"),
            (
                "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable",
                "aws-observability/aws-for-fluent-bit:stable",
            ),
            ("msh100/rtcw", "msh100/rtcw"),
            ("ghcr.io/org/app:2", "ghcr.io/org/app:2"),
            ("nginx:latest", "nginx:latest"),
        ];
        for (image, want) in table {
            assert_eq!(short_image(image), want, "{image}");
        }
    }

    #[test]
    fn an_ec2_task_without_a_cpu_reservation_shows_no_cpu() {
        let mut t = task("events/ecs-task-running.json");
        t.cpu = Some("0".into());
        t.memory = Some("512".into());
        assert_eq!(size(&t), Some(("Memory", "512 MiB".to_owned())));
        t.memory = None;
        assert_eq!(size(&t), None);
        t.cpu = Some("256".into());
        assert_eq!(size(&t), Some(("CPU", "0.25 vCPU".to_owned())));
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

    #[test]
    fn a_failure_shows_its_cause_under_the_reason_and_what_changed_within_limits() {
        use crate::changes::{Change, SinceSuccess};
        use crate::time::Timestamp;
        let failed = task("events/ecs-task-stopped-failure.json");
        let Decision::Finish(outcome) = decide(&failed, &[]) else { panic!() };
        let many: Vec<Change> = (0..40)
            .map(|i| Change {
                what: format!("image (c{i}) <!channel>"),
                from: Some(format!("x/{}", "a".repeat(3000))),
                to: Some("b & <@U1>".into()),
            })
            .collect();
        let since = SinceSuccess { at: Some(Timestamp::from_secs(1_795_700_000)), changes: many };
        let ctx = JobContext {
            since_success: Some(&since),
            runbook: Some("https://wiki.example.com/a"),
            ..JobContext::new("analyze_sentiment", "prod", "C1")
        };
        let msg = completion_message(&ctx, &failed, &outcome, Some("1.2"));
        assert_eq!(limit_violation(&msg.blocks), None);
        let text = all_text(&msg);
        assert!(!text.contains("<!channel>") && !text.contains("<@U1>"), "escaped");
        assert!(text.contains("32 more"), "cut to a line: {text:.500}");
        let reason = text.find("*Reason*").unwrap();
        let likely = text.find("*Likely cause:* the container ran out of memory").unwrap();
        let changed = text.find("Changed since the last success (<!date^1795700000^").unwrap();
        assert!(reason < likely && likely < changed, "{text}");
        assert!(text.contains("<https://wiki.example.com/a|📖 Runbook>"));

        let nothing = SinceSuccess { at: None, changes: Vec::new() };
        assert_eq!(since_success_text(&nothing), "Nothing changed since the last success");
        // A success says none of it.
        let ok = task("events/ecs-task-stopped-success.json");
        let Decision::Finish(outcome) = decide(&ok, &[]) else { panic!() };
        let text = all_text(&completion_message(&ctx, &ok, &outcome, Some("1.2")));
        assert!(!text.contains("Likely cause") && !text.contains("Runbook") && !text.contains("last success"));
    }

    #[test]
    fn fast_and_zero_notes_read_well() {
        use std::time::Duration;
        let fast = Note::Fast { took: Duration::from_secs(12), usual: Duration::from_secs(3000) };
        assert_eq!(note_text(&fast), "⚡ ran in 12s; usually 50m");
        let zero = Note::Zero { key: "rows<!here>".into(), usual: 12_400 };
        assert_eq!(note_text(&zero), "`rows&lt;!here&gt;: 0`, usually 12,400");
    }
}
