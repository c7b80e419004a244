//! Bursts through the real handler against moto (DynamoDB, SQS FIFO) and
//! the fake Slack: groups forming and counting under concurrency in
//! DynamoDB, failures told one by one through the post queue, stragglers
//! and single tasks unchanged, and pacing against Slack's rate limits.

mod common;

use std::time::Duration;

use common::fake_slack::RateLimits;
use common::queue::{create_fifo_queue, drain};
use common::{HandledExt, Stack, deadline, task_event, unique};
use ecs_slack_notifier::handler::Handler;
use ecs_slack_notifier::kinds::task::Handled;
use serde_json::{Value, json};

/// RUNNING and STOPPED of task `task` of `family`, started `offset` s after
/// 13:00 and taking five minutes.
fn run_events(family: &str, task: &str, offset: i64, exit_code: i64) -> (Value, Value) {
    let start =
        chrono::DateTime::parse_from_rfc3339("2026-11-27T13:00:00Z").unwrap() + chrono::Duration::seconds(offset);
    let stop = start + chrono::Duration::seconds(300);
    let edit = |(mut event, _): (Value, String)| {
        event["detail"]["group"] = json!(format!("family:{family}"));
        event["detail"]["startedAt"] = json!(start.to_rfc3339());
        event
    };
    let running = edit(task_event("events/ecs-task-running.json", task));
    let mut stopped = edit(task_event("events/ecs-task-stopped-success.json", task));
    stopped["detail"]["stoppedAt"] = json!(stop.to_rfc3339());
    stopped["detail"]["executionStoppedAt"] = json!(stop.to_rfc3339());
    stopped["detail"]["containers"][0]["exitCode"] = json!(exit_code);
    (running, stopped)
}

/// Each event on its own execution environment, all at once.
async fn concurrently(notifiers: Vec<Handler>, events: Vec<Value>) -> Vec<Handled> {
    let mut running = tokio::task::JoinSet::new();
    for (notifier, event) in notifiers.into_iter().zip(events) {
        running.spawn(async move { notifier.handle(event, deadline()).await.unwrap().task() });
    }
    let mut handled = Vec::new();
    while let Some(done) = running.join_next().await {
        handled.push(done.unwrap());
    }
    handled
}

fn count(handled: &[Handled], what: fn(&Handled) -> bool) -> usize {
    handled.iter().filter(|h| what(h)).count()
}

struct Grouping {
    stack: Stack,
    queue: String,
    family: String,
    tasks: Vec<String>,
}

impl Grouping {
    async fn new(n: usize) -> Option<Grouping> {
        let stack = Stack::new().await?;
        let queue = create_fifo_queue(&stack.aws).await;
        let family = unique("backfill").replace('-', "_");
        let tasks = (0..n).map(|_| unique("task")).collect();
        Some(Grouping { stack, queue, family, tasks })
    }

    fn notifier(&self) -> Handler {
        self.stack.notifier_with(&[("POST_QUEUE_URL", &self.queue)])
    }

    fn notifiers(&self, n: usize) -> Vec<Handler> {
        (0..n).map(|_| self.notifier()).collect()
    }

    fn events(&self, failing: &[usize]) -> (Vec<Value>, Vec<Value>) {
        self.tasks
            .iter()
            .enumerate()
            .map(|(i, task)| run_events(&self.family, task, i as i64 % 30, i64::from(failing.contains(&i))))
            .unzip()
    }

    /// The group's message: the first post, as it now reads.
    fn group_text(&self) -> String {
        self.stack.slack.posted()[0].text.clone()
    }
}

