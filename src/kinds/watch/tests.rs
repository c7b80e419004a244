//! The scheduled watch over invented days of runs, in-process: event times
//! drive everything, on the in-memory store and a recording Slack.

use std::time::Duration;

use super::Watched;
use crate::handler::{self, Handler};
use crate::jobs::JobsConfig;
use crate::ports::{EcsTarget, FoundSchedule, JobStore};
use crate::settings::Settings;
use crate::testing::{Fakes, Sent, run_events, scheduled_event, test_settings};
use crate::time::Timestamp;

const PRICES: &str = "market-pulse-collect-stock-prices";

fn settings(jobs: &str) -> Settings {
    let mut settings = test_settings();
    settings.jobs = JobsConfig::parse(jobs).unwrap();
    settings.digest_at = None;
    settings
}

async fn watch(handler: &Handler, fakes: &Fakes, time: &str) -> Watched {
    match handler.handle(scheduled_event(time), fakes.deadline()).await.unwrap() {
        handler::Handled::Watched(watched) => watched,
        other => panic!("not a watch outcome: {other:?}"),
    }
}

async fn run(handler: &Handler, fakes: &Fakes, task: &str, started: &str, secs: i64, exit_code: i64) {
    let (running, stopped) = run_events(task, PRICES, started, secs, exit_code);
    handler.handle(running, fakes.deadline()).await.unwrap();
    handler.handle(stopped, fakes.deadline()).await.unwrap();
}

fn top_level(fakes: &Fakes) -> Vec<Sent> {
    fakes.slack.posted().into_iter().filter(|s| s.message.thread_ts.is_none()).collect()
}

/// Missed-run alerts (as first posted) and their replies.
fn alerts(fakes: &Fakes) -> Vec<Sent> {
    let first_text = |s: &Sent| s.original.as_ref().map_or(s.message.text.clone(), |m| m.text.clone());
    fakes
        .slack
        .posted()
        .into_iter()
        .filter(|s| first_text(s).starts_with('⏰') || s.message.text.contains("back on schedule"))
        .collect()
}

const DAILY: &str = r#"{"jobs": [{"match": {"family": "market-pulse-collect-stock-prices"}, "name": "prices",
    "schedule": "cron(0 6 * * ? *)"}]}"#;

#[tokio::test(start_paused = true)]
async fn a_missed_cron_run_is_said_once_and_its_return_in_the_alerts_thread() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings(DAILY));
    watch(&handler, &fakes, "2026-11-26T00:00:00Z").await;
    run(&handler, &fakes, "t1", "2026-11-26T06:00:23Z", 241, 0).await;
    assert_eq!(watch(&handler, &fakes, "2026-11-27T06:04:00Z").await.missed_alerts, 0, "within the grace");
    assert_eq!(watch(&handler, &fakes, "2026-11-27T06:05:00Z").await.missed_alerts, 1);
    for time in ["2026-11-27T06:10:00Z", "2026-11-27T06:15:00Z"] {
        assert_eq!(watch(&handler, &fakes, time).await.missed_alerts, 0, "no repeat at {time}");
    }
    let posted = top_level(&fakes);
    let alert = posted.last().unwrap();
    assert_eq!(
        alert.message.text,
        "⏰ prices missed its 06:00 UTC run (schedule cron(0 6 * * ? *), last run 2026-11-26 06:00 UTC, succeeded)"
    );
    assert_eq!(alert.message.channel, "C0JOBS");
    // It starts again: back on schedule, in the alert's thread, and the alert says so.
    let (running, _) = run_events("t2", PRICES, "2026-11-27T06:20:10Z", 241, 0);
    handler.handle(running, fakes.deadline()).await.unwrap();
    assert_eq!(watch(&handler, &fakes, "2026-11-27T06:25:00Z").await.back_on_schedule, 1);
    assert_eq!(watch(&handler, &fakes, "2026-11-27T06:30:00Z").await.back_on_schedule, 0, "said once");
    let all = fakes.slack.posted();
    let back = all.iter().find(|s| s.message.text == "✅ prices is back on schedule").expect("back on schedule");
    assert_eq!(back.message.thread_ts.as_deref(), Some(alert.ts.as_str()));
    let alert = all.iter().find(|s| s.ts == alert.ts).unwrap();
    assert!(
        alert.message.text.starts_with("✅ prices is back on schedule after 1 missed run"),
        "{}",
        alert.message.text
    );
    // The next day's run on time: nothing to say.
    run(&handler, &fakes, "t3", "2026-11-28T06:00:40Z", 241, 0).await;
    let before = fakes.slack.posted().len();
    watch(&handler, &fakes, "2026-11-28T06:10:00Z").await;
    assert_eq!(fakes.slack.posted().len(), before);
}

