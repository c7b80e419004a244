//! ECS events as AWS sends them (`events/real/`, after AWS's documented
//! samples: see `events/README.md`) through the real handler, against moto
//! (DynamoDB, Secrets Manager, ECS task definitions, CloudWatch Logs) and
//! the fake Slack: Spot interruptions and other stop requests, essential
//! containers and their logs, and the odd fields real events have.

mod common;

use std::sync::Arc;

use common::HandledExt;
use common::{Stack, deadline, put_log_lines, unique};
use ecs_slack_notifier::adapters::clock::SystemClock;
use ecs_slack_notifier::adapters::cloudwatch_logs::CloudWatchTail;
use ecs_slack_notifier::adapters::dynamodb::DynamoStore;
use ecs_slack_notifier::adapters::slack_http::SlackHttp;
use ecs_slack_notifier::adapters::task_definitions::EcsTaskDefinitions;
use ecs_slack_notifier::adapters::token::Tokens;
use ecs_slack_notifier::handler::Handler;
use ecs_slack_notifier::kinds::task::Handled;
use ecs_slack_notifier::message::SPOT_WARNING;
use ecs_slack_notifier::ports::{Ports, SlackToken};
use ecs_slack_notifier::settings::Settings;
use serde_json::{Value, json};

const SIGNING: &str = "e3b0c44298fc1c149afbf4c8996fb924";
const OPERATOR: &str = "U0OPERATOR";

/// A sample of `events/real/` moved to a task of its own: its ARN keeps
/// its form (an old-format ARN names no cluster), with `task` as its id.
fn real(path: &str, task: &str) -> (Value, String) {
    let sample = common::event(&format!("events/real/{path}"));
    let old = sample["resources"][0].as_str().unwrap().to_owned();
    let arn = format!("{}/{task}", old.rsplit_once('/').unwrap().0);
    let moved = serde_json::to_string(&sample).unwrap().replace(&old, &arn);
    (serde_json::from_str(&moved).unwrap(), arn)
}

/// The RUNNING event that came before a stop request.
fn running_before(stop_request: &Value) -> Value {
    let mut running = stop_request.clone();
    let detail = running["detail"].as_object_mut().unwrap();
    detail.insert("desiredStatus".into(), json!("RUNNING"));
    detail.remove("stopCode");
    detail.remove("stoppedReason");
    running
}

/// The stack's notifier whose secret holds the signing secret, with an
/// operator: its messages carry the Stop and Re-run buttons.
async fn controlled(stack: &Stack, overrides: &[(&str, &str)]) -> Handler {
    let secret = common::create_secret(
        &stack.aws,
        &json!({"token": common::fake_slack::TOKEN, "signing_secret": SIGNING}).to_string(),
    )
    .await;
    let config = json!({"operators": [OPERATOR]}).to_string();
    let mut env = vec![("SLACK_TOKEN_SECRET_ID", secret.as_str()), ("JOBS_CONFIG", config.as_str())];
    env.extend_from_slice(overrides);
    stack.notifier_with(&env)
}

async fn handle(notifier: &Handler, event: &Value) -> Handled {
    notifier.handle(event.clone(), deadline()).await.unwrap().task()
}

