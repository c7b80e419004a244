//! The burst benchmark (`bash bench/burst.sh`, docs/performance.md, "The burst benchmark"): N tasks of
//! one job start and stop together, handled by many execution environments
//! at once as Lambda scales out for a burst of asynchronous events, with
//! Lambda's retries, against moto and a fake Slack that enforces Slack's
//! rate limits (429 + `Retry-After`), optionally faster than real time.
//!
//! Reports what people see and what it cost: outcomes visible, events that
//! failed for good, duplicates, 429s per accepted call, posts in the
//! channel and the time to drain.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Stack;
use common::fake_slack::{Posted, RateLimits};
use common::queue::{Drained, drain};
use ecs_slack_notifier::handler::Handler;
use ecs_slack_notifier::time::Timestamp;
use serde_json::{Value, json};

const USAGE: &str = "usage: burst [--tasks N] [--environments N] [--failures N] [--group-window SECS] [--speed X] \
                     [--no-queue] [--json]";

#[derive(Debug, Clone)]
struct Args {
    tasks: usize,
    environments: usize,
    failures: usize,
    group_window: u64,
    /// Slack's limits and Lambda's retry delays run this many times faster.
    speed: f64,
    queue: bool,
    json: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args =
        Args { tasks: 100, environments: 60, failures: 5, group_window: 60, speed: 2.0, queue: true, json: false };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match flag.as_str() {
            "--tasks" => args.tasks = value("--tasks")?.parse().map_err(|e| format!("--tasks: {e}"))?,
            "--environments" => {
                args.environments = value("--environments")?.parse().map_err(|e| format!("--environments: {e}"))?;
            }
            "--failures" => args.failures = value("--failures")?.parse().map_err(|e| format!("--failures: {e}"))?,
            "--group-window" => {
                args.group_window = value("--group-window")?.parse().map_err(|e| format!("--group-window: {e}"))?;
            }
            "--speed" => args.speed = value("--speed")?.parse().map_err(|e| format!("--speed: {e}"))?,
            "--no-queue" => args.queue = false,
            "--json" => args.json = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.tasks == 0 || args.environments == 0 || args.failures > args.tasks || args.speed <= 0.0 {
        return Err("need tasks ≥ 1, environments ≥ 1, failures ≤ tasks, speed > 0".into());
    }
    Ok(args)
}

/// Lambda's asynchronous invocation: an attempt, then two retries after
/// about a minute and two.
const RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(60), Duration::from_secs(120)];
const TIMEOUT: Duration = Duration::from_secs(30);

struct Pending {
    event: Value,
    attempt: usize,
    due: Instant,
}

#[derive(Default)]
struct Lambda {
    queue: VecDeque<Pending>,
    /// Events not yet done (handled, or failed for good).
    open: usize,
    failed_for_good: usize,
    errors: usize,
}

fn task_id(n: usize) -> String {
    format!("{:08x}{n:024x}", std::process::id())
}

/// RUNNING and STOPPED of task `n`, started `start` after `base`, taking `secs`.
fn events(
    family: &str,
    n: usize,
    base: chrono::DateTime<chrono::Utc>,
    start_ms: i64,
    exit_code: i64,
) -> (Value, Value) {
    let start = base + chrono::Duration::milliseconds(start_ms);
    let stop = start + chrono::Duration::seconds(240);
    let edit = |(mut event, _): (Value, String)| {
        event["detail"]["group"] = json!(format!("family:{family}"));
        event["detail"]["startedAt"] = json!(start.to_rfc3339());
        event
    };
    let running = edit(common::task_event("events/ecs-task-running.json", &task_id(n)));
    let mut stopped = edit(common::task_event("events/ecs-task-stopped-success.json", &task_id(n)));
    stopped["detail"]["stoppedAt"] = json!(stop.to_rfc3339());
    stopped["detail"]["executionStoppedAt"] = json!(stop.to_rfc3339());
    stopped["detail"]["containers"][0]["exitCode"] = json!(exit_code);
    (running, stopped)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let Some(stack) = Stack::new().await else {
        eprintln!("no moto: run it through bash bench/burst.sh");
        std::process::exit(1);
    };
    let report = run(&stack, &args).await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).unwrap());
    } else {
        print_report(&args, &report);
    }
    let ok = report["failed_for_good"] == 0 && report["duplicates"] == 0 && report["outcomes_visible"] == args.tasks;
    std::process::exit(if ok { 0 } else { 1 });
}

