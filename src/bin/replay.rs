//! Replays EventBridge event files through the Lambda's own handler.
//!
//! With no configuration it needs no AWS account and no token: threads are
//! kept in memory and each Slack message is printed instead of posted. Set
//! `SLACK_BOT_TOKEN` (or `SLACK_TOKEN_SECRET_ID`) and `SLACK_DEFAULT_CHANNEL`
//! to post for real, and `THREADS_TABLE` to keep threads in DynamoDB.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use ecs_slack_notifier::adapters::console::ConsolePoster;
use ecs_slack_notifier::adapters::memory::MemoryStore;
use ecs_slack_notifier::adapters::slack_http::SlackHttp;
use ecs_slack_notifier::app;
use ecs_slack_notifier::config::{Config, Needs, TokenConfig};
use ecs_slack_notifier::handler::Notifier;
use ecs_slack_notifier::ports::{SlackPoster, ThreadStore};

const USAGE: &str = "usage: replay EVENT.json [EVENT.json ...]\n\
    Runs each EventBridge event file through the notifier's handler, in order.\n\
    Without SLACK_BOT_TOKEN / SLACK_TOKEN_SECRET_ID the messages are printed, not posted.";

/// The channel shown in previews when none is configured.
const PREVIEW_CHANNEL: &str = "#jobs-preview";

#[tokio::main]
async fn main() -> ExitCode {
    let files: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if files.is_empty() || files.iter().any(|f| f == "-h" || f == "--help") {
        eprintln!("{USAGE}");
        return if files.is_empty() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    if std::env::var_os("AWS_LAMBDA_LOG_LEVEL").is_none() && std::env::var_os("RUST_LOG").is_none() {
        // The preview is the output; decisions show with RUST_LOG=info.
        // SAFETY: single-threaded so far; nothing else reads the environment yet.
        unsafe { std::env::set_var("AWS_LAMBDA_LOG_LEVEL", "WARN") };
    }
    lambda_runtime::tracing::init_default_subscriber_with_writer(std::io::stderr);

    let has_token = ["SLACK_TOKEN_SECRET_ID", "SLACK_BOT_TOKEN"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    let lookup = |name: &str| {
        let value = std::env::var(name).ok();
        match name {
            "SLACK_DEFAULT_CHANNEL" if !has_token => value.or_else(|| Some(PREVIEW_CHANNEL.into())),
            "ENVIRONMENT" => value.or_else(|| Some("local".into())),
            _ => value,
        }
    };
    let config = match Config::from_lookup(
        lookup,
        Needs {
            table: false,
            token: false,
        },
    ) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // AWS is only asked for what the configuration names: a plain preview
    // runs with no AWS account and no network.
    let needs_aws = config.threads_table.is_some() || matches!(config.token, TokenConfig::Secret(_));
    let aws = if needs_aws {
        app::load_aws_config().await
    } else {
        aws_config::SdkConfig::builder().build()
    };
    let real_slack = config.token != TokenConfig::Missing;
    let table = config.threads_table.clone();
    let tokens = app::tokens(&config, &aws);
    let (settings, api_url) = (config.settings, config.slack_api_url);
    match (table, real_slack) {
        (None, false) => {
            replay(
                Notifier::new(settings, MemoryStore::new(), ConsolePoster::stdout()),
                &files,
            )
            .await
        }
        (Some(t), false) => {
            replay(
                Notifier::new(settings, app::dynamo_store(&t, &aws), ConsolePoster::stdout()),
                &files,
            )
            .await
        }
        (table, true) => {
            let slack = match SlackHttp::new(&api_url, tokens) {
                Ok(slack) => slack,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            match table {
                None => replay(Notifier::new(settings, MemoryStore::new(), slack), &files).await,
                Some(t) => replay(Notifier::new(settings, app::dynamo_store(&t, &aws), slack), &files).await,
            }
        }
    }
}

async fn replay<S: ThreadStore, P: SlackPoster>(notifier: Notifier<S, P>, files: &[PathBuf]) -> ExitCode {
    let mut failed = 0;
    for file in files {
        println!("\n=== {}", file.display());
        let payload = match std::fs::read(file)
            .map_err(|e| e.to_string())
            .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}")))
        {
            Ok(payload) => payload,
            Err(e) => {
                println!("--> error: {}: {e}", file.display());
                failed += 1;
                continue;
            }
        };
        let deadline = SystemTime::now() + Duration::from_secs(60);
        match notifier.handle(payload, deadline).await {
            Ok(handled) => println!("--> {}", serde_json::to_string(&handled).unwrap_or_default()),
            Err(e) => {
                println!("--> error: {e}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} event(s) failed", files.len());
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
