//! Job health through the real handler against moto (DynamoDB, EventBridge,
//! EventBridge Scheduler) and the fake Slack: run history, missed runs of
//! configured and discovered schedules, and the digest. Event times drive
//! everything.

mod common;

use common::{Stack, deadline, task_event, unique};
use ecs_slack_notifier::handler::{Handled, Handler};
use ecs_slack_notifier::kinds::watch::Watched;
use serde_json::{Value, json};

fn scheduled_event(time: &str) -> Value {
    json!({"version": "0", "id": unique("watch"), "detail-type": "Scheduled Event", "source": "aws.events",
           "account": "123456789012", "time": time, "region": "us-east-1", "resources": [], "detail": {}})
}

/// RUNNING and STOPPED of a run of `family` starting at `started`.
fn run_events(family: &str, started: &str, secs: i64, exit_code: i64) -> (Value, Value) {
    let task = unique("task");
    let start = chrono::DateTime::parse_from_rfc3339(started).unwrap();
    let stop = start + chrono::Duration::seconds(secs);
    let edit = |(mut event, _): (Value, String)| {
        event["detail"]["group"] = json!(format!("family:{family}"));
        event["detail"]["startedAt"] = json!(start.to_rfc3339());
        event
    };
    let running = edit(task_event("events/ecs-task-running.json", &task));
    let mut stopped = edit(task_event("events/ecs-task-stopped-success.json", &task));
    stopped["detail"]["stoppedAt"] = json!(stop.to_rfc3339());
    stopped["detail"]["executionStoppedAt"] = json!(stop.to_rfc3339());
    stopped["detail"]["containers"][0]["exitCode"] = json!(exit_code);
    (running, stopped)
}

async fn run(handler: &Handler, family: &str, started: &str, secs: i64, exit_code: i64) {
    let (running, stopped) = run_events(family, started, secs, exit_code);
    handler.handle(running, deadline()).await.unwrap();
    handler.handle(stopped, deadline()).await.unwrap();
}

async fn watch(handler: &Handler, time: &str) -> Watched {
    match handler.handle(scheduled_event(time), deadline()).await.unwrap() {
        Handled::Watched(watched) => watched,
        other => panic!("not a watch outcome: {other:?}"),
    }
}

#[tokio::test]
async fn history_in_dynamodb_gives_slow_runs_streaks_and_recovery() {
    let Some(stack) = Stack::new().await else { return };
    let handler = stack.notifier();
    let family = unique("etl");
    for (hour, (secs, exit)) in
        [(245, 0), (240, 0), (250, 0), (245, 0), (244, 0), (833, 0), (30, 1), (30, 1), (245, 0)].into_iter().enumerate()
    {
        run(&handler, &family, &format!("2026-11-27T{hour:02}:00:00Z"), secs, exit).await;
    }
    let completions: Vec<String> =
        stack.slack.posted().into_iter().filter(|p| p.thread_ts.is_some()).map(|p| p.text).collect();
    assert!(completions[5].ends_with("succeeded in 13m 53s · ⏱ 3.4× its usual 4m 5s"), "{}", completions[5]);
    assert!(completions[6].ends_with("failed after 30s"), "{}", completions[6]);
    assert!(completions[7].ends_with("failed after 30s · 🔁 2nd failure in a row"), "{}", completions[7]);
    assert!(completions[8].ends_with("succeeded in 4m 5s · 💚 recovered after 2 failures"), "{}", completions[8]);
    let item = stack.item(&format!("job#{family}")).await.expect("the job's record");
    assert_eq!(item["lookup"].as_s().unwrap(), "jobs");
    assert!(!item.keys().any(|k| k.starts_with("r_")), "no run on the head: each run is an item of its own");
    let expires: i64 = item["expires_at"].as_n().unwrap().parse().unwrap();
    assert!(expires > chrono::Utc::now().timestamp() + 300 * 86400, "kept long after its last run");
}