#[tokio::test]
async fn a_spot_warning_is_one_reply_in_the_thread_and_the_completion_says_interrupted() {
    let Some(stack) = Stack::new().await else { return };
    let notifier = controlled(&stack, &[]).await;
    let task = unique("task");
    let (warning, arn) = real("fargate-spot-interruption.json", &task);
    let (stopped, _) = real("fargate-spot-stopped.json", &task);

    assert!(matches!(handle(&notifier, &running_before(&warning)).await, Handled::PostedStart { .. }));
    let first = handle(&notifier, &warning).await;
    assert!(matches!(&first, Handled::PostedStopNotice { key, .. } if *key == format!("stopping#{arn}")), "{first:?}");
    // Delivered again, and in another execution environment: said once.
    let again = handle(&notifier, &warning).await;
    assert!(matches!(again, Handled::Skipped { slot: "once", .. }), "{again:?}");
    let elsewhere = handle(&controlled(&stack, &[]).await, &warning).await;
    assert!(matches!(elsewhere, Handled::Skipped { .. }), "{elsewhere:?}");

    let posted = stack.slack.posted();
    assert_eq!(posted.len(), 2, "{posted:?}");
    let (start, reply) = (&posted[0], &posted[1]);
    assert_eq!(reply.thread_ts.as_deref(), Some(start.ts.as_str()));
    assert!(!reply.reply_broadcast);
    assert_eq!(reply.text, "⚠️ Spot is reclaiming sample-fargate: it will be stopped in about 2 minutes");
    let said = reply.visible();
    assert!(said.contains(SPOT_WARNING) && said.contains("Your Spot Task was interrupted."), "{said}");
    assert_eq!(start.original_text, "🚀 sample-fargate started");
    assert_eq!((start.text.as_str(), start.updates), ("⚠️ sample-fargate is being interrupted by Spot", 1));
    assert!(!start.visible().contains("stop_task"), "no Stop button once stopping: {}", start.visible());

    let done = handle(&notifier, &stopped).await;
    assert!(matches!(done, Handled::PostedCompletion { threaded: true, .. }), "{done:?}");
    let posted = stack.slack.posted();
    let (start, completion) = (&posted[0], &posted[2]);
    assert_eq!(completion.text, "⚠️ sample-fargate interrupted by Spot after 4m 25s");
    assert!(completion.reply_broadcast, "an interrupted run is shown in the channel too");
    let visible = completion.visible();
    for want in ["*Stopped by*\\nFargate Spot, reclaiming its capacity", "FargateApp: 143", "rerun_task"] {
        assert!(visible.contains(want), "{want}: {visible}");
    }
    assert_eq!((start.text.as_str(), start.updates), ("⚠️ sample-fargate interrupted by Spot after 4m 25s", 2));
    assert!(start.visible().contains("rerun_task"), "Re-run, as for failures: {}", start.visible());
}

#[tokio::test]
async fn the_older_termination_notice_is_a_spot_warning_too() {
    let Some(stack) = Stack::new().await else { return };
    let notifier = stack.notifier();
    let (notice, _) = real("fargate-spot-termination-notice.json", &unique("task"));
    handle(&notifier, &running_before(&notice)).await;
    assert!(matches!(handle(&notifier, &notice).await, Handled::PostedStopNotice { .. }));
    let posted = stack.slack.posted();
    assert!(posted[1].visible().contains(SPOT_WARNING), "{}", posted[1].visible());
}

#[tokio::test]
async fn a_stop_request_without_a_start_message_posts_nothing() {
    let Some(stack) = Stack::new().await else { return };
    let notifier = stack.notifier();
    let task = unique("task");
    let (warning, _) = real("fargate-spot-interruption.json", &task);
    let (stopped, _) = real("fargate-spot-stopped.json", &task);
    let ignored = handle(&notifier, &warning).await;
    assert!(matches!(&ignored, Handled::Ignored { reason } if reason.contains("no start message")), "{ignored:?}");
    assert!(stack.slack.posted().is_empty(), "never announced as a start");
    // The STOPPED that follows tells the whole story.
    assert!(matches!(handle(&notifier, &stopped).await, Handled::PostedCompletion { threaded: false, .. }));
    let posted = stack.slack.posted();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].text, "⚠️ sample-fargate interrupted by Spot after 4m 25s");
}