#[tokio::test(start_paused = true)]
async fn further_missed_runs_go_into_the_outages_thread_and_count_on_its_alert() {
    let fakes = Fakes::new();
    let config = r#"{"jobs": [{"match": {"family": "market-pulse-collect-stock-prices"}, "name": "prices",
        "schedule": "cron(0 * * * ? *)", "grace": "2m"}]}"#;
    let handler = fakes.handler(settings(config));
    watch(&handler, &fakes, "2026-11-27T00:00:00Z").await;
    run(&handler, &fakes, "t1", "2026-11-27T06:00:20Z", 200, 0).await;
    for hour in 7..=9 {
        watch(&handler, &fakes, &format!("2026-11-27T{hour:02}:05:00Z")).await;
        watch(&handler, &fakes, &format!("2026-11-27T{hour:02}:10:00Z")).await;
    }
    let alerts = alerts(&fakes);
    let first = &alerts[0];
    assert_eq!(first.original.as_ref().unwrap().text.split(" (").next(), Some("⏰ prices missed its 07:00 UTC run"));
    assert!(
        first.message.text.starts_with("⏰ prices missed 3 runs since 07:00 UTC"),
        "updated: {}",
        first.message.text
    );
    let replies: Vec<&str> = alerts[1..]
        .iter()
        .filter(|s| s.message.thread_ts.as_deref() == Some(&first.ts))
        .map(|s| s.message.text.as_str())
        .collect();
    assert_eq!(
        replies,
        [
            "⏰ prices missed its 08:00 UTC run too (2 missed so far)",
            "⏰ prices missed its 09:00 UTC run too (3 missed so far)"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_configured_rate_is_due_a_period_after_the_last_start() {
    let fakes = Fakes::new();
    let config = r#"{"jobs": [{"match": {"family": "market-pulse-collect-stock-prices"}, "name": "prices",
        "schedule": "rate(15 minutes)", "grace": "3m"}]}"#;
    let handler = fakes.handler(settings(config));
    watch(&handler, &fakes, "2026-11-27T05:00:00Z").await;
    run(&handler, &fakes, "t1", "2026-11-27T06:00:00Z", 120, 0).await;
    run(&handler, &fakes, "t2", "2026-11-27T06:15:02Z", 120, 0).await;
    assert_eq!(watch(&handler, &fakes, "2026-11-27T06:33:01Z").await.missed_alerts, 0);
    assert_eq!(watch(&handler, &fakes, "2026-11-27T06:33:03Z").await.missed_alerts, 1);
    assert!(
        alerts(&fakes)[0].message.text.starts_with("⏰ prices missed its 06:30 UTC run (schedule rate(15 minutes)")
    );
}

fn found(source: &str, expression: &str, zone: Option<&str>, enabled: bool) -> FoundSchedule {
    FoundSchedule {
        source: source.into(),
        expression: expression.into(),
        time_zone: zone.map(str::to_owned),
        flexible_window: Duration::from_secs(600),
        enabled,
        target: EcsTarget {
            cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/market-pulse".into(),
            task_definition_arn: format!("arn:aws:ecs:us-east-1:123456789012:task-definition/{PRICES}:7"),
            overrides: Some(serde_json::json!({"containerOverrides": [{"name": "collect-stock-prices",
                "command": ["python", "-m", "jobs.collect_stock_prices", "--type", "historical"]}]})),
            ..EcsTarget::default()
        },
    }
}

#[tokio::test(start_paused = true)]
async fn discovered_schedules_name_their_job_by_the_rules_and_their_window_widens_the_grace() {
    let fakes = Fakes::new();
    let config = r#"{"jobs": [{"match": {"family": "market-pulse-collect-stock-prices", "command": "--type historical"},
        "name": "prices_historical", "channel": "C0OPS"}]}"#;
    let handler = fakes.handler(settings(config));
    fakes.schedules.set(vec![found("schedule default/prices-historical", "cron(0 6 * * ? *)", None, true)]);
    watch(&handler, &fakes, "2026-11-26T00:00:00Z").await;
    // The flexible window (10 minutes) adds to the 5-minute grace.
    assert_eq!(watch(&handler, &fakes, "2026-11-26T06:14:00Z").await.missed_alerts, 0);
    let watched = watch(&handler, &fakes, "2026-11-26T06:15:00Z").await;
    assert_eq!((watched.scheduled_jobs, watched.missed_alerts), (1, 1));
    let alert = &alerts(&fakes)[0];
    assert_eq!(alert.message.channel, "C0OPS");
    assert_eq!(
        alert.message.text,
        "⏰ prices_historical missed its 06:00 UTC run (schedule cron(0 6 * * ? *), no run seen)"
    );
    assert!(alert.visible().contains("schedule default/prices-historical"), "{}", alert.visible());
}

