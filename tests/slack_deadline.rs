//! Slack's 3 seconds, whatever the account's size: against moto with AWS's
//! latencies injected (tens of ms per call, hundreds for ECS) and the fake
//! Slack answering in 150 ms, a Re-run click, `/jobs run <job>` and `/jobs
//! stop` from a cold execution environment are answered within 2.5 s of
//! Slack sending them, at 10, 40 and 100 rules with ECS targets; what was
//! deferred is then delivered (twice, as Lambda may) and done exactly once.
//!
//! One test: the injected latency is the moto server's, for every client.
//! `cargo test --test slack_deadline -- --nocapture` prints the figures
//! docs/performance.md, "Slack's requests", quotes.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Stack, ecs, task_event, unique};
use ecs_slack_notifier::adapters::deferral::InProcessDeferral;
use ecs_slack_notifier::app;
use ecs_slack_notifier::config::{Config, Needs};
use ecs_slack_notifier::handler::{Handled, Handler};
use ecs_slack_notifier::signature::{SigningSecret, sign};
use serde_json::{Value, json};

const SIGNING: &str = "e3b0c44298fc1c149afbf4c8996fb924";
/// Re-runs from the button, and stops.
const OPERATOR: &str = "U0OPERATOR";
/// `/jobs run`: its runs are told apart from the re-runs by `startedBy`.
const RUNNER: &str = "U0RUNNER";
const ANSWER_WITHIN: Duration = Duration::from_millis(2500);
const RULE_COUNTS: [usize; 3] = [10, 40, 100];

/// AWS at region latencies (ms, uniform), as the issue measured them.
fn aws_latency() -> Value {
    json!({"dynamodb": [5, 10], "secretsmanager": [30, 30], "events": [50, 80], "scheduler": [50, 80],
           "ecs": [300, 600], "seed": 20})
}

async fn set_latency(moto: &str, latency: &Value) {
    let response = reqwest::Client::new().post(format!("{moto}/_latency")).json(latency).send().await.unwrap();
    assert!(response.status().is_success(), "moto's control API: {}", response.status());
}

/// A new execution environment of one of the two functions, as `main`
/// wires it, deferring into `deferral`.
fn function(stack: &Stack, secret: &str, role: &str, deferral: &InProcessDeferral) -> Handler {
    let mut env = stack.env();
    env.insert("SLACK_TOKEN_SECRET_ID".into(), secret.into());
    env.insert("JOBS_CONFIG".into(), json!({"operators": [OPERATOR, RUNNER]}).to_string());
    env.insert("NOTIFIER_ROLE".into(), role.into());
    let config = Config::from_lookup(|k| env.get(k).cloned(), Needs::LAMBDA).expect("config");
    let mut ports = app::lambda_ports(&config, &stack.aws).expect("ports");
    ports.deferral = Arc::new(deferral.clone());
    Handler::new(config.settings, ports)
}

/// A request as the Function URL hands it over, signed as Slack signs it,
/// sent now: its `timeEpoch` is this instant.
fn signed(body: &str) -> Value {
    let now = chrono::Utc::now();
    let signature = sign(&SigningSecret::new(SIGNING), now.timestamp(), body.as_bytes());
    json!({"version": "2.0", "rawPath": "/", "headers": {"x-slack-request-timestamp": now.timestamp().to_string(),
        "x-slack-signature": signature, "content-type": "application/x-www-form-urlencoded"},
        "requestContext": {"requestId": unique("req"), "http": {"method": "POST", "path": "/", "sourceIp": "203.0.113.9"},
            "timeEpoch": now.timestamp_millis()},
        "body": body, "isBase64Encoded": false})
}

fn press(stack: &Stack, task_arn: &str) -> String {
    let payload = json!({"type": "block_actions", "user": {"id": OPERATOR}, "trigger_id": unique("trigger"),
        "response_url": stack.slack.response_url(&unique("r")),
        "actions": [{"action_id": "rerun_task", "value": task_arn, "type": "button"}]});
    form_urlencoded::Serializer::new(String::new()).append_pair("payload", &payload.to_string()).finish()
}

fn command(stack: &Stack, text: &str, user: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("command", "/jobs")
        .append_pair("text", text)
        .append_pair("user_id", user)
        .append_pair("channel_id", "C0JOBS")
        .append_pair("response_url", &stack.slack.response_url(&unique("c")))
        .append_pair("trigger_id", &unique("trigger"))
        .finish()
}

