//! The README's first command: the replay of `events/` through the real
//! handler, with no AWS account and no token.

use std::process::Command;

fn replay(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_replay"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(args)
        .output()
        .expect("run replay");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn sample_events() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/events"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| format!("events/{}", p.file_name().unwrap().to_string_lossy()))
        .collect();
    files.sort(); // as the shell expands events/*.json
    files
}

#[test]
fn every_file_in_events_replays_with_no_configuration() {
    let files = sample_events();
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    let (ok, out) = replay(&args);
    assert!(ok, "{out}");
    for want in [
        "notification: ❌ market-pulse-reddit-scraper failed to start",
        "notification: 🚀 market-pulse-analyze-sentiment started",
        "notification: 🚀 market-pulse-collect-stock-prices started",
        "reply in thread 1700000000.000004 · ts 1700000000.000006",
        "notification: ❌ market-pulse-analyze-sentiment failed after 12m 18s",
        // Its likely cause, and what changed since yesterday's success
        // (events/ecs-task-previous-success.json).
        "(*Likely cause:* the container ran out of memory and was killed · *Check:* raise the task's or the container's memory",
        "(Changed since the last success (2026-11-25 14:04 UTC): task definition revision 41 → 42 · image market-pulse-jobs:2026.11.25-8a1b2c3 → market-pulse-jobs:2026.11.26-3f9c2e1)",
        "reply in thread 1700000000.000005 · ts 1700000000.000007",
        "notification: ✅ market-pulse-collect-stock-prices succeeded in 4m 1s",
        "message 1700000000.000005 updated",
        // events/ecs-tasks-fan-out.json: two tasks of one job, one message.
        "notification: 🚀 market-pulse-reddit-scraper ×2 — 2 running",
        "notification: ❌ market-pulse-reddit-scraper ×2 — 1 ✅ · 1 ❌",
        "reply in thread 1700000000.000008 · ts 1700000000.000009",
        "--> joined_group",
        "notification: 🎉 New user signed up: ada@example.com",
        // events/spot-interruption.json: Spot's warning, a reply in the start
        // message's thread; then the interrupted run's outcome.
        "reply in thread 1700000000.000012 · ts 1700000000.000013",
        "│ notification: ⚠️ Spot is reclaiming market-pulse-reddit-scraper: it will be stopped in about 2 minutes",
        "│   *⚠️ Spot is reclaiming this task: it will be stopped in about 2 minutes*",
        "│ notification: ⚠️ market-pulse-reddit-scraper is being interrupted by Spot",
        "--> posted_stop_notice",
        "reply in thread 1700000000.000012 · ts 1700000000.000014",
        "│ notification: ⚠️ market-pulse-reddit-scraper interrupted by Spot after 9m 15s",
        // events/logs-subscription.json, after the task's completion: still in its thread.
        "reply in thread 1700000000.000005 · ts 1700000000.000010",
        "notification: ❗ market-pulse-collect-stock-prices log: 1 error, 1 warning",
        "--> posted_log_lines",
        // events/scheduled-event.json, at 09:00 the next day: the digest of the runs before it.
        "notification: 📊 Jobs in the last 24 h: 5 runs, 3 failed, 0 missed",
        "✅ *market-pulse-collect-stock-prices*  1 run · 100% ok · median 4m 1s · p95 4m 1s · 0 missed",
        "--> watched",
        "skipped: a `sam local invoke --env-vars` file, not an event",
        "--> skipped: registration#usr_01JD8Z6T1M4K2Q9R7X3V5B0N8C was posted already",
    ] {
        assert!(out.contains(want), "{want:?} not in:\n{out}");
    }
    assert!(!out.contains("--> error"), "{out}");
    // The JSON only with --json; every message has its Block Kit Builder link.
    assert!(!out.contains(r#""action":"#) && !out.contains(r#""blocks":"#), "{out}");
    let previews = out.matches("\n┌─ ").count();
    assert_eq!(out.matches("└─ in Slack's Block Kit Builder: link [").count(), previews, "{out}");
    let links: Vec<&str> = out.lines().filter(|l| l.starts_with('[') && l.contains("] https://")).collect();
    assert_eq!(links.len(), previews, "{out}");
    assert!(links.iter().all(|l| l.contains("https://app.slack.com/block-kit-builder/#%7B%22blocks%22:")), "{out}");
}

#[test]
fn json_shows_each_message_and_each_answer() {
    let (ok, out) = replay(&["--json", "events/ecs-task-running.json", "events/user-registered.json"]);
    assert!(ok, "{out}");
    assert!(out.contains(r#"--> {"action":"posted_start","#), "{out}");
    assert!(
        out.contains(
            r##"   JSON: {"channel":"#jobs-preview","text":"🚀 market-pulse-collect-stock-prices started","blocks":["##
        ),
        "{out}"
    );
    assert!(out.contains(r#""action":"posted_registration""#), "{out}");
}

#[test]
fn a_local_log_file_shows_the_job_summary() {
    let (ok, out) = replay(&[
        "--log-file",
        "events/logs/collect-stock-prices.log",
        "events/ecs-task-running.json",
        "events/ecs-task-stopped-success.json",
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("⚠️ market-pulse-collect-stock-prices succeeded in 4m 1s, 5 failed"), "{out}");
    assert!(out.contains("*rows_written*: 498"), "{out}");
}

#[test]
fn a_local_log_file_previews_log_streaming() {
    let (ok, out) = replay(&["--stream-log", "events/logs/collect-stock-prices.log", "events/ecs-task-running.json"]);
    assert!(ok, "{out}");
    assert!(out.contains("--> streaming the --stream-log lines into its thread"), "{out}");
    assert!(out.contains("reply in thread 1700000000.000001"), "{out}");
    assert!(out.contains("notification: ⚠️ market-pulse-collect-stock-prices log: 2 warnings"), "{out}");
    assert!(out.contains("no quote for BF.B") && !out.contains("loaded 503 tickers from"), "{out}");
}

#[test]
fn a_bad_file_is_an_error_and_the_rest_still_replays() {
    let (ok, out) = replay(&["Cargo.toml", "events/ecs-task-running.json"]);
    assert!(!ok);
    assert!(out.contains("--> error: Cargo.toml: not JSON"), "{out}");
    assert!(out.contains("--> posted_start") && out.contains("1 failure(s) in 2 file(s), 1 event(s)"), "{out}");
}

/// A file of `bytes` in a directory of its own, for one test.
fn temp_file(name: &str, bytes: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("replay-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn what_cannot_be_read_says_why() {
    let bom = temp_file(
        "bom.json",
        &[b"\xEF\xBB\xBF".as_slice(), &std::fs::read("events/ecs-task-running.json").unwrap()].concat(),
    );
    let numbers = temp_file("numbers.json", b"[1, 2]");
    let empty = temp_file("empty.json", b"[]");
    let (ok, out) = replay(&[&bom, &numbers, &empty]);
    assert!(!ok, "{out}");
    assert!(out.contains("--> posted_start"), "a byte-order mark is no error: {out}");
    assert!(
        out.contains(
            "numbers.json: entry 0 (1) is not an event: each entry of a list must be an event as the Lambda receives it"
        ),
        "{out}"
    );
    assert!(out.contains("--> 0 events: the file holds an empty list"), "{out}");
    assert!(out.contains("1 failure(s) in 3 file(s), 1 event(s)"), "{out}");
}

#[test]
fn a_bad_configuration_file_is_named_with_the_field() {
    let jobs = br#"{"jobs": [{"match": {"family": "x"}, "name": "x", "schedule": "cron(0 6 * * * *)"}]}"#;
    let config = temp_file("jobs.json", jobs);
    let (ok, out) = replay(&["--config", &config, "events/ecs-task-running.json"]);
    assert!(!ok);
    let want = format!(
        "JOBS_CONFIG_FILE {config}: jobs[0].schedule: cron(0 6 * * * *): AWS requires ? in day-of-month or day-of-week"
    );
    assert!(out.contains(&want), "{want}\n{out}");
    let config = temp_file(
        "hours.json",
        br#"{"jobs": [{"match": {"family": "x"}, "name": "x", "schedule": "cron(0 25 * * ? *)"}]}"#,
    );
    let (_, out) = replay(&["--config", &config, "events/ecs-task-running.json"]);
    assert!(out.contains("jobs[0].schedule: cron(0 25 * * ? *): hours: 25 is out of range (0-23)"), "{out}");
}

#[test]
fn the_example_configuration_shows_the_products_job_names() {
    let files = sample_events();
    let mut args = vec!["--config", "config/jobs.example.json"];
    args.extend(files.iter().map(String::as_str));
    let (ok, out) = replay(&args);
    assert!(ok, "{out}");
    // What the README's first command shows: a start, a threaded success
    // with the start updated, a failure with its reason, a task that never
    // started, a group, a streamed log reply, a sign-up and a digest.
    for want in [
        "notification: 🚀 analyze_sentiment started",
        "notification: ❌ reddit_scraper failed to start",
        "```CannotPullContainerError: pull image manifest has been retried 7 time(s)",
        // Mentions come from the configuration, on failures only.
        "reply in thread 1700000000.000004 · ts 1700000000.000006",
        "notification: <@U024BE7LH> ❌ analyze_sentiment failed after 12m 18s",
        "```OutOfMemoryError: Container killed due to memory usage```",
        "Changed since the last success (2026-11-25 14:04 UTC): task definition revision 41 → 42",
        // The rule's runbook, on its failures.
        "(Task in the ECS console ↗ · Logs ↗ · 📖 Runbook ↗)",
        "message 1700000000.000004 updated",
        // The historical run has a channel of its own.
        "┌─ C0PRICES · new message · ts 1700000000.000005",
        "notification: 🚀 collect_stock_prices_historical started",
        "┌─ C0PRICES · reply in thread 1700000000.000005 · ts 1700000000.000007",
        "notification: ✅ collect_stock_prices_historical succeeded in 4m 1s",
        "┌─ C0PRICES · message 1700000000.000005 updated",
        "notification: 🚀 reddit_scraper_backfill ×2 — 2 running",
        "notification: ❌ reddit_scraper_backfill ×2 — 1 ✅ · 1 ❌",
        "┌─ C0PRICES · reply in thread 1700000000.000005 · ts 1700000000.000010",
        "notification: ❗ collect_stock_prices_historical log: 1 error, 1 warning",
        "notification: 📊 Jobs in the last 24 h: 4 runs, 3 failed, 0 missed",
        "notification: 🎉 New user signed up: ada@example.com",
    ] {
        assert!(out.contains(want), "{want:?} not in:\n{out}");
    }
    for family_name in ["market-pulse-analyze-sentiment started", "market-pulse-reddit-scraper failed", "market-pulse-"]
    {
        let shown =
            out.lines().any(|l| (l.starts_with("│ ▌") || l.contains("notification:")) && l.contains(family_name));
        assert!(!shown, "{family_name:?} shown as a job name:\n{out}");
    }
}

#[test]
fn config_wins_over_the_environment_and_a_bad_one_is_named() {
    let (ok, out) = replay(&["--config", "/no/such/jobs.json", "events/ecs-task-running.json"]);
    assert!(!ok);
    assert!(out.contains("reading JOBS_CONFIG_FILE /no/such/jobs.json"), "{out}");

    let (ok, out) = replay(&["events/ecs-task-running.json", "--config"]);
    assert!(!ok);
    assert!(out.contains("replay: --config needs a FILE") && out.contains("usage: replay"), "{out}");

    let out = Command::new(env!("CARGO_BIN_EXE_replay"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_clear()
        .env("JOBS_CONFIG", r#"{"jobs": [{"match": {"family": "*"}, "name": "from_the_environment"}]}"#)
        .args(["--config", "config/jobs.example.json", "events/ecs-task-running-before-failure.json"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("🚀 analyze_sentiment started") && !text.contains("from_the_environment"), "{text}");
}
