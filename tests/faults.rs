//! Fault injection through the real handler: Slack rate limits, outages,
//! slow and dropped connections, token rotation, permanent errors, AWS
//! endpoints that are down, and hostile input.

mod common;

use std::time::{Duration, Instant};

use common::HandledExt;
use common::{Fault, Stack, aws_config, deadline, deadline_in, task_event, unique};
use ecs_slack_notifier::kinds::task::Handled;
use serde_json::json;

const RUNNING: &str = "events/ecs-task-running.json";
const SUCCEEDED: &str = "events/ecs-task-stopped-success.json";
const FAILED: &str = "events/ecs-task-stopped-failure.json";

/// A run of a job of its own: runs of one job starting together would
/// form a group (tests/bursts.rs).
fn running() -> serde_json::Value {
    let mut event = task_event(RUNNING, &unique("task")).0;
    event["detail"]["group"] = json!(format!("family:{}", unique("job")));
    event
}

#[tokio::test]
async fn a_rate_limit_is_waited_out() {
    let Some(stack) = Stack::new().await else { return };
    stack.slack.fail_next(Fault::Http { status: 429, retry_after: Some(1) });
    let started = Instant::now();
    let handled = stack.notifier().handle(running(), deadline()).await.unwrap().task();
    assert!(matches!(handled, Handled::PostedStart { .. }));
    assert!(started.elapsed() >= Duration::from_secs(1), "waited for Retry-After");
    assert_eq!(stack.slack.requests(), 2);
    assert_eq!(stack.slack.posted().len(), 1);

    stack.slack.fail_next(Fault::Api("ratelimited"));
    stack.notifier().handle(running(), deadline()).await.unwrap().task();
    assert_eq!(stack.slack.posted().len(), 2);
}

#[tokio::test]
async fn transient_failures_are_retried_with_backoff() {
    let Some(stack) = Stack::new().await else { return };
    for fault in [
        Fault::Http { status: 503, retry_after: None },
        Fault::Drop,
        Fault::Api("internal_error"),
        Fault::Http { status: 502, retry_after: None },
        Fault::Delay(Duration::from_millis(300)),
    ] {
        stack.slack.fail_next(fault);
    }
    let handled = stack.notifier().handle(running(), deadline()).await.unwrap().task();
    assert!(matches!(handled, Handled::PostedStart { .. }), "{handled:?}");
    assert_eq!(stack.slack.requests(), 5);
    assert_eq!(stack.slack.posted().len(), 1);
}

#[tokio::test]
async fn a_hung_request_gives_a_timely_error_and_the_redelivery_posts() {
    let Some(stack) = Stack::new().await else { return };
    stack.slack.fail_next(Fault::Hang(Duration::from_secs(30)));
    let event = running();
    let started = Instant::now();
    let err = stack.notifier().handle(event.clone(), deadline_in(6)).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(6), "gave up before the deadline: {:?}", started.elapsed());
    assert!(err.to_string().starts_with("Slack API unreachable"), "{err}");
    let handled = stack.notifier().handle(event, deadline()).await.unwrap().task();
    assert!(matches!(handled, Handled::PostedStart { .. }));
    assert_eq!(stack.slack.posted().len(), 1);
}

#[tokio::test]
async fn an_outage_then_redelivery_posts_exactly_once_and_still_threads() {
    let Some(stack) = Stack::new().await else { return };
    let task = unique("task");
    let (running, _) = task_event(RUNNING, &task);
    let (stopped, _) = task_event(SUCCEEDED, &task);
    let notifier = stack.notifier();
    for _ in 0..100 {
        stack.slack.fail_next(Fault::Http { status: 503, retry_after: None });
    }
    let started = Instant::now();
    let err = notifier.handle(running.clone(), deadline_in(5)).await.unwrap_err();
    assert_eq!(err.to_string(), "Slack API HTTP 503: fault");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(stack.slack.requests() > 1, "retried within the invocation");
    assert!(stack.slack.posted().is_empty());

    stack.slack.clear_faults();
    // Lambda's retry of the same event, in another execution environment.
    assert!(matches!(
        stack.notifier().handle(running.clone(), deadline()).await.unwrap().task(),
        Handled::PostedStart { .. }
    ));
    assert!(matches!(notifier.handle(running, deadline()).await.unwrap().task(), Handled::Skipped { .. }));
    stack.slack.fail_next(Fault::Http { status: 500, retry_after: None });
    let done = notifier.handle(stopped, deadline()).await.unwrap().task();
    assert!(matches!(done, Handled::PostedCompletion { threaded: true, .. }), "{done:?}");
    let posted = stack.slack.posted();
    assert_eq!(posted.len(), 2);
    assert_eq!(posted[1].thread_ts.as_deref(), Some(posted[0].ts.as_str()));
}

