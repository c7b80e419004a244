//! Job health messages: a missed run and its outage, back on schedule, a
//! run still going, and the daily digest.

use std::time::Duration;

use super::{Block, Field, Message, Text, context, field_sections, header, limits, message, text};
use crate::health::{DayFigures, Run, sparkline};
use crate::jobs::JobSchedule;
use crate::schedule::Missed;
use crate::time::Timestamp;

/// A job's outage of missed runs, as its alert shows it.
#[derive(Debug, Clone, Copy)]
pub struct Outage<'a> {
    pub job: &'a str,
    pub channel: &'a str,
    pub schedule: &'a JobSchedule,
    pub missed: Missed,
    /// The job's latest run, finished or not.
    pub last_run: Option<&'a Run>,
    /// When the job started again, once it has.
    pub back_at: Option<Timestamp>,
    /// The job's runbook (https, validated at start-up).
    pub runbook: Option<&'a str>,
    /// Who said they are on it ("👀 I'm on it" on the alert), once someone did.
    pub on_it: Option<&'a str>,
    /// Whether an open alert offers "👀 I'm on it": only where Slack's
    /// presses can be checked (the signing secret is set).
    pub ack: bool,
}

/// The value of an open alert's "👀 I'm on it" button: its record's key.
pub fn outage_key(job: &str, first: Timestamp) -> String {
    format!("outage#{job}#{}", first.secs())
}

fn how(run: &Run) -> &'static str {
    match run.succeeded {
        None => "still running",
        Some(true) => "succeeded",
        Some(false) if run.interrupted => "interrupted",
        Some(false) => "failed",
    }
}

/// `last run 2026-11-26 06:00 UTC, succeeded`, plain, for fallback text.
fn last_run_plain(run: Option<&Run>) -> String {
    let Some(run) = run else { return "no run seen".into() };
    let when = run.start.or(run.end).map(|t| t.format_utc("%Y-%m-%d %H:%M UTC"));
    let how = how(run);
    format!("last run {}, {how}", when.unwrap_or_else(|| "at an unknown time".into()))
}

fn last_run_mrkdwn(run: Option<&Run>) -> String {
    let Some(run) = run else { return "none seen".into() };
    let when = run.start.or(run.end).map(text::slack_date).unwrap_or_else(|| "unknown".into());
    let how = how(run);
    format!("{when}, {how}")
}

fn missed_headline(o: &Outage) -> String {
    let first = o.schedule.schedule.local_time(o.missed.first);
    match o.missed.count {
        1 => format!("⏰ {} missed its {first} run", o.job),
        n => format!("⏰ {} missed {n} runs since {first}", o.job),
    }
}

fn outage_fields(o: &Outage) -> Vec<Field> {
    let mut fields = vec![
        Field::raw("Schedule", &format!("{} ({})", o.schedule.schedule, o.schedule.source)),
        Field::trusted("Last run", last_run_mrkdwn(o.last_run)),
        Field::trusted("Missed", format!("{} since {}", o.missed.count, text::slack_date(o.missed.first))),
        Field::trusted("Grace", text::duration(o.schedule.grace)),
    ];
    if let Some(back) = o.back_at {
        fields.push(Field::trusted("Started again", text::slack_date(back)));
    }
    fields
}

/// The outage's one top-level message, posted at its first missed run and
/// updated in place as more runs are missed and when it ends.
pub fn outage_message(o: &Outage) -> Message {
    let headline = match o.back_at {
        Some(_) => {
            format!("✅ {} is back on schedule after {} missed run{}", o.job, o.missed.count, plural(o.missed.count))
        }
        None => missed_headline(o),
    };
    let fallback = format!("{headline} (schedule {}, {})", o.schedule.schedule, last_run_plain(o.last_run));
    let mut blocks = vec![header(&headline)];
    blocks.extend(field_sections(outage_fields(o)));
    let mut notes = Vec::new();
    if !o.schedule.enabled && o.back_at.is_none() {
        notes.push(format!(
            "The {} is disabled: it starts nothing until it is enabled.",
            text::escape(&o.schedule.source)
        ));
    }
    if o.back_at.is_none() {
        notes.push(
            "No ECS task of this job started: a disabled or broken schedule, or a RunTask refused, sends no event."
                .into(),
        );
        notes.extend(o.runbook.map(super::runbook_link));
    }
    if !notes.is_empty() {
        blocks.push(context(notes));
    }
    // Open, it can be taken; once taken or over, it says who had it.
    match (o.on_it, o.back_at) {
        (Some(user), _) => blocks.push(context(vec![super::job_control::on_it(user)])),
        (None, None) if o.ack => blocks.push(super::job_control::ack_actions(&outage_key(o.job, o.missed.first))),
        _ => {}
    }
    message(o.channel, &fallback, blocks, None)
}