async fn run(stack: &Stack, args: &Args) -> Value {
    let family = format!("backfill_{}", std::process::id());
    let queue_url = if args.queue { Some(common::queue::create_fifo_queue(&stack.aws).await) } else { None };
    let config = json!({"group_window": args.group_window}).to_string();
    let mut env = vec![("JOBS_CONFIG", config.as_str())];
    if let Some(url) = &queue_url {
        env.push(("POST_QUEUE_URL", url));
    }
    let notifier = || stack.notifier_with(&env);
    stack.slack.limit_rates(RateLimits::slack(args.speed));

    // Which tasks fail: spread through the burst.
    let failing: Vec<usize> = (0..args.failures).map(|i| i * args.tasks / args.failures.max(1) + 1).collect();
    let base = chrono::Utc::now();
    let lambda = Arc::new(Mutex::new(Lambda::default()));
    let started = Instant::now();
    {
        let mut l = lambda.lock().unwrap();
        for n in 0..args.tasks {
            let (running, stopped) = events(&family, n, base, n as i64 * 20, i64::from(failing.contains(&n)));
            // The fan-out starts over 2 s; the tasks end together 15 s later.
            let run_at = started + Duration::from_millis(n as u64 * 20);
            let stop_at = started + Duration::from_millis(15_000 + n as u64 * 30);
            l.queue.push_back(Pending { event: running, attempt: 0, due: run_at });
            l.queue.push_back(Pending { event: stopped, attempt: 0, due: stop_at });
            l.open += 2;
        }
    }

    let mut environments = tokio::task::JoinSet::new();
    for _ in 0..args.environments {
        let handler = notifier();
        let lambda = lambda.clone();
        let speed = args.speed;
        environments.spawn(async move { environment(handler, lambda, speed).await });
    }
    let consumer = queue_url.clone().map(|url| {
        let handler = notifier();
        let aws = stack.aws.clone();
        let lambda = lambda.clone();
        tokio::spawn(async move { consume(&aws, &url, handler, lambda).await })
    });
    while environments.join_next().await.is_some() {}
    let consumed = match consumer {
        Some(consumer) => consumer.await.unwrap(),
        None => Drained::default(),
    };
    let drained = started.elapsed();
    let (failed_for_good, errors) = {
        let l = lambda.lock().unwrap();
        (l.failed_for_good, l.errors)
    };
    measure(stack, args, &failing, drained, consumed, failed_for_good, errors)
}

/// One execution environment: takes the next due event, handles it within
/// the timeout, and on failure gives it back to Lambda for a retry.
async fn environment(handler: Handler, lambda: Arc<Mutex<Lambda>>, speed: f64) {
    loop {
        let next = {
            let mut l = lambda.lock().unwrap();
            if l.open == 0 {
                return;
            }
            let now = Instant::now();
            let due = l.queue.iter().position(|p| p.due <= now);
            due.and_then(|i| l.queue.remove(i))
        };
        let Some(pending) = next else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let deadline = Timestamp::now() + TIMEOUT;
        let began = Instant::now();
        let result = tokio::time::timeout(TIMEOUT, handler.handle(pending.event.clone(), deadline)).await;
        if std::env::var_os("BURST_DEBUG").is_some() {
            eprintln!(
                "took {} ms, due {} ms late",
                began.elapsed().as_millis(),
                began.duration_since(pending.due).as_millis()
            );
        }
        if std::env::var_os("BURST_DEBUG").is_some() {
            if let Ok(Ok(handled)) = &result {
                let handled = serde_json::to_value(handled).unwrap();
                eprintln!("handled {} {} {handled}", pending.event["detail"]["lastStatus"], handled["action"]);
            }
        }
        let mut l = lambda.lock().unwrap();
        match result {
            Ok(Ok(_)) => l.open -= 1,
            Ok(Err(_)) | Err(_) => {
                if std::env::var_os("BURST_DEBUG").is_some() {
                    let why = match &result {
                        Ok(Err(e)) => e.to_string(),
                        _ => "timed out".into(),
                    };
                    eprintln!("attempt {} failed: {why}", pending.attempt);
                }
                l.errors += 1;
                match RETRY_DELAYS.get(pending.attempt) {
                    Some(delay) => {
                        let due = Instant::now() + delay.div_f64(speed);
                        l.queue.push_back(Pending { event: pending.event, attempt: pending.attempt + 1, due });
                    }
                    None => {
                        l.failed_for_good += 1;
                        l.open -= 1;
                    }
                }
            }
        }
    }
}

