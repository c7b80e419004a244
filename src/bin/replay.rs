//! Replays event files through the Lambda's own handler: EventBridge
//! events and CloudWatch Logs subscription deliveries.
//!
//! With no configuration it needs no AWS account and no token: threads are
//! kept in memory and each Slack message is printed instead of posted, with
//! a link that opens it in Slack's Block Kit Builder (`--json`: and the
//! JSON that would be sent, and each invocation's answer). Set
//! `SLACK_BOT_TOKEN` (or `SLACK_TOKEN_SECRET_ID`) and `SLACK_DEFAULT_CHANNEL`
//! to post for real, and `THREADS_TABLE` to keep threads in DynamoDB.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use ecs_slack_notifier::adapters::clock::NoWaitClock;
use ecs_slack_notifier::adapters::console::ConsolePoster;
use ecs_slack_notifier::adapters::ecs_control::NoControl;
use ecs_slack_notifier::adapters::file_logs::FileLogs;
use ecs_slack_notifier::adapters::memory::MemoryStore;
use ecs_slack_notifier::adapters::schedules::NoSchedules;
use ecs_slack_notifier::adapters::slack_http::SlackHttp;
use ecs_slack_notifier::adapters::task_definitions::{EcsTaskDefinitions, NoTaskDefinitions};
use ecs_slack_notifier::app;
use ecs_slack_notifier::config::{Config, Needs, TokenConfig};
use ecs_slack_notifier::handler::Handler;
use ecs_slack_notifier::ports::{
    Clock, GroupStore, JobStore, LogSource, Ports, SlackPoster, TaskDefinitions, TaskIndex, ThreadStore,
};
use ecs_slack_notifier::time::Timestamp;
use serde_json::{Value, json};

const USAGE: &str = "usage: replay [--config FILE] [--log-file FILE] [--stream-log FILE] [--json] EVENT.json [EVENT.json ...]\n\
    Runs each event file through the notifier's handler, in order; a file may hold a list\n\
    of events (e.g. events/burst/backfill.json) or `put-events` entries.\n\
    Without SLACK_BOT_TOKEN / SLACK_TOKEN_SECRET_ID the messages are printed, not posted.\n\
    --config FILE: the job configuration (as JOBS_CONFIG_FILE), e.g. config/jobs.example.json.\n\
    --log-file FILE: read job summaries and failure logs from FILE (as the end of each task's log).\n\
    --stream-log FILE: after each start message, deliver FILE's lines as the task's log stream\n\
    (a CloudWatch Logs subscription batch), to preview log streaming.\n\
    --json: also print each message's JSON, and each invocation's answer as JSON.\n\
    Each message ends with a link that opens it in Slack's Block Kit Builder.";

/// The channel shown in previews when none is configured.
const PREVIEW_CHANNEL: &str = "#jobs-preview";

#[derive(Debug, Default, PartialEq)]
struct Args {
    config: Option<String>,
    log_file: Option<PathBuf>,
    stream_log: Option<PathBuf>,
    files: Vec<PathBuf>,
    json: bool,
    help: bool,
}

