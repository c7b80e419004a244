//! Where the notifier's start-up time goes, step by step (the benchmark's
//! init figure is the whole process; this splits the part in `main`). Init
//! itself runs only the first two steps (tracing, config); the clients are
//! built on the first event (src/main.rs), so the rest is that event's:
//! `CARGO_TARGET_DIR=target/bench cargo build --release --example init_probe`,
//! then run it with the Lambda's environment variables set.
//!
//! It first prints what the loader did before `main`: the probe's own kind
//! of executable and relocations, and, given a path (e.g.
//! `target/bench/lambda/ecs-slack-notifier/bootstrap`), that binary's.

use std::time::Instant;

#[path = "../tests/common/elf.rs"]
mod elf;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let own = std::env::current_exe().unwrap();
    for path in std::iter::once(own).chain(std::env::args_os().skip(1).map(Into::into)) {
        match elf::relocations(&path) {
            Ok(r) => eprintln!(
                "{}: {}, {}, {} relocations ({} relative)",
                path.display(),
                if r.pie { "PIE" } else { "fixed address (no PIE)" },
                if r.dynamic { "dynamically linked" } else { "static" },
                r.total,
                r.relative
            ),
            Err(e) => eprintln!("{e}"),
        }
    }
    let t = Instant::now();
    let mut last = t;
    let mut lap = |what: &str| {
        let now = Instant::now();
        eprintln!("{what:30} {:>8.3} ms", (now - last).as_secs_f64() * 1e3);
        last = now;
    };
    ecs_slack_notifier::logging::init(std::io::stdout);
    lap("tracing");
    let config = ecs_slack_notifier::config::Config::from_env(ecs_slack_notifier::config::Needs::LAMBDA).unwrap();
    lap("config");
    let http = ecs_slack_notifier::tls::aws_http_client().unwrap();
    lap("aws http client");
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http).load().await;
    lap("aws_config load");
    let d = aws_sdk_dynamodb::Client::new(&aws);
    lap("dynamodb client");
    let s = aws_sdk_secretsmanager::Client::new(&aws);
    lap("secrets client");
    let c = ecs_slack_notifier::tls::slack_client_config().unwrap();
    lap("slack tls config");
    let r = reqwest::Client::builder().tls_backend_preconfigured(c).build().unwrap();
    lap("reqwest build");
    let n = ecs_slack_notifier::app::lambda_handler(config, &aws).unwrap();
    lap("lambda_notifier (all again)");
    drop((d, s, r, n));
}
