//! DynamoDB as it answers under load, through the fault layer of the
//! serialised moto server (`scripts/moto_server_serial.py`), and a run of
//! many tasks through it: the fault tier of the tests and `bench/faults.sh`.
//!
//! The run: every task's RUNNING and STOPPED, each delivered twice, some
//! STOPPED before RUNNING, shuffled, handled by several execution
//! environments at once, each failed invocation retried twice as Lambda
//! retries asynchronous events. Then what people see is checked per task.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::{Stack, task_event, unique};

use ecs_slack_notifier::time::Timestamp;

/// Fault rates per write, per kind, as the fault layer takes them.
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    pub throttle: f64,
    pub server_error: f64,
    pub conflict: f64,
    pub ambiguous: f64,
}

impl Rates {
    /// The benchmark's: 8 % per kind and 5 % applied-then-500.
    pub const LOAD: Rates = Rates { throttle: 0.08, server_error: 0.08, conflict: 0.08, ambiguous: 0.05 };
}

/// Sets `table`'s fault rates in the fault layer at `moto`.
pub async fn set_faults(moto: &str, table: &str, seed: u64, rates: Rates) {
    let body = json!({"table": table, "seed": seed, "throttle": rates.throttle, "server_error": rates.server_error,
        "conflict": rates.conflict, "ambiguous": rates.ambiguous});
    control(moto, "POST", "/_faults", Some(body)).await;
}

/// What the fault layer injected for `table`.
pub async fn injected(moto: &str, table: &str) -> Value {
    control(moto, "GET", &format!("/_faults?table={table}"), None).await
}

/// The write cost the fault layer counted for `table`.
pub async fn stats(moto: &str, table: &str) -> Value {
    control(moto, "GET", &format!("/_stats?table={table}"), None).await
}

pub async fn reset_stats(moto: &str, table: &str) {
    control(moto, "POST", &format!("/_stats/reset?table={table}"), None).await;
}

async fn control(moto: &str, method: &str, path: &str, body: Option<Value>) -> Value {
    let client = reqwest::Client::new();
    let url = format!("{moto}{path}");
    let request = match method {
        "POST" => client.post(&url).json(&body.unwrap_or(json!({}))),
        _ => client.get(&url),
    };
    let response = request.send().await.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    assert!(response.status().is_success(), "{method} {url}: {}", response.status());
    response.json().await.unwrap()
}

/// A run of many tasks.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub tasks: usize,
    /// One job whose tasks start together (a group), else a job per task.
    pub group: bool,
    pub environments: usize,
    pub seed: u64,
    pub rates: Rates,
    /// The share of Slack calls refused.
    pub slack_refusals: f64,
    /// Lambda waits about a minute, then two, before its retries; here
    /// this long.
    pub retry_after: Duration,
    /// Each task's outcome right after its start (short tasks), instead
    /// of all starts and then all outcomes.
    pub back_to_back: bool,
}

impl Scenario {
    /// The load: 4 environments, DynamoDB's faults at `Rates::LOAD`,
    /// Slack refusing 10 % of calls, Lambda's retries `retry_after` apart.
    pub fn under_load(tasks: usize, group: bool, seed: u64, retry_after: Duration) -> Scenario {
        Scenario {
            tasks,
            group,
            environments: 4,
            seed,
            rates: Rates::LOAD,
            slack_refusals: 0.10,
            retry_after,
            back_to_back: false,
        }
    }
}

/// What one task came out as.
#[derive(Debug, Clone, Default)]
pub struct TaskOutcome {
    pub starts: usize,
    pub outcomes: usize,
    pub stopped_first: bool,
    pub threaded: bool,
    /// The start message shows the outcome.
    pub start_updated: bool,
    pub failed_for_good: usize,
}

impl TaskOutcome {
    pub fn right(&self) -> bool {
        let start_ok = self.starts == 1 || (self.starts == 0 && self.stopped_first);
        let shown = self.starts == 0 || (self.threaded && self.start_updated);
        start_ok && self.outcomes == 1 && shown && self.failed_for_good == 0
    }
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub tasks: Vec<(String, TaskOutcome)>,
    pub failed_for_good: usize,
    pub duplicates: usize,
    pub stale: usize,
    /// A group's last message, and what it should count.
    pub group_text: Option<String>,
    pub group_expected: Option<String>,
    pub injected: Value,
    pub slack_refused: usize,
    pub invocations: usize,
}

impl Report {
    pub fn right(&self) -> usize {
        self.tasks.iter().filter(|(_, t)| t.right()).count()
    }

    pub fn group_right(&self) -> bool {
        self.group_text == self.group_expected
    }
}

struct Delivery {
    event: Value,
    task: usize,
    attempt: u32,
}

/// When a task's events were handled: a STOPPED whose handling began
/// before any RUNNING of the task was done came first, whatever the
/// delivery order (environments race).
#[derive(Debug, Clone, Copy, Default)]
struct Timeline {
    running_done: Option<std::time::Instant>,
    stopped_began: Option<std::time::Instant>,
}