/// Options (`--name VALUE` or `--name=VALUE`) and event files, in any order.
fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Args, String> {
    let mut parsed = Args::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str().filter(|a| a.starts_with('-')) else {
            parsed.files.push(PathBuf::from(arg));
            continue;
        };
        let (name, inline) = match text.split_once('=') {
            Some((name, value)) => (name, Some(OsString::from(value))),
            None => (text, None),
        };
        let mut value = || inline.clone().or_else(|| args.next()).ok_or_else(|| format!("{name} needs a FILE"));
        match name {
            "-h" | "--help" => parsed.help = true,
            "--json" => parsed.json = true,
            "--config" => {
                let file = value()?;
                let file = file.into_string().map_err(|f| format!("--config {f:?}: not a UTF-8 path"))?;
                parsed.config = Some(file);
            }
            "--log-file" => parsed.log_file = Some(PathBuf::from(value()?)),
            "--stream-log" => parsed.stream_log = Some(PathBuf::from(value()?)),
            _ => return Err(format!("unknown option {text}")),
        }
    }
    Ok(parsed)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args_os().skip(1)) {
        Ok(args) if args.help => {
            eprintln!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(args) if !args.files.is_empty() => args,
        Ok(_) => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("replay: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if std::env::var_os("AWS_LAMBDA_LOG_LEVEL").is_none() && std::env::var_os("RUST_LOG").is_none() {
        // The preview is the output; decisions show with RUST_LOG=info.
        // SAFETY: no other thread reads the environment yet.
        unsafe { std::env::set_var("AWS_LAMBDA_LOG_LEVEL", "WARN") };
    }
    ecs_slack_notifier::logging::init(std::io::stderr);
    let stream_lines = match args.stream_log.as_deref().map(std::fs::read_to_string).transpose() {
        Ok(text) => text.map(|t| t.lines().map(str::to_owned).collect::<Vec<_>>()),
        Err(e) => {
            eprintln!("replay: --stream-log: {e}");
            return ExitCode::from(2);
        }
    };

    let has_token = ["SLACK_TOKEN_SECRET_ID", "SLACK_BOT_TOKEN"].iter().any(|v| std::env::var_os(v).is_some());
    let lookup = |name: &str| {
        let value = std::env::var(name).ok();
        match name {
            "SLACK_DEFAULT_CHANNEL" if !has_token => value.or_else(|| Some(PREVIEW_CHANNEL.into())),
            // --config wins over the environment's job configuration.
            "JOBS_CONFIG" if args.config.is_some() => None,
            "JOBS_CONFIG_FILE" if args.config.is_some() => args.config.clone(),
            _ => value,
        }
    };
    let mut config = match Config::from_lookup(lookup, Needs { table: false, token: false }) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if std::env::var_os("ENVIRONMENT").is_none() {
        // A label for the preview's messages; not one for their
        // notification text, which only a set ENVIRONMENT gets.
        config.settings.environment = "local".into();
    }
    // AWS is only asked for what the configuration names: a plain preview
    // runs with no AWS account and no network.
    let needs_aws =
        config.threads_table.is_some() || config.read_job_logs || matches!(config.token, TokenConfig::Secret(_));
    let aws = if needs_aws { app::load_aws_config().await } else { aws_config::SdkConfig::builder().build() };
    // Local adapters (memory, console, a log file) unless the configuration
    // names real ones.
    #[allow(clippy::type_complexity)]
    let (store, tasks, jobs, groups): (
        Box<dyn ThreadStore>,
        Box<dyn TaskIndex>,
        Box<dyn JobStore>,
        Box<dyn GroupStore>,
    ) = match &config.threads_table {
        Some(table) => {
            let table = app::dynamo_store(table, &aws);
            (Box::new(table.clone()), Box::new(table.clone()), Box::new(table.clone()), Box::new(table))
        }
        None => {
            let memory = MemoryStore::new();
            (Box::new(memory.clone()), Box::new(memory.clone()), Box::new(memory.clone()), Box::new(memory))
        }
    };
    let secrets = Arc::new(app::tokens(&config, &aws));
    let mut links = None;
    let slack: Box<dyn SlackPoster> = match &config.token {
        TokenConfig::Missing => {
            let console = ConsolePoster::stdout(args.json);
            links = Some(console.links());
            Box::new(console)
        }
        _ => match SlackHttp::new(&config.slack_api_url, secrets.clone()) {
            Ok(slack) => Box::new(slack.with_response_url_prefix(&config.slack_response_url_prefix)),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        },
    };
    // Task definitions are read from ECS only when job logs are (JOB_LOGS on).
    let definitions: Arc<dyn TaskDefinitions> = match config.read_job_logs {
        true => Arc::new(EcsTaskDefinitions::new(&aws)),
        false => Arc::new(NoTaskDefinitions),
    };
    let logs: Box<dyn LogSource> = match args.log_file {
        Some(path) => Box::new(FileLogs::new(path)),
        None => app::job_logs(&config, &aws, definitions.clone()),
    };
    let clock = Arc::new(NoWaitClock::default());
    let ports = Ports {
        store,
        tasks,
        jobs,
        groups,
        // A replay posts a burst's posts itself, one after another.
        outbox: None,
        slack,
        logs,
        task_definitions: definitions,
        schedules: Box::new(NoSchedules),
        control: Box::new(NoControl),
        deferral: std::sync::Arc::new(ecs_slack_notifier::adapters::deferral::NoDeferral),
        secrets,
        // Events are handled one after another: what the function would
        // wait out (a group's turns) takes no real time.
        clock: clock.clone(),
    };
    let replay = Replay { handler: Handler::new(config.settings, ports), clock, json: args.json };
    let code = replay.run(&args.files, stream_lines.as_deref()).await;
    let links = links.map(|links| links.lock().map(|l| l.clone()).unwrap_or_default()).unwrap_or_default();
    if !links.is_empty() {
        println!("\n=== Block Kit Builder: open a link to see its message as Slack renders it");
        for (n, link) in links.iter().enumerate() {
            println!("[{}] {link}", n + 1);
        }
    }
    code
}

struct Replay {
    handler: Handler,
    clock: Arc<NoWaitClock>,
    json: bool,
}

impl Replay {
    async fn run(&self, files: &[PathBuf], stream_lines: Option<&[String]>) -> ExitCode {
        let handler = &self.handler;
        let (mut handled, mut failed) = (0, 0);
        for file in files {
            println!("\n=== {}", file.display());
            let payloads = match read_events(file) {
                Ok(Read::Events(payloads)) if payloads.is_empty() => {
                    println!("--> 0 events: the file holds an empty list");
                    continue;
                }
                Ok(Read::Events(payloads)) => payloads,
                Ok(Read::EnvVars) => {
                    println!("--> skipped: a `sam local invoke --env-vars` file, not an event");
                    continue;
                }
                Err(e) => {
                    println!("--> error: {}: {e}", file.display());
                    failed += 1;
                    continue;
                }
            };
            for payload in payloads {
                let stream = stream_lines.and_then(|lines| streamed(&payload, lines));
                let mut started = false;
                for payload in std::iter::once(payload).chain(stream) {
                    if started {
                        println!("--> streaming the --stream-log lines into its thread");
                    }
                    handled += 1;
                    let deadline = self.clock.now() + Duration::from_secs(60);
                    match handler.handle(payload, deadline).await {
                        Ok(outcome) => {
                            let json = serde_json::to_value(&outcome).unwrap_or_default();
                            match self.json {
                                true => println!("--> {json}"),
                                false => println!("--> {}", said(&json)),
                            }
                            started = json["action"] == "posted_start";
                        }
                        Err(e) => {
                            println!("--> error: {e}");
                            failed += 1;
                        }
                    }
                    if !started {
                        break;
                    }
                }
            }
        }
        if failed > 0 {
            eprintln!("{failed} failure(s) in {} file(s), {handled} event(s)", files.len());
            return ExitCode::FAILURE;
        }
        ExitCode::SUCCESS
    }
}

/// An invocation's answer in a few words: what it did, and why when it
/// posted nothing (the previews show what it posted).
fn said(outcome: &Value) -> String {
    let action = outcome["action"].as_str().unwrap_or("done");
    match (outcome["reason"].as_str(), outcome["key"].as_str()) {
        (Some(reason), _) => format!("{action}: {reason}"),
        (None, Some(key)) if action == "skipped" => format!("skipped: {key} was posted already"),
        _ => action.to_owned(),
    }
}

enum Read {
    Events(Vec<Value>),
    EnvVars,
}

/// What an `events/` file holds: an event as the Lambda receives it, the
/// `aws events put-events --entries` form (turned into the events
/// EventBridge would deliver), or the `--env-vars` file for `sam local invoke`.
fn read_events(file: &Path) -> Result<Read, String> {
    let bytes = std::fs::read(file).map_err(|e| e.to_string())?;
    // Some editors and SDKs save JSON with a byte-order mark in front.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    match value {
        // Events in order (a burst), or `put-events` entries.
        Value::Array(entries) => entries.iter().enumerate().map(entry).collect::<Result<_, _>>().map(Read::Events),
        Value::Object(ref map)
            if !["detail-type", "awslogs", "requestContext"].iter().any(|k| map.contains_key(*k))
                && map.values().all(|v| v.as_object().is_some_and(|vars| vars.values().all(Value::is_string))) =>
        {
            Ok(Read::EnvVars)
        }
        event => Ok(Read::Events(vec![event])),
    }
}

