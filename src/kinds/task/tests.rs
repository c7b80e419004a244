//! Every decision of the task workflow, in-process: the real handler on the
//! in-memory store, a recording Slack and a fake log source, on tokio's
//! paused clock.

use std::time::Duration;

use serde_json::{Value, json};

use super::Handled;
use crate::handler::{self, Handler};
use crate::jobs::{JobsConfig, LogStream};
use crate::ports::{Claim, Clock, SlackError, Slot, ThreadStore};
use crate::testing::{Fakes, LogBehaviour, task_event, test_settings};
use crate::time::Timestamp;

const RUNNING: &str = "events/ecs-task-running.json";
const SUCCEEDED: &str = "events/ecs-task-stopped-success.json";
const FAILED_RUNNING: &str = "events/ecs-task-running-before-failure.json";
const FAILED: &str = "events/ecs-task-stopped-failure.json";
const NEVER_STARTED: &str = "events/ecs-task-never-started.json";

pub(super) async fn handle(handler: &Handler, fakes: &Fakes, event: Value) -> Handled {
    match handler.handle(event, fakes.deadline()).await.unwrap() {
        handler::Handled::Task(handled) => handled,
        other => panic!("not a task outcome: {other:?}"),
    }
}

pub(super) fn kind(h: &Handled) -> &'static str {
    match h {
        Handled::PostedStart { .. } => "start",
        Handled::PostedStopNotice { .. } => "stopping",
        Handled::PostedCompletion { threaded: true, .. } => "threaded",
        Handled::PostedCompletion { threaded: false, .. } => "standalone",
        Handled::Skipped { .. } => "skipped",
        Handled::Ignored { .. } => "ignored",
        Handled::JoinedGroup { .. } => "joined",
        Handled::CountedInGroup { .. } => "counted",
        Handled::QueuedCompletion { .. } => "queued",
        Handled::Muted { .. } => "muted",
    }
}

pub(super) fn with_jobs(json: &str) -> crate::settings::Settings {
    let mut settings = test_settings();
    settings.jobs = JobsConfig::parse(json).unwrap();
    settings
}

#[tokio::test(start_paused = true)]
async fn a_start_then_its_completion_threaded_across_a_cold_start() {
    let fakes = Fakes::new();
    let first = handle(&fakes.default_handler(), &fakes, task_event(RUNNING, "t1")).await;
    // A new execution environment: the thread comes from the store.
    let second = handle(&fakes.default_handler(), &fakes, task_event(SUCCEEDED, "t1")).await;
    assert_eq!((kind(&first), kind(&second)), ("start", "threaded"));

    let posted = fakes.slack.posted();
    assert_eq!(posted.len(), 2);
    let (start, done) = (&posted[0], &posted[1]);
    assert_eq!(start.message.channel, "C0JOBS");
    assert_eq!(start.original.as_ref().unwrap().text, "🚀 market-pulse-collect-stock-prices started");
    assert_eq!(start.updates, 1, "updated in place with the outcome");
    assert_eq!(start.message.text, "✅ market-pulse-collect-stock-prices succeeded in 4m 1s");
    assert!(start.visible().contains("Details in the thread"));
    assert_eq!(done.message.thread_ts.as_deref(), Some(start.ts.as_str()));
    assert!(!done.message.reply_broadcast, "successes are not broadcast");
    assert!(done.visible().contains("collect-stock-prices: 0"));

    let record = fakes.store.get("task#arn:aws:ecs:us-east-1:123456789012:task/market-pulse/t1").await.unwrap();
    assert_eq!(record.start.posted.unwrap().ts, start.ts);
    assert_eq!(record.completion.posted.unwrap().ts, done.ts);
    assert_eq!((record.start.claimed_until, record.completion.claimed_until), (None, None), "claims settled");
}