/// Runs the scenario against `stack` and checks what Slack shows.
pub async fn run(stack: &Stack, scenario: &Scenario) -> Report {
    let mut rng = fastrand::Rng::with_seed(scenario.seed);
    let job = unique("job");
    let base = chrono::DateTime::parse_from_rfc3339("2026-11-26T13:00:00Z").unwrap();
    let mut deliveries = Vec::new();
    // Delivered first, and (after the run) handled first.
    let mut stopped_first = vec![false; scenario.tasks];
    let mut failed = vec![false; scenario.tasks];
    let mut names = Vec::new();
    for i in 0..scenario.tasks {
        let id = format!("{:032x}", rng.u128(..));
        let name = if scenario.group { job.clone() } else { format!("{job}-{i}") };
        failed[i] = i % 5 == 4;
        let stopped_file =
            if failed[i] { "events/ecs-task-stopped-failure.json" } else { "events/ecs-task-stopped-success.json" };
        let (mut running, _) = task_event("events/ecs-task-running.json", &id);
        let (mut stopped, _) = task_event(stopped_file, &id);
        let started = base + chrono::Duration::seconds(i as i64 % 20);
        for event in [&mut running, &mut stopped] {
            event["detail"]["group"] = json!(format!("family:{name}"));
            event["detail"]["startedAt"] = json!(started.to_rfc3339());
            event["detail"]["containers"][0]["name"] = json!("job");
        }
        stopped["detail"]["stoppedAt"] = json!((started + chrono::Duration::seconds(90)).to_rfc3339());
        stopped["detail"]["executionStoppedAt"] = json!((started + chrono::Duration::seconds(89)).to_rfc3339());
        if failed[i] {
            stopped["detail"]["containers"][0]["exitCode"] = json!(1);
        }
        // A group's tasks come in order: one whose STOPPED came first never
        // joins (its start is refused) and is told alone.
        stopped_first[i] = !scenario.group && i % 4 == 3;
        // The starts as a burst, then the outcomes; a STOPPED that came
        // first is among the starts. Each twice: a duplicate lands later.
        let (first, second) = if stopped_first[i] { (stopped, running) } else { (running, stopped) };
        let at = 2 * i;
        deliveries.push((at, Delivery { event: first.clone(), task: i, attempt: 1 }));
        deliveries.push((at + rng.usize(1..12), Delivery { event: first, task: i, attempt: 1 }));
        let at =
            if scenario.back_to_back { 2 * i + 1 } else { 2 * scenario.tasks + 2 * i + usize::from(stopped_first[i]) };
        deliveries.push((at, Delivery { event: second.clone(), task: i, attempt: 1 }));
        deliveries.push((at + rng.usize(1..12), Delivery { event: second, task: i, attempt: 1 }));
        names.push(name);
    }
    // Mostly in order, with duplicates and a little shuffling.
    deliveries.sort_by_key(|(at, _)| *at);
    let all: Vec<Delivery> = deliveries.into_iter().map(|(_, d)| d).collect();
    // A group's tasks run for minutes: their STOPPED come once every
    // start (with Lambda's retries) is done, as in a real burst.
    let phases: Vec<Vec<Delivery>> = if scenario.group {
        let (stopped, running): (Vec<_>, Vec<_>) =
            all.into_iter().partition(|d| d.event["detail"]["lastStatus"] == "STOPPED");
        vec![running, stopped]
    } else {
        vec![all]
    };
    let failed_for_good = Arc::new(Mutex::new(vec![0usize; scenario.tasks]));
    let invocations = Arc::new(Mutex::new(0usize));
    let timelines = Arc::new(Mutex::new(vec![Timeline::default(); scenario.tasks]));
    set_faults(&stack.moto, &stack.table, scenario.seed, scenario.rates).await;
    stack.slack.refuse(scenario.slack_refusals, scenario.seed);
    let handlers: Vec<Arc<ecs_slack_notifier::handler::Handler>> =
        (0..scenario.environments).map(|_| Arc::new(stack.notifier())).collect();
    for phase in phases {
        let queue = Arc::new(Mutex::new(phase.into_iter().collect::<VecDeque<Delivery>>()));
        let pending = Arc::new(std::sync::atomic::AtomicUsize::new(queue.lock().unwrap().len()));
        let mut environments = tokio::task::JoinSet::new();
        for handler in &handlers {
            let handler = handler.clone();
            let (queue, pending, failed_for_good, invocations) =
                (queue.clone(), pending.clone(), failed_for_good.clone(), invocations.clone());
            let timelines = timelines.clone();
            let retry_after = scenario.retry_after;
            environments.spawn(async move {
                loop {
                    let next = queue.lock().unwrap().pop_front();
                    let Some(delivery) = next else {
                        if pending.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    };
                    *invocations.lock().unwrap() += 1;
                    let deadline = Timestamp::now() + Duration::from_secs(30);
                    let stopped = delivery.event["detail"]["lastStatus"] == "STOPPED";
                    if stopped {
                        let mut timelines = timelines.lock().unwrap();
                        let t = &mut timelines[delivery.task];
                        t.stopped_began.get_or_insert_with(std::time::Instant::now);
                    }
                    match handler.handle(delivery.event.clone(), deadline).await {
                        Ok(_) => {
                            if !stopped {
                                let mut timelines = timelines.lock().unwrap();
                                timelines[delivery.task].running_done.get_or_insert_with(std::time::Instant::now);
                            }
                            pending.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        Err(_) if delivery.attempt < 3 => {
                            let queue = queue.clone();
                            tokio::spawn(async move {
                                tokio::time::sleep(retry_after * delivery.attempt).await;
                                queue.lock().unwrap().push_back(Delivery { attempt: delivery.attempt + 1, ..delivery });
                            });
                        }
                        Err(_) => {
                            failed_for_good.lock().unwrap()[delivery.task] += 1;
                            pending.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                        }
                    }
                }
            });
        }
        while environments.join_next().await.is_some() {}
    }
    let injected = injected(&stack.moto, &stack.table).await;
    set_faults(&stack.moto, &stack.table, 0, Rates { throttle: 0.0, server_error: 0.0, conflict: 0.0, ambiguous: 0.0 })
        .await;
    stack.slack.refuse(0.0, 0);
    let timelines = timelines.lock().unwrap().clone();
    for (first, t) in stopped_first.iter_mut().zip(&timelines) {
        *first |= match (t.stopped_began, t.running_done) {
            (Some(stopped), Some(running)) => stopped < running,
            _ => false,
        };
    }
    check(stack, scenario, &names, &stopped_first, &failed, &failed_for_good.lock().unwrap(), injected, {
        *invocations.lock().unwrap()
    })
}

#[allow(clippy::too_many_arguments)]
fn check(
    stack: &Stack,
    scenario: &Scenario,
    names: &[String],
    stopped_first: &[bool],
    failed: &[bool],
    failed_for_good: &[usize],
    injected: Value,
    invocations: usize,
) -> Report {
    let posted = stack.slack.posted();
    let mut report = Report {
        injected,
        slack_refused: stack.slack.refused(),
        invocations,
        failed_for_good: failed_for_good.iter().sum(),
        ..Report::default()
    };
    if scenario.group {
        let top: Vec<_> = posted.iter().filter(|p| p.thread_ts.is_none()).collect();
        let replies = posted.iter().filter(|p| p.thread_ts.is_some()).count();
        let failures = failed.iter().filter(|f| **f).count();
        let ok = scenario.tasks - failures;
        report.group_expected = Some(format!("❌ {} ×{} — {ok} ✅ · {failures} ❌", names[0], scenario.tasks));
        report.group_text = top.first().map(|p| p.text.clone());
        // One group message, one reply per failure.
        report.duplicates = top.len().saturating_sub(1) + replies.saturating_sub(failures);
        return report;
    }
    let mut by_job: HashMap<&str, Vec<&super::fake_slack::Posted>> = HashMap::new();
    for p in &posted {
        let name = names.iter().filter(|n| p.text.contains(&format!("{n} "))).max_by_key(|n| n.len());
        if let Some(name) = name {
            by_job.entry(name.as_str()).or_default().push(p);
        }
    }
    for (i, name) in names.iter().enumerate() {
        let messages = by_job.get(name.as_str()).cloned().unwrap_or_default();
        let starts: Vec<_> =
            messages.iter().filter(|p| p.thread_ts.is_none() && p.original_text.contains("started")).collect();
        let outcomes: Vec<_> = messages
            .iter()
            .filter(|p| !(p.thread_ts.is_none() && p.original_text.contains("started")))
            .filter(|p| p.original_text.contains("succeeded") || p.original_text.contains("failed"))
            .collect();
        let threaded = match (starts.first(), outcomes.first()) {
            (Some(start), Some(outcome)) => outcome.thread_ts.as_deref() == Some(start.ts.as_str()),
            _ => false,
        };
        let want = if failed[i] { "failed" } else { "succeeded" };
        let start_updated = starts.first().is_some_and(|s| s.updates >= 1 && s.text.contains(want));
        let outcome = TaskOutcome {
            starts: starts.len(),
            outcomes: outcomes.len(),
            stopped_first: stopped_first[i],
            threaded,
            start_updated,
            failed_for_good: failed_for_good[i],
        };
        report.duplicates += starts.len().saturating_sub(1) + outcomes.len().saturating_sub(1);
        if starts.len() == 1 && !start_updated {
            report.stale += 1;
        }
        report.tasks.push((name.clone(), outcome));
    }
    report
}