/// The subscription delivery of `lines` from the log stream of the task of
/// an ECS task event, as the `awslogs` driver names it.
fn streamed(event: &Value, lines: &[String]) -> Option<Value> {
    let detail = &event["detail"];
    let task_id = detail["taskArn"].as_str()?.rsplit('/').next()?;
    let container = detail["containers"][0]["name"].as_str().unwrap_or("app");
    let now = Timestamp::now().millis();
    let events: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, line)| json!({"id": format!("replay-{now}-{i}"), "timestamp": now, "message": line}))
        .collect();
    Some(ecs_slack_notifier::subscription::encode(&json!({
        "messageType": "DATA_MESSAGE",
        "owner": "000000000000",
        "logGroup": "/ecs/replay",
        "logStream": format!("ecs/{container}/{task_id}"),
        "subscriptionFilters": ["replay"],
        "logEvents": events,
    })))
}

/// An entry of a list: an event, or a `put-events` entry.
fn entry((index, entry): (usize, &Value)) -> Result<Value, String> {
    let has = |key: &str| entry.as_object().is_some_and(|map| map.contains_key(key));
    if has("detail-type") || has("awslogs") {
        return Ok(entry.clone());
    }
    if ["Source", "DetailType", "Detail"].iter().any(|key| has(key)) {
        return delivered(index, entry);
    }
    let mut shown = entry.to_string();
    if shown.chars().count() > 60 {
        shown = shown.chars().take(57).collect::<String>() + "...";
    }
    Err(format!(
        "entry {index} ({shown}) is not an event: each entry of a list must be an event as the Lambda receives it \
         (an object with `detail-type`, or `awslogs`) or a `put-events` entry (with `Source`, `DetailType` and `Detail`)"
    ))
}