/// A later missed run of an open outage, in the alert's thread.
pub fn missed_again_message(o: &Outage, thread_ts: &str) -> Message {
    let due = o.schedule.schedule.local_time(o.missed.last);
    let headline = format!("⏰ {} missed its {due} run too ({} missed so far)", o.job, o.missed.count);
    let mut blocks = vec![Block::Section {
        text: Some(Text::Mrkdwn { text: format!("*{}*", text::escape_truncated(&headline, 500)) }),
        fields: Vec::new(),
    }];
    blocks.extend(o.runbook.map(|url| context(vec![super::runbook_link(url)])));
    message(o.channel, &headline, blocks, Some(thread_ts))
}

/// The end of an outage, in the alert's thread.
pub fn back_on_schedule_message(o: &Outage, thread_ts: &str) -> Message {
    let headline = format!("✅ {} is back on schedule", o.job);
    let started = o.back_at.map(text::slack_date).unwrap_or_else(|| "recently".into());
    let body = format!(
        "*{}*\nIt started again {started}, after {} missed run{}.",
        text::escape_truncated(&headline, 300),
        o.missed.count,
        plural(o.missed.count)
    );
    let blocks = vec![Block::Section { text: Some(Text::Mrkdwn { text: body }), fields: Vec::new() }];
    message(o.channel, &headline, blocks, Some(thread_ts))
}

/// A run going on past its slow factor, in its thread.
pub fn still_running_message(job: &str, channel: &str, thread_ts: &str, running: Duration, usual: Duration) -> Message {
    let headline =
        format!("⏳ {job} is still running after {} (usually {})", text::duration(running), text::duration(usual));
    let blocks = vec![Block::Section {
        text: Some(Text::Mrkdwn { text: format!("*{}*", text::escape_truncated(&headline, 500)) }),
        fields: Vec::new(),
    }];
    message(channel, &headline, blocks, Some(thread_ts))
}

/// One job's line in the digest.
#[derive(Debug, Clone)]
pub struct DigestLine {
    pub job: String,
    pub figures: DayFigures,
    pub missed: u32,
    /// Who is on its last run, when that failed and someone said so.
    pub on_it: Option<String>,
    /// Its mute, while it is muted.
    pub muted: Option<crate::mute::Mute>,
}

/// One message per channel: each job's last 24 hours, with a sparkline of
/// its recent run times.
pub fn digest_message(channel: &str, to: Timestamp, lines: &[DigestLine]) -> Message {
    let runs: usize = lines.iter().map(|l| l.figures.runs).sum();
    let failures: usize = lines.iter().map(|l| l.figures.failures).sum();
    let missed: u32 = lines.iter().map(|l| l.missed).sum();
    let headline =
        format!("📊 Jobs in the last 24 h: {runs} run{}, {failures} failed, {missed} missed", plural(runs as u32));
    let mut blocks = vec![header(&headline), context(vec![format!("Up to {}", text::slack_date(to))])];
    // Header, context, and room for the note of what did not fit.
    let room = limits::BLOCKS - 3;
    for line in lines.iter().take(room) {
        blocks.push(Block::Section { text: Some(Text::Mrkdwn { text: digest_line(line) }), fields: Vec::new() });
    }
    if lines.len() > room {
        blocks.push(context(vec![format!("…and {} more jobs.", lines.len() - room)]));
    }
    message(channel, &headline, blocks, None)
}

/// A sparkline of fewer runs than this says nothing: one bar, or two.
pub const SPARKLINE_MIN_RUNS: usize = 3;