#[tokio::test(start_paused = true)]
async fn a_disabled_rule_is_named_as_the_cause() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings("{}"));
    fakes.schedules.set(vec![found("rule prices-daily", "cron(0 6 * * ? *)", None, false)]);
    watch(&handler, &fakes, "2026-11-26T00:00:00Z").await;
    watch(&handler, &fakes, "2026-11-26T06:20:00Z").await;
    let alert = &alerts(&fakes)[0];
    assert!(alert.message.text.starts_with(&format!("⏰ {PRICES} missed its 06:00 UTC run")), "{}", alert.message.text);
    assert!(alert.visible().contains("The rule prices-daily is disabled"), "{}", alert.visible());
}

#[tokio::test(start_paused = true)]
async fn a_time_zone_schedule_follows_local_time_across_daylight_saving() {
    let fakes = Fakes::new();
    let config = r#"{"jobs": [{"match": {"family": "market-pulse-collect-stock-prices"}, "name": "prices",
        "schedule": "cron(0 6 * * ? *)", "timezone": "Europe/Berlin"}]}"#;
    let handler = fakes.handler(settings(config));
    watch(&handler, &fakes, "2026-03-27T00:00:00Z").await;
    // Winter: 06:00 Berlin is 05:00 UTC. The run is on time.
    run(&handler, &fakes, "t1", "2026-03-28T05:00:30Z", 120, 0).await;
    assert_eq!(watch(&handler, &fakes, "2026-03-28T05:10:00Z").await.missed_alerts, 0);
    // Summer from 29 March: 06:00 Berlin is 04:00 UTC; nothing ran by 04:05.
    assert_eq!(watch(&handler, &fakes, "2026-03-29T04:04:00Z").await.missed_alerts, 0);
    assert_eq!(watch(&handler, &fakes, "2026-03-29T04:05:00Z").await.missed_alerts, 1);
    assert!(
        alerts(&fakes)[0]
            .message
            .text
            .starts_with("⏰ prices missed its 06:00 CEST run (schedule cron(0 6 * * ? *) Europe/Berlin")
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_long_past_its_usual_time_gets_one_still_running_reply() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings("{}"));
    for (i, hour) in (1..=6).enumerate() {
        run(&handler, &fakes, &format!("t{i}"), &format!("2026-11-27T{hour:02}:00:00Z"), 245, 0).await;
    }
    let (running, _) = run_events("slow", PRICES, "2026-11-27T08:00:00Z", 0, 0);
    handler.handle(running, fakes.deadline()).await.unwrap();
    assert_eq!(watch(&handler, &fakes, "2026-11-27T08:08:00Z").await.still_running, 0, "not yet 2x 4m 5s");
    assert_eq!(watch(&handler, &fakes, "2026-11-27T08:09:00Z").await.still_running, 1);
    assert_eq!(watch(&handler, &fakes, "2026-11-27T08:14:00Z").await.still_running, 0, "once");
    let posted = fakes.slack.posted();
    let reply = posted.iter().find(|s| s.message.text.starts_with('⏳')).unwrap();
    assert_eq!(reply.message.text, format!("⏳ {PRICES} is still running after 9m 0s (usually 4m 5s)"));
    let start = posted
        .iter()
        .find(|s| s.message.thread_ts.is_none() && s.original.is_none() && s.message.text.contains("started"))
        .unwrap();
    assert_eq!(reply.message.thread_ts.as_deref(), Some(start.ts.as_str()));
}

