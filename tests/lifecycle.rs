//! ECS job lifecycle through the real handler, against moto (DynamoDB,
//! Secrets Manager) and the fake Slack.

mod common;

use std::time::Duration;

use common::HandledExt;
use common::{Fault, Stack, deadline, event, task_event, unique};
use ecs_slack_notifier::kinds::task::Handled;
use ecs_slack_notifier::time::Timestamp;
use serde_json::json;

const RUNNING: &str = "events/ecs-task-running.json";
const SUCCEEDED: &str = "events/ecs-task-stopped-success.json";
const FAILED_RUNNING: &str = "events/ecs-task-running-before-failure.json";
const FAILED: &str = "events/ecs-task-stopped-failure.json";
const NEVER_STARTED: &str = "events/ecs-task-never-started.json";

#[tokio::test]
async fn start_then_threaded_completion_across_a_cold_start() {
    let Some(stack) = Stack::new().await else { return };
    let task = unique("task");
    let (running, arn) = task_event(RUNNING, &task);
    let (stopped, _) = task_event(SUCCEEDED, &task);

    let first = stack.notifier().handle(running, deadline()).await.unwrap().task();
    assert!(matches!(first, Handled::PostedStart { .. }), "{first:?}");
    // A new execution environment: nothing cached, the thread comes from DynamoDB.
    let second = stack.notifier().handle(stopped, deadline()).await.unwrap().task();
    assert!(matches!(second, Handled::PostedCompletion { threaded: true, .. }), "{second:?}");

    let posted = stack.slack.posted();
    assert_eq!(posted.len(), 2);
    let (start, done) = (&posted[0], &posted[1]);
    assert_eq!(start.channel, "C0JOBS");
    assert_eq!(start.thread_ts, None);
    assert_eq!(start.original_text, "🚀 market-pulse-collect-stock-prices started");
    assert_eq!(start.updates, 1, "updated in place with the outcome");
    assert_eq!(start.text, "✅ market-pulse-collect-stock-prices succeeded in 4m 1s");
    assert_eq!(done.channel, "C0JOBS");
    assert_eq!(done.thread_ts.as_deref(), Some(start.ts.as_str()));
    assert_eq!(done.text, "✅ market-pulse-collect-stock-prices succeeded in 4m 1s");
    assert!(done.visible().contains("collect-stock-prices: 0"));

    let item = stack.item(&format!("task#{arn}")).await.expect("thread record");
    assert_eq!(item["start_ts"].as_s().unwrap(), &start.ts);
    assert_eq!(item["completion_ts"].as_s().unwrap(), &done.ts);
    assert!(!item.contains_key("start_claim") && !item.contains_key("completion_claim"), "claims settled: {item:?}");
    let expires: i64 = item[common::ttl_attribute()].as_n().unwrap().parse().unwrap();
    let in_days = (expires - ecs_now()) as f64 / 86400.0;
    assert!((13.9..=14.1).contains(&in_days), "TTL {in_days} days away");
}

fn ecs_now() -> i64 {
    Timestamp::now().secs()
}

#[tokio::test]
async fn duplicates_post_once() {
    let Some(stack) = Stack::new().await else { return };
    let notifier = stack.notifier();
    let task = unique("task");
    let (running, _) = task_event(RUNNING, &task);
    let (stopped, _) = task_event(SUCCEEDED, &task);
    let mut actions = Vec::new();
    for payload in [&running, &running, &stopped, &stopped, &running] {
        actions.push(notifier.handle(payload.clone(), deadline()).await.unwrap().task());
    }
    let kinds: Vec<&str> = actions
        .iter()
        .map(|a| match a {
            Handled::PostedStart { .. } => "start",
            Handled::PostedCompletion { .. } => "completion",
            Handled::Skipped { .. } => "skipped",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["start", "skipped", "completion", "skipped", "skipped"]);
    assert_eq!(stack.slack.posted().len(), 2);
}

#[tokio::test]
async fn stopped_before_running_gives_a_standalone_completion_and_no_late_start() {
    let Some(stack) = Stack::new().await else { return };
    let task = unique("task");
    let (running, _) = task_event(RUNNING, &task);
    let (stopped, _) = task_event(SUCCEEDED, &task);

    let done = stack.notifier().handle(stopped, deadline()).await.unwrap().task();
    assert!(matches!(done, Handled::PostedCompletion { threaded: false, .. }), "{done:?}");
    let late = stack.notifier().handle(running, deadline()).await.unwrap().task();
    assert!(matches!(late, Handled::Skipped { slot: "start", .. }), "{late:?}");

    let posted = stack.slack.posted();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].thread_ts, None);
    let visible = posted[0].visible();
    assert!(visible.contains("No start message was posted"), "{visible}");
    assert!(visible.contains("*Cluster*\\nmarket-pulse"), "standalone carries the run details: {visible}");
}