fn digest_line(line: &DigestLine) -> String {
    let f = &line.figures;
    let status = match (f.runs, f.failures, line.missed) {
        // Listed only because runs were missed: the ⏰ of a missed run.
        (0, _, _) => "⏰",
        (_, 0, 0) => "✅",
        _ => "⚠️",
    };
    let mut parts = vec![match f.runs {
        0 => "no runs".to_owned(),
        n => format!("{n} run{}", plural(n as u32)),
    }];
    if f.failures > 0 {
        parts.push(format!("{} failed", f.failures));
    }
    if let Some(rate) = f.success_rate() {
        parts.push(format!("{:.0}% ok", rate * 100.0));
    }
    if let Some(median) = f.median {
        parts.push(format!("median {}", text::duration(median)));
    }
    if let Some(p95) = f.p95 {
        parts.push(format!("p95 {}", text::duration(p95)));
    }
    parts.push(format!("{} missed", line.missed));
    if let Some(mute) = &line.muted {
        parts.push(super::mute::muted_note(mute));
    }
    if let Some(user) = &line.on_it {
        parts.push(super::job_control::on_it(user));
    }
    let spark = if f.recent.len() >= SPARKLINE_MIN_RUNS { sparkline(&f.recent) } else { String::new() };
    let spark = if spark.is_empty() { String::new() } else { format!("\n`{spark}`") };
    format!("{status} *{}*  {}{spark}", text::escape_truncated(&line.job, 200), parts.join(" · "))
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::limit_violation;
    use crate::schedule::Schedule;

    fn schedule() -> JobSchedule {
        JobSchedule {
            schedule: Schedule::parse("cron(0 6 * * ? *)", None).unwrap(),
            grace: Duration::from_secs(300),
            source: "rule market-pulse-collect-stock".into(),
            enabled: true,
        }
    }

    fn time(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn a_missed_run_names_its_due_time_its_schedule_and_the_last_run() {
        let sched = schedule();
        let last = Run {
            task_id: "t".into(),
            start: Some(time("2026-11-26T06:00:23Z")),
            end: Some(time("2026-11-26T06:04:24Z")),
            run_time: Some(Duration::from_secs(241)),
            succeeded: Some(true),
            failed: None,
            interrupted: false,
            ..Run::default()
        };
        let first = time("2026-11-27T06:00:00Z");
        let outage = Outage {
            job: "collect_stock_prices",
            channel: "C1",
            schedule: &sched,
            missed: Missed { first, last: first, count: 1 },
            last_run: Some(&last),
            back_at: None,
            runbook: None,
            on_it: None,
            ack: true,
        };
        let msg = outage_message(&outage);
        assert_eq!(
            msg.text,
            "⏰ collect_stock_prices missed its 06:00 UTC run (schedule cron(0 6 * * ? *), last run 2026-11-26 06:00 UTC, succeeded)"
        );
        assert_eq!(limit_violation(&msg.blocks), None);
        let json = serde_json::to_string(&msg.blocks).unwrap();
        assert!(json.contains("rule market-pulse-collect-stock") && json.contains("<!date^"), "{json}");
        assert!(
            json.contains(r#""action_id":"ack_failure","value":"outage#collect_stock_prices#1795759200""#),
            "{json}"
        );
        let taken =
            serde_json::to_string(&outage_message(&Outage { on_it: Some("U024BE7LH"), ..outage }).blocks).unwrap();
        assert!(taken.contains("👀 <@U024BE7LH> is on it") && !taken.contains("ack_failure"), "{taken}");
        let unchecked = serde_json::to_string(&outage_message(&Outage { ack: false, ..outage }).blocks).unwrap();
        assert!(!unchecked.contains("ack_failure"), "no signing secret: no button");

        let later = Outage { missed: Missed { first, last: time("2026-11-28T06:00:00Z"), count: 2 }, ..outage };
        assert!(outage_message(&later).text.starts_with("⏰ collect_stock_prices missed 2 runs since 06:00 UTC"));
        assert_eq!(
            missed_again_message(&later, "1.1").text,
            "⏰ collect_stock_prices missed its 06:00 UTC run too (2 missed so far)"
        );
        let back = Outage { back_at: Some(time("2026-11-28T07:00:00Z")), ..later };
        assert!(
            outage_message(&back).text.starts_with("✅ collect_stock_prices is back on schedule after 2 missed runs")
        );
        assert_eq!(back_on_schedule_message(&back, "1.1").thread_ts.as_deref(), Some("1.1"));
        assert!(!serde_json::to_string(&outage_message(&back).blocks).unwrap().contains("ack_failure"), "over");
    }

    #[test]
    fn the_digest_has_a_line_per_job_and_keeps_to_the_limits() {
        let figures = DayFigures {
            runs: 12,
            failures: 1,
            median: Some(Duration::from_secs(245)),
            p95: Some(Duration::from_secs(361)),
            recent: [100, 200, 300].map(Duration::from_secs).to_vec(),
        };
        let line = DigestLine { job: "analyze_sentiment".into(), figures, missed: 0, on_it: None, muted: None };
        let msg = digest_message("C1", time("2026-11-27T09:00:00Z"), std::slice::from_ref(&line));
        assert_eq!(msg.text, "📊 Jobs in the last 24 h: 12 runs, 1 failed, 0 missed");
        let json = serde_json::to_string(&msg.blocks).unwrap();
        assert!(
            json.contains("*analyze_sentiment*  12 runs · 1 failed · 92% ok · median 4m 5s · p95 6m 1s · 0 missed"),
            "{json}"
        );
        assert!(json.contains("`▁▅█`"), "{json}");
        // A job listed for its missed runs alone, and one with too few runs
        // for a sparkline.
        let idle = DigestLine {
            job: "weekly_report".into(),
            figures: DayFigures { runs: 0, failures: 0, median: None, p95: None, recent: Vec::new() },
            missed: 1,
            on_it: None,
            muted: Some(crate::mute::Mute { id: "m1".into(), by: "U1".into(), since: Timestamp::EPOCH, until: None }),
        };
        let once = DigestLine {
            job: "backfill".into(),
            figures: DayFigures {
                runs: 1,
                failures: 0,
                median: Some(Duration::from_secs(60)),
                p95: Some(Duration::from_secs(60)),
                recent: vec![Duration::from_secs(60); 2],
            },
            missed: 0,
            on_it: None,
            muted: None,
        };
        let acked = DigestLine { job: "prices".into(), on_it: Some("U024BE7LH".into()), ..line.clone() };
        let msg = digest_message("C1", time("2026-11-27T09:00:00Z"), &[idle, once, acked]);
        let json = serde_json::to_string(&msg.blocks).unwrap();
        assert!(json.contains("⏰ *weekly_report*  no runs · 1 missed · 🔕 muted until it succeeds"), "{json}");
        assert!(json.contains("✅ *backfill*  1 run · 100% ok · median 1m 0s · p95 1m 0s · 0 missed\"}"), "{json}");
        assert!(!json.contains("0 runs") && !json.contains('▄'), "{json}");
        assert!(
            json.contains(
                "*prices*  12 runs · 1 failed · 92% ok · median 4m 5s · p95 6m 1s · 0 missed · 👀 <@U024BE7LH> is on it"
            ),
            "{json}"
        );
        let many: Vec<DigestLine> = (0..80).map(|i| DigestLine { job: format!("job{i}"), ..line.clone() }).collect();
        let msg = digest_message("C1", time("2026-11-27T09:00:00Z"), &many);
        assert_eq!(limit_violation(&msg.blocks), None);
        assert!(serde_json::to_string(&msg.blocks).unwrap().contains("and 33 more jobs"));
    }

    #[test]
    fn a_missed_run_links_the_jobs_runbook() {
        let sched = schedule();
        let outage = Outage {
            job: "collect_stock_prices",
            channel: "C1",
            schedule: &sched,
            missed: Missed { first: time("2026-11-27T06:00:00Z"), last: time("2026-11-27T06:00:00Z"), count: 1 },
            last_run: None,
            back_at: None,
            runbook: Some("https://wiki.example.com/prices"),
            on_it: None,
            ack: false,
        };
        let link = "<https://wiki.example.com/prices|📖 Runbook>";
        assert!(serde_json::to_string(&outage_message(&outage).blocks).unwrap().contains(link));
        assert!(serde_json::to_string(&missed_again_message(&outage, "1.2").blocks).unwrap().contains(link));
        let none = Outage { runbook: None, ..outage };
        assert!(!serde_json::to_string(&outage_message(&none).blocks).unwrap().contains("Runbook"));
    }
}
