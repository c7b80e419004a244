//! Per-job configuration (`JOBS_CONFIG`) through the real handler: names,
//! channels, notify policies, mentions, in-place updates, broadcasts,
//! services, links and shown overrides.

mod common;

use common::HandledExt;
use common::fake_slack::Posted;
use common::{Stack, deadline, task_event, unique};
use ecs_slack_notifier::kinds::task::Handled;
use serde_json::{Value, json};

const RUNNING: &str = "events/ecs-task-running.json";
const SUCCEEDED: &str = "events/ecs-task-stopped-success.json";
const FAILED_RUNNING: &str = "events/ecs-task-running-before-failure.json";
const FAILED: &str = "events/ecs-task-stopped-failure.json";

const CONFIG: &str = r#"{
  "strip_prefix": "market-pulse-",
  "snake_case": true,
  "show_environment": ["TICKERS"],
  "logs": {"group": "/ecs/{family}", "stream_prefix": "ecs"},
  "jobs": [
    {"match": {"family": "market-pulse-collect-stock-prices", "command": "--type historical"},
     "name": "collect_stock_prices_historical", "channel": "C0OPS"},
    {"match": {"family": "market-pulse-collect-stock-prices"},
     "name": "collect_stock_prices", "notify": "failures", "mention": "<!subteam^S0DATAENG>"},
    {"match": {"family": "market-pulse-analyze-sentiment"}, "mention": "<@U024BE7LH>"},
    {"match": {"family": "quiet-*"}, "notify": "none"}
  ]
}"#;

/// A sample task event with its command or family changed.
fn with(path: &str, task: &str, edit: impl Fn(&mut Value)) -> Value {
    let (mut event, _) = task_event(path, task);
    edit(&mut event);
    event
}

fn historical(event: &mut Value) {
    event["detail"]["overrides"]["containerOverrides"][0]["command"] =
        json!(["python", "-m", "jobs.collect_stock_prices", "--type", "historical"]);
}

/// The run every five minutes (the samples are the historical run).
fn current(event: &mut Value) {
    event["detail"]["overrides"]["containerOverrides"][0]["command"] =
        json!(["python", "-m", "jobs.collect_stock_prices", "--type", "current"]);
}

fn failed_prices(event: &mut Value) {
    event["detail"]["containers"][0]["exitCode"] = json!(1);
    event["detail"]["containers"][0]["reason"] = json!("ValueError: no prices");
}

async fn run(stack: &Stack, config: &str, events: &[Value]) -> Vec<Handled> {
    let notifier = stack.notifier_with(&[("JOBS_CONFIG", config)]);
    let mut handled = Vec::new();
    for event in events {
        handled.push(notifier.handle(event.clone(), deadline()).await.unwrap().task());
    }
    handled
}

fn has_mention(p: &Posted) -> bool {
    p.visible().contains("<!subteam^") || p.visible().contains("<@U024BE7LH>")
}

#[tokio::test]
async fn a_rule_names_the_job_and_routes_it_to_its_channel() {
    let Some(stack) = Stack::new().await else { return };
    let task = unique("task");
    run(&stack, CONFIG, &[with(RUNNING, &task, historical), with(SUCCEEDED, &task, historical)]).await;
    let posted = stack.slack.posted();
    assert_eq!(posted.len(), 2);
    assert!(posted.iter().all(|p| p.channel == "C0OPS"), "{posted:?}");
    assert_eq!(posted[1].text, "✅ collect_stock_prices_historical succeeded in 4m 1s");
    assert_eq!(posted[1].thread_ts.as_deref(), Some(posted[0].ts.as_str()));
}

#[tokio::test]
async fn the_start_message_is_updated_with_the_outcome() {
    let Some(stack) = Stack::new().await else { return };
    let task = unique("task");
    run(&stack, CONFIG, &[with(RUNNING, &task, historical), with(SUCCEEDED, &task, historical)]).await;
    let start = &stack.slack.posted()[0];
    assert_eq!(start.updates, 1);
    assert_eq!(start.text, "✅ collect_stock_prices_historical succeeded in 4m 1s");
    let visible = start.visible();
    assert!(visible.contains("Details in the thread") && visible.contains("started <!date^"), "{visible}");
    assert!(!start.reply_broadcast && !stack.slack.posted()[1].reply_broadcast, "successes are not broadcast");
}

#[tokio::test]
async fn failures_policy_is_silent_on_success_and_posts_failures_top_level_with_the_mention() {
    let Some(stack) = Stack::new().await else { return };
    let (ok, bad) = (unique("task"), unique("task"));
    let handled = run(
        &stack,
        CONFIG,
        &[
            with(RUNNING, &ok, current),
            with(SUCCEEDED, &ok, current),
            with(RUNNING, &bad, current),
            with(SUCCEEDED, &bad, |e| {
                current(e);
                failed_prices(e);
            }),
        ],
    )
    .await;
    assert!(handled[..3].iter().all(|h| matches!(h, Handled::Ignored { .. })), "{handled:?}");
    let posted = stack.slack.posted();
    assert_eq!(posted.len(), 1, "only the failure");
    let failure = &posted[0];
    assert_eq!(failure.thread_ts, None);
    assert_eq!(failure.channel, "C0JOBS");
    assert!(failure.text.starts_with("<!subteam^S0DATAENG> ❌ collect_stock_prices failed"), "{}", failure.text);
    assert!(failure.visible().contains("posts only failures"));
    assert!(failure.visible().contains("ValueError: no prices"));
}