#[tokio::test(start_paused = true)]
async fn an_unnamed_rules_settings_reach_the_watch() {
    // Its job is named after the family, which no rule names: found by
    // name alone, the rule's slow factor would be lost for the default 2.
    let fakes = Fakes::new();
    let handler =
        fakes.handler(settings(r#"{"jobs": [{"match": {"family": "market-pulse-collect-*"}, "slow_factor": 3}]}"#));
    for (i, hour) in (1..=6).enumerate() {
        run(&handler, &fakes, &format!("t{i}"), &format!("2026-11-27T{hour:02}:00:00Z"), 245, 0).await;
    }
    let (running, _) = run_events("slow", PRICES, "2026-11-27T08:00:00Z", 0, 0);
    handler.handle(running, fakes.deadline()).await.unwrap();
    assert_eq!(watch(&handler, &fakes, "2026-11-27T08:09:00Z").await.still_running, 0, "2x is not 3x");
    assert_eq!(watch(&handler, &fakes, "2026-11-27T08:13:00Z").await.still_running, 1);
}

#[tokio::test(start_paused = true)]
async fn the_digest_is_posted_once_per_channel_at_the_first_check_after_its_time() {
    let fakes = Fakes::new();
    let config = r#"{"jobs": [
        {"match": {"family": "market-pulse-collect-stock-prices"}, "name": "prices", "schedule": "cron(0 * * * ? *)"},
        {"match": {"family": "market-pulse-analyze-sentiment"}, "name": "sentiment", "channel": "C0OPS"}]}"#;
    let mut settings = settings(config);
    settings.digest_at = chrono::NaiveTime::from_hms_opt(9, 0, 0);
    let (a, b) = (fakes.handler(settings.clone()), fakes.handler(settings));
    watch(&a, &fakes, "2026-11-26T08:00:00Z").await;
    for hour in 9..=23 {
        if hour == 12 {
            continue;
        }
        let exit = if hour == 15 { 1 } else { 0 };
        run(&a, &fakes, &format!("p{hour}"), &format!("2026-11-26T{hour:02}:00:20Z"), 200 + hour, exit).await;
    }
    let (running, stopped) = run_events("s1", "market-pulse-analyze-sentiment", "2026-11-26T20:00:00Z", 700, 0);
    for event in [running, stopped] {
        a.handle(event, fakes.deadline()).await.unwrap();
    }
    // Someone is on prices' one failure, which is not its last run any more.
    let ack = |task: &str| crate::ports::Acknowledged {
        task_id: task.into(),
        user: "U0ADA".into(),
        at: crate::time::Timestamp::from_secs(1),
    };
    fakes.store.acknowledge("prices", &ack("p15")).await.unwrap();
    assert_eq!(watch(&a, &fakes, "2026-11-27T08:55:00Z").await.digests, 0, "before DIGEST_AT");
    let (x, y) = tokio::join!(watch(&a, &fakes, "2026-11-27T09:00:00Z"), watch(&b, &fakes, "2026-11-27T09:00:00Z"));
    assert_eq!(x.digests + y.digests, 2, "one per channel, whichever check posts it");
    assert_eq!(watch(&a, &fakes, "2026-11-27T09:05:00Z").await.digests, 0, "once a day");
    let digests: Vec<Sent> = top_level(&fakes).into_iter().filter(|s| s.message.text.starts_with("📊")).collect();
    assert_eq!(digests.len(), 2);
    let jobs = digests.iter().find(|d| d.message.channel == "C0JOBS").unwrap().visible();
    // Hourly from 09:00: 12:00 and 00:00–08:00 never started.
    assert!(jobs.contains("*prices*  14 runs · 1 failed · 93% ok · median 3m 36s · p95 3m 43s · 10 missed"), "{jobs}");
    assert!(jobs.contains("`▁▂▂▃▄▄▅▅▆▆▇▇██`"), "the run times, oldest first: {jobs}");
    let ops = digests.iter().find(|d| d.message.channel == "C0OPS").unwrap().visible();
    assert!(ops.contains("*sentiment*  1 run · 100% ok · median 11m 40s · p95 11m 40s · 0 missed"), "{ops}");
    assert!(!jobs.contains("is on it"), "prices succeeded since: {jobs}");
    // The next day, the next digest: the jobs with runs or missed runs in
    // it; one whose last run failed shows who is on it.
    let (running, stopped) = run_events("s2", "market-pulse-analyze-sentiment", "2026-11-27T20:00:00Z", 100, 1);
    for event in [running, stopped] {
        a.handle(event, fakes.deadline()).await.unwrap();
    }
    fakes.store.acknowledge("sentiment", &ack("s2")).await.unwrap();
    assert_eq!(watch(&a, &fakes, "2026-11-28T09:01:00Z").await.digests, 2);
    let ops = top_level(&fakes)
        .into_iter()
        .rfind(|s| s.message.channel == "C0OPS" && s.message.text.starts_with("📊"))
        .unwrap()
        .visible();
    assert!(ops.contains("*sentiment*  1 run · 1 failed") && ops.contains("· 👀 <@U0ADA> is on it"), "{ops}");
}