#[tokio::test]
async fn the_same_event_in_two_environments_at_once_posts_once() {
    let Some(stack) = Stack::new().await else { return };
    let (a, b) = (stack.notifier(), stack.notifier());
    for _ in 0..20 {
        let task = unique("task");
        let (running, _) = task_event(RUNNING, &task);
        let (stopped, _) = task_event(SUCCEEDED, &task);
        let before = stack.slack.posted().len();
        let (x, y) = tokio::join!(a.handle(running.clone(), deadline()), b.handle(running, deadline()));
        let started =
            [x.unwrap().task(), y.unwrap().task()].iter().filter(|h| matches!(h, Handled::PostedStart { .. })).count();
        assert_eq!(started, 1);
        let (x, y) = tokio::join!(a.handle(stopped.clone(), deadline()), b.handle(stopped, deadline()));
        let completed = [x.unwrap().task(), y.unwrap().task()]
            .iter()
            .filter(|h| matches!(h, Handled::PostedCompletion { threaded: true, .. }))
            .count();
        assert_eq!(completed, 1);
        assert_eq!(stack.slack.posted().len(), before + 2);
    }
}

#[tokio::test]
async fn a_completion_waits_for_a_start_being_posted_and_threads_under_it() {
    let Some(stack) = Stack::new().await else { return };
    let task = unique("task");
    let (running, _) = task_event(RUNNING, &task);
    let (stopped, _) = task_event(SUCCEEDED, &task);
    stack.slack.fail_next(Fault::Delay(Duration::from_millis(1500)));
    let (start_env, stop_env) = (stack.notifier(), stack.notifier());
    let start = start_env.handle(running, deadline());
    let stop = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop_env.handle(stopped, deadline()).await
    };
    let (start, stop) = tokio::join!(start, stop);
    assert!(matches!(start.unwrap().task(), Handled::PostedStart { .. }));
    assert!(matches!(stop.unwrap().task(), Handled::PostedCompletion { threaded: true, .. }));
    let posted = stack.slack.posted();
    assert_eq!(posted[1].thread_ts.as_deref(), Some(posted[0].ts.as_str()));
}

#[tokio::test]
async fn a_task_that_never_started_gets_a_standalone_failure() {
    let Some(stack) = Stack::new().await else { return };
    let (stopped, _) = task_event(NEVER_STARTED, &unique("task"));
    let handled = stack.notifier().handle(stopped, deadline()).await.unwrap().task();
    assert!(matches!(handled, Handled::PostedCompletion { threaded: false, .. }), "{handled:?}");
    let posted = stack.slack.posted();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].text, "❌ market-pulse-reddit-scraper failed to start");
    let visible = posted[0].visible();
    for want in ["CannotPullContainerError", "TaskFailedToStart", "stopped before its containers ran"] {
        assert!(visible.contains(want), "{want}: {visible}");
    }
}

#[tokio::test]
async fn a_failure_shows_exit_codes_and_the_containers_reason_in_the_thread() {
    let Some(stack) = Stack::new().await else { return };
    let task = unique("task");
    let notifier = stack.notifier();
    notifier.handle(task_event(FAILED_RUNNING, &task).0, deadline()).await.unwrap().task();
    notifier.handle(task_event(FAILED, &task).0, deadline()).await.unwrap().task();
    let posted = stack.slack.posted();
    assert_eq!(posted.len(), 2);
    assert_eq!(posted[1].thread_ts.as_deref(), Some(posted[0].ts.as_str()));
    assert_eq!(posted[1].text, "❌ market-pulse-analyze-sentiment failed after 12m 18s");
    let visible = posted[1].visible();
    for want in
        ["analyze-sentiment: 137", "OutOfMemoryError: Container killed due to memory usage", "EssentialContainerExited"]
    {
        assert!(visible.contains(want), "{want}: {visible}");
    }
}