/// The post queue's event source, as the tests run it (one message at a
/// time), until the burst is done and the queue is empty.
async fn consume(aws: &aws_config::SdkConfig, url: &str, handler: Handler, lambda: Arc<Mutex<Lambda>>) -> Drained {
    let mut consumed = Drained::default();
    loop {
        // Read before draining: once every event is done, nothing more is queued.
        let finished = lambda.lock().unwrap().open == 0;
        let drained = drain(aws, url, &handler, usize::MAX).await;
        consumed.delivered += drained.delivered;
        consumed.handed_back += drained.handed_back;
        if finished && drained.delivered == 0 {
            return consumed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn measure(
    stack: &Stack,
    args: &Args,
    failing: &[usize],
    drained: Duration,
    consumed: Drained,
    failed_for_good: usize,
    errors: usize,
) -> Value {
    let posted = stack.slack.posted();
    if std::env::var_os("BURST_DEBUG").is_some() {
        for p in &posted {
            eprintln!("{} {:?} {} (updates {})", p.ts, p.thread_ts, p.text, p.updates);
        }
    }
    let rates = stack.slack.rate_counts();
    let l = Channel::of(posted.clone());
    // A task's outcome is visible when a message about it says so: one
    // naming it, or a reply in the thread of one naming it; a group's
    // successes only as its count.
    let about = |p: &Posted, task: &str| {
        names(p, task)
            || p.thread_ts.as_ref().is_some_and(|ts| l.top_level.iter().any(|t| &t.ts == ts && names(t, task)))
    };
    let says = |n: usize, word: &str, alone: bool| {
        let task = task_id(n);
        posted.iter().any(|p| {
            !p.text.contains('×')
                && p.text.contains(word)
                && about(p, &task)
                && (!alone || p.thread_ts.is_none() || p.reply_broadcast)
        })
    };
    let successes = args.tasks - failing.len();
    let counted_ok: usize = l.top_level.iter().map(|p| count_in(&p.text, "✅")).sum::<usize>();
    let named_ok = (0..args.tasks).filter(|n| !failing.contains(n) && says(*n, " succeeded", false)).count();
    let failures_named = failing.iter().filter(|n| says(**n, " failed", false)).count();
    let failures_told_alone = failing.iter().filter(|n| says(**n, " failed", true)).count();
    let visible = (counted_ok + named_ok).min(successes) + failures_named;
    // The same notice twice: a task's start, or its failure, posted more than once.
    let mut told: HashMap<(String, bool), usize> = HashMap::new();
    for p in posted.iter() {
        for n in 0..args.tasks {
            if names(p, &task_id(n)) {
                *told.entry((task_id(n), p.thread_ts.is_some())).or_default() += 1;
            }
        }
    }
    let duplicates: usize = told.values().map(|c| c.saturating_sub(1)).sum();
    let accepted = rates.posts_accepted + rates.updates_accepted;
    let limited = rates.posts_limited + rates.updates_limited;
    json!({
        "tasks": args.tasks, "environments": args.environments, "failing_tasks": failing.len(),
        "group_window": args.group_window, "queue": args.queue, "slack_speed": args.speed,
        "outcomes_visible": visible,
        "failures_told_on_their_own": failures_told_alone,
        "failed_for_good": failed_for_good, "failed_attempts": errors,
        "duplicates": duplicates,
        "rejected_per_accepted": if accepted == 0 { 0.0 } else { limited as f64 / accepted as f64 },
        "posts_accepted": rates.posts_accepted, "posts_rejected": rates.posts_limited,
        "updates_accepted": rates.updates_accepted, "updates_rejected": rates.updates_limited,
        "posts_in_channel": l.top_level.len() + l.replies.iter().filter(|p| p.reply_broadcast).count(),
        "top_level_posts": l.top_level.len(), "thread_replies": l.replies.len(),
        "queued_deliveries": consumed.delivered, "queued_handed_back": consumed.handed_back,
        "drain_seconds": (drained.as_secs_f64() * 10.0).round() / 10.0,
    })
}

/// The channel as a reader sees it.
struct Channel {
    top_level: Vec<Posted>,
    replies: Vec<Posted>,
}

impl Channel {
    fn of(posted: Vec<Posted>) -> Channel {
        let (replies, top_level) = posted.into_iter().partition(|p| p.thread_ts.is_some());
        Channel { top_level, replies }
    }
}

fn names(p: &Posted, task: &str) -> bool {
    p.visible().contains(task)
}

/// `58 ✅` in a group's headline: 58.
fn count_in(headline: &str, mark: &str) -> usize {
    if !headline.contains('×') {
        return 0;
    }
    headline
        .split(" · ")
        .flat_map(|part| part.split(" — "))
        .filter_map(|part| part.trim().strip_suffix(mark))
        .filter_map(|n| n.trim().parse::<usize>().ok())
        .sum()
}

fn print_report(args: &Args, r: &Value) {
    println!(
        "burst: {} tasks ({} failing), {} environments, group_window {} s, {}, Slack limits at {}× speed",
        args.tasks,
        r["failing_tasks"],
        args.environments,
        args.group_window,
        if args.queue { "post queue" } else { "no post queue" },
        args.speed
    );
    let rows = [
        ("outcomes visible", format!("{} / {}", r["outcomes_visible"], args.tasks)),
        ("failures told on their own", format!("{} / {}", r["failures_told_on_their_own"], r["failing_tasks"])),
        ("events failed for good (failed attempts)", format!("{} ({})", r["failed_for_good"], r["failed_attempts"])),
        ("duplicates", r["duplicates"].to_string()),
        ("429s per accepted call", format!("{:.3}", r["rejected_per_accepted"].as_f64().unwrap_or_default())),
        (
            "posts / updates accepted (rejected)",
            format!(
                "{} ({}) / {} ({})",
                r["posts_accepted"], r["posts_rejected"], r["updates_accepted"], r["updates_rejected"]
            ),
        ),
        ("posts in the channel", r["posts_in_channel"].to_string()),
        ("time to drain", format!("{} s", r["drain_seconds"])),
    ];
    for (name, value) in rows {
        println!("  {name:<38} {value}");
    }
}
