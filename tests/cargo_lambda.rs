//! docs/development.md's Docker-free route, with the real tool: `cargo lambda
//! watch --env-var …`, then `cargo lambda invoke` with the sample events,
//! against moto and the fake Slack.
//!
//! The watch builds the function itself, in the same target directory as
//! this test (cargo holds no lock on it while tests run), as a plain
//! `cargo build` does: the first invocation waits for that build.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::cargo_lambda::{Watch, installed};
use common::{Stack, fake_slack};

#[test]
fn watch_and_invoke_as_the_readme_shows_post_the_start_and_the_threaded_completion() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(stack) = runtime.block_on(Stack::new()) else { return };
    let Some(tool) = installed() else { return };

    // The docs' form: one --env-var with the variables comma-separated;
    // AWS credentials, region and endpoint come from the environment.
    let env_var = format!(
        "SLACK_BOT_TOKEN={},SLACK_DEFAULT_CHANNEL=C0JOBS,THREADS_TABLE={},SLACK_API_URL={}",
        fake_slack::TOKEN,
        stack.table,
        stack.slack.url
    );
    let aws = [
        ("AWS_ENDPOINT_URL", stack.moto.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ];
    let began = Instant::now();
    let watch = Watch::start(&tool, &env_var, &aws);

    let mut responses = Vec::new();
    for file in ["events/ecs-task-running.json", "events/ecs-task-stopped-success.json"] {
        let started = Instant::now();
        // The first invocation waits for the build of the function.
        let out = watch.invoke("ecs-slack-notifier", file, Duration::from_secs(600));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "cargo lambda invoke {file}: {}\n{stdout}\n{}\n--- watch:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            watch.logs()
        );
        let _ = writeln!(std::io::stderr(), "cargo lambda invoke {file}: {:.1} s", started.elapsed().as_secs_f64());
        responses
            .push(serde_json::from_str::<serde_json::Value>(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}")));
    }
    let _ = writeln!(std::io::stderr(), "cargo lambda watch + 2 invocations: {:.1} s", began.elapsed().as_secs_f64());

    assert_eq!(responses[0]["action"], "posted_start", "{responses:?}");
    assert_eq!(responses[1]["action"], "posted_completion", "{responses:?}");
    assert_eq!(responses[1]["threaded"], true, "{responses:?}");
    let posted = stack.slack.posted();
    assert_eq!(posted.len(), 2, "{posted:?}");
    let (start, completion) = (&posted[0], &posted[1]);
    assert_eq!(start.channel, "C0JOBS");
    assert!(start.original_text.contains("market-pulse-collect-stock-prices started"), "{}", start.original_text);
    assert_eq!(completion.thread_ts.as_deref(), Some(start.ts.as_str()), "the completion is in the start's thread");
    assert!(completion.text.contains("succeeded in 4m 1s"), "{}", completion.text);
    assert_eq!(start.updates, 1, "the start message shows the outcome");

    // Why this works: the emulator's constant deadline is taken as unknown.
    let logs = watch.logs();
    assert!(logs.contains("Lambda-Runtime-Deadline-Ms 600000"), "{logs}");
}

/// The local stack as docs/development.md runs it: `scripts/local-stack.sh`'s
/// stand-ins (its Python part, with the venv `scripts/test.sh` made), then
/// `cargo lambda watch --env-file target/local-stack.env` with no AWS
/// setting of its own, then the two invocations. What reaches Slack is
/// read from what the local stack prints, as a person would.
#[test]
fn the_local_stack_route_posts_the_start_and_the_threaded_completion_with_no_aws_account() {
    let Some(tool) = installed() else { return };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python");
    if !python.is_file() {
        eprintln!("\nSKIPPED: the local stack needs the .venv that scripts/test.sh creates\n");
        return;
    }
    let env_file = std::env::temp_dir().join(format!("{}.env", common::unique("local-stack")));
    let printed = std::env::temp_dir().join(format!("{}.log", common::unique("local-stack")));
    let mut stack = std::process::Command::new(&python)
        .arg(root.join("scripts/local_stack.py"))
        .arg(&env_file)
        .current_dir(root)
        .stdout(std::fs::File::create(&printed).unwrap())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("start the local stack");
    let read = || std::fs::read_to_string(&printed).unwrap_or_default();
    let began = Instant::now();
    while !read().contains("ready") {
        assert!(stack.try_wait().unwrap().is_none(), "the local stack exited:\n{}", read());
        assert!(began.elapsed() < Duration::from_secs(60), "the local stack did not get ready:\n{}", read());
        std::thread::sleep(Duration::from_millis(100));
    }
    let env = std::fs::read_to_string(&env_file).unwrap();
    for name in ["AWS_ENDPOINT_URL=", "AWS_ACCESS_KEY_ID=", "THREADS_TABLE=", "SLACK_API_URL=", "SLACK_BOT_TOKEN="] {
        assert!(env.lines().any(|line| line.starts_with(name)), "{name} missing from {env}");
    }

    let watch = Watch::with_env_file(&tool, &env_file);
    let mut actions = Vec::new();
    for file in ["events/ecs-task-running.json", "events/ecs-task-stopped-success.json"] {
        let out = watch.invoke("ecs-slack-notifier", file, Duration::from_secs(600));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "cargo lambda invoke {file}: {stdout}\n--- watch:\n{}", watch.logs());
        let answer: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
        actions.push(answer["action"].as_str().unwrap_or_default().to_owned());
    }
    drop(watch);
    // SIGTERM: the stack stops its moto and removes the env file.
    unsafe { libc::kill(stack.id() as i32, libc::SIGTERM) };
    let _ = stack.wait();
    let printed = read();
    assert_eq!(actions, ["posted_start", "posted_completion"], "{printed}");
    let posts: Vec<&str> = printed.lines().filter(|l| l.starts_with("slack: posted")).collect();
    assert_eq!(posts.len(), 2, "{printed}");
    // `slack: posted <ts> in <channel>[, thread <ts>]`
    let start_ts = posts[0].split_whitespace().nth(2).unwrap();
    assert!(posts[1].ends_with(&format!("thread {start_ts}")), "the completion is in the start's thread:\n{printed}");
    assert!(printed.contains(&format!("slack: updated {start_ts}")), "the start message shows the outcome:\n{printed}");
    assert!(printed.contains("market-pulse-collect-stock-prices started"), "{printed}");
    assert!(printed.contains("local stack: stopped") && !env_file.exists(), "{printed}");
}