#[tokio::test(start_paused = true)]
async fn a_history_is_its_recent_runs_and_nothing_needs_trimming() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings("{}"));
    for i in 0..70 {
        let start = Timestamp::from_secs(1_795_000_000 + i * 600).to_rfc3339();
        run(&handler, &fakes, &format!("t{i:02}"), &start, 100, 0).await;
    }
    assert_eq!(watch(&handler, &fakes, "2026-11-27T09:00:00Z").await.forgotten_runs, 0, "runs lapse by TTL");
    let jobs = fakes.store.jobs().await.unwrap();
    assert_eq!(jobs[0].runs.len(), crate::ports::HISTORY_RUNS);
    assert!(jobs[0].runs.iter().all(|r| r.task_id.as_str() >= "t20"), "the most recent");
}

#[tokio::test(start_paused = true)]
async fn a_discovery_failure_fails_the_check_after_the_rest_is_done() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings(DAILY));
    watch(&handler, &fakes, "2026-11-26T00:00:00Z").await;
    fakes.schedules.fail("AccessDeniedException: events:ListRules");
    let err = handler.handle(scheduled_event("2026-11-26T06:30:00Z"), fakes.deadline()).await.unwrap_err();
    assert_eq!(err.to_string(), "schedules: AccessDeniedException: events:ListRules");
    assert_eq!(alerts(&fakes).len(), 1, "the configured schedule was still checked");
}

#[tokio::test(start_paused = true)]
async fn with_an_environment_set_alerts_and_the_digest_carry_its_label() {
    let fakes = Fakes::new();
    let mut labelled = settings(DAILY);
    labelled.label_notifications = true;
    labelled.environment = "staging".into();
    labelled.digest_at = Some(chrono::NaiveTime::from_hms_opt(9, 0, 0).unwrap());
    let handler = fakes.handler(labelled);
    watch(&handler, &fakes, "2026-11-26T00:00:00Z").await;
    run(&handler, &fakes, "t1", "2026-11-26T06:00:23Z", 241, 0).await;
    watch(&handler, &fakes, "2026-11-27T06:05:00Z").await;
    let alert = top_level(&fakes).pop().unwrap();
    assert!(alert.message.text.starts_with("[staging] ⏰ prices missed its 06:00 UTC run"), "{}", alert.message.text);
    assert_eq!(watch(&handler, &fakes, "2026-11-27T09:01:00Z").await.digests, 1);
    let digest = fakes.slack.posted().into_iter().last().unwrap();
    assert!(digest.message.text.starts_with("[staging] "), "{}", digest.message.text);
}

#[tokio::test(start_paused = true)]
async fn a_discovery_cut_short_is_said_in_the_watchs_outcome() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings("{}"));
    let watched = watch(&handler, &fakes, "2026-11-26T14:00:00Z").await;
    assert_eq!(watched.discovery_cut_short, None);
    assert!(!serde_json::to_string(&watched).unwrap().contains("discovery_cut_short"), "said only when it was");
    fakes.schedules.cut_short("read the targets of 37 of 100 rules in time");
    let watched = watch(&handler, &fakes, "2026-11-26T14:05:00Z").await;
    assert_eq!(watched.discovery_cut_short.as_deref(), Some("read the targets of 37 of 100 rules in time"));
}

const ESCALATING: &str = r#"{"escalate_to": ["U0ONCALL1", "S0DATAENG"], "jobs": [
    {"match": {"family": "market-pulse-collect-stock-prices"}, "name": "prices", "escalate_after": "30m",
     "schedule": "cron(0 * * * ? *)", "grace": "2m", "runbook": "https://runbooks.example/prices"}]}"#;

fn escalations(fakes: &Fakes) -> Vec<Sent> {
    fakes.slack.posted().into_iter().filter(|s| s.message.text.starts_with("🚨")).collect()
}