#[tokio::test]
async fn other_statuses_and_event_types_are_ignored() {
    let Some(stack) = Stack::new().await else { return };
    let notifier = stack.notifier();
    let (pending, arn) = task_event("tests/fixtures/ecs-task-pending.json", &unique("task"));
    let payloads = [
        pending,
        event("tests/fixtures/container-instance-state-change.json"),
        json!({"detail-type": "Something New", "source": "aws.future", "detail": {}}),
    ];
    for payload in payloads {
        let handled = notifier.handle(payload.clone(), deadline()).await.unwrap();
        assert_eq!(handled.action(), "ignored", "{payload}: {handled:?}");
    }
    assert_eq!(stack.slack.requests(), 0);
    assert!(stack.item(&format!("task#{arn}")).await.is_none(), "ignored events write nothing");
}

#[tokio::test]
async fn a_payload_that_is_not_an_eventbridge_event_is_a_clear_error() {
    let Some(stack) = Stack::new().await else { return };
    let notifier = stack.notifier();
    let table = [
        (json!({"hello": "world"}), "payload is not an EventBridge event: missing field `detail-type`"),
        (json!([1, 2, 3]), "payload is not an EventBridge event"),
        (json!({"detail-type": "ECS Task State Change", "source": "aws.ecs"}), "missing field `detail`"),
        (
            json!({"detail-type": "ECS Task State Change", "source": "aws.ecs", "detail": {"lastStatus": "RUNNING"}}),
            "no `detail.taskArn`, and no task ARN in `resources`",
        ),
    ];
    for (payload, want) in table {
        let err = notifier.handle(payload, deadline()).await.unwrap_err().to_string();
        assert!(err.contains(want), "{err}");
    }
    assert_eq!(stack.slack.requests(), 0);
}

#[tokio::test]
async fn slack_errors_are_named_in_the_invocation_error() {
    let Some(stack) = Stack::new().await else { return };
    let unknown_channel = stack.notifier_with(&[("SLACK_DEFAULT_CHANNEL", "C0NOPE")]);
    let err = unknown_channel.handle(task_event(RUNNING, &unique("task")).0, deadline()).await.unwrap_err();
    assert_eq!(err.to_string(), "Slack API error: channel_not_found");
}

#[tokio::test]
async fn the_token_is_read_from_secrets_manager_raw_or_json() {
    let Some(stack) = Stack::new().await else { return };
    let raw_secret = common::create_secret(&stack.aws, common::fake_slack::TOKEN).await;
    let notifier = stack.notifier_with(&[("SLACK_TOKEN_SECRET_ID", &raw_secret)]);
    let handled = notifier.handle(task_event(RUNNING, &unique("task")).0, deadline()).await.unwrap().task();
    assert!(matches!(handled, Handled::PostedStart { .. }));

    let missing = stack.notifier_with(&[("SLACK_TOKEN_SECRET_ID", "no/such/secret")]);
    let err = missing.handle(task_event(RUNNING, &unique("task")).0, deadline()).await.unwrap_err().to_string();
    assert!(err.contains("reading Slack token secret no/such/secret") && err.contains("ResourceNotFound"), "{err}");
    assert!(!err.contains(common::fake_slack::TOKEN));
}

#[tokio::test]
async fn a_static_token_works_for_local_runs() {
    let Some(stack) = Stack::new().await else { return };
    let mut env = stack.env();
    env.remove("SLACK_TOKEN_SECRET_ID");
    env.insert("SLACK_BOT_TOKEN".into(), common::fake_slack::TOKEN.into());
    let config = ecs_slack_notifier::config::Config::from_lookup(
        |k| env.get(k).cloned(),
        ecs_slack_notifier::config::Needs::LAMBDA,
    )
    .unwrap();
    let notifier = ecs_slack_notifier::app::lambda_handler(config, &stack.aws).unwrap();
    let handled = notifier.handle(task_event(RUNNING, &unique("task")).0, deadline()).await.unwrap().task();
    assert!(matches!(handled, Handled::PostedStart { .. }));
}