#[tokio::test]
async fn a_stop_by_request_replies_with_its_reason_and_the_completion_says_stopped() {
    let Some(stack) = Stack::new().await else { return };
    let notifier = stack.notifier();
    let task = unique("task");
    let (request, _) = real("user-stop-request.json", &task);
    handle(&notifier, &running_before(&request)).await;
    assert!(matches!(handle(&notifier, &request).await, Handled::PostedStopNotice { .. }));
    let mut stopped = request.clone();
    stopped["detail"]["lastStatus"] = json!("STOPPED");
    stopped["detail"]["containers"][0]["exitCode"] = json!(143);
    stopped["detail"]["stoppedAt"] = json!("2016-12-06T16:44:52.000Z");
    assert!(matches!(handle(&notifier, &stopped).await, Handled::PostedCompletion { threaded: true, .. }));

    let posted = stack.slack.posted();
    assert_eq!(posted.len(), 3);
    assert_eq!(posted[1].text, "🛑 sample-fargate is stopping: Task stopped by user");
    assert!(posted[1].visible().contains("(a StopTask request): Task stopped by user"), "{}", posted[1].visible());
    assert_eq!(posted[2].text, "🛑 sample-fargate was stopped after 3m 21s");
    assert!(posted[2].visible().contains("*Stopped by*\\na StopTask request"), "{}", posted[2].visible());
    assert!(posted[2].visible().contains("```Task stopped by user```"), "{}", posted[2].visible());
}

/// Registers `family` with these containers (name, essential), each logging
/// with `awslogs` to `group` under the `ecs` prefix. Returns its ARN.
async fn register(stack: &Stack, family: &str, containers: &[(&str, bool)], group: &str) -> String {
    use aws_sdk_ecs::types::{ContainerDefinition, LogConfiguration, LogDriver};
    let mut request = aws_sdk_ecs::Client::new(&stack.aws).register_task_definition().family(family);
    for (name, essential) in containers {
        let logs = LogConfiguration::builder()
            .log_driver(LogDriver::Awslogs)
            .options("awslogs-group", group)
            .options("awslogs-region", "us-east-1")
            .options("awslogs-stream-prefix", "ecs")
            .build()
            .unwrap();
        request = request.container_definitions(
            ContainerDefinition::builder()
                .name(*name)
                .image(format!("{name}:latest"))
                .essential(*essential)
                .memory(256)
                .log_configuration(logs)
                .build(),
        );
    }
    let out = request.send().await.expect("register task definition in moto");
    out.task_definition().unwrap().task_definition_arn().unwrap().to_owned()
}

/// The sample moved to a task of its own, of `family`'s registered revision.
fn of_definition(path: &str, task: &str, family: &str, definition: &str) -> Value {
    let (mut event, _) = real(path, task);
    event["detail"]["taskDefinitionArn"] = json!(definition);
    event["detail"]["group"] = json!(format!("family:{family}"));
    event
}

/// The Lambda's ports on the stack, with job logs on and the task
/// definitions adapter kept, to count its reads.
fn counted(stack: &Stack) -> (Handler, Arc<EcsTaskDefinitions>) {
    let definitions = Arc::new(EcsTaskDefinitions::new(&stack.aws));
    let secrets = Arc::new(Tokens::Static(SlackToken::new(common::fake_slack::TOKEN), None));
    let table = DynamoStore::new(aws_sdk_dynamodb::Client::new(&stack.aws), &stack.table);
    let ports = Ports {
        store: Box::new(table.clone()),
        tasks: Box::new(table.clone()),
        jobs: Box::new(table.clone()),
        groups: Box::new(table),
        outbox: None,
        schedules: Box::new(ecs_slack_notifier::adapters::schedules::NoSchedules),
        control: Box::new(ecs_slack_notifier::adapters::ecs_control::NoControl),
        deferral: std::sync::Arc::new(ecs_slack_notifier::adapters::deferral::NoDeferral),
        secrets: secrets.clone(),
        slack: Box::new(SlackHttp::new(&stack.slack.url, secrets).unwrap()),
        logs: Box::new(CloudWatchTail::new(&stack.aws, definitions.clone())),
        task_definitions: definitions.clone(),
        clock: std::sync::Arc::new(SystemClock),
    };
    (Handler::new(Settings::new("C0JOBS"), ports), definitions)
}

