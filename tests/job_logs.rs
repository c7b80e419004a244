//! Job summaries and failure logs, read from CloudWatch Logs (moto) via the
//! task definition's `awslogs` settings.

mod common;

use std::time::{Duration, Instant};

use common::HandledExt;
use common::{Stack, deadline, put_log_lines, register_task_definition, task_event, unique};
use ecs_slack_notifier::adapters::clock::SystemClock;
use ecs_slack_notifier::adapters::cloudwatch_logs::CloudWatchTail;
use ecs_slack_notifier::adapters::dynamodb::DynamoStore;
use ecs_slack_notifier::adapters::slack_http::SlackHttp;
use ecs_slack_notifier::adapters::token::Tokens;
use ecs_slack_notifier::handler::Handler;
use ecs_slack_notifier::kinds::task::Handled;
use ecs_slack_notifier::ports::{Ports, SlackToken};
use ecs_slack_notifier::settings::Settings;
use serde_json::{Value, json};

const CONTAINER: &str = "collect-stock-prices";

/// A task of a registered task definition logging to a fresh group, with
/// `lines` in its stream. Returns (RUNNING, STOPPED) events and the group.
async fn logged_task(stack: &Stack, lines: &[&str], exit_code: i64) -> (Value, Value, String) {
    let group = format!("/ecs/{}", unique("prices"));
    let family = unique("market-pulse-collect-stock-prices");
    let definition = register_task_definition(&stack.aws, &family, CONTAINER, Some((&group, "ecs"))).await;
    let task = unique("task");
    put_log_lines(&stack.aws, &group, &format!("ecs/{CONTAINER}/{task}"), lines).await;
    let edit = |mut event: Value| {
        event["detail"]["taskDefinitionArn"] = json!(definition);
        event["detail"]["group"] = json!(format!("family:{family}"));
        event
    };
    let running = edit(task_event("events/ecs-task-running.json", &task).0);
    let mut stopped = edit(task_event("events/ecs-task-stopped-success.json", &task).0);
    stopped["detail"]["containers"][0]["exitCode"] = json!(exit_code);
    (running, stopped, group)
}

async fn run(stack: &Stack, overrides: &[(&str, &str)], events: &[&Value]) -> Vec<Handled> {
    let mut env = vec![("JOB_LOGS", "on")];
    env.extend_from_slice(overrides);
    let notifier = stack.notifier_with(&env);
    let mut handled = Vec::new();
    for event in events {
        handled.push(notifier.handle((*event).clone(), deadline()).await.unwrap().task());
    }
    handled
}

#[tokio::test]
async fn the_last_summary_line_is_shown_and_failed_counts_are_called_out() {
    let Some(stack) = Stack::new().await else { return };
    let lines = [
        "starting",
        r#"JOB_SUMMARY {"success": 1, "failed": 0}"#,
        r#"2026-11-26T14:04:20Z INFO JOB_SUMMARY {"success": 498, "failed": 5, "tickers": 503}"#,
        "JOB_SUMMARY {this is not json",
        "done",
    ];
    let (running, stopped, _) = logged_task(&stack, &lines, 0).await;
    run(&stack, &[], &[&running, &stopped]).await;
    let done = &stack.slack.posted()[1];
    assert_eq!(done.text, format!("⚠️ {} succeeded in 4m 1s, 5 failed", family_of(&stopped)));
    let visible = done.visible();
    for want in ["*success*\\n498", "*failed*\\n5", "*tickers*\\n503"] {
        assert!(visible.contains(want), "{want}: {visible}");
    }
    assert!(!visible.contains("Last "), "no log lines on a success");
    assert!(!done.reply_broadcast, "a success, with a warning");
}

fn family_of(event: &Value) -> String {
    event["detail"]["group"].as_str().unwrap().trim_start_matches("family:").to_owned()
}

#[tokio::test]
async fn a_failure_shows_the_last_log_lines_and_links_the_stream() {
    let Some(stack) = Stack::new().await else { return };
    let mut lines: Vec<String> = (1..=30).map(|i| format!("line {i}")).collect();
    lines.push("Traceback: ValueError <!channel>".into());
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let (running, stopped, group) = logged_task(&stack, &lines, 1).await;
    run(&stack, &[], &[&running, &stopped]).await;
    let done = &stack.slack.posted()[1];
    let visible = done.visible();
    assert!(visible.contains("*Last 20 log lines*"), "{visible}");
    assert!(visible.contains("line 12\\nline 13") && !visible.contains("line 11\\n"), "the last 20: {visible}");
    assert!(visible.contains("Traceback: ValueError &lt;!channel&gt;"), "escaped: {visible}");
    let encoded_group = group.replace('/', "$252F");
    assert!(visible.contains(&format!("log-group/{encoded_group}/log-events/ecs$252F{CONTAINER}$252F")), "{visible}");
}