#[tokio::test]
async fn a_rotated_token_is_read_again_and_used() {
    let Some(stack) = Stack::new().await else { return };
    let notifier = stack.notifier();
    notifier.handle(running(), deadline()).await.unwrap().task();

    stack.slack.set_token("xoxb-rotated-token");
    aws_sdk_secretsmanager::Client::new(&stack.aws)
        .put_secret_value()
        .secret_id(&stack.secret_id)
        .secret_string(r#"{"token": "xoxb-rotated-token"}"#)
        .send()
        .await
        .unwrap();
    let before = stack.slack.requests();
    let handled = notifier.handle(running(), deadline()).await.unwrap().task();
    assert!(matches!(handled, Handled::PostedStart { .. }));
    assert_eq!(stack.slack.requests() - before, 2, "one refusal, one post with the new token");
    assert_eq!(stack.slack.posted().len(), 2);
}

#[tokio::test]
async fn a_refused_token_that_did_not_change_fails_clearly() {
    let Some(stack) = Stack::new().await else { return };
    stack.slack.set_token("xoxb-someone-else");
    let err = stack.notifier().handle(running(), deadline()).await.unwrap_err().to_string();
    assert!(err.starts_with("Slack API error: invalid_auth"), "{err}");
    assert!(err.contains("unchanged"), "{err}");
    assert!(!err.contains(common::fake_slack::TOKEN));
    assert_eq!(stack.slack.requests(), 1);
}

#[tokio::test]
async fn permanent_errors_fail_fast_with_their_name() {
    let Some(stack) = Stack::new().await else { return };
    let notifier = stack.notifier();
    for code in ["channel_not_found", "not_in_channel", "is_archived", "invalid_blocks", "msg_too_long"] {
        let before = stack.slack.requests();
        stack.slack.fail_next(Fault::Api(code));
        let started = Instant::now();
        let err = notifier.handle(running(), deadline()).await.unwrap_err();
        assert_eq!(err.to_string(), format!("Slack API error: {code}"));
        assert_eq!(stack.slack.requests() - before, 1, "{code} is not retried");
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}

#[tokio::test]
async fn dynamodb_that_is_down_gives_a_timely_error_not_a_hang() {
    let Some(stack) = Stack::new().await else { return };
    let static_token = [("SLACK_TOKEN_SECRET_ID", ""), ("SLACK_BOT_TOKEN", common::fake_slack::TOKEN)];
    for endpoint in [common::closed_port().await, common::black_hole().await] {
        let notifier = stack.notifier_on(&aws_config(&endpoint), &static_token);
        let started = Instant::now();
        // Retried until the deadline less the reserve, never past it.
        let err = notifier.handle(running(), deadline_in(10)).await.unwrap_err().to_string();
        let took = started.elapsed();
        assert!(err.starts_with("thread store: "), "the claim: {err}");
        assert!(took < Duration::from_secs(10), "{endpoint}: took {took:?}");
    }
    assert_eq!(stack.slack.requests(), 0, "nothing posted without a claim");
}

#[tokio::test]
async fn enormous_and_hostile_text_is_cut_and_escaped() {
    let Some(stack) = Stack::new().await else { return };
    let task = unique("task");
    let (mut stopped, _) = task_event(FAILED, &task);
    let reason = format!("BEGIN <!channel> {} <https://evil|click> END", "<@U024BE7LH> & ".repeat(70_000));
    stopped["detail"]["containers"][0]["reason"] = json!(reason);
    stopped["detail"]["containers"][0]["name"] = json!("<!everyone>");
    stopped["detail"]["startedBy"] = json!("<!here>");
    let handled = stack.notifier().handle(stopped, deadline()).await.unwrap().task();
    assert!(matches!(handled, Handled::PostedCompletion { .. }), "{handled:?}");
    let posted = stack.slack.posted();
    assert_eq!(posted.len(), 1, "the fake Slack accepted it: within Block Kit limits");
    let visible = posted[0].visible();
    assert!(visible.contains("BEGIN &lt;!channel&gt;") && visible.contains("click&gt; END"), "start and end kept");
    for mention in ["<!channel>", "<!everyone>", "<!here>", "<@U", "<https://evil"] {
        assert!(!visible.contains(mention), "{mention} escaped");
    }
}

#[tokio::test]
async fn wrongly_typed_fields_are_clear_errors() {
    let Some(stack) = Stack::new().await else { return };
    let notifier = stack.notifier();
    let table = [
        (json!({"exitCode": "zero"}), "invalid type: string \"zero\", expected i64"),
        (json!({"startedAt": "yesterday"}), "input contains invalid characters"),
        (json!({"containers": {"not": "a list"}}), "invalid type: map, expected a sequence"),
    ];
    for (patch, want) in table {
        let (mut event, _) = task_event(FAILED, &unique("task"));
        for (key, value) in patch.as_object().unwrap() {
            if key == "exitCode" {
                event["detail"]["containers"][0][key] = value.clone();
            } else {
                event["detail"][key] = value.clone();
            }
        }
        let err = notifier.handle(event, deadline()).await.unwrap_err().to_string();
        assert!(err.starts_with("invalid `ECS Task State Change` event detail"), "{err}");
        assert!(err.contains(want), "{err}");
    }
    assert_eq!(stack.slack.requests(), 0);
}