#[tokio::test]
async fn a_burst_forms_one_group_counts_every_task_and_tells_each_failure_on_its_own() {
    let n = 24;
    let Some(burst) = Grouping::new(n).await else { return };
    let (running, stopped) = burst.events(&[3, 17]);
    // The first start, then the rest at once on their own environments.
    burst.notifier().handle(running[0].clone(), deadline()).await.unwrap();
    let joined = concurrently(burst.notifiers(n - 1), running[1..].to_vec()).await;
    assert_eq!(count(&joined, |h| matches!(h, Handled::JoinedGroup { .. })), n - 1, "{joined:?}");
    assert_eq!(burst.stack.slack.posted().len(), 1, "one message for the group");
    assert_eq!(burst.group_text(), format!("🚀 {} ×{n} — {n} running", burst.family));

    // Every completion at once: no lost update of the counts.
    let done = concurrently(burst.notifiers(n), stopped).await;
    assert_eq!(count(&done, |h| matches!(h, Handled::CountedInGroup { .. })), n - 2, "{done:?}");
    assert_eq!(count(&done, |h| matches!(h, Handled::QueuedCompletion { .. })), 2, "{done:?}");
    assert_eq!(burst.group_text(), format!("❌ {} ×{n} — {} ✅ · 2 ❌", burst.family, n - 2));
    let group = burst.stack.slack.posted()[0].clone();
    assert!(group.updates <= 12, "a change per gap, not per task: {} changes", group.updates);

    // The queue's consumer posts each failure in the group's thread and the channel.
    let drained = drain(&burst.stack.aws, &burst.queue, &burst.notifier(), 10).await;
    assert_eq!(drained.delivered, 2);
    let posted = burst.stack.slack.posted();
    assert_eq!(posted.len(), 3);
    for (failure, task) in posted[1..].iter().zip([&burst.tasks[3], &burst.tasks[17]].iter()) {
        assert_eq!(failure.thread_ts.as_deref(), Some(group.ts.as_str()));
        assert!(failure.reply_broadcast);
        assert!(posted[1..].iter().any(|p| p.visible().contains(task.as_str())), "{task} told on its own");
        assert!(failure.visible().contains("Exit codes"));
    }

    // DynamoDB holds the group's counters, and each task what it was counted as.
    let anchor_key = format!("task#arn:aws:ecs:us-east-1:123456789012:task/market-pulse/{}", burst.tasks[0]);
    let item = burst.stack.item(&format!("group#{anchor_key}")).await.expect("the group's counts");
    let number = |name: &str| item[name].as_n().unwrap().parse::<usize>().unwrap();
    assert_eq!((number("joined"), number("ok_n"), number("failed_n")), (n - 1, n - 2, 2));
    let member = format!("task#arn:aws:ecs:us-east-1:123456789012:task/market-pulse/{}", burst.tasks[3]);
    let task = burst.stack.item(&member).await.unwrap();
    assert_eq!(task["g_part"].as_s().unwrap(), "failed");

    // Redelivered events change nothing.
    let (running, stopped) = burst.events(&[3, 17]);
    for event in running.into_iter().chain(stopped).take(6) {
        burst.notifier().handle(event, deadline()).await.unwrap();
    }
    assert_eq!(drain(&burst.stack.aws, &burst.queue, &burst.notifier(), 10).await.delivered, 0);
    assert_eq!(burst.stack.slack.posted().len(), 3);
    assert_eq!(burst.group_text(), format!("❌ {} ×{n} — {} ✅ · 2 ❌", burst.family, n - 2));
}

#[tokio::test]
async fn a_single_task_and_a_late_straggler_look_as_they_always_did() {
    let Some(burst) = Grouping::new(2).await else { return };
    let notifier = burst.notifier();
    let (first, first_done) = run_events(&burst.family, &burst.tasks[0], 0, 0);
    let (straggler, _) = run_events(&burst.family, &burst.tasks[1], 61, 0);
    assert!(matches!(notifier.handle(first, deadline()).await.unwrap().task(), Handled::PostedStart { .. }));
    assert!(matches!(notifier.handle(straggler, deadline()).await.unwrap().task(), Handled::PostedStart { .. }));
    let done = notifier.handle(first_done, deadline()).await.unwrap().task();
    assert!(matches!(done, Handled::PostedCompletion { threaded: true, .. }), "{done:?}");
    let posted = burst.stack.slack.posted();
    assert_eq!(posted.len(), 3);
    assert!(posted[0].text.starts_with(&format!("✅ {} succeeded", burst.family)), "{}", posted[0].text);
    assert_eq!(posted[1].text, format!("🚀 {} started", burst.family));
    assert!(posted.iter().all(|p| !p.text.contains('×')));
    assert_eq!(drain(&burst.stack.aws, &burst.queue, &notifier, 5).await.delivered, 0, "nothing queued");
}

/// Ten failures of one group at once, against Slack's real rate limits:
/// posted directly they collide; through the queue, none is refused.
#[tokio::test]
async fn failures_through_the_queue_keep_within_slacks_rate_limit() {
    let n = 10;
    let Some(burst) = Grouping::new(n).await else { return };
    let failing: Vec<usize> = (0..n).collect();
    let (running, stopped) = burst.events(&failing);
    burst.notifier().handle(running[0].clone(), deadline()).await.unwrap();
    concurrently(burst.notifiers(n - 1), running[1..].to_vec()).await;
    burst.stack.slack.limit_rates(RateLimits::slack(1.0));
    let done = concurrently(burst.notifiers(n), stopped).await;
    assert_eq!(count(&done, |h| matches!(h, Handled::QueuedCompletion { .. })), n, "{done:?}");
    let started = std::time::Instant::now();
    let drained = drain(&burst.stack.aws, &burst.queue, &burst.notifier(), 3 * n).await;
    assert_eq!((drained.delivered, drained.handed_back), (n, 0));
    let rates = burst.stack.slack.rate_counts();
    assert_eq!(rates.posts_limited, 0, "{rates:?}");
    assert_eq!(rates.posts_accepted, n);
    assert!(started.elapsed() >= Duration::from_millis(1000) * (n as u32 - 1), "paced: {:?}", started.elapsed());
    assert_eq!(burst.stack.slack.posted().len(), n + 1);

    // The same failures posted at once, without the queue, are refused.
    let Some(direct) = Grouping::new(n).await else { return };
    let (running, stopped) = direct.events(&failing);
    let plain = || direct.stack.notifier();
    plain().handle(running[0].clone(), deadline()).await.unwrap();
    concurrently((1..n).map(|_| plain()).collect(), running[1..].to_vec()).await;
    direct.stack.slack.limit_rates(RateLimits::slack(1.0));
    concurrently((0..n).map(|_| plain()).collect(), stopped).await;
    let rates = direct.stack.slack.rate_counts();
    assert!(rates.posts_limited > 0, "unpaced posts collide: {rates:?}");
}