#[tokio::test]
async fn notify_none_posts_nothing() {
    let Some(stack) = Stack::new().await else { return };
    let task = unique("task");
    let quiet = |e: &mut Value| e["detail"]["group"] = json!("family:quiet-cleanup");
    let handled = run(&stack, CONFIG, &[with(RUNNING, &task, quiet), with(FAILED, &task, quiet)]).await;
    assert!(handled.iter().all(|h| matches!(h, Handled::Ignored { .. })));
    assert_eq!(stack.slack.requests(), 0);
}

#[tokio::test]
async fn mentions_go_on_failures_only_and_failure_replies_are_broadcast() {
    let Some(stack) = Stack::new().await else { return };
    let (ok, bad) = (unique("task"), unique("task"));
    let to_success = |e: &mut Value| {
        e["detail"]["containers"][0]["exitCode"] = json!(0);
        e["detail"]["containers"][0]["reason"] = Value::Null;
    };
    run(
        &stack,
        CONFIG,
        &[
            with(FAILED_RUNNING, &ok, |_| {}),
            with(FAILED, &ok, to_success),
            with(FAILED_RUNNING, &bad, |_| {}),
            with(FAILED, &bad, |_| {}),
        ],
    )
    .await;
    let posted = stack.slack.posted();
    assert_eq!(posted.len(), 4);
    let (start_ok, done_ok, start_bad, done_bad) = (&posted[0], &posted[1], &posted[2], &posted[3]);
    assert!(done_ok.text.starts_with("✅ analyze_sentiment succeeded"), "{}", done_ok.text);
    for p in [start_ok, done_ok, start_bad] {
        assert!(!has_mention(p), "no mention outside failures: {}", p.visible());
    }
    assert!(done_bad.text.starts_with("<@U024BE7LH> ❌ analyze_sentiment failed after 12m 18s"), "{}", done_bad.text);
    assert!(done_bad.reply_broadcast && done_bad.thread_ts.as_deref() == Some(start_bad.ts.as_str()));
    assert!(!done_ok.reply_broadcast);
    assert!(start_bad.text.starts_with("❌ analyze_sentiment failed"), "start updated: {}", start_bad.text);
}

#[tokio::test]
async fn a_mention_in_event_text_stays_text() {
    let Some(stack) = Stack::new().await else { return };
    let task = unique("task");
    let hostile = |e: &mut Value| e["detail"]["containers"][0]["reason"] = json!("<!subteam^S0DATAENG> <@U024BE7LH>");
    run(&stack, "{}", &[with(FAILED_RUNNING, &task, |_| {}), with(FAILED, &task, hostile)]).await;
    let posted = stack.slack.posted();
    assert!(!has_mention(&posted[1]), "{}", posted[1].visible());
    assert!(posted[1].visible().contains("&lt;!subteam^S0DATAENG&gt;"));
}

#[tokio::test]
async fn services_are_ignored_unless_included() {
    let Some(stack) = Stack::new().await else { return };
    let service = |e: &mut Value| e["detail"]["group"] = json!("service:web-api");
    let handled = run(&stack, "{}", &[with(RUNNING, &unique("task"), service)]).await;
    assert!(matches!(&handled[0], Handled::Ignored { reason } if reason.contains("service")), "{handled:?}");
    assert_eq!(stack.slack.requests(), 0);

    let handled = run(&stack, r#"{"include_services": true}"#, &[with(RUNNING, &unique("task"), service)]).await;
    assert!(matches!(handled[0], Handled::PostedStart { .. }));
}

#[tokio::test]
async fn links_and_only_allow_listed_overrides_are_shown() {
    let Some(stack) = Stack::new().await else { return };
    let task = unique("task");
    let env = |e: &mut Value| {
        historical(e);
        e["detail"]["overrides"]["containerOverrides"][0]["environment"] =
            json!([{"name": "TICKERS", "value": "AAPL,MSFT"}, {"name": "DB_PASSWORD", "value": "hunter2"}]);
    };
    let failed = |e: &mut Value| {
        env(e);
        failed_prices(e);
    };
    run(&stack, CONFIG, &[with(RUNNING, &task, env), with(SUCCEEDED, &task, failed)]).await;
    let posted = stack.slack.posted();
    let start = posted[0].visible();
    assert!(start.contains("TICKERS=AAPL,MSFT"), "{start}");
    assert!(!start.contains("hunter2") && !start.contains("DB_PASSWORD"), "{start}");
    let id = task.as_str();
    assert!(
        start.contains(&format!("<https://us-east-1.console.aws.amazon.com/ecs/v2/clusters/market-pulse/tasks/{id}/configuration?region=us-east-1|Task in the ECS console>")),
        "{start}"
    );
    let logs = format!(
        "log-group/$252Fecs$252Fmarket-pulse-collect-stock-prices/log-events/ecs$252Fcollect-stock-prices$252F{id}|Logs>"
    );
    assert!(start.contains(&logs), "{start}");
    assert!(posted[1].visible().contains(&logs), "the completion links the logs too");
}
