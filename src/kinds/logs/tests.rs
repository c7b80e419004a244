//! Log streaming in-process: the real handler on the in-memory store and a
//! recording Slack, on tokio's paused clock.

use std::time::Duration;

use serde_json::{Value, json};

use super::Handled;
use crate::handler::{self, Handler};
use crate::jobs::JobsConfig;
use crate::ports::{Claim, Clock, SlackError, SlackPoster, Slot, ThreadStore};
use crate::subscription::encode;
use crate::testing::{Fakes, fixture, task_event, test_settings};

const RUNNING: &str = "events/ecs-task-running.json";
const SUCCEEDED: &str = "events/ecs-task-stopped-success.json";
const TASK: &str = "0123456789abcdef0123456789abcdef";

/// A delivery of `lines` from `TASK`'s stream, the first event id `first`.
fn delivery(first: u64, lines: &[&str]) -> Value {
    let events: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, m)| json!({"id": (first + i as u64).to_string(), "timestamp": 1795708800000_i64 + i as i64, "message": m}))
        .collect();
    encode(&json!({
        "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/ecs/market-pulse-collect-stock-prices",
        "logStream": format!("ecs/collect-stock-prices/{TASK}"), "subscriptionFilters": ["stream"],
        "logEvents": events,
    }))
}

async fn handle(handler: &Handler, fakes: &Fakes, payload: Value) -> Handled {
    match handler.handle(payload, fakes.deadline()).await.unwrap() {
        handler::Handled::Logs(handled) => handled,
        other => panic!("not a logs outcome: {other:?}"),
    }
}

fn with_jobs(json: &str) -> crate::settings::Settings {
    let mut settings = test_settings();
    settings.jobs = JobsConfig::parse(json).unwrap();
    settings
}

/// A handler whose task `TASK` has its start message posted.
async fn started(fakes: &Fakes, settings: crate::settings::Settings) -> Handler {
    let handler = fakes.handler(settings);
    handler.handle(task_event(RUNNING, TASK), fakes.deadline()).await.unwrap();
    handler
}

fn replies(fakes: &Fakes) -> Vec<crate::testing::Sent> {
    fakes.slack.posted().into_iter().filter(|s| s.message.thread_ts.is_some()).collect()
}

const MIXED: [&str; 7] = [
    "2026-11-26 14:01:40,112 INFO jobs.prices: fetching 503 tickers",
    "2026-11-26 14:01:52,907 WARNING jobs.providers: stale quote for BRK.B",
    "2026-11-26 14:02:31,004 ERROR jobs.providers: provider quota exceeded",
    "Traceback (most recent call last):",
    "  File \"/app/jobs/providers.py\", line 88, in fetch",
    "requests.exceptions.HTTPError: 429 Client Error",
    "2026-11-26 14:03:05,448 INFO jobs.prices: 503/503 done",
];

#[tokio::test(start_paused = true)]
async fn warnings_and_errors_with_their_traceback_go_into_the_thread_as_one_reply() {
    let fakes = Fakes::new();
    let handler = started(&fakes, test_settings()).await;
    let handled = handle(&handler, &fakes, delivery(100, &MIXED)).await;
    assert!(matches!(handled, Handled::PostedLogLines { lines: 5, .. }), "{handled:?}");
    let start = &fakes.slack.posted()[0];
    let reply = &replies(&fakes)[0];
    assert_eq!(reply.message.thread_ts.as_deref(), Some(start.ts.as_str()));
    assert_eq!(reply.message.text, "❗ market-pulse-collect-stock-prices log: 1 error, 1 warning");
    let visible = reply.visible();
    assert!(visible.contains("stale quote") && visible.contains("HTTPError: 429"), "{visible}");
    assert!(!visible.contains("fetching 503") && !visible.contains("503/503 done"), "no INFO: {visible}");
    assert!(visible.contains("log-group/$252Fecs$252Fmarket-pulse-collect-stock-prices/log-events/ecs$252Fcollect-stock-prices$252F0123456789abcdef0123456789abcdef|Log stream>"), "{visible}");
}