#[tokio::test]
async fn sidecars_the_task_definition_marks_not_essential_do_not_fail_the_job() {
    let Some(stack) = Stack::new().await else { return };
    let family = unique("nightly-etl");
    let group = format!("/ecs/{family}");
    let containers = [("log_router", false), ("etl", true), ("datadog-agent", false)];
    let definition = register(&stack, &family, &containers, &group).await;
    let (a, b) = (unique("task"), unique("task"));
    for task in [&a, &b] {
        put_log_lines(&stack.aws, &group, &format!("ecs/etl/{task}"), &[r#"JOB_SUMMARY {"rows": 1200}"#]).await;
        put_log_lines(&stack.aws, &group, &format!("ecs/datadog-agent/{task}"), &["agent: shutting down"]).await;
        put_log_lines(&stack.aws, &group, &format!("ecs/log_router/{task}"), &["fluent-bit: SIGTERM"]).await;
    }
    let (notifier, definitions) = counted(&stack);
    for task in [&a, &b] {
        let stopped = of_definition("sidecars-essential-succeeded.json", task, &family, &definition);
        assert!(matches!(handle(&notifier, &stopped).await, Handled::PostedCompletion { .. }));
    }
    assert_eq!(definitions.calls(), 1, "one DescribeTaskDefinition per revision, for the flags and the logs alike");

    let posted = stack.slack.posted();
    assert_eq!(posted[0].text, format!("✅ {family} succeeded in 8m 0s"));
    let visible = posted[0].visible();
    for want in [
        "log_router: 143 (not essential)\\netl: 0\\ndatadog-agent: 143 (not essential)",
        "*rows*\\n1,200",
        "log-events/ecs$252Fetl$252F",
    ] {
        assert!(visible.contains(want), "{want}: {visible}");
    }

    // Without the task definition, NON_ESSENTIAL_CONTAINERS still decides.
    let (stopped, _) = real("sidecars-essential-succeeded.json", &unique("task"));
    let fallback = stack.notifier_with(&[("NON_ESSENTIAL_CONTAINERS", "log_router,datadog-agent")]);
    handle(&fallback, &stopped).await;
    assert_eq!(
        stack.slack.posted()[2].text,
        "✅ nightly-etl succeeded in 8m 0s",
        "the revision in the sample is not in moto"
    );
    handle(&stack.notifier(), &real("sidecars-essential-succeeded.json", &unique("task")).0).await;
    assert_eq!(stack.slack.posted()[3].text, "❌ nightly-etl failed after 8m 0s", "nothing says they are sidecars");
}

#[tokio::test]
async fn the_log_link_and_tail_are_the_failed_essential_containers_never_a_sidecars() {
    let Some(stack) = Stack::new().await else { return };
    let family = unique("nightly-etl");
    let group = format!("/ecs/{family}");
    let containers = [("timeout", false), ("etl", true), ("log_router", false)];
    let definition = register(&stack, &family, &containers, &group).await;
    let task = unique("task");
    put_log_lines(&stack.aws, &group, &format!("ecs/timeout/{task}"), &["timeout: still waiting"]).await;
    put_log_lines(&stack.aws, &group, &format!("ecs/etl/{task}"), &["loading 2.1 GB frame", "Killed"]).await;
    let stopped = of_definition("oom-essential-after-sidecar.json", &task, &family, &definition);
    let notifier = stack.notifier_with(&[("JOB_LOGS", "on")]);
    assert!(matches!(handle(&notifier, &stopped).await, Handled::PostedCompletion { .. }));

    let visible = stack.slack.posted()[0].visible();
    assert!(visible.contains("```OutOfMemoryError: Container killed due to memory usage```"), "{visible}");
    assert!(visible.contains("loading 2.1 GB frame\\nKilled"), "the job's own lines: {visible}");
    assert!(!visible.contains("still waiting"), "not the sidecar's: {visible}");
    assert!(visible.contains(&format!("log-events/ecs$252Fetl$252F{task}")), "{visible}");
}

#[tokio::test]
async fn a_task_that_never_started_is_found_by_its_resource_and_leads_with_why() {
    let Some(stack) = Stack::new().await else { return };
    let task = unique("task");
    let (event, arn) = real("never-started-no-task-arn.json", &task);
    assert!(event["detail"].get("taskArn").is_none(), "as AWS sent it");
    let done = handle(&stack.notifier(), &event).await;
    assert!(matches!(&done, Handled::PostedCompletion { key, threaded: false, .. } if *key == format!("task#{arn}")));
    let posted = stack.slack.posted();
    assert_eq!(posted[0].text, "❌ reddit-scraper failed to start");
    let blocks = posted[0].body["blocks"].as_array().unwrap();
    let lead = blocks[1]["text"]["text"].as_str().unwrap();
    assert!(lead.starts_with("*Reason*\n```ResourceInitializationError: unable to pull secrets"), "{lead}");
    assert!(!posted[0].visible().contains("no exit code"), "{}", posted[0].visible());
}

#[tokio::test]
async fn odd_fields_of_real_events_read_as_people_would_say_them() {
    let Some(stack) = Stack::new().await else { return };
    let notifier = stack.notifier();
    // No group and no task definition: named by its container, not its id.
    handle(&notifier, &real("no-family-no-group.json", &unique("task")).0).await;
    // EC2 without a CPU reservation, a Docker Hub image, and an
    // executionStoppedAt before its startedAt.
    handle(&notifier, &real("ec2-no-cpu-reservation.json", &unique("task")).0).await;
    let posted = stack.slack.posted();
    assert_eq!(posted[0].text, "❌ invoice-export failed after 10m 11s");
    assert_eq!(posted[1].text, "✅ rtcw-map-rotation succeeded in 15m 42s");
    let ec2 = posted[1].visible();
    for want in ["*Image*\\nmsh100/rtcw", "*Memory*\\n512 MiB", "*Launch type*\\nEC2"] {
        assert!(ec2.contains(want), "{want}: {ec2}");
    }
    assert!(!ec2.contains("vCPU"), "{ec2}");

    // A service's task, started by its deployment, is no job.
    let service = handle(&notifier, &real("service-task-started-by-ecs-svc.json", &unique("task")).0).await;
    assert!(matches!(&service, Handled::Ignored { reason } if reason.contains("service task")), "{service:?}");
    assert_eq!(stack.slack.posted().len(), 2);
}

#[tokio::test]
async fn on_a_phone_the_environment_leads_and_the_start_message_is_short() {
    let Some(stack) = Stack::new().await else { return };
    let notifier = controlled(&stack, &[("ENVIRONMENT", "staging")]).await;
    let (running, _) = common::task_event("events/ecs-task-running.json", &unique("task"));
    handle(&notifier, &running).await;
    let start = &stack.slack.posted()[0];
    assert_eq!(start.text, "[staging] 🚀 market-pulse-collect-stock-prices started");
    let kinds: Vec<&str> =
        start.body["blocks"].as_array().unwrap().iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["header", "section", "context", "actions"], "{}", start.visible());
    let fields = start.body["blocks"][1]["fields"].as_array().unwrap();
    let labels: Vec<&str> = fields.iter().map(|f| f["text"].as_str().unwrap().split('\n').next().unwrap()).collect();
    assert_eq!(labels, ["*Environment*", "*Started by*", "*Image*"]);
    assert!(start.visible().contains("stop_task"), "{}", start.visible());
    // Without ENVIRONMENT, nothing is put in front (another job: not one
    // of the first one's group).
    let (mut running, _) = common::task_event("events/ecs-task-running.json", &unique("task"));
    let family = unique("prices");
    running["detail"]["group"] = json!(format!("family:{family}"));
    handle(&stack.notifier(), &running).await;
    assert_eq!(stack.slack.posted()[1].text, format!("🚀 {family} started"));
}