#[tokio::test(start_paused = true)]
async fn an_unacknowledged_failure_is_escalated_once_in_its_thread_after_escalate_after() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings(ESCALATING));
    watch(&handler, &fakes, "2026-11-27T00:00:00Z").await;
    // Ends 06:04:00, failed.
    run(&handler, &fakes, "t1", "2026-11-27T06:00:00Z", 240, 1).await;
    let start = top_level(&fakes).into_iter().find(|s| s.message.text.contains("prices")).unwrap();
    assert_eq!(watch(&handler, &fakes, "2026-11-27T06:33:59Z").await.escalated, 0, "29m 59s: not yet");
    assert_eq!(watch(&handler, &fakes, "2026-11-27T06:34:00Z").await.escalated, 1);
    assert_eq!(watch(&handler, &fakes, "2026-11-27T06:39:00Z").await.escalated, 0, "once");
    let sent = escalations(&fakes);
    assert_eq!(sent.len(), 1);
    let reply = &sent[0].message;
    assert_eq!(reply.thread_ts.as_deref(), Some(start.ts.as_str()), "in the run's thread");
    assert!(reply.reply_broadcast, "and in the channel");
    assert_eq!(reply.text, "🚨 prices failed 30m ago and nobody is on it yet");
    let json = serde_json::to_string(&reply.blocks).unwrap();
    assert!(json.contains("🚨 <@U0ONCALL1> <!subteam^S0DATAENG> *prices* failed 30m ago"), "{json}");
    assert!(json.contains("📖 Runbook"), "{json}");
}

#[tokio::test(start_paused = true)]
async fn an_acknowledged_failure_a_success_and_a_job_without_escalate_after_are_not_escalated() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings(ESCALATING));
    watch(&handler, &fakes, "2026-11-27T00:00:00Z").await;
    run(&handler, &fakes, "t1", "2026-11-27T06:00:00Z", 240, 1).await;
    let ack = crate::ports::Acknowledged {
        task_id: "t1".into(),
        user: "U0ALICE01".into(),
        at: crate::time::Timestamp::EPOCH,
    };
    fakes.store.acknowledge("prices", &ack).await.unwrap();
    assert_eq!(watch(&handler, &fakes, "2026-11-27T06:40:00Z").await.escalated, 0, "someone is on it");
    // The next run fails too, and nobody took that one.
    run(&handler, &fakes, "t2", "2026-11-27T07:00:00Z", 240, 1).await;
    assert_eq!(watch(&handler, &fakes, "2026-11-27T07:40:00Z").await.escalated, 1, "the new failure is nobody's");
    run(&handler, &fakes, "t3", "2026-11-27T08:00:00Z", 240, 0).await;
    assert_eq!(watch(&handler, &fakes, "2026-11-27T08:40:00Z").await.escalated, 0, "it succeeded since");
    // A day after it fell due, it is too late to wake anyone.
    let fakes = Fakes::new();
    let handler = fakes.handler(settings(ESCALATING));
    watch(&handler, &fakes, "2026-11-27T00:00:00Z").await;
    run(&handler, &fakes, "t1", "2026-11-27T06:00:00Z", 240, 1).await;
    assert_eq!(watch(&handler, &fakes, "2026-11-28T06:34:00Z").await.escalated, 0);
    // Without escalate_after, nothing escalates, as before.
    let fakes = Fakes::new();
    let handler = fakes.handler(settings(DAILY));
    watch(&handler, &fakes, "2026-11-27T00:00:00Z").await;
    run(&handler, &fakes, "t1", "2026-11-27T06:00:00Z", 240, 1).await;
    assert_eq!(watch(&handler, &fakes, "2026-11-27T08:00:00Z").await.escalated, 0);
    assert!(escalations(&fakes).is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_open_missed_run_alert_is_escalated_once_in_its_thread() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings(ESCALATING));
    watch(&handler, &fakes, "2026-11-27T00:00:00Z").await;
    run(&handler, &fakes, "t1", "2026-11-27T06:00:00Z", 60, 0).await;
    // 07:00 is missed; the alert goes out at 07:05 (due 07:02).
    assert_eq!(watch(&handler, &fakes, "2026-11-27T07:05:00Z").await.missed_alerts, 1);
    let alert = alerts(&fakes).into_iter().next().unwrap();
    assert_eq!(watch(&handler, &fakes, "2026-11-27T07:31:00Z").await.escalated, 0, "29m after due");
    assert_eq!(watch(&handler, &fakes, "2026-11-27T07:32:00Z").await.escalated, 1);
    assert_eq!(watch(&handler, &fakes, "2026-11-27T07:37:00Z").await.escalated, 0, "once");
    let sent = escalations(&fakes);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].message.thread_ts.as_deref(), Some(alert.ts.as_str()));
    assert_eq!(sent[0].message.text, "🚨 prices missed its run 30m ago and nobody is on it yet");
}