#[tokio::test]
async fn no_log_configuration_posts_without_logs() {
    let Some(stack) = Stack::new().await else { return };
    let family = unique("no-logs");
    let definition = register_task_definition(&stack.aws, &family, CONTAINER, None).await;
    let task = unique("task");
    let (mut stopped, _) = task_event("events/ecs-task-stopped-failure.json", &task);
    stopped["detail"]["taskDefinitionArn"] = json!(definition);
    let handled = run(&stack, &[], &[&stopped]).await;
    assert!(matches!(handled[0], Handled::PostedCompletion { .. }));
    let visible = stack.slack.posted()[0].visible();
    assert!(
        !visible.contains("log lines") && !visible.contains("Logs not read") && !visible.contains("|Logs>"),
        "{visible}"
    );
}

#[tokio::test]
async fn summary_failures_can_fail_the_job() {
    let Some(stack) = Stack::new().await else { return };
    let (_, stopped, _) = logged_task(&stack, &[r#"JOB_SUMMARY {"success": 90, "failed": 10}"#], 0).await;
    let config = json!({"jobs": [{"match": {"family": "market-pulse-collect-*"}, "notify": "failures",
        "mention": "<!here>", "summary_failures_fail_job": true}]})
    .to_string();
    run(&stack, &[("JOBS_CONFIG", &config)], &[&stopped]).await;
    let posted = stack.slack.posted();
    assert_eq!(posted.len(), 1);
    assert!(posted[0].text.starts_with("<!here> ❌ "), "{}", posted[0].text);
    assert!(posted[0].visible().contains("The job's summary reports 10 failed."));
}

#[tokio::test]
async fn a_failures_only_job_whose_summary_is_clean_posts_nothing() {
    let Some(stack) = Stack::new().await else { return };
    let (_, stopped, _) = logged_task(&stack, &[r#"JOB_SUMMARY {"success": 90, "failed": 0}"#], 0).await;
    let config = json!({"summary_failures_fail_job": true,
        "jobs": [{"match": {"family": "market-pulse-collect-*"}, "notify": "failures"}]})
    .to_string();
    let handled = run(&stack, &[("JOBS_CONFIG", &config)], &[&stopped, &stopped]).await;
    assert!(handled.iter().all(|h| matches!(h, Handled::Ignored { .. })), "{handled:?}");
    assert_eq!(stack.slack.requests(), 0);
}

#[tokio::test]
async fn a_logs_api_that_is_down_delays_nothing_past_the_budget() {
    let Some(stack) = Stack::new().await else { return };
    let (running, stopped, _) = logged_task(&stack, &["JOB_SUMMARY {\"failed\": 1}"], 1).await;
    let down = common::aws_config(&common::black_hole().await);
    let mut settings = Settings::new("C0JOBS");
    settings.log_budget = Duration::from_secs(1);
    let secrets = std::sync::Arc::new(Tokens::Static(SlackToken::new(common::fake_slack::TOKEN), None));
    let slack = SlackHttp::new(&stack.slack.url, secrets.clone()).unwrap();
    let table = DynamoStore::new(aws_sdk_dynamodb::Client::new(&stack.aws), &stack.table);
    let definitions: std::sync::Arc<dyn ecs_slack_notifier::ports::TaskDefinitions> =
        std::sync::Arc::new(ecs_slack_notifier::adapters::task_definitions::EcsTaskDefinitions::new(&down));
    let ports = Ports {
        store: Box::new(table.clone()),
        tasks: Box::new(table.clone()),
        jobs: Box::new(table.clone()),
        groups: Box::new(table),
        outbox: None,
        schedules: Box::new(ecs_slack_notifier::adapters::schedules::NoSchedules),
        control: Box::new(ecs_slack_notifier::adapters::ecs_control::NoControl),
        deferral: std::sync::Arc::new(ecs_slack_notifier::adapters::deferral::NoDeferral),
        secrets,
        slack: Box::new(slack),
        logs: Box::new(CloudWatchTail::new(&down, definitions.clone())),
        task_definitions: definitions,
        clock: std::sync::Arc::new(SystemClock),
    };
    let notifier = Handler::new(settings, ports);
    notifier.handle(running, deadline()).await.unwrap().task();
    let started = Instant::now();
    let handled = notifier.handle(stopped, deadline()).await.unwrap().task();
    assert!(matches!(handled, Handled::PostedCompletion { threaded: true, .. }), "{handled:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    let visible = stack.slack.posted()[1].visible();
    assert!(visible.contains("Logs not read: no answer within 1000 ms."), "{visible}");
}
