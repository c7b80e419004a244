//! Bursts in-process: groups forming, counting, failing and closing, on
//! the memory store and the recording Slack.

use serde_json::Value;

use super::super::Handled;
use super::super::tests::{handle, kind, with_jobs};
use crate::handler::{self, Handler};
use crate::testing::{Fakes, run_events, test_settings};
use crate::time::Timestamp;

fn id(n: usize) -> String {
    format!("{n:032x}")
}

fn at(secs: i64) -> String {
    Timestamp::from_secs(Timestamp::parse_rfc3339("2026-11-26T13:00:00Z").unwrap().secs() + secs).to_rfc3339()
}

/// Task `n` of the backfill, started `start` s after 13:00, taking `secs`.
fn backfill(n: usize, start: i64, secs: i64, exit_code: i64) -> (Value, Value) {
    run_events(&id(n), "reddit_scraper_backfill", &at(start), secs, exit_code)
}

/// Each event on its own execution environment, all at once.
async fn concurrently(fakes: &Fakes, events: Vec<Value>) -> Vec<Handled> {
    let deadline: Timestamp = fakes.deadline();
    let mut running = tokio::task::JoinSet::new();
    for event in events {
        let handler = fakes.default_handler();
        running.spawn(async move { handler.handle(event, deadline).await.unwrap() });
    }
    let mut handled = Vec::new();
    while let Some(done) = running.join_next().await {
        match done.unwrap() {
            handler::Handled::Task(task) => handled.push(task),
            other => panic!("not a task outcome: {other:?}"),
        }
    }
    handled
}

/// The text of the first message, as it now reads.
fn group_text(fakes: &Fakes) -> String {
    fakes.slack.posted()[0].message.text.clone()
}

#[tokio::test(start_paused = true)]
async fn a_group_forms_counts_and_tells_each_failure_in_its_thread() {
    let fakes = Fakes::new();
    let events: Vec<(Value, Value)> =
        (0..4).map(|n| backfill(n, n as i64 * 5, 300, if n == 2 { 1 } else { 0 })).collect();
    let mut kinds = Vec::new();
    for (running, _) in &events {
        kinds.push(kind(&handle(&fakes.default_handler(), &fakes, running.clone()).await));
    }
    assert_eq!(kinds, ["start", "joined", "joined", "joined"]);
    assert_eq!(fakes.slack.posted().len(), 1, "one message for the group");
    assert_eq!(group_text(&fakes), "🚀 reddit_scraper_backfill ×4 — 4 running");

    let mut kinds = Vec::new();
    for (_, stopped) in &events {
        kinds.push(kind(&handle(&fakes.default_handler(), &fakes, stopped.clone()).await));
    }
    assert_eq!(kinds, ["counted", "counted", "queued", "counted"]);
    assert_eq!(group_text(&fakes), "❌ reddit_scraper_backfill ×4 — 3 ✅ · 1 ❌");
    assert_eq!(fakes.slack.posted().len(), 1, "successes are counted, the failure is queued");

    // The queue's consumer posts the failure in the group's thread, and in the channel.
    let queued = fakes.outbox.take_as_sqs_event();
    fakes.default_handler().handle(queued, fakes.deadline()).await.unwrap();
    let posted = fakes.slack.posted();
    assert_eq!(posted.len(), 2);
    let failure = &posted[1];
    assert_eq!(failure.message.thread_ts.as_deref(), Some(posted[0].ts.as_str()));
    assert!(failure.message.reply_broadcast, "a failure is never hidden in a count");
    let visible = failure.visible();
    assert!(visible.contains(&id(2)), "names its task: {visible}");
    assert!(visible.contains("Exit codes"), "{visible}");
    assert!(failure.message.text.starts_with("❌ reddit_scraper_backfill failed"), "{}", failure.message.text);
}