#[tokio::test(start_paused = true)]
async fn duplicates_post_once() {
    let fakes = Fakes::new();
    let handler = fakes.default_handler();
    let (running, stopped) = (task_event(RUNNING, "t1"), task_event(SUCCEEDED, "t1"));
    let mut kinds = Vec::new();
    for event in [&running, &running, &stopped, &stopped, &running] {
        kinds.push(kind(&handle(&handler, &fakes, event.clone()).await));
    }
    assert_eq!(kinds, ["start", "skipped", "threaded", "skipped", "skipped"]);
    assert_eq!(fakes.slack.posted().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn stopped_before_running_stands_alone_and_the_late_start_is_skipped() {
    let fakes = Fakes::new();
    let handler = fakes.default_handler();
    assert_eq!(kind(&handle(&handler, &fakes, task_event(SUCCEEDED, "t1")).await), "standalone");
    let late = handle(&handler, &fakes, task_event(RUNNING, "t1")).await;
    assert!(matches!(late, Handled::Skipped { slot: "start", .. }), "{late:?}");
    let posted = fakes.slack.posted();
    assert_eq!(posted.len(), 1);
    let visible = posted[0].visible();
    assert!(visible.contains("No start message was posted"), "{visible}");
    assert!(visible.contains("*Cluster*\\nmarket-pulse"), "it carries the run's details: {visible}");
}

#[tokio::test(start_paused = true)]
async fn the_same_event_in_two_environments_at_once_posts_once() {
    let fakes = Fakes::new();
    let (a, b) = (fakes.default_handler(), fakes.default_handler());
    for round in 0..5 {
        let task = format!("t{round}");
        let running = task_event(RUNNING, &task);
        let (x, y) = tokio::join!(handle(&a, &fakes, running.clone()), handle(&b, &fakes, running));
        let mut kinds = [kind(&x), kind(&y)];
        kinds.sort();
        assert_eq!(kinds, ["skipped", "start"]);
        let stopped = task_event(SUCCEEDED, &task);
        let (x, y) = tokio::join!(handle(&a, &fakes, stopped.clone()), handle(&b, &fakes, stopped));
        let mut kinds = [kind(&x), kind(&y)];
        kinds.sort();
        assert_eq!(kinds, ["skipped", "threaded"]);
    }
    assert_eq!(fakes.slack.posted().len(), 10);
}

#[tokio::test(start_paused = true)]
async fn a_completion_waits_for_a_start_being_posted_and_threads_under_it() {
    let fakes = Fakes::new();
    fakes.slack.delay_next(Duration::from_millis(1500));
    let (a, b) = (fakes.default_handler(), fakes.default_handler());
    let start = handle(&a, &fakes, task_event(RUNNING, "t1"));
    let stop = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        handle(&b, &fakes, task_event(SUCCEEDED, "t1")).await
    };
    let (start, stop) = tokio::join!(start, stop);
    assert_eq!((kind(&start), kind(&stop)), ("start", "threaded"));
    let posted = fakes.slack.posted();
    assert_eq!(posted[1].message.thread_ts.as_deref(), Some(posted[0].ts.as_str()));
}

#[tokio::test(start_paused = true)]
async fn a_completion_stops_waiting_for_a_start_that_never_comes() {
    let fakes = Fakes::new();
    // An invocation claimed the start and died without posting.
    let dead = Claim {
        key: "task#arn:aws:ecs:us-east-1:123456789012:task/market-pulse/t1".into(),
        slot: Slot::Start,
        token: "dead".into(),
        now: fakes.clock.now(),
        lease_until: fakes.deadline() + Duration::from_secs(10),
        expires_at: Timestamp::MAX,
        facts: None,
        job_start: None,
        run: None,
        earlier: Default::default(),
    };
    fakes.store.claim(&dead).await.unwrap();
    let began = tokio::time::Instant::now();
    let done = handle(&fakes.default_handler(), &fakes, task_event(SUCCEEDED, "t1")).await;
    assert_eq!(kind(&done), "standalone");
    let waited = began.elapsed();
    assert!(waited >= Duration::from_secs(4) && waited <= Duration::from_secs(5), "waited {waited:?}");
}

#[tokio::test(start_paused = true)]
async fn a_task_that_never_started_gets_a_standalone_failure() {
    let fakes = Fakes::new();
    let done = handle(&fakes.default_handler(), &fakes, task_event(NEVER_STARTED, "t1")).await;
    assert_eq!(kind(&done), "standalone");
    let sent = &fakes.slack.posted()[0];
    assert_eq!(sent.message.text, "❌ market-pulse-reddit-scraper failed to start");
    for want in ["CannotPullContainerError", "TaskFailedToStart", "stopped before its containers ran"] {
        assert!(sent.visible().contains(want), "{want}: {}", sent.visible());
    }
}

#[tokio::test(start_paused = true)]
async fn a_failure_is_broadcast_in_the_thread_with_exit_codes_and_reason() {
    let fakes = Fakes::new();
    let handler = fakes.default_handler();
    handle(&handler, &fakes, task_event(FAILED_RUNNING, "t1")).await;
    handle(&handler, &fakes, task_event(FAILED, "t1")).await;
    let posted = fakes.slack.posted();
    let (start, done) = (&posted[0], &posted[1]);
    assert_eq!(done.message.thread_ts.as_deref(), Some(start.ts.as_str()));
    assert!(done.message.reply_broadcast);
    assert_eq!(done.message.text, "❌ market-pulse-analyze-sentiment failed after 12m 18s");
    for want in ["analyze-sentiment: 137", "OutOfMemoryError: Container killed due to memory usage"] {
        assert!(done.visible().contains(want), "{want}: {}", done.visible());
    }
    assert!(start.message.text.starts_with("❌"), "start updated: {}", start.message.text);
}

#[tokio::test(start_paused = true)]
async fn other_statuses_are_ignored_and_write_nothing() {
    let fakes = Fakes::new();
    let pending = task_event("tests/fixtures/ecs-task-pending.json", "t1");
    let handled = handle(&fakes.default_handler(), &fakes, pending).await;
    assert!(matches!(&handled, Handled::Ignored { reason } if reason.starts_with("PENDING")), "{handled:?}");
    assert_eq!(fakes.slack.calls(), 0);
    let record = fakes.store.get("task#arn:aws:ecs:us-east-1:123456789012:task/market-pulse/t1").await.unwrap();
    assert_eq!(record, Default::default());
}

#[tokio::test(start_paused = true)]
async fn a_failed_post_releases_the_claim_and_the_retry_posts() {
    let fakes = Fakes::new();
    let handler = fakes.default_handler();
    fakes.slack.fail_next(SlackError::Http { status: 503, detail: "down".into() });
    let err = handler.handle(task_event(RUNNING, "t1"), fakes.deadline()).await.unwrap_err();
    assert_eq!(err.to_string(), "Slack API HTTP 503: down");
    assert_eq!(kind(&handle(&handler, &fakes, task_event(RUNNING, "t1")).await), "start");
    // A completion whose post fails is posted by its retry, still threaded.
    fakes.slack.fail_next(SlackError::Api("internal_error".into()));
    assert!(handler.handle(task_event(SUCCEEDED, "t1"), fakes.deadline()).await.is_err());
    assert_eq!(kind(&handle(&handler, &fakes, task_event(SUCCEEDED, "t1")).await), "threaded");
    assert_eq!(fakes.slack.posted().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_start_message_that_cannot_be_updated_does_not_fail_the_completion() {
    let fakes = Fakes::new();
    let handler = fakes.default_handler();
    handle(&handler, &fakes, task_event(RUNNING, "t1")).await;
    fakes.slack.fail_next_update(SlackError::Api("message_not_found".into()));
    assert_eq!(kind(&handle(&handler, &fakes, task_event(SUCCEEDED, "t1")).await), "threaded");
    assert_eq!(fakes.slack.posted()[0].updates, 0);
}

const CONFIG: &str = r#"{
  "strip_prefix": "market-pulse-",
  "snake_case": true,
  "jobs": [
    {"match": {"family": "market-pulse-collect-stock-prices"},
     "name": "collect_stock_prices", "notify": "failures", "mention": "<!subteam^S0DATAENG>"},
    {"match": {"family": "market-pulse-analyze-sentiment"}, "mention": "<@U024BE7LH>", "channel": "C0OPS"},
    {"match": {"family": "quiet-*"}, "notify": "none"}
  ]
}"#;

#[tokio::test(start_paused = true)]
async fn notify_failures_is_silent_on_success_and_posts_a_failure_top_level_with_the_mention() {
    let fakes = Fakes::new();
    let handler = fakes.handler(with_jobs(CONFIG));
    let mut failed = task_event(SUCCEEDED, "t2");
    failed["detail"]["containers"][0]["exitCode"] = json!(1);
    let kinds = [
        kind(&handle(&handler, &fakes, task_event(RUNNING, "t1")).await),
        kind(&handle(&handler, &fakes, task_event(SUCCEEDED, "t1")).await),
        kind(&handle(&handler, &fakes, task_event(RUNNING, "t2")).await),
        kind(&handle(&handler, &fakes, failed).await),
    ];
    assert_eq!(kinds, ["ignored", "ignored", "ignored", "standalone"]);
    let posted = fakes.slack.posted();
    assert_eq!(posted.len(), 1);
    assert!(posted[0].message.text.starts_with("<!subteam^S0DATAENG> ❌ collect_stock_prices failed"));
    assert!(posted[0].visible().contains("posts only failures"));
}

#[tokio::test(start_paused = true)]
async fn notify_none_posts_nothing_and_mentions_go_on_failures_only() {
    let fakes = Fakes::new();
    let handler = fakes.handler(with_jobs(CONFIG));
    let quiet = |path| {
        let mut event = task_event(path, "q1");
        event["detail"]["group"] = json!("family:quiet-cleanup");
        event
    };
    assert_eq!(kind(&handle(&handler, &fakes, quiet(RUNNING)).await), "ignored");
    assert_eq!(kind(&handle(&handler, &fakes, quiet(FAILED)).await), "ignored");
    assert_eq!(fakes.slack.calls(), 0);

    handle(&handler, &fakes, task_event(FAILED_RUNNING, "t1")).await;
    handle(&handler, &fakes, task_event(FAILED, "t1")).await;
    let posted = fakes.slack.posted();
    assert!(posted.iter().all(|p| p.message.channel == "C0OPS"));
    assert!(!posted[0].original.as_ref().unwrap().text.contains("<@U024BE7LH>"), "no mention on the start");
    assert!(posted[1].message.text.starts_with("<@U024BE7LH> ❌ analyze_sentiment failed"));
}

#[tokio::test(start_paused = true)]
async fn services_are_ignored_unless_included() {
    let fakes = Fakes::new();
    let mut service = task_event(RUNNING, "s1");
    service["detail"]["group"] = json!("service:web-api");
    let handled = handle(&fakes.default_handler(), &fakes, service.clone()).await;
    assert!(matches!(&handled, Handled::Ignored { reason } if reason.contains("service")), "{handled:?}");
    let included = handle(&fakes.handler(with_jobs(r#"{"include_services": true}"#)), &fakes, service).await;
    assert_eq!(kind(&included), "start");
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

#[tokio::test(start_paused = true)]
async fn the_job_summary_is_shown_and_a_failure_shows_the_last_lines_and_the_stream() {
    let fakes = Fakes::new();
    let stream = LogStream { group: "/ecs/prices".into(), stream: "ecs/prices/t1".into() };
    fakes.logs.answer(LogBehaviour::Lines(
        lines("starting\nJOB_SUMMARY {\"success\": 498, \"failed\": 5}\nJOB_SUMMARY {broken\ndone"),
        Some(stream),
    ));
    let handler = fakes.default_handler();
    handle(&handler, &fakes, task_event(RUNNING, "t1")).await;
    handle(&handler, &fakes, task_event(SUCCEEDED, "t1")).await;
    let done = &fakes.slack.posted()[1];
    assert_eq!(done.message.text, "⚠️ market-pulse-collect-stock-prices succeeded in 4m 1s, 5 failed");
    assert!(done.visible().contains("*success*\\n498") && !done.visible().contains("Last "), "{}", done.visible());

    let many: Vec<String> = (1..=30).map(|i| format!("line {i}")).chain(["<!channel> boom".to_owned()]).collect();
    fakes.logs.answer(LogBehaviour::Lines(many, None));
    handle(&handler, &fakes, task_event(FAILED, "t2")).await;
    let failed = fakes.slack.posted()[2].visible();
    assert!(failed.contains("*Last 20 log lines*") && failed.contains("line 12\\nline 13"), "{failed}");
    assert!(failed.contains("&lt;!channel&gt; boom") && !failed.contains("line 11\\n"), "{failed}");
}

#[tokio::test(start_paused = true)]
async fn a_log_source_that_fails_or_hangs_leaves_a_note_within_the_budget() {
    let fakes = Fakes::new();
    let handler = fakes.default_handler();
    fakes.logs.answer(LogBehaviour::Fails("AccessDenied".into()));
    handle(&handler, &fakes, task_event(FAILED, "t1")).await;
    assert!(fakes.slack.posted()[0].visible().contains("Logs not read: AccessDenied"));

    fakes.logs.answer(LogBehaviour::Hangs);
    let began = tokio::time::Instant::now();
    assert_eq!(kind(&handle(&handler, &fakes, task_event(FAILED, "t2")).await), "standalone");
    assert_eq!(began.elapsed(), Duration::from_secs(2), "the log budget");
    assert!(fakes.slack.posted()[1].visible().contains("Logs not read: no answer within 2000 ms."));
}

#[tokio::test(start_paused = true)]
async fn summary_failures_can_fail_a_failures_only_job_and_a_clean_one_stays_silent() {
    let fakes = Fakes::new();
    let config = r#"{"summary_failures_fail_job": true, "jobs": [{"match": {"family": "market-pulse-collect-*"},
        "notify": "failures", "mention": "<!here>"}]}"#;
    let handler = fakes.handler(with_jobs(config));
    fakes.logs.answer(LogBehaviour::Lines(lines("JOB_SUMMARY {\"failed\": 0}"), None));
    for _ in 0..2 {
        let handled = handle(&handler, &fakes, task_event(SUCCEEDED, "t1")).await;
        assert!(matches!(&handled, Handled::Ignored { reason } if reason.contains("succeeded")), "{handled:?}");
    }
    fakes.logs.answer(LogBehaviour::Lines(lines("JOB_SUMMARY {\"failed\": 10}"), None));
    assert_eq!(kind(&handle(&handler, &fakes, task_event(SUCCEEDED, "t2")).await), "standalone");
    let posted = fakes.slack.posted();
    assert_eq!(posted.len(), 1);
    assert!(posted[0].message.text.starts_with("<!here> ❌ "), "{}", posted[0].message.text);
    assert!(posted[0].visible().contains("The job's summary reports 10 failed."));
    assert!(posted[0].visible().contains("*Likely cause:* the job exited 0 but its summary reports failures"));
}

#[tokio::test(start_paused = true)]
async fn hostile_event_text_is_escaped_and_cut_to_fit() {
    let fakes = Fakes::new();
    let mut stopped = task_event(FAILED, "t1");
    let reason = format!("BEGIN <!channel> {} END", "<@U024BE7LH> & ".repeat(70_000));
    stopped["detail"]["containers"][0]["reason"] = json!(reason);
    stopped["detail"]["startedBy"] = json!("<!here>");
    handle(&fakes.default_handler(), &fakes, stopped).await;
    let visible = fakes.slack.posted()[0].visible();
    assert!(visible.contains("BEGIN &lt;!channel&gt;") && visible.contains("END"), "{visible:.300}");
    for mention in ["<!channel>", "<!here>", "<@U"] {
        assert!(!visible.contains(mention), "{mention}");
    }
}

async fn day_of_runs(handler: &Handler, fakes: &Fakes, runs: &[(i64, i64)]) -> Vec<String> {
    let mut texts = Vec::new();
    for (i, (secs, exit)) in runs.iter().enumerate() {
        let start = Timestamp::from_secs(1_795_700_000 + i as i64 * 3600).to_rfc3339();
        let (running, stopped) =
            crate::testing::run_events(&format!("r{i}"), "market-pulse-collect-stock-prices", &start, *secs, *exit);
        handler.handle(running, fakes.deadline()).await.unwrap();
        handler.handle(stopped, fakes.deadline()).await.unwrap();
        texts.push(fakes.slack.posted().last().map(|s| s.message.text.clone()).unwrap_or_default());
    }
    texts
}

#[tokio::test(start_paused = true)]
async fn completions_say_when_a_run_is_slow_a_streak_and_a_recovery() {
    let fakes = Fakes::new();
    let handler = fakes.default_handler();
    let texts = day_of_runs(
        &handler,
        &fakes,
        &[(245, 0), (240, 0), (250, 0), (245, 0), (244, 0), (833, 0), (30, 1), (30, 1), (30, 1), (245, 0)],
    )
    .await;
    let job = "market-pulse-collect-stock-prices";
    assert_eq!(texts[4], format!("✅ {job} succeeded in 4m 4s"), "nothing to say yet");
    assert_eq!(texts[5], format!("✅ {job} succeeded in 13m 53s · ⏱ 3.4× its usual 4m 5s"));
    assert_eq!(texts[6], format!("❌ {job} failed after 30s"), "a first failure");
    assert_eq!(texts[7], format!("❌ {job} failed after 30s · 🔁 2nd failure in a row"));
    assert_eq!(texts[8], format!("❌ {job} failed after 30s · 🔁 3rd failure in a row"));
    assert_eq!(texts[9], format!("✅ {job} succeeded in 4m 5s · 💚 recovered after 3 failures"));
    // The start message, updated in the channel, says it too.
    let starts: Vec<String> =
        fakes.slack.posted().iter().filter(|s| s.message.thread_ts.is_none()).map(|s| s.message.text.clone()).collect();
    assert_eq!(starts[8], format!("❌ {job} failed after 30s · 🔁 3rd failure in a row"));
    assert!(fakes.slack.posted().iter().any(|s| s.visible().contains("🔁 3rd failure in a row\"")), "a context block");
}

#[tokio::test(start_paused = true)]
async fn a_retried_completion_is_one_run_in_the_history() {
    let fakes = Fakes::new();
    let handler = fakes.default_handler();
    day_of_runs(&handler, &fakes, &[(30, 1)]).await;
    let (_, stopped) =
        crate::testing::run_events("r1", "market-pulse-collect-stock-prices", "2026-11-27T10:00:00Z", 30, 1);
    fakes.slack.fail_next(SlackError::Http { status: 503, detail: "down".into() });
    assert!(handler.handle(stopped.clone(), fakes.deadline()).await.is_err());
    handler.handle(stopped, fakes.deadline()).await.unwrap();
    let text = fakes.slack.posted().last().unwrap().message.text.clone();
    assert!(text.ends_with("· 🔁 2nd failure in a row"), "not counted twice: {text}");
    let jobs = crate::ports::JobStore::jobs(&fakes.store).await.unwrap();
    assert_eq!(jobs[0].runs.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_failures_only_job_keeps_its_history_though_it_posts_no_success() {
    let fakes = Fakes::new();
    let handler = fakes.handler(with_jobs(CONFIG));
    let texts = day_of_runs(&handler, &fakes, &[(245, 0), (30, 1), (30, 1)]).await;
    assert_eq!(fakes.slack.posted().len(), 2, "the two failures only");
    assert!(texts[2].ends_with("· 🔁 2nd failure in a row"), "{}", texts[2]);
    let jobs = crate::ports::JobStore::jobs(&fakes.store).await.unwrap();
    let runs = &jobs.iter().find(|j| j.job == "collect_stock_prices").unwrap().runs;
    assert_eq!(runs.len(), 3);
    assert!(runs.iter().all(|r| r.start.is_some() && r.finished()));
}

/// A sample with a log router first and a sidecar last, both stopped by
/// ECS (143) after the job exited `exit_code`.
fn with_sidecars(path: &str, task_id: &str, exit_code: i64) -> Value {
    let mut event = task_event(path, task_id);
    let job = event["detail"]["containers"][0].clone();
    let mut router = job.clone();
    router["name"] = json!("log_router");
    router["image"] = json!("public.ecr.aws/aws-observability/aws-for-fluent-bit:stable");
    let mut agent = job.clone();
    agent["name"] = json!("agent");
    let mut job = job;
    if event["detail"]["lastStatus"] == "STOPPED" {
        job["exitCode"] = json!(exit_code);
        router["exitCode"] = json!(143);
        agent["exitCode"] = json!(143);
    }
    event["detail"]["containers"] = json!([router, job, agent]);
    event
}

const DEFINITION: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/market-pulse-collect-stock-prices:42";

fn sidecar_definition() -> crate::ports::TaskDefinition {
    let container =
        |name: &str, essential| crate::ports::ContainerDefinition { name: name.into(), essential, awslogs: None };
    crate::ports::TaskDefinition {
        containers: vec![
            container("log_router", false),
            container("collect-stock-prices", true),
            container("agent", false),
        ],
    }
}

#[tokio::test(start_paused = true)]
async fn the_task_definition_says_which_containers_decide_and_where_the_job_logs() {
    let fakes = Fakes::new();
    fakes.task_definitions.register(DEFINITION, sidecar_definition());
    let mut settings = with_jobs(r#"{"logs": {"group": "/ecs/{family}", "stream_prefix": "ecs"}}"#);
    settings.jobs.group_window = 0;
    let handler = fakes.handler(settings);
    for task in ["t1", "t2"] {
        handle(&handler, &fakes, with_sidecars(RUNNING, task, 0)).await;
        handle(&handler, &fakes, with_sidecars(SUCCEEDED, task, 0)).await;
    }
    // Asked on each event that needs it; the adapter keeps what it read (tests/real_events.rs).
    assert_eq!(fakes.task_definitions.reads(), 4);
    let posted = fakes.slack.posted();
    let start = &posted[0];
    assert!(
        serde_json::to_string(&start.original.as_ref().unwrap().blocks)
            .unwrap()
            .contains("*Image*\\nmarket-pulse-jobs:2026.11.26-3f9c2e1"),
        "the job's image, not the log router's: {}",
        start.visible()
    );
    let done = &posted[1];
    assert_eq!(done.message.text, "✅ market-pulse-collect-stock-prices succeeded in 4m 1s");
    assert!(
        done.visible()
            .contains("log_router: 143 (not essential)\\ncollect-stock-prices: 0\\nagent: 143 (not essential)"),
        "{}",
        done.visible()
    );
    // The Logs link is the job's stream, never the log router's, though it is listed first.
    assert!(start.visible().contains("log-events/ecs$252Fcollect-stock-prices$252Ft1"), "{}", start.visible());
    assert!(!start.visible().contains("log_router$252F"), "{}", start.visible());

    // Not readable: NON_ESSENTIAL_CONTAINERS alone decides, and says so in the log.
    let mut unread = with_sidecars(SUCCEEDED, "t3", 0);
    unread["detail"]["taskDefinitionArn"] = json!("arn:aws:ecs:us-east-1:123456789012:task-definition/gone:1");
    let mut settings = test_settings();
    settings.non_essential_containers = vec!["log_router".into(), "agent".into()];
    handle(&fakes.handler(settings), &fakes, unread.clone()).await;
    assert_eq!(fakes.slack.posted()[4].message.text, "✅ market-pulse-collect-stock-prices succeeded in 4m 1s");
    unread["detail"]["taskArn"] = json!("arn:aws:ecs:us-east-1:123456789012:task/market-pulse/t4");
    handle(&fakes.default_handler(), &fakes, unread).await;
    assert_eq!(fakes.slack.posted()[5].message.text, "❌ market-pulse-collect-stock-prices failed after 4m 1s");
}

#[tokio::test(start_paused = true)]
async fn a_task_of_one_container_and_a_service_task_read_no_task_definition() {
    let fakes = Fakes::new();
    let handler = fakes.default_handler();
    handle(&handler, &fakes, task_event(RUNNING, "t1")).await;
    handle(&handler, &fakes, task_event(SUCCEEDED, "t1")).await;
    let mut service = with_sidecars(SUCCEEDED, "s1", 0);
    service["detail"]["startedBy"] = json!("ecs-svc/9223370564342396817");
    let ignored = handle(&handler, &fakes, service).await;
    assert!(matches!(&ignored, Handled::Ignored { reason } if reason.contains("service")), "{ignored:?}");
    assert_eq!(fakes.task_definitions.reads(), 0);
}

fn stop_request(task_id: &str, code: &str, reason: &str) -> Value {
    let mut event = task_event(RUNNING, task_id);
    event["detail"]["desiredStatus"] = json!("STOPPED");
    event["detail"]["stopCode"] = json!(code);
    event["detail"]["stoppedReason"] = json!(reason);
    event
}

#[tokio::test(start_paused = true)]
async fn a_stop_from_slack_is_not_said_twice_in_its_thread() {
    let fakes = Fakes::new();
    let handler = fakes.default_handler();
    handle(&handler, &fakes, task_event(RUNNING, "t1")).await;
    // The Stop button's action, done and said in the thread.
    let arn = "arn:aws:ecs:us-east-1:123456789012:task/market-pulse/t1";
    let notices = crate::claim::Notices {
        store: &fakes.store,
        slack: &fakes.slack,
        clock: &fakes.clock,
        record_ttl: Duration::from_secs(3600),
    };
    let claim = notices.claim_for(&format!("action#stop#{arn}"), Slot::Once, fakes.deadline());
    notices.claim(&claim).await.unwrap();
    notices.done(&claim, "C0JOBS").await;
    let handled =
        handle(&handler, &fakes, stop_request("t1", "UserInitiated", "Stopped from Slack by U0OPERATOR")).await;
    assert!(matches!(&handled, Handled::PostedStopNotice { ts, .. } if ts == crate::claim::ANSWERED), "{handled:?}");
    let posted = fakes.slack.posted();
    assert_eq!(posted.len(), 1, "no second reply");
    assert_eq!(posted[0].message.text, "🛑 market-pulse-collect-stock-prices is stopping");
}

#[tokio::test(start_paused = true)]
async fn a_stop_request_after_the_outcome_or_of_a_failures_only_job_says_nothing() {
    let fakes = Fakes::new();
    let handler = fakes.default_handler();
    handle(&handler, &fakes, task_event(RUNNING, "t1")).await;
    handle(&handler, &fakes, task_event(SUCCEEDED, "t1")).await;
    let late =
        handle(&handler, &fakes, stop_request("t1", "SpotInterruption", "Your Spot Task was interrupted.")).await;
    assert!(matches!(&late, Handled::Ignored { reason } if reason.contains("outcome is told")), "{late:?}");
    let failures = fakes.handler(with_jobs(r#"{"jobs": [{"match": {"family": "*"}, "notify": "failures"}]}"#));
    let quiet =
        handle(&failures, &fakes, stop_request("t2", "SpotInterruption", "Your Spot Task was interrupted.")).await;
    assert!(matches!(&quiet, Handled::Ignored { reason } if reason.contains("notify is failures")), "{quiet:?}");
    assert_eq!(fakes.slack.posted().len(), 2);
    assert_eq!(fakes.slack.posted()[0].updates, 1, "the outcome stays on the start message");
}

/// A run of the prices job (`run_events`) with this task definition
/// revision, image tag, exit code and, for a failure, container reason.
fn prices_run(i: i64, secs: i64, exit: i64, revision: u32, tag: &str, reason: Option<&str>) -> (Value, Value) {
    let start = Timestamp::from_secs(1_795_700_000 + i * 86_400).to_rfc3339();
    let (mut running, mut stopped) =
        crate::testing::run_events(&format!("r{i}"), "market-pulse-collect-stock-prices", &start, secs, exit);
    for event in [&mut running, &mut stopped] {
        let detail = &mut event["detail"];
        detail["taskDefinitionArn"] = json!(format!(
            "arn:aws:ecs:us-east-1:123456789012:task-definition/market-pulse-collect-stock-prices:{revision}"
        ));
        detail["containers"][0]["image"] =
            json!(format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/market-pulse-jobs:{tag}"));
    }
    if let Some(reason) = reason {
        stopped["detail"]["containers"][0]["reason"] = json!(reason);
    }
    (running, stopped)
}

async fn run_once(handler: &Handler, fakes: &Fakes, (running, stopped): (Value, Value)) -> crate::testing::Sent {
    handler.handle(running, fakes.deadline()).await.unwrap();
    handler.handle(stopped, fakes.deadline()).await.unwrap();
    fakes.slack.posted().into_iter().rfind(|s| s.message.thread_ts.is_some()).unwrap()
}

const RUNBOOK: &str = "https://wiki.example.com/runbooks/prices?x=1&y=2";

#[tokio::test(start_paused = true)]
async fn a_failure_says_its_likely_cause_its_runbook_and_what_changed_once_per_streak() {
    let fakes = Fakes::new();
    let config = format!(r#"{{"runbook": "{RUNBOOK}", "jobs": [{{"match": {{"family": "market-pulse-*"}}}}]}}"#);
    let handler = fakes.handler(with_jobs(&config));
    let ok = run_once(&handler, &fakes, prices_run(0, 240, 0, 6, "2026.11.25", None)).await;
    assert!(!ok.visible().contains("Runbook") && !ok.visible().contains("Likely cause"), "a success: none of it");

    let oom = Some("OutOfMemoryError: Container killed due to memory usage");
    let first = run_once(&handler, &fakes, prices_run(1, 30, 137, 7, "2026.11.26", oom)).await.visible();
    assert!(first.contains("*Likely cause:* the container ran out of memory"), "{first}");
    assert!(first.contains("*Check:* raise the task's or the container's memory"), "{first}");
    assert!(first.contains("stopped-task-error-codes.html|AWS on this error>"), "{first}");
    assert!(
        first.contains("Changed since the last success (<!date^1795700240^{date_pretty} {time}|2026-11-26 13:37 UTC>): task definition revision 6 → 7 · image market-pulse-jobs:2026.11.25 → market-pulse-jobs:2026.11.26"),
        "{first}"
    );
    assert!(first.contains(&format!("<{RUNBOOK}|📖 Runbook>")), "{first}");
    let reason_at = first.find("*Reason*").unwrap();
    assert!(reason_at < first.find("Likely cause").unwrap(), "under the reason");

    let again = run_once(&handler, &fakes, prices_run(2, 30, 137, 7, "2026.11.26", oom)).await.visible();
    assert!(again.contains("Likely cause") && again.contains("Runbook"), "{again}");
    assert!(!again.contains("since the last success"), "the streak's second failure does not repeat it");

    run_once(&handler, &fakes, prices_run(3, 240, 0, 7, "2026.11.26", None)).await;
    let same = run_once(&handler, &fakes, prices_run(4, 30, 1, 7, "2026.11.26", None)).await.visible();
    assert!(same.contains("Nothing changed since the last success"), "{same}");
    assert!(same.contains("*Likely cause:* the job's own error · *Check:* the log"), "{same}");
}

#[tokio::test(start_paused = true)]
async fn an_unknown_reason_shows_no_cause_and_a_rule_has_its_own_runbook() {
    let fakes = Fakes::new();
    let config = r#"{"runbook": "https://wiki.example.com/all",
        "jobs": [{"match": {"family": "market-pulse-collect-*"}, "runbook": "https://wiki.example.com/prices"}]}"#;
    let handler = fakes.handler(with_jobs(config));
    let (running, mut stopped) = prices_run(0, 30, 3, 6, "a", Some("<!channel> something new & odd"));
    stopped["detail"]["stopCode"] = json!("SomethingNew");
    let failed = run_once(&handler, &fakes, (running, stopped)).await.visible();
    assert!(!failed.contains("Likely cause") && !failed.contains("since the last success"), "{failed}");
    assert!(failed.contains("&lt;!channel&gt; something new &amp; odd"), "escaped: {failed}");
    assert!(failed.contains("<https://wiki.example.com/prices|📖 Runbook>"), "{failed}");
}

#[tokio::test(start_paused = true)]
async fn a_suspiciously_fast_success_and_a_zero_count_say_so_unless_turned_off() {
    for (config, said) in [
        (r#"{"jobs": [{"match": {"family": "market-pulse-*"}}]}"#, true),
        (r#"{"jobs": [{"match": {"family": "market-pulse-*"}, "fast_run": "off", "zero_counts": "off"}]}"#, false),
        (r#"{"fast_run": "off", "zero_counts": "off", "jobs": []}"#, false),
    ] {
        let fakes = Fakes::new();
        let handler = fakes.handler(with_jobs(config));
        fakes
            .logs
            .answer(LogBehaviour::Lines(lines(r#"JOB_SUMMARY {"rows": 12400, "tickers": 503, "skipped": 0}"#), None));
        for i in 0..5 {
            run_once(&handler, &fakes, prices_run(i, 3000, 0, 6, "a", None)).await;
        }
        fakes.logs.answer(LogBehaviour::Lines(lines(r#"JOB_SUMMARY {"rows": 0, "tickers": 503, "skipped": 0}"#), None));
        let fast = run_once(&handler, &fakes, prices_run(5, 12, 0, 6, "a", None)).await;
        let text = &fast.message.text;
        assert_eq!(text.contains("⚡ ran in 12s; usually 50m"), said, "{config}: {text}");
        assert_eq!(fast.visible().contains("`rows: 0`, usually 12,400"), said, "{config}: {}", fast.visible());
        assert!(!fast.visible().contains("skipped: 0`"), "usually 0 too");
    }
}

#[tokio::test(start_paused = true)]
async fn the_events_that_carry_known_reasons_say_their_likely_cause() {
    // (stop code, task's reason, exit code, the cause said)
    let pull = "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref 123456789012.dkr.ecr.us-east-1.amazonaws.com/market-pulse-jobs:nope: not found";
    let denied = "CannotPullContainerError: pull image manifest has been retried 5 time(s): AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/exec/1 is not authorized to perform: ecr:BatchGetImage";
    let route = "CannotPullContainerError: ref pull has been retried 5 time(s): failed to copy: httpReadSeeker: failed open: failed to do request: dial tcp 52.0.0.1:443: i/o timeout";
    let secrets = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm";
    let table: [(&str, &str, Option<i64>, &str); 12] = [
        ("TaskFailedToStart", pull, None, "the image or its tag does not exist"),
        ("TaskFailedToStart", denied, None, "the task's execution role may not pull the image"),
        ("TaskFailedToStart", route, None, "the task could not reach the registry"),
        ("TaskFailedToStart", secrets, None, "its secrets or SSM parameters could not be read"),
        (
            "TaskFailedToStart",
            "CannotStartContainerError: Error response from daemon: failed to create shim task",
            None,
            "the container could not be started",
        ),
        ("TaskFailedToStart", "RESOURCE:MEMORY", None, "no container instance had enough free memory"),
        ("TaskFailedToStart", "RESOURCE:CPU", None, "no container instance had enough free CPU"),
        (
            "TaskFailedToStart",
            "Capacity is unavailable at this time. Please try again later or in a different availability zone",
            None,
            "Fargate had no capacity",
        ),
        (
            "EssentialContainerExited",
            "Essential container in task exited",
            Some(139),
            "the process crashed (segmentation fault)",
        ),
        ("EssentialContainerExited", "Essential container in task exited", Some(2), "the job's own error"),
        (
            "EssentialContainerExited",
            "Essential container in task exited",
            Some(137),
            "the container was killed (SIGKILL)",
        ),
        ("UserInitiated", "Task stopped by user", Some(143), "something called StopTask"),
    ];
    let fakes = Fakes::new();
    let handler = fakes.default_handler();
    for (i, (code, reason, exit, want)) in table.iter().enumerate() {
        let mut stopped = task_event(FAILED, &format!("k{i}"));
        let detail = &mut stopped["detail"];
        detail["stopCode"] = json!(code);
        detail["stoppedReason"] = json!(reason);
        detail["containers"][0]["reason"] = Value::Null;
        detail["containers"][0]["exitCode"] = json!(exit);
        handle(&handler, &fakes, stopped).await;
        let said = fakes.slack.posted().last().unwrap().visible();
        assert!(said.contains(&format!("*Likely cause:* {want}")), "{code} {reason}: {said}");
    }
    // AWS's own samples (events/real/).
    for (path, want) in [
        ("events/real/never-started-no-task-arn.json", "its secrets or SSM parameters could not be read"),
        ("events/real/oom-essential-after-sidecar.json", "the container ran out of memory"),
        ("events/real/fargate-spot-stopped.json", "Fargate Spot reclaimed its capacity"),
    ] {
        handle(&handler, &fakes, crate::testing::fixture(path)).await;
        let said = fakes.slack.posted().last().unwrap().visible();
        assert!(said.contains(&format!("*Likely cause:* {want}")), "{path}: {said}");
    }
}