#[tokio::test]
async fn a_configured_schedule_missed_once_then_back() {
    let Some(stack) = Stack::new().await else { return };
    let family = unique("prices");
    let config = json!({"jobs": [{"match": {"family": family}, "name": family, "schedule": "cron(0 6 * * ? *)",
        "grace": "5m"}]})
    .to_string();
    let (a, b) = (stack.notifier_with(&[("JOBS_CONFIG", &config)]), stack.notifier_with(&[("JOBS_CONFIG", &config)]));
    watch(&a, "2026-11-26T00:00:00Z").await;
    run(&a, &family, "2026-11-26T06:00:23Z", 241, 0).await;
    // Schedules other tests create in moto's account are discovered too:
    // only this job's alerts count here.
    let alerts = |stack: &Stack| -> Vec<common::fake_slack::Posted> {
        let ours = format!("⏰ {family} ");
        stack.slack.posted().into_iter().filter(|p| p.original_text.starts_with(&ours)).collect()
    };
    for time in ["2026-11-27T06:04:00Z", "2026-11-27T06:05:00Z", "2026-11-27T06:10:00Z"] {
        tokio::join!(watch(&a, time), watch(&b, time));
    }
    assert_eq!(alerts(&stack).len(), 1, "once, whichever environment checks");
    let alert = &alerts(&stack)[0];
    assert_eq!(
        alert.original_text,
        format!(
            "⏰ {family} missed its 06:00 UTC run (schedule cron(0 6 * * ? *), last run 2026-11-26 06:00 UTC, succeeded)"
        )
    );

    run(&a, &family, "2026-11-27T06:31:00Z", 241, 0).await;
    watch(&b, "2026-11-27T06:40:00Z").await;
    let posted = stack.slack.posted();
    let back = posted.iter().find(|p| p.text == format!("✅ {family} is back on schedule")).expect("back");
    assert_eq!(back.thread_ts.as_deref(), Some(alert.ts.as_str()));
    let item = stack.item(&format!("job#{family}")).await.unwrap();
    assert!(!item.contains_key("outage"), "the outage is closed: {item:?}");
}

const CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/market-pulse";