/// Sends a request to a cold Slack-requests function: its answer, and how
/// long after Slack sent it the answer was out.
async fn answer(stack: &Stack, secret: &str, deferral: &InProcessDeferral, body: &str) -> (Value, Duration) {
    let handler = function(stack, secret, "slack", deferral);
    let sent = Instant::now();
    let handled = handler.handle(signed(body), common::deadline_in(10)).await.unwrap();
    let took = sent.elapsed();
    let Handled::Http(response) = handled else { panic!("not an HTTP answer: {handled:?}") };
    assert_eq!(response.status_code, 200);
    let body = response.body.map(|b| serde_json::from_str(&b).unwrap_or(Value::String(b)));
    (body.unwrap_or(Value::Null), took)
}

/// Delivers every deferred action twice, each to a new environment, as
/// Lambda's asynchronous invocations may be delivered more than once.
async fn deliver_deferred(stack: &Stack, secret: &str, deferral: &InProcessDeferral) -> usize {
    let payloads = deferral.take();
    for payload in &payloads {
        for _ in 0..2 {
            let handler = function(stack, secret, "slack", deferral);
            let handled = handler.handle(payload.clone(), common::deadline_in(10)).await.unwrap();
            assert!(matches!(handled, Handled::Deferred(_)), "{handled:?}");
        }
    }
    assert!(deferral.is_empty(), "a deferred action defers nothing more");
    payloads.len()
}

async fn rules_in_account(aws: &aws_config::SdkConfig) -> usize {
    let events = aws_sdk_eventbridge::Client::new(aws);
    let (mut count, mut next) = (0, None);
    loop {
        let page = events.list_rules().set_next_token(next).send().await.unwrap();
        count += page.rules().len();
        next = page.next_token().map(str::to_owned);
        if next.is_none() {
            return count;
        }
    }
}

/// A task event of `definition` on the cluster, as ECS would send it.
fn event(path: &str, task_arn: &str, cluster: &ecs::Cluster, definition: &str, family: &str) -> Value {
    let (mut event, _) = task_event(path, task_arn.rsplit('/').next().unwrap());
    let detail = &mut event["detail"];
    detail["taskArn"] = json!(task_arn);
    detail["clusterArn"] = json!(cluster.arn);
    detail["taskDefinitionArn"] = json!(definition);
    detail["group"] = json!(format!("family:{family}"));
    detail["attachments"][0]["details"][0]["value"] = json!(cluster.subnet);
    event
}

async fn run_fargate_task(aws: &aws_config::SdkConfig, cluster: &ecs::Cluster, definition: &str) -> String {
    use aws_sdk_ecs::types::{AwsVpcConfiguration, LaunchType, NetworkConfiguration};
    let vpc = AwsVpcConfiguration::builder()
        .subnets(&cluster.subnet)
        .security_groups(&cluster.security_group)
        .build()
        .unwrap();
    let run = aws_sdk_ecs::Client::new(aws)
        .run_task()
        .cluster(&cluster.arn)
        .task_definition(definition)
        .launch_type(LaunchType::Fargate)
        .network_configuration(NetworkConfiguration::builder().awsvpc_configuration(vpc).build())
        .send()
        .await
        .unwrap();
    run.tasks()[0].task_arn().unwrap().to_owned()
}

async fn tasks_started_by(aws: &aws_config::SdkConfig, cluster: &str, user: &str) -> Vec<String> {
    let listed = aws_sdk_ecs::Client::new(aws)
        .list_tasks()
        .cluster(cluster)
        .started_by(format!("slack/{user}"))
        .send()
        .await
        .unwrap();
    listed.task_arns().to_vec()
}

