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
