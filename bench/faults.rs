//! The fault benchmark (`bash bench/faults.sh`, docs/performance.md, "DynamoDB under load"):
//! exactly once on DynamoDB as it answers under load.
//!
//! 1. Runs, over three seeds, at least 60 single runs and a group of 40,
//!    with duplicates, STOPPED before RUNNING, 4 concurrent execution
//!    environments and Lambda's two retries; DynamoDB faults at 8 % per
//!    kind per write (throttles, 500s, conflicts) plus 5 % writes applied
//!    then answered 500; Slack refusing 10 % of calls. Prints each task's
//!    outcome and the totals (tests/common/dynamodb_faults.rs).
//! 2. With `--fan-out N`, fans out N tasks of one job (5,000 in the issue)
//!    and prints the largest item (bytes, as DynamoDB sizes it) and the
//!    write units a RUNNING and a STOPPED cost at tasks 1, 2 and N (the
//!    fault layer's accounting).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::Stack;
use common::dynamodb_faults::{Scenario, reset_stats, run, stats};
use serde_json::json;

use ecs_slack_notifier::time::Timestamp;

const USAGE: &str = "usage: faults [--tasks N] [--group N] [--seeds N] [--fan-out N] [--verbose]";

struct Args {
    tasks: usize,
    group: usize,
    seeds: u64,
    fan_out: usize,
    verbose: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { tasks: 60, group: 40, seeds: 3, fan_out: 0, verbose: false };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            it.next().ok_or(format!("{name} needs a value"))?.parse().map_err(|e| format!("{name}: {e}"))
        };
        match flag.as_str() {
            "--tasks" => args.tasks = number("--tasks")?,
            "--group" => args.group = number("--group")?,
            "--seeds" => args.seeds = number("--seeds")? as u64,
            "--fan-out" => args.fan_out = number("--fan-out")?,
            "--verbose" => args.verbose = true,
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(args)
}

fn scenario(tasks: usize, group: bool, seed: u64) -> Scenario {
    Scenario::under_load(tasks, group, seed, Duration::from_millis(500))
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut all_right = true;
    println!(
        "seed  kind    tasks  right  failed-for-good  duplicates  stale  injected (throttle/500/conflict/txn-conflict/ambiguous)  slack refused  s"
    );
    for seed in 1..=args.seeds {
        for (group, tasks) in [(false, args.tasks), (true, args.group)] {
            let Some(stack) = Stack::new().await else {
                eprintln!("no moto: set MOTO_ENDPOINT");
                std::process::exit(2);
            };
            let started = Instant::now();
            let report = run(&stack, &scenario(tasks, group, seed)).await;
            let right = if group { if report.group_right() { tasks } else { 0 } } else { report.right() };
            let i = &report.injected["injected"];
            println!(
                "{seed:>4}  {:<6} {tasks:>6} {right:>6} {:>16} {:>11} {:>6}  {}/{}/{}/{}/{}  {:>13}  {:.1}",
                if group { "group" } else { "single" },
                report.failed_for_good,
                report.duplicates,
                report.stale,
                i["throttle"],
                i["server_error"],
                i["conflict"],
                i["transaction_conflict"],
                i["ambiguous"],
                report.slack_refused,
                started.elapsed().as_secs_f64()
            );
            if group {
                println!("      group message: {}", report.group_text.as_deref().unwrap_or("(none)"));
            }
            if args.verbose || right < tasks {
                for (name, task) in &report.tasks {
                    println!("      {} {name}: {task:?}", if task.right() { "ok " } else { "BAD" });
                }
            }
            all_right &= right == tasks && report.failed_for_good == 0 && report.duplicates == 0 && report.stale == 0;
        }
    }
    if args.fan_out > 0 {
        fan_out(args.fan_out).await;
    }
    std::process::exit(if all_right { 0 } else { 1 });
}

/// N tasks of one job: the first two and the last alone, to measure what
/// their events cost; the rest as a burst across many environments.
async fn fan_out(n: usize) {
    let Some(stack) = Stack::new().await else { return };
    let started = Instant::now();
    println!("\nfan-out: {n} tasks of one job (one group)");
    println!("task   RUNNING WCU  STOPPED WCU");
    let events = |i: usize| {
        let id = format!("{i:032x}");
        let (mut running, _) = common::task_event("events/ecs-task-running.json", &id);
        let (mut stopped, _) = common::task_event("events/ecs-task-stopped-success.json", &id);
        for event in [&mut running, &mut stopped] {
            event["detail"]["group"] = json!("family:fan-out");
            event["detail"]["startedAt"] = json!("2026-11-26T13:00:00Z");
        }
        (running, stopped)
    };
    let deadline = || Timestamp::now() + Duration::from_secs(30);
    let measure = |i: usize| {
        let stack = &stack;
        async move {
            let (running, stopped) = events(i);
            let mut cost = Vec::new();
            for event in [running, stopped] {
                reset_stats(&stack.moto, &stack.table).await;
                stack.notifier().handle(event, deadline()).await.expect("handled");
                cost.push(stats(&stack.moto, &stack.table).await["wcu"].as_f64().unwrap_or_default());
            }
            println!("{i:>5}  {:>11}  {:>11}", cost[0], cost[1]);
        }
    };
    measure(1).await;
    measure(2).await;
    // The rest at once, 16 environments, as Lambda scales out for a burst.
    let queue = std::sync::Arc::new(std::sync::Mutex::new((3..n).collect::<Vec<_>>()));
    let mut running = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (queue, notifier) = (queue.clone(), stack.notifier());
        running.spawn(async move {
            loop {
                let Some(i) = queue.lock().unwrap().pop() else { return };
                if i % 500 == 0 {
                    eprintln!("fan-out: {i} tasks left");
                }
                let (start, stop) = events(i);
                for event in [start, stop] {
                    let _ = notifier.handle(event, deadline()).await;
                }
            }
        });
    }
    while running.join_next().await.is_some() {}
    measure(n).await;
    let largest = &stats(&stack.moto, &stack.table).await["largest_item"];
    println!("largest item after {n} tasks: {} bytes ({})", largest["bytes"], largest["key"]["pk"]);
    println!("fan-out took {:.0} s", started.elapsed().as_secs_f64());
}