#[tokio::test]
async fn a_discovered_rule_and_a_discovered_schedule_are_watched() {
    let Some(stack) = Stack::new().await else { return };
    let (rule_family, schedule_family) = (unique("nightly"), unique("berlin"));
    let definition = |family: &str| format!("arn:aws:ecs:us-east-1:123456789012:task-definition/{family}:3");
    let events = aws_sdk_eventbridge::Client::new(&stack.aws);
    let rule = unique("rule");
    events.put_rule().name(&rule).schedule_expression("cron(30 2 * * ? *)").send().await.unwrap();
    events
        .put_targets()
        .rule(&rule)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("job")
                .arn(CLUSTER)
                .role_arn("arn:aws:iam::123456789012:role/events")
                .ecs_parameters(
                    aws_sdk_eventbridge::types::EcsParameters::builder()
                        .task_definition_arn(definition(&rule_family))
                        .launch_type(aws_sdk_eventbridge::types::LaunchType::Fargate)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let scheduler = aws_sdk_scheduler::Client::new(&stack.aws);
    let schedule = unique("schedule");
    scheduler
        .create_schedule()
        .name(&schedule)
        .schedule_expression("cron(0 6 * * ? *)")
        .schedule_expression_timezone("Europe/Berlin")
        .flexible_time_window(
            aws_sdk_scheduler::types::FlexibleTimeWindow::builder()
                .mode(aws_sdk_scheduler::types::FlexibleTimeWindowMode::Flexible)
                .maximum_window_in_minutes(15)
                .build()
                .unwrap(),
        )
        .target(
            aws_sdk_scheduler::types::Target::builder()
                .arn(CLUSTER)
                .role_arn("arn:aws:iam::123456789012:role/scheduler")
                .ecs_parameters(
                    aws_sdk_scheduler::types::EcsParameters::builder()
                        .task_definition_arn(definition(&schedule_family))
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let handler = stack.notifier();
    // A fresh table: the watch starts watching now (the first check).
    watch(&handler, "2026-11-26T00:00:00Z").await;
    // 06:00 Berlin is 05:00 UTC in November; with 5 minutes of grace and
    // 15 of flexible window, the run is missed at 05:20.
    let watched = watch(&handler, "2026-11-26T05:19:00Z").await;
    assert!(watched.scheduled_jobs >= 2, "{watched:?}");
    let texts = || stack.slack.posted().into_iter().map(|p| p.original_text).collect::<Vec<_>>();
    assert!(
        texts().iter().any(|t| t.starts_with(&format!(
            "⏰ {rule_family} missed its 02:30 UTC run (schedule cron(30 2 * * ? *), no run seen)"
        ))),
        "{:?}",
        texts()
    );
    assert!(!texts().iter().any(|t| t.contains(&schedule_family)), "within the window: {:?}", texts());
    watch(&handler, "2026-11-26T05:20:00Z").await;
    let alert = stack
        .slack
        .posted()
        .into_iter()
        .find(|p| p.original_text.starts_with(&format!("⏰ {schedule_family} missed its 06:00 CET run")))
        .unwrap_or_else(|| panic!("{:?}", texts()));
    assert!(alert.visible().contains(&format!("schedule default/{schedule}")), "{}", alert.visible());
    assert!(
        alert.original_text.contains("(schedule cron(0 6 * * ? *) Europe/Berlin, no run seen)"),
        "{}",
        alert.original_text
    );
}

#[tokio::test]
async fn the_digest_is_posted_once_a_day() {
    let Some(stack) = Stack::new().await else { return };
    let family = unique("digest");
    let env = [("DIGEST_AT", "09:00")];
    let (a, b) = (stack.notifier_with(&env), stack.notifier_with(&env));
    for hour in 10..14 {
        run(&a, &family, &format!("2026-11-26T{hour}:00:00Z"), 60 * (hour - 8), i64::from(hour == 13)).await;
    }
    assert_eq!(watch(&a, "2026-11-27T08:55:00Z").await.digests, 0);
    let (x, y) = tokio::join!(watch(&a, "2026-11-27T09:00:00Z"), watch(&b, "2026-11-27T09:00:00Z"));
    assert_eq!(watch(&b, "2026-11-27T09:05:00Z").await.digests, 0);
    let digests: Vec<_> = stack.slack.posted().into_iter().filter(|p| p.text.starts_with("📊")).collect();
    assert_eq!((x.digests + y.digests, digests.len()), (1, 1), "{x:?} {y:?}");
    let visible = digests[0].visible();
    assert!(
        visible.contains(&format!("*{family}*  4 runs · 1 failed · 75% ok · median 3m 30s · p95 5m 0s · 0 missed")),
        "{visible}"
    );
}

#[tokio::test]
async fn the_digest_says_no_runs_and_draws_a_sparkline_only_from_three_runs() {
    let Some(stack) = Stack::new().await else { return };
    let (idle, twice, thrice) = (unique("idle"), unique("twice"), unique("thrice"));
    let config =
        json!({"jobs": [{"match": {"family": idle}, "name": idle, "schedule": "cron(0 6 * * ? *)"}]}).to_string();
    let handler = stack.notifier_with(&[("DIGEST_AT", "09:00"), ("JOBS_CONFIG", &config)]);
    for hour in 10..12 {
        run(&handler, &twice, &format!("2026-11-26T{hour}:00:00Z"), 60, 0).await;
    }
    for hour in 10..13 {
        run(&handler, &thrice, &format!("2026-11-26T{hour}:00:00Z"), 60 * (hour - 9), 0).await;
    }
    assert_eq!(watch(&handler, "2026-11-27T09:00:00Z").await.digests, 1);
    let digest = stack.slack.posted().into_iter().find(|p| p.text.starts_with("📊")).expect("the digest");
    let visible = digest.visible();
    assert!(visible.contains(&format!("⏰ *{idle}*  no runs · 1 missed")), "{visible}");
    assert!(
        visible.contains(&format!("✅ *{twice}*  2 runs · 100% ok · median 1m 0s · p95 1m 0s · 0 missed\"")),
        "no sparkline from two runs: {visible}"
    );
    assert!(
        visible.contains(&format!("✅ *{thrice}*  3 runs · 100% ok · median 2m 0s · p95 3m 0s · 0 missed\\n`▁▅█`")),
        "{visible}"
    );
}

/// A run of `family` as `run_events` makes it, at this task definition
/// revision and image tag, with a secret-looking override value.
fn run_with(family: &str, started: &str, secs: i64, exit: i64, revision: u32, tag: &str) -> (Value, Value, String) {
    let (mut running, mut stopped) = run_events(family, started, secs, exit);
    let task = stopped["detail"]["taskArn"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    for event in [&mut running, &mut stopped] {
        let detail = &mut event["detail"];
        detail["taskDefinitionArn"] =
            json!(format!("arn:aws:ecs:us-east-1:123456789012:task-definition/{family}:{revision}"));
        detail["containers"][0]["image"] = json!(format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/jobs:{tag}"));
        detail["overrides"]["containerOverrides"][0]["environment"] =
            json!([{"name": "API_TOKEN", "value": "s3cr3t-value"}]);
    }
    if exit != 0 {
        stopped["detail"]["containers"][0]["reason"] = json!("OutOfMemoryError: Container killed due to memory usage");
    }
    (running, stopped, task)
}

#[tokio::test]
async fn a_failure_says_what_changed_since_the_success_its_history_in_dynamodb_had() {
    let Some(stack) = Stack::new().await else { return };
    let handler = stack.notifier();
    let family = unique("etl");
    let runs = [(0, 240, 0, 6, "2026.11.25"), (1, 30, 137, 7, "2026.11.26"), (2, 30, 137, 7, "2026.11.26")];
    let mut tasks = Vec::new();
    for (hour, secs, exit, revision, tag) in runs {
        let (running, stopped, task) =
            run_with(&family, &format!("2026-11-27T{hour:02}:00:00Z"), secs, exit, revision, tag);
        handler.handle(running, deadline()).await.unwrap();
        handler.handle(stopped, deadline()).await.unwrap();
        tasks.push(task);
    }
    let replies: Vec<String> = stack
        .slack
        .posted()
        .into_iter()
        .filter(|p| p.thread_ts.is_some() && p.text.contains(&family))
        .map(|p| p.body["blocks"].to_string())
        .collect();
    assert_eq!(replies.len(), 3, "{replies:?}");
    let first = &replies[1];
    assert!(first.contains("*Likely cause:* the container ran out of memory"), "{first}");
    assert!(
        first.contains("task definition revision 6 → 7 · image jobs:2026.11.25 → jobs:2026.11.26"),
        "from the run item's setup, read back through the runs index: {first}"
    );
    assert!(!replies[2].contains("since the last success"), "not repeated in the streak: {}", replies[2]);
    let item = stack.item(&format!("run#{family}#{}", tasks[0])).await.expect("the run's item");
    let spec: Value = serde_json::from_str(item["spec"].as_s().unwrap()).unwrap();
    let had = spec["had"].to_string();
    assert!(had.contains("API_TOKEN") && !had.contains("s3cr3t"), "names only: {had}");
    assert!(had.len() < 1000, "small: {had}");
}

#[tokio::test]
async fn a_runs_summary_counts_and_setup_round_trip_through_its_item() {
    use ecs_slack_notifier::adapters::dynamodb::DynamoStore;
    use ecs_slack_notifier::changes::RunSetup;
    use ecs_slack_notifier::health::Run;
    use ecs_slack_notifier::ports::{JobRun, JobStore};
    use ecs_slack_notifier::time::Timestamp;
    let Some(stack) = Stack::new().await else { return };
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&stack.aws), &stack.table);
    let job = unique("counted");
    let setup = RunSetup { task_definition: Some("jobs:7".into()), memory: Some("2048".into()), ..RunSetup::default() };
    let run = |i: i64, counts: Vec<(String, u64)>| JobRun {
        job: job.clone(),
        channel: "C1".into(),
        run: Run {
            task_id: format!("t{i}"),
            start: Some(Timestamp::from_secs(1_795_700_000 + i * 3600)),
            end: Some(Timestamp::from_secs(1_795_700_000 + i * 3600 + 60)),
            run_time: Some(std::time::Duration::from_secs(60)),
            succeeded: Some(true),
            setup: Some(Box::new(setup.clone())),
            counts,
            ..Run::default()
        },
        spec: None,
        expires_at: Timestamp::now() + std::time::Duration::from_secs(86_400),
    };
    let counts = vec![("rows".to_owned(), 12_400), ("skipped".to_owned(), 0)];
    store.record_run(&run(0, counts.clone())).await.unwrap();
    let before = store.record_run(&run(1, Vec::new())).await.unwrap();
    let first = before.runs.iter().find(|r| r.task_id == "t0").expect("the first run, read back");
    assert_eq!((first.counts.clone(), first.setup.as_deref()), (counts, Some(&setup)));
}