#[tokio::test]
async fn slacks_requests_are_answered_within_its_time_at_any_number_of_rules_and_done_once() {
    let Some(stack) = Stack::new().await else { return };
    set_latency(&stack.moto, &json!({})).await;
    let secret = common::create_secret(
        &stack.aws,
        &json!({"token": common::fake_slack::TOKEN, "signing_secret": SIGNING}).to_string(),
    )
    .await;
    let deferral = InProcessDeferral::default();
    let mut figures = Vec::new();
    for target in RULE_COUNTS {
        // The setup at moto's own speed.
        set_latency(&stack.moto, &json!({})).await;
        stack.slack.set_latency(Duration::ZERO);
        let cluster = ecs::cluster(&stack.moto, &stack.aws).await;
        let family = unique("market-pulse-prices");
        let definition = ecs::fargate_definition(&stack.aws, &family, "collect-stock-prices").await;
        let job_rule = unique("prices-nightly");
        ecs::rule(&stack.aws, &job_rule, &cluster, &definition).await;
        let filler = ecs::fargate_definition(&stack.aws, &unique("other-job"), "other").await;
        while rules_in_account(&stack.aws).await < target {
            ecs::rule(&stack.aws, &unique("other-nightly"), &cluster, &filler).await;
        }
        let rules = rules_in_account(&stack.aws).await;

        // The notifier (the events function) has posted a failed run of the
        // job, started by its rule, and a running one.
        let notifier = function(&stack, &secret, "events", &deferral);
        let failed_task = format!(
            "arn:aws:ecs:us-east-1:123456789012:task/{}/{}",
            cluster.arn.rsplit('/').next().unwrap(),
            uuid_like(target)
        );
        let mut stopped = event("events/ecs-task-stopped-failure.json", &failed_task, &cluster, &definition, &family);
        stopped["detail"]["startedBy"] = json!(format!("events-rule/{job_rule}"));
        notifier.handle(stopped, common::deadline()).await.unwrap();
        let running_task = run_fargate_task(&stack.aws, &cluster, &definition).await;
        let running =
            event("events/ecs-task-running-before-failure.json", &running_task, &cluster, &definition, &family);
        notifier.handle(running, common::deadline()).await.unwrap();
        let posted_before = stack.slack.posted().len();

        set_latency(&stack.moto, &aws_latency()).await;
        stack.slack.set_latency(Duration::from_millis(150));

        let (_, rerun) = answer(&stack, &secret, &deferral, &press(&stack, &failed_task)).await;
        let (run_reply, run) =
            answer(&stack, &secret, &deferral, &command(&stack, &format!("run {family}"), RUNNER)).await;
        let task_id = running_task.rsplit('/').next().unwrap();
        let (stop_reply, stop) =
            answer(&stack, &secret, &deferral, &command(&stack, &format!("stop {task_id}"), OPERATOR)).await;
        let deferred = deliver_deferred(&stack, &secret, &deferral).await;
        println!(
            "{rules} rules: Re-run click {:.2} s, /jobs run {:.2} s, /jobs stop {:.2} s ({deferred} deferred)",
            rerun.as_secs_f64(),
            run.as_secs_f64(),
            stop.as_secs_f64()
        );
        figures.push((rules, rerun, run, stop));
        for (what, took) in [("Re-run click", rerun), ("/jobs run", run), ("/jobs stop", stop)] {
            assert!(took < ANSWER_WITHIN, "{what} at {rules} rules answered after {took:?}");
        }

        // Done exactly once, whether done before the answer or after it.
        set_latency(&stack.moto, &json!({})).await;
        stack.slack.set_latency(Duration::ZERO);
        let reruns = tasks_started_by(&stack.aws, &cluster.arn, OPERATOR).await;
        assert_eq!(reruns.len(), 1, "re-run once at {rules} rules: {reruns:?}");
        let described =
            aws_sdk_ecs::Client::new(&stack.aws).describe_tasks().cluster(&cluster.arn).tasks(&reruns[0]).send().await;
        let rerun_task = described.unwrap().tasks()[0].clone();
        assert_eq!(rerun_task.task_definition_arn(), Some(definition.as_str()), "the same revision");
        let runs = tasks_started_by(&stack.aws, &cluster.arn, RUNNER).await;
        assert_eq!(runs.len(), 1, "/jobs run ran once at {rules} rules: {runs:?} ({run_reply})");
        let stopped = aws_sdk_ecs::Client::new(&stack.aws)
            .describe_tasks()
            .cluster(&cluster.arn)
            .tasks(&running_task)
            .send()
            .await
            .unwrap();
        assert_eq!(stopped.tasks()[0].desired_status(), Some("STOPPED"), "{stop_reply}");
        let said: Vec<String> =
            stack.slack.posted()[posted_before..].iter().map(|p| p.text.chars().take(2).collect()).collect();
        assert_eq!(said.iter().filter(|t| t.starts_with('🔁')).count(), 1, "the re-run said once: {said:?}");
        assert_eq!(said.iter().filter(|t| t.starts_with('🛑')).count(), 1, "the stop said once: {said:?}");
        let started: Vec<Value> = stack
            .slack
            .responses()
            .into_iter()
            .filter(|r| r["text"].as_str().is_some_and(|t| t.contains(&format!("started *{family}*"))))
            .collect();
        let in_body = run_reply["text"].as_str().is_some_and(|t| t.contains(&format!("started *{family}*")));
        assert_eq!(started.len() + usize::from(in_body), 1, "/jobs run answered once: {run_reply} {started:?}");
    }
    set_latency(&stack.moto, &json!({})).await;
    println!("rules | Re-run click | /jobs run | /jobs stop");
    for (rules, rerun, run, stop) in figures {
        println!("{rules} | {:.2} s | {:.2} s | {:.2} s", rerun.as_secs_f64(), run.as_secs_f64(), stop.as_secs_f64());
    }
}

/// A task id of 32 hex digits, one per round.
fn uuid_like(round: usize) -> String {
    format!("5c3e8a7f9b1d4e2fa6c0b8d7e9f{round:05x}")
}