#[tokio::test(start_paused = true)]
async fn a_single_task_looks_as_it_always_did() {
    let fakes = Fakes::new();
    let (running, stopped) = backfill(1, 0, 300, 0);
    assert_eq!(kind(&handle(&fakes.default_handler(), &fakes, running).await), "start");
    assert_eq!(kind(&handle(&fakes.default_handler(), &fakes, stopped).await), "threaded");
    let posted = fakes.slack.posted();
    assert_eq!(posted.len(), 2);
    assert!(posted[0].message.text.starts_with("✅ reddit_scraper_backfill succeeded"), "{}", posted[0].message.text);
    assert!(!posted[0].visible().contains('×'), "no group: {}", posted[0].visible());
    assert!(fakes.outbox.queued().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_straggler_after_the_window_stands_alone() {
    let fakes = Fakes::new();
    let (first, _) = backfill(1, 0, 300, 0);
    let (straggler, _) = backfill(2, 61, 300, 0);
    assert_eq!(kind(&handle(&fakes.default_handler(), &fakes, first).await), "start");
    assert_eq!(kind(&handle(&fakes.default_handler(), &fakes, straggler).await), "start");
    let posted = fakes.slack.posted();
    assert_eq!(posted.len(), 2);
    assert!(posted.iter().all(|p| p.message.text.ends_with("started")), "two plain starts");
}

#[tokio::test(start_paused = true)]
async fn a_task_does_not_join_a_group_whose_first_task_was_told_alone() {
    let fakes = Fakes::new();
    let (first, first_done) = backfill(1, 0, 10, 0);
    let (second, _) = backfill(2, 20, 300, 0);
    let (third, _) = backfill(3, 25, 300, 0);
    handle(&fakes.default_handler(), &fakes, first).await;
    assert_eq!(kind(&handle(&fakes.default_handler(), &fakes, first_done).await), "threaded");
    // Within the window, but the first run's outcome is out: a new group.
    assert_eq!(kind(&handle(&fakes.default_handler(), &fakes, second).await), "start");
    assert_eq!(kind(&handle(&fakes.default_handler(), &fakes, third).await), "joined");
    let posted = fakes.slack.posted();
    assert_eq!(posted.len(), 3);
    assert!(posted[0].message.text.starts_with("✅ reddit_scraper_backfill succeeded"));
    assert_eq!(posted[2].message.text, "🚀 reddit_scraper_backfill ×2 — 2 running");
}

#[tokio::test(start_paused = true)]
async fn concurrent_completions_are_all_counted() {
    let fakes = Fakes::new();
    let events: Vec<(Value, Value)> = (0..30).map(|n| backfill(n, 0, 120, 0)).collect();
    handle(&fakes.default_handler(), &fakes, events[0].0.clone()).await;
    let starts = concurrently(&fakes, events[1..].iter().map(|(running, _)| running.clone()).collect()).await;
    assert!(starts.iter().all(|h| kind(h) == "joined"), "{starts:?}");
    assert_eq!(group_text(&fakes), "🚀 reddit_scraper_backfill ×30 — 30 running");
    let updates_after_starts = fakes.slack.posted()[0].updates;
    assert!(updates_after_starts <= 4, "one change per gap, not per task: {updates_after_starts}");
    let done = concurrently(&fakes, events.iter().map(|(_, stopped)| stopped.clone()).collect()).await;
    assert!(done.iter().all(|h| kind(h) == "counted"), "{done:?}");
    assert_eq!(group_text(&fakes), "✅ reddit_scraper_backfill ×30 — 30 ✅");
    assert_eq!(fakes.slack.posted().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn redelivered_events_count_once() {
    let fakes = Fakes::new();
    let events: Vec<(Value, Value)> = (0..3).map(|n| backfill(n, 0, 120, 0)).collect();
    for (running, _) in events.iter().chain(&events) {
        handle(&fakes.default_handler(), &fakes, running.clone()).await;
    }
    for (_, stopped) in events.iter().chain(&events) {
        handle(&fakes.default_handler(), &fakes, stopped.clone()).await;
    }
    assert_eq!(group_text(&fakes), "✅ reddit_scraper_backfill ×3 — 3 ✅");
}

#[tokio::test(start_paused = true)]
async fn group_window_zero_and_failures_only_jobs_never_group() {
    for config in [r#"{"group_window": 0}"#, r#"{"jobs": [{"match": {"family": "reddit_*"}, "group_window": 0}]}"#] {
        let fakes = Fakes::new();
        for n in 0..2 {
            let (running, _) = backfill(n, 0, 60, 0);
            assert_eq!(kind(&handle(&fakes.handler(with_jobs(config)), &fakes, running).await), "start", "{config}");
        }
    }
    let fakes = Fakes::new();
    let failures_only = with_jobs(r#"{"jobs": [{"match": {"family": "reddit_*"}, "notify": "failures"}]}"#);
    for n in 0..2 {
        let (_, stopped) = backfill(n, 0, 60, 1);
        assert_eq!(kind(&handle(&fakes.handler(failures_only.clone()), &fakes, stopped).await), "standalone");
    }
}

#[tokio::test(start_paused = true)]
async fn without_a_queue_a_groups_failure_is_posted_at_once() {
    let fakes = Fakes::new();
    let mut ports = fakes.ports();
    ports.outbox = None;
    let handler = Handler::new(test_settings(), ports);
    let (a, _) = backfill(1, 0, 60, 0);
    let (b, b_done) = backfill(2, 1, 60, 1);
    handle(&handler, &fakes, a).await;
    handle(&handler, &fakes, b).await;
    assert_eq!(kind(&handle(&handler, &fakes, b_done).await), "threaded");
    let posted = fakes.slack.posted();
    assert_eq!(posted.len(), 2);
    assert!(posted[1].message.reply_broadcast);
    assert_eq!(group_text(&fakes), "🚀 reddit_scraper_backfill ×2 — 1 running · 1 ❌");
}

#[tokio::test(start_paused = true)]
async fn a_failed_change_of_the_group_message_is_retried_by_the_event() {
    let fakes = Fakes::new();
    let (a, _) = backfill(1, 0, 60, 0);
    let (b, _) = backfill(2, 1, 60, 0);
    handle(&fakes.default_handler(), &fakes, a).await;
    fakes.slack.fail_next_update(crate::ports::SlackError::Api("ratelimited".into()));
    assert!(fakes.default_handler().handle(b.clone(), fakes.deadline()).await.is_err(), "Lambda retries it");
    assert_eq!(group_text(&fakes), "🚀 reddit_scraper_backfill started");
    assert_eq!(kind(&handle(&fakes.default_handler(), &fakes, b).await), "joined");
    assert_eq!(group_text(&fakes), "🚀 reddit_scraper_backfill ×2 — 2 running");
}

#[tokio::test(start_paused = true)]
async fn log_lines_and_re_run_buttons_of_grouped_tasks_are_in_the_groups_thread() {
    let fakes = Fakes::new();
    let settings = with_jobs(
        r#"{"operators": ["U0OPERATOR"], "run": {"subnets": ["subnet-1"]},
            "jobs": [{"match": {"family": "reddit_*"}, "stream_logs": "error"}]}"#,
    );
    let (a, _) = backfill(1, 0, 60, 0);
    let (b, b_done) = backfill(2, 1, 60, 1);
    handle(&fakes.handler(settings.clone()), &fakes, a).await;
    handle(&fakes.handler(settings.clone()), &fakes, b).await;
    let group_ts = fakes.slack.posted()[0].ts.clone();

    let lines = crate::subscription::encode(&serde_json::json!({
        "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/ecs/reddit",
        "logStream": format!("ecs/scraper/{}", id(2)), "subscriptionFilters": ["stream"],
        "logEvents": [{"id": "1", "timestamp": 1795708800000_i64, "message": "ERROR scraper: 403 from reddit"}],
    }));
    fakes.handler(settings.clone()).handle(lines, fakes.deadline()).await.unwrap();
    let streamed = fakes.slack.posted().pop().unwrap();
    assert_eq!(streamed.message.thread_ts.as_deref(), Some(group_ts.as_str()), "{:?}", streamed.message);
    assert!(streamed.visible().contains("403 from reddit"));

    handle(&fakes.handler(settings.clone()), &fakes, b_done).await;
    let queued = fakes.outbox.queued();
    let reply = serde_json::to_string(&queued[0].message).unwrap();
    assert!(reply.contains(crate::message::job_control::RERUN_ACTION), "a grouped failure offers Re-run: {reply}");
    let group = &fakes.slack.posted()[0];
    let original = serde_json::to_string(&group.original.as_ref().unwrap().blocks).unwrap();
    assert!(original.contains(crate::message::job_control::STOP_ACTION), "the first start had Stop: {original}");
    let now = serde_json::to_string(&group.message.blocks).unwrap();
    assert!(!now.contains(crate::message::job_control::STOP_ACTION), "the group's message stops nothing: {now}");
}

#[tokio::test(start_paused = true)]
async fn an_outcome_that_overtakes_its_own_joining_is_still_counted_in_the_group() {
    let fakes = Fakes::new();
    let (a, _) = backfill(1, 0, 60, 0);
    let (b, b_done) = backfill(2, 1, 60, 0);
    handle(&fakes.default_handler(), &fakes, a).await;
    // b's start is slow to be counted (Slack is slow to change the
    // group's message); its completion comes meanwhile.
    fakes.slack.delay_next_update(std::time::Duration::from_secs(8));
    let deadline = fakes.deadline();
    let joining = {
        let handler = fakes.default_handler();
        tokio::spawn(async move { handler.handle(b, deadline).await.unwrap() })
    };
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(kind(&handle(&fakes.default_handler(), &fakes, b_done).await), "counted");
    assert!(matches!(joining.await.unwrap(), handler::Handled::Task(Handled::JoinedGroup { .. })));
    assert_eq!(fakes.slack.posted().len(), 1, "no standalone completion");
    assert_eq!(group_text(&fakes), "🚀 reddit_scraper_backfill ×2 — 1 running · 1 ✅");
}

#[tokio::test(start_paused = true)]
async fn a_groups_message_carries_the_environments_label() {
    let fakes = Fakes::new();
    let mut settings = test_settings();
    settings.label_notifications = true;
    settings.environment = "staging".into();
    for n in 0..2 {
        let (running, _) = backfill(n, n as i64 * 5, 300, 0);
        handle(&fakes.handler(settings.clone()), &fakes, running).await;
    }
    assert_eq!(group_text(&fakes), "[staging] 🚀 reddit_scraper_backfill ×2 — 2 running");
}