#[tokio::test(start_paused = true)]
async fn a_configured_threshold_applies_per_job_and_off_streams_nothing() {
    let fakes = Fakes::new();
    let handler = started(&fakes, with_jobs(r#"{"stream_logs": "error"}"#)).await;
    handle(&handler, &fakes, delivery(100, &MIXED)).await;
    let visible = replies(&fakes)[0].visible();
    assert!(!visible.contains("stale quote") && visible.contains("quota exceeded"), "{visible}");

    let fakes = Fakes::new();
    let config = r#"{"jobs": [{"match": {"family": "market-pulse-*"}, "stream_logs": "off"}]}"#;
    let handler = started(&fakes, with_jobs(config)).await;
    let handled = handle(&handler, &fakes, delivery(100, &MIXED)).await;
    assert!(matches!(&handled, Handled::Ignored { reason } if reason.contains("off")), "{handled:?}");
    assert!(replies(&fakes).is_empty());
}

#[tokio::test(start_paused = true)]
async fn json_lines_are_read_by_their_level() {
    let fakes = Fakes::new();
    let handler = started(&fakes, test_settings()).await;
    let lines = [r#"{"level": "info", "msg": "ok"}"#, r#"{"levelname": "ERROR", "message": "<!channel> quota"}"#];
    handle(&handler, &fakes, delivery(100, &lines)).await;
    let visible = replies(&fakes)[0].visible();
    assert!(visible.contains("&lt;!channel&gt; quota") && !visible.contains("\\\"ok\\\""), "{visible}");
}

#[tokio::test(start_paused = true)]
async fn a_redelivered_batch_posts_nothing_more() {
    let fakes = Fakes::new();
    let (a, b) = (started(&fakes, test_settings()).await, fakes.default_handler());
    assert!(matches!(handle(&a, &fakes, delivery(100, &MIXED)).await, Handled::PostedLogLines { .. }));
    assert!(matches!(handle(&b, &fakes, delivery(100, &MIXED)).await, Handled::Skipped { .. }));
    let (x, y) = tokio::join!(handle(&a, &fakes, delivery(200, &MIXED)), handle(&b, &fakes, delivery(200, &MIXED)));
    let posted = [&x, &y].iter().filter(|h| matches!(h, Handled::PostedLogLines { .. })).count();
    assert_eq!(posted, 1, "{x:?} {y:?}");
    assert_eq!(replies(&fakes).len(), 2);
}

#[tokio::test(start_paused = true)]
async fn control_messages_unknown_tasks_and_quiet_batches_post_nothing() {
    let fakes = Fakes::new();
    let handler = fakes.default_handler();
    let control = encode(&json!({"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "",
        "logStream": "", "subscriptionFilters": [], "logEvents": [{"id": "", "timestamp": 0,
        "message": "CWL CONTROL MESSAGE: Checking health of destination Lambda function."}]}));
    let unknown = delivery(100, &MIXED);
    for payload in [control, unknown] {
        assert!(matches!(handle(&handler, &fakes, payload).await, Handled::Ignored { .. }));
    }
    let handler = started(&fakes, test_settings()).await;
    let quiet = handle(&handler, &fakes, delivery(100, &["INFO all good", "DEBUG detail"])).await;
    assert!(matches!(&quiet, Handled::Ignored { reason } if reason.contains("no line at warning")), "{quiet:?}");
    assert_eq!(fakes.slack.calls(), 1, "only the start message");
}

#[tokio::test(start_paused = true)]
async fn a_job_without_a_start_message_gets_no_stream() {
    let fakes = Fakes::new();
    let config = r#"{"jobs": [{"match": {"family": "market-pulse-*"}, "notify": "failures"}]}"#;
    let handler = started(&fakes, with_jobs(config)).await;
    let handled = handle(&handler, &fakes, delivery(100, &MIXED)).await;
    assert!(matches!(&handled, Handled::Ignored { reason } if reason.contains("no start message")), "{handled:?}");
    assert_eq!(fakes.slack.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn lines_after_the_completion_still_go_into_the_thread() {
    let fakes = Fakes::new();
    let handler = started(&fakes, test_settings()).await;
    handler.handle(task_event(SUCCEEDED, TASK), fakes.deadline()).await.unwrap();
    fakes.clock.sleep(Duration::from_secs(300)).await;
    assert!(matches!(handle(&handler, &fakes, delivery(100, &MIXED)).await, Handled::PostedLogLines { .. }));
    let posted = fakes.slack.posted();
    assert_eq!(posted[2].message.thread_ts.as_deref(), Some(posted[0].ts.as_str()));
}

#[tokio::test(start_paused = true)]
async fn a_flood_is_one_reply_slack_accepts() {
    let fakes = Fakes::new();
    let handler = started(&fakes, test_settings()).await;
    let flood: Vec<String> = (0..10_000).map(|i| format!("ERROR row {i} failed: <@U024BE7LH>")).collect();
    let refs: Vec<&str> = flood.iter().map(String::as_str).collect();
    assert!(matches!(
        handle(&handler, &fakes, delivery(100, &refs)).await,
        Handled::PostedLogLines { lines: 10_000, .. }
    ));
    let replies = replies(&fakes);
    assert_eq!(replies.len(), 1);
    assert!(replies[0].visible().contains("more lines left out") && !replies[0].visible().contains("<@U"));
}

#[tokio::test(start_paused = true)]
async fn after_the_cap_one_note_then_nothing() {
    let fakes = Fakes::new();
    let handler = started(&fakes, with_jobs(r#"{"stream_logs_max_replies": 2}"#)).await;
    let mut kinds = Vec::new();
    for batch in 0..5 {
        kinds.push(match handle(&handler, &fakes, delivery(100 * (batch + 1), &MIXED)).await {
            Handled::PostedLogLines { .. } => "lines",
            Handled::PostedStreamEnd { .. } => "end",
            Handled::Ignored { .. } => "ignored",
            Handled::Skipped { .. } => "skipped",
        });
    }
    assert_eq!(kinds, ["lines", "lines", "end", "ignored", "ignored"]);
    let replies = replies(&fakes);
    assert_eq!(replies.len(), 3);
    assert_eq!(replies[2].message.text, "🔇 market-pulse-collect-stock-prices: further lines are in the log stream");
}

#[tokio::test(start_paused = true)]
async fn a_start_being_posted_fails_the_delivery_so_its_retry_streams() {
    let fakes = Fakes::new();
    let handler = fakes.default_handler();
    // RUNNING claimed with its facts, its post not yet answered.
    let mut claim = Claim {
        key: format!("task#arn:aws:ecs:us-east-1:123456789012:task/market-pulse/{TASK}"),
        slot: Slot::Start,
        token: "elsewhere".into(),
        now: fakes.clock.now(),
        lease_until: fakes.deadline(),
        expires_at: crate::time::Timestamp::MAX,
        facts: None,
        job_start: None,
        run: None,
        earlier: Default::default(),
    };
    claim.facts = Some(crate::ports::TaskFacts {
        task_id: TASK.into(),
        job: "prices".into(),
        stream_logs: Default::default(),
        stream_logs_max_replies: 20,
        spec: None,
    });
    fakes.store.claim(&claim).await.unwrap();
    let err = handler.handle(delivery(100, &MIXED), fakes.deadline()).await.unwrap_err();
    assert_eq!(err.to_string(), "not yet: the task's start message is being posted; the retry will post");
    // The start message lands; the retry threads under it.
    let start = fakes.slack.post(&crate::testing::message_to("C0JOBS"), fakes.deadline()).await.unwrap();
    fakes.store.settle(&claim, &start).await.unwrap();
    assert!(matches!(handle(&handler, &fakes, delivery(100, &MIXED)).await, Handled::PostedLogLines { .. }));
}

#[tokio::test(start_paused = true)]
async fn a_failed_post_is_retried_with_the_same_reply_number() {
    let fakes = Fakes::new();
    let handler = started(&fakes, test_settings()).await;
    fakes.slack.fail_next(SlackError::Http { status: 503, detail: "down".into() });
    assert!(handler.handle(delivery(100, &MIXED), fakes.deadline()).await.is_err());
    assert!(matches!(handle(&handler, &fakes, delivery(100, &MIXED)).await, Handled::PostedLogLines { .. }));
    assert!(replies(&fakes)[0].visible().contains("reply 1 of 20"));
}

#[tokio::test(start_paused = true)]
async fn corrupt_data_fails_the_invocation_naming_the_awslogs_data() {
    let fakes = Fakes::new();
    let handler = fakes.default_handler();
    for (data, want) in [("@@@", "not base64"), ("aGVsbG8=", "not gzip")] {
        let err = handler.handle(json!({"awslogs": {"data": data}}), fakes.deadline()).await.unwrap_err();
        assert!(err.to_string().starts_with("invalid `awslogs.data`: ") && err.to_string().contains(want), "{err}");
    }
    // And the handler keeps serving.
    assert!(handler.handle(task_event(RUNNING, TASK), fakes.deadline()).await.is_ok());
}

#[test]
fn the_fixture_is_the_encoding_of_its_decoded_twin() {
    let decoded = crate::subscription::decode(&fixture("events/logs-subscription.json")).unwrap();
    let twin: aws_lambda_events::cloudwatch_logs::LogData =
        serde_json::from_value(fixture("events/logs/subscription-decoded.json")).unwrap();
    assert_eq!(decoded, twin);
}

#[tokio::test(start_paused = true)]
async fn a_muted_jobs_lines_are_not_streamed_and_are_once_it_is_unmuted() {
    let fakes = Fakes::new();
    let handler = started(&fakes, with_jobs(r#"{"operators": ["U0OPERATOR"]}"#)).await;
    let job = "market-pulse-collect-stock-prices";
    let now = crate::ports::Clock::now(&fakes.clock);
    let mute = crate::mute::Mute::new("m1", "U0OPERATOR", now, crate::mute::Length::UntilSuccess);
    crate::ports::JobStore::set_mute(&fakes.store, job, Some(&mute)).await.unwrap();
    let handled = handle(&handler, &fakes, delivery(100, &MIXED)).await;
    assert!(matches!(&handled, Handled::Ignored { reason } if reason == "the job is muted"), "{handled:?}");
    assert!(replies(&fakes).is_empty());
    crate::ports::JobStore::set_mute(&fakes.store, job, None).await.unwrap();
    let handled = handle(&handler, &fakes, delivery(200, &MIXED)).await;
    assert!(matches!(handled, Handled::PostedLogLines { .. }), "{handled:?}");
}
