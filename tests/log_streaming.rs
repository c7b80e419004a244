//! Log streaming through the real handler, against moto (DynamoDB with its
//! `lookup` index) and the fake Slack: subscription deliveries as
//! CloudWatch Logs sends them, base64 of gzip.

mod common;

use common::{Stack, deadline, task_event, unique};
use ecs_slack_notifier::handler::{Handled, Handler};
use ecs_slack_notifier::kinds::logs;
use ecs_slack_notifier::subscription::encode;
use serde_json::{Value, json};

const RUNNING: &str = "events/ecs-task-running.json";
const SUCCEEDED: &str = "events/ecs-task-stopped-success.json";

/// A task id of 32 hex digits, unique to this test.
fn task_id() -> String {
    let id = unique("t");
    let mut hex: String = id.bytes().map(|b| format!("{:x}", b % 16)).collect();
    hex.truncate(32);
    format!("{hex:0<32}")
}

fn delivery(task: &str, first: u64, lines: &[&str]) -> Value {
    let events: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, m)| json!({"id": format!("{}", first + i as u64), "timestamp": 1795708800000_i64, "message": m}))
        .collect();
    encode(&json!({
        "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/ecs/market-pulse-collect-stock-prices",
        "logStream": format!("ecs/collect-stock-prices/{task}"), "subscriptionFilters": ["stream"],
        "logEvents": events,
    }))
}

async fn logs(handler: &Handler, payload: Value) -> logs::Handled {
    match handler.handle(payload, deadline()).await.unwrap() {
        Handled::Logs(handled) => handled,
        other => panic!("not a logs outcome: {other:?}"),
    }
}

const MIXED: [&str; 7] = [
    "2026-11-26 14:01:40,112 INFO jobs.prices: fetching 503 tickers",
    "2026-11-26 14:01:52,907 WARNING jobs.providers: stale quote for BRK.B",
    "2026-11-26 14:02:31,004 ERROR jobs.providers: provider quota exceeded",
    "Traceback (most recent call last):",
    "  File \"/app/jobs/providers.py\", line 88, in fetch",
    "requests.exceptions.HTTPError: 429 Client Error",
    r#"{"level": "error", "message": "json <!channel> line"}"#,
];

#[tokio::test]
async fn lines_stream_into_the_thread_once_even_when_redelivered_and_after_the_completion() {
    let Some(stack) = Stack::new().await else { return };
    let handler = stack.notifier();
    let task = task_id();
    handler.handle(task_event(RUNNING, &task).0, deadline()).await.unwrap();
    let first = logs(&handler, delivery(&task, 1000, &MIXED)).await;
    assert!(matches!(first, logs::Handled::PostedLogLines { lines: 6, .. }), "{first:?}");
    // Redelivered to another execution environment: nothing more.
    let again = logs(&stack.notifier(), delivery(&task, 1000, &MIXED)).await;
    assert!(matches!(again, logs::Handled::Skipped { .. }), "{again:?}");
    // After the completion, lines still go into the thread.
    handler.handle(task_event(SUCCEEDED, &task).0, deadline()).await.unwrap();
    let late = logs(&handler, delivery(&task, 2000, &["CRITICAL late line"])).await;
    assert!(matches!(late, logs::Handled::PostedLogLines { .. }), "{late:?}");

    let posted = stack.slack.posted();
    assert_eq!(posted.len(), 4, "start, lines, completion, late lines");
    let (start, reply, late) = (&posted[0], &posted[1], &posted[3]);
    assert_eq!(reply.thread_ts.as_deref(), Some(start.ts.as_str()));
    assert_eq!(late.thread_ts.as_deref(), Some(start.ts.as_str()));
    let visible = reply.visible();
    assert!(visible.contains("stale quote") && visible.contains("HTTPError: 429"), "{visible}");
    assert!(visible.contains("json &lt;!channel&gt; line") && !visible.contains("fetching 503"), "{visible}");
    assert_eq!(reply.text, "❗ market-pulse-collect-stock-prices log: 2 errors, 1 warning");
    let item = stack.item(&format!("task#arn:aws:ecs:us-east-1:123456789012:task/market-pulse/{task}")).await.unwrap();
    assert_eq!(item["streamed_n"].as_n().unwrap(), "2");
    assert_eq!(item["lookup"].as_s().unwrap(), &format!("task#{task}"));
}

#[tokio::test]
async fn a_configured_threshold_and_the_per_task_cap() {
    let Some(stack) = Stack::new().await else { return };
    let handler = stack.notifier_with(&[("JOBS_CONFIG", r#"{"stream_logs": "error", "stream_logs_max_replies": 1}"#)]);
    let task = task_id();
    handler.handle(task_event(RUNNING, &task).0, deadline()).await.unwrap();
    let mut outcomes = Vec::new();
    for batch in 1..=3 {
        outcomes.push(serde_json::to_value(logs(&handler, delivery(&task, batch * 1000, &MIXED)).await).unwrap());
    }
    let actions: Vec<&str> = outcomes.iter().map(|o| o["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["posted_log_lines", "posted_stream_end", "ignored"]);
    let posted = stack.slack.posted();
    assert!(!posted[1].visible().contains("stale quote"), "a warning is below error: {}", posted[1].visible());
    assert!(posted[1].visible().contains("quota exceeded"));
    assert_eq!(posted[2].text, "🔇 market-pulse-collect-stock-prices: further lines are in the log stream");
    assert_eq!(posted.len(), 3);
}

#[tokio::test]
async fn control_messages_unknown_tasks_and_floods() {
    let Some(stack) = Stack::new().await else { return };
    let handler = stack.notifier();
    let control = encode(&json!({"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "",
        "logStream": "", "subscriptionFilters": [], "logEvents": []}));
    for payload in [control, delivery(&task_id(), 1, &MIXED)] {
        assert!(matches!(logs(&handler, payload).await, logs::Handled::Ignored { .. }));
    }
    assert_eq!(stack.slack.requests(), 0);

    let task = task_id();
    handler.handle(task_event(RUNNING, &task).0, deadline()).await.unwrap();
    let flood: Vec<String> = (0..3000).map(|i| format!("ERROR row {i}: <@U024BE7LH> {}", "x".repeat(200))).collect();
    let refs: Vec<&str> = flood.iter().map(String::as_str).collect();
    let handled = logs(&handler, delivery(&task, 1, &refs)).await;
    assert!(matches!(handled, logs::Handled::PostedLogLines { lines: 3000, .. }), "{handled:?}");
    let reply = &stack.slack.posted()[1];
    assert!(reply.visible().contains("more lines left out") && !reply.visible().contains("<@U"));
}

#[tokio::test]
async fn corrupt_data_is_an_error_naming_the_awslogs_data() {
    let Some(stack) = Stack::new().await else { return };
    let handler = stack.notifier();
    let err = handler
        .handle(json!({"awslogs": {"data": "dGhpcyBpcyBwbGFpbmx5IG5vdCBnemlwIGRhdGE="}}), deadline())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "invalid `awslogs.data`: not gzip (invalid gzip header)");
    assert_eq!(stack.slack.requests(), 0);
}