/// A PutEvents entry as EventBridge delivers it to a rule's target.
fn delivered(index: usize, entry: &Value) -> Result<Value, String> {
    let field = |name: &str| entry.get(name).and_then(Value::as_str).ok_or_else(|| format!("entry {index}: no {name}"));
    let detail: Value =
        serde_json::from_str(field("Detail")?).map_err(|e| format!("entry {index}: Detail is not JSON: {e}"))?;
    Ok(json!({
        "version": "0",
        "id": format!("replay-{}-{index}", std::process::id()),
        "detail-type": field("DetailType")?,
        "source": field("Source")?,
        "account": "000000000000",
        "time": Timestamp::from_secs(Timestamp::now().secs()).to_rfc3339(),
        "region": "us-east-1",
        "resources": entry.get("Resources").cloned().unwrap_or_else(|| json!([])),
        "detail": detail,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(args.iter().map(OsString::from))
    }

    #[test]
    fn options_in_any_order_before_or_between_files() {
        let want = Args {
            config: Some("config/jobs.example.json".into()),
            log_file: Some("a.log".into()),
            stream_log: Some("s.log".into()),
            files: vec!["e1.json".into(), "e2.json".into()],
            json: false,
            help: false,
        };
        assert_eq!(
            parse(&[
                "--config",
                "config/jobs.example.json",
                "--log-file",
                "a.log",
                "e1.json",
                "--stream-log",
                "s.log",
                "e2.json"
            ]),
            Ok(want)
        );
        let got = parse(&["e1.json", "--log-file=a.log", "--config=c.json", "e2.json"]).unwrap();
        assert_eq!((got.config.as_deref(), got.files.len()), (Some("c.json"), 2));
        assert!(parse(&["-h"]).unwrap().help);
        assert!(parse(&["--json", "e.json"]).unwrap().json);
    }

    #[test]
    fn a_file_of_events_is_delivered_in_order() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/events/burst/backfill.json");
        let Ok(Read::Events(events)) = read_events(Path::new(path)) else { panic!("{path}") };
        let statuses: Vec<&str> = events.iter().map(|e| e["detail"]["lastStatus"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["RUNNING", "RUNNING", "RUNNING", "RUNNING", "STOPPED", "STOPPED", "STOPPED", "STOPPED"]);
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/events/user-registered-put-events.json");
        let Ok(Read::Events(entries)) = read_events(Path::new(path)) else { panic!("{path}") };
        assert_eq!(entries[0]["detail-type"], "User Registered", "put-events entries become events");
    }

    #[test]
    fn a_list_says_what_its_entries_must_be() {
        let dir = std::env::temp_dir().join(format!("replay-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        let numbers = write("numbers.json", b"[1, 2]");
        let Err(e) = read_events(&numbers) else { panic!("[1, 2] read as events") };
        assert!(e.starts_with("entry 0 (1) is not an event: each entry of a list must be an event"), "{e}");
        assert!(e.contains("`put-events` entry (with `Source`, `DetailType` and `Detail`)"), "{e}");
        let partial = write("partial.json", br#"[{"Source": "app", "DetailType": "User Registered"}]"#);
        assert_eq!(read_events(&partial).err().as_deref(), Some("entry 0: no Detail"));
        let Ok(Read::Events(none)) = read_events(&write("empty.json", b"[]")) else { panic!("[] is no events") };
        assert!(none.is_empty());
        let bom = [
            b"\xEF\xBB\xBF".as_slice(),
            br#"{"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}"#,
        ]
        .concat();
        let Ok(Read::Events(events)) = read_events(&write("bom.json", &bom)) else { panic!("a BOM is not JSON?") };
        assert_eq!(events[0]["detail-type"], "Scheduled Event");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_bad_option_is_named() {
        assert_eq!(parse(&["e.json", "--config"]), Err("--config needs a FILE".into()));
        assert_eq!(parse(&["--log-file"]), Err("--log-file needs a FILE".into()));
        assert_eq!(parse(&["--conf", "x.json"]), Err("unknown option --conf".into()));
    }
}
