//! Job control from Slack through the real handler, against moto (ECS
//! RunTask and StopTask, EventBridge targets, DynamoDB) and the fake Slack,
//! with requests signed as Slack signs them.

mod common;

use common::{Stack, deadline, ecs, task_event, unique};
use ecs_slack_notifier::handler::{Handled, Handler};
use ecs_slack_notifier::signature::{SigningSecret, sign};
use serde_json::{Value, json};

const SIGNING: &str = "e3b0c44298fc1c149afbf4c8996fb924";
const OPERATOR: &str = "U0OPERATOR";
const STRANGER: &str = "U0STRANGER";

/// The stack's notifier with a secret that holds the signing secret, and
/// operators.
async fn controlled(stack: &Stack, extra: Value) -> Handler {
    let secret = common::create_secret(
        &stack.aws,
        &json!({"token": common::fake_slack::TOKEN, "signing_secret": SIGNING}).to_string(),
    )
    .await;
    let mut config = json!({"operators": [OPERATOR]});
    config.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    stack.notifier_with(&[("SLACK_TOKEN_SECRET_ID", &secret), ("JOBS_CONFIG", &config.to_string())])
}

fn signed(body: &str, base64: bool) -> Value {
    let now = chrono::Utc::now().timestamp();
    let signature = sign(&SigningSecret::new(SIGNING), now, body.as_bytes());
    let body = if base64 {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(body)
    } else {
        body.to_owned()
    };
    json!({"version": "2.0", "rawPath": "/", "headers": {"x-slack-request-timestamp": now.to_string(),
        "x-slack-signature": signature, "content-type": "application/x-www-form-urlencoded"},
        "requestContext": {"requestId": unique("req"), "http": {"method": "POST", "path": "/", "sourceIp": "203.0.113.9"},
            "timeEpoch": chrono::Utc::now().timestamp_millis()},
        "body": body, "isBase64Encoded": base64})
}

fn press(stack: &Stack, action: &str, task_arn: &str, user: &str) -> String {
    let payload = json!({"type": "block_actions", "user": {"id": user}, "trigger_id": unique("trigger"),
        "response_url": stack.slack.response_url(&unique("r")),
        "actions": [{"action_id": action, "value": task_arn, "type": "button"}]});
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

async fn http(handler: &Handler, payload: Value) -> (i64, Value) {
    match handler.handle(payload, deadline()).await.unwrap() {
        Handled::Http(response) => {
            let body = response.body.map(|b| serde_json::from_str(&b).unwrap_or(Value::String(b)));
            (response.status_code, body.unwrap_or(Value::Null))
        }
        other => panic!("not an HTTP answer: {other:?}"),
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

async fn moto_task(stack: &Stack, cluster: &str, task_arn: &str) -> aws_sdk_ecs::types::Task {
    let out =
        aws_sdk_ecs::Client::new(&stack.aws).describe_tasks().cluster(cluster).tasks(task_arn).send().await.unwrap();
    out.tasks()[0].clone()
}

/// A task of `definition` running in moto's ECS: its ARN.
async fn run_fargate_task(stack: &Stack, cluster: &ecs::Cluster, definition: &str) -> String {
    let network = aws_sdk_ecs::types::NetworkConfiguration::builder()
        .awsvpc_configuration(
            aws_sdk_ecs::types::AwsVpcConfiguration::builder()
                .subnets(&cluster.subnet)
                .security_groups(&cluster.security_group)
                .build()
                .unwrap(),
        )
        .build();
    let run = aws_sdk_ecs::Client::new(&stack.aws)
        .run_task()
        .cluster(&cluster.arn)
        .task_definition(definition)
        .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
        .network_configuration(network)
        .send()
        .await
        .unwrap();
    run.tasks()[0].task_arn().unwrap().to_owned()
}

#[tokio::test]
async fn an_operator_stops_a_running_task_in_ecs_once_and_a_stranger_cannot() {
    let Some(stack) = Stack::new().await else { return };
    let cluster = ecs::cluster(&stack.moto, &stack.aws).await;
    let family = unique("market-pulse-analyze");
    let definition = ecs::fargate_definition(&stack.aws, &family, "analyze-sentiment").await;
    let task_arn = run_fargate_task(&stack, &cluster, &definition).await;
    let handler = controlled(&stack, json!({})).await;
    handler
        .handle(
            event("events/ecs-task-running-before-failure.json", &task_arn, &cluster, &definition, &family),
            deadline(),
        )
        .await
        .unwrap();
    let start = stack.slack.posted()[0].clone();
    assert!(start.visible().contains("\"action_id\":\"stop_task\""), "{}", start.visible());

    let (status, _) = http(&handler, signed(&press(&stack, "stop_task", &task_arn, STRANGER), false)).await;
    assert_eq!(status, 200);
    assert_eq!(
        moto_task(&stack, &cluster.arn, &task_arn).await.desired_status(),
        Some("RUNNING"),
        "a stranger stops nothing"
    );
    assert!(stack.slack.responses()[0]["text"].as_str().unwrap().starts_with("You are not allowed to stop"));

    for _ in 0..2 {
        assert_eq!(http(&handler, signed(&press(&stack, "stop_task", &task_arn, OPERATOR), false)).await.0, 200);
    }
    let task = moto_task(&stack, &cluster.arn, &task_arn).await;
    assert_eq!(task.desired_status(), Some("STOPPED"));
    assert_eq!(task.stopped_reason(), Some(format!("Stopped from Slack by {OPERATOR}").as_str()));
    let replies: Vec<_> = stack.slack.posted().into_iter().filter(|p| p.text.starts_with("🛑")).collect();
    assert_eq!(replies.len(), 1, "said once");
    assert_eq!(replies[0].thread_ts.as_deref(), Some(start.ts.as_str()));
    assert!(replies[0].visible().contains(&format!("<@{OPERATOR}> asked ECS to stop this run")));
    assert_eq!(stack.slack.responses()[1]["text"], "This task was stopped from Slack already.");
}

#[tokio::test]
async fn a_rerun_runs_the_same_revision_in_ecs_with_the_rules_network() {
    let Some(stack) = Stack::new().await else { return };
    let cluster = ecs::cluster(&stack.moto, &stack.aws).await;
    let family = unique("market-pulse-scraper");
    let definition = ecs::fargate_definition(&stack.aws, &family, "analyze-sentiment").await;
    let rule = unique("scraper-nightly");
    let events = aws_sdk_eventbridge::Client::new(&stack.aws);
    events.put_rule().name(&rule).schedule_expression("cron(0 3 * * ? *)").send().await.unwrap();
    let vpc = aws_sdk_eventbridge::types::AwsVpcConfiguration::builder()
        .subnets(&cluster.subnet)
        .security_groups(&cluster.security_group)
        .assign_public_ip(aws_sdk_eventbridge::types::AssignPublicIp::Disabled)
        .build()
        .unwrap();
    events
        .put_targets()
        .rule(&rule)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("job")
                .arn(&cluster.arn)
                .role_arn("arn:aws:iam::123456789012:role/events")
                .ecs_parameters(
                    aws_sdk_eventbridge::types::EcsParameters::builder()
                        .task_definition_arn(&definition)
                        .launch_type(aws_sdk_eventbridge::types::LaunchType::Fargate)
                        .network_configuration(
                            aws_sdk_eventbridge::types::NetworkConfiguration::builder()
                                .awsvpc_configuration(vpc)
                                .build(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let failed_task = format!(
        "arn:aws:ecs:us-east-1:123456789012:task/{}/{}",
        cluster.arn.rsplit('/').next().unwrap(),
        "5c3e8a7f9b1d4e2fa6c0b8d7e9f1a2b3"
    );
    let mut stopped = event("events/ecs-task-stopped-failure.json", &failed_task, &cluster, &definition, &family);
    stopped["detail"]["startedBy"] = json!(format!("events-rule/{rule}"));
    let handler = controlled(&stack, json!({})).await;
    handler.handle(stopped, deadline()).await.unwrap();
    let failure = stack.slack.posted()[0].clone();
    assert!(failure.visible().contains("\"action_id\":\"rerun_task\""), "{}", failure.visible());

    // The first press as Slack may send it, base64; then a double click.
    http(&handler, signed(&press(&stack, "rerun_task", &failed_task, OPERATOR), true)).await;
    http(&handler, signed(&press(&stack, "rerun_task", &failed_task, OPERATOR), false)).await;
    let ecs_client = aws_sdk_ecs::Client::new(&stack.aws);
    let listed =
        ecs_client.list_tasks().cluster(&cluster.arn).started_by(format!("slack/{OPERATOR}")).send().await.unwrap();
    assert_eq!(listed.task_arns().len(), 1, "run once");
    let new_task = moto_task(&stack, &cluster.arn, &listed.task_arns()[0]).await;
    assert_eq!(new_task.task_definition_arn(), Some(definition.as_str()), "the same revision");
    assert_eq!(new_task.launch_type().map(|l| l.as_str()), Some("FARGATE"));
    let said: Vec<_> = stack.slack.posted().into_iter().filter(|p| p.text.starts_with("🔁")).collect();
    assert_eq!(said.len(), 1);
    assert_eq!(said[0].thread_ts.as_deref(), Some(failure.ts.as_str()));
    assert!(said[0].visible().contains(&format!("<@{OPERATOR}> re-ran")), "{}", said[0].visible());
}

#[tokio::test]
async fn jobs_commands_against_ecs() {
    let Some(stack) = Stack::new().await else { return };
    let cluster = ecs::cluster(&stack.moto, &stack.aws).await;
    let family = unique("market-pulse-prices");
    let definition = ecs::fargate_definition(&stack.aws, &family, "collect-stock-prices").await;
    let run = json!({"run": {"subnets": [cluster.subnet], "security_groups": [cluster.security_group]}});
    let handler = controlled(&stack, run).await;
    let task = format!("arn:aws:ecs:us-east-1:123456789012:task/market-pulse/{}", "9781c248b1ab4c5b9d5f0d7f1e2c3a4b");
    handler
        .handle(event("events/ecs-task-stopped-success.json", &task, &cluster, &definition, &family), deadline())
        .await
        .unwrap();

    let (status, reply) = http(&handler, signed(&command(&stack, "status", STRANGER), false)).await;
    assert_eq!((status, reply["response_type"].as_str()), (200, Some("ephemeral")));
    assert!(reply.to_string().contains(&format!("*{family}*  ✅ succeeded in 4m 1s")), "{reply}");

    let (_, reply) = http(&handler, signed(&command(&stack, &format!("run {family}"), STRANGER), false)).await;
    assert!(reply["text"].as_str().unwrap().starts_with("You are not allowed to run"), "{reply}");
    let (_, reply) = http(&handler, signed(&command(&stack, &format!("run {family}"), OPERATOR), false)).await;
    assert_eq!(reply["response_type"], "in_channel", "{reply}");
    assert!(reply["text"].as_str().unwrap().contains("(as its last run ran)"), "{reply}");
    let listed = aws_sdk_ecs::Client::new(&stack.aws).list_tasks().cluster(&cluster.arn).send().await.unwrap();
    assert_eq!(listed.task_arns().len(), 1, "{reply}");

    let (_, reply) =
        http(&handler, signed(&command(&stack, "stop 0123456789abcdef0123456789abcdef", OPERATOR), false)).await;
    assert!(reply["text"].as_str().unwrap().starts_with("I know no task"), "{reply}");
    let (_, reply) = http(&handler, signed(&command(&stack, "frobnicate", OPERATOR), false)).await;
    assert!(reply["text"].as_str().unwrap().starts_with("I don't know `/jobs frobnicate`"), "{reply}");
}

#[tokio::test]
async fn unsigned_wrong_stale_and_unconfigured_requests_are_refused() {
    let Some(stack) = Stack::new().await else { return };
    let handler = controlled(&stack, json!({})).await;
    let body = command(&stack, "status", OPERATOR);
    let mut unsigned = signed(&body, false);
    unsigned["headers"].as_object_mut().unwrap().remove("x-slack-signature");
    let mut wrong = signed(&body, false);
    wrong["headers"]["x-slack-signature"] =
        json!(sign(&SigningSecret::new("guess"), chrono::Utc::now().timestamp(), body.as_bytes()));
    let stale_at = chrono::Utc::now().timestamp() - 600;
    let mut stale = signed(&body, false);
    stale["headers"]["x-slack-request-timestamp"] = json!(stale_at.to_string());
    stale["headers"]["x-slack-signature"] = json!(sign(&SigningSecret::new(SIGNING), stale_at, body.as_bytes()));
    for payload in [unsigned, wrong, stale] {
        assert_eq!(http(&handler, payload).await, (401, Value::Null));
    }
    // A secret without signing_secret: nothing is accepted.
    let unconfigured = stack.notifier_with(&[("JOBS_CONFIG", &json!({"operators": [OPERATOR]}).to_string())]);
    assert_eq!(http(&unconfigured, signed(&body, false)).await.0, 401);
    assert_eq!(stack.slack.requests(), 0);
}

#[tokio::test]
async fn answers_go_only_to_slacks_response_urls_and_follow_no_redirect() {
    use ecs_slack_notifier::adapters::slack_http::SlackHttp;
    use ecs_slack_notifier::adapters::token::Tokens;
    use ecs_slack_notifier::message::Reply;
    use ecs_slack_notifier::ports::{SlackPoster, SlackToken};

    let slack = common::FakeSlack::start().await;
    let elsewhere = common::FakeSlack::start().await;
    let tokens = || Tokens::Static(SlackToken::new(common::fake_slack::TOKEN), None);
    let client = SlackHttp::new(&slack.url, tokens()).unwrap().with_response_url_prefix(&slack.response_url_prefix());
    let reply = Reply::ephemeral("This task was stopped from Slack already.".into());

    client.respond(&slack.response_url("ok"), &reply, deadline()).await.unwrap();
    assert_eq!(slack.responses().len(), 1, "under the prefix: answered");
    // A response_url is part of the request's body: one pointing elsewhere
    // gets nothing, and the press is not failed for it.
    client.respond(&elsewhere.response_url("taken"), &reply, deadline()).await.unwrap();
    assert_eq!(elsewhere.responses(), Vec::<Value>::new(), "not under the prefix: nothing sent");

    slack.redirect_responses_to(&elsewhere.response_url("redirected"));
    let redirected = client.respond(&slack.response_url("again"), &reply, deadline()).await;
    assert!(redirected.unwrap_err().to_string().contains("HTTP 307"), "a redirect is not followed");
    assert_eq!(elsewhere.responses(), Vec::<Value>::new());

    // Unless configured otherwise, only Slack's own hooks are answered.
    let production = SlackHttp::new(&slack.url, tokens()).unwrap();
    production.respond(&elsewhere.response_url("plain-http"), &reply, deadline()).await.unwrap();
    assert_eq!(elsewhere.responses(), Vec::<Value>::new());
}

#[tokio::test]
async fn who_may_stop_a_task_is_its_rules_to_say_as_the_table_keeps_it() {
    let Some(stack) = Stack::new().await else { return };
    let cluster = ecs::cluster(&stack.moto, &stack.aws).await;
    let family = unique("market-pulse-analyze");
    let definition = ecs::fargate_definition(&stack.aws, &family, "analyze-sentiment").await;
    let task_arn = run_fargate_task(&stack, &cluster, &definition).await;
    let task_id = task_arn.rsplit('/').next().unwrap().to_owned();
    // An unnamed rule: its tasks are named after their family, which no
    // rule names. Its own operator, not the top-level one, may stop them.
    let owner = "U0OWNER";
    let handler = controlled(&stack, json!({"jobs": [{"match": {"family": family}, "operators": [owner]}]})).await;
    handler
        .handle(
            event("events/ecs-task-running-before-failure.json", &task_arn, &cluster, &definition, &family),
            deadline(),
        )
        .await
        .unwrap();

    let (_, reply) = http(&handler, signed(&command(&stack, &format!("stop {task_id}"), OPERATOR), false)).await;
    assert!(reply["text"].as_str().unwrap().starts_with("You are not allowed to stop"), "{reply}");
    assert_eq!(moto_task(&stack, &cluster.arn, &task_arn).await.desired_status(), Some("RUNNING"));

    // A new environment: only the table knows which rule the task is under.
    let handler = controlled(&stack, json!({"jobs": [{"match": {"family": family}, "operators": [owner]}]})).await;
    let (_, reply) = http(&handler, signed(&command(&stack, &format!("stop {task_id}"), owner), false)).await;
    assert_eq!(reply["text"], "Asked ECS to stop it; its thread says so.", "{reply}");
    assert_eq!(moto_task(&stack, &cluster.arn, &task_arn).await.desired_status(), Some("STOPPED"));
}

/// A schedule name of `prefix` and then 10 hex digits no other test (or
/// earlier run against the same moto) has: short enough to come back
/// whole in `startedBy` with a prefix of up to 8 characters.
fn short_unique(prefix: &str) -> String {
    let name = unique("");
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{prefix}{:010x}", hash & 0xff_ffff_ffff)
}

/// An EventBridge Scheduler schedule in `group` whose target runs
/// `definition` on `cluster` in `network` (subnet, security group).
async fn ecs_schedule(stack: &Stack, group: &str, name: &str, cluster: &str, definition: &str, network: (&str, &str)) {
    use aws_sdk_scheduler::types::{
        AssignPublicIp, AwsVpcConfiguration, EcsParameters, FlexibleTimeWindow, FlexibleTimeWindowMode, LaunchType,
        NetworkConfiguration, Target,
    };
    let (subnet, security_group) = network;
    let vpc = AwsVpcConfiguration::builder()
        .subnets(subnet)
        .security_groups(security_group)
        .assign_public_ip(AssignPublicIp::Disabled)
        .build()
        .unwrap();
    let ecs = EcsParameters::builder()
        .task_definition_arn(definition)
        .launch_type(LaunchType::Fargate)
        .network_configuration(NetworkConfiguration::builder().awsvpc_configuration(vpc).build())
        .build()
        .unwrap();
    let target = Target::builder()
        .arn(cluster)
        .role_arn("arn:aws:iam::123456789012:role/scheduler")
        .ecs_parameters(ecs)
        .build()
        .unwrap();
    aws_sdk_scheduler::Client::new(&common::setup_config(&stack.aws))
        .create_schedule()
        .group_name(group)
        .name(name)
        .schedule_expression("cron(0 3 * * ? *)")
        .flexible_time_window(FlexibleTimeWindow::builder().mode(FlexibleTimeWindowMode::Off).build().unwrap())
        .target(target)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create schedule {group}/{name}: {e:?}"));
}

/// A re-run of a run that an EventBridge Scheduler schedule started reads
/// that schedule, from the name its `startedBy` carries (cut at 36
/// characters), and nothing else: counted on the way to moto.
#[tokio::test]
async fn a_rerun_of_a_schedules_run_reads_that_schedule_alone_and_takes_its_network() {
    let Some(stack) = Stack::new().await else { return };
    let cluster = ecs::cluster(&stack.moto, &stack.aws).await;
    let elsewhere = ecs::cluster(&stack.moto, &stack.aws).await;
    let family = unique("market-pulse-fraud");
    let definition = ecs::fargate_definition(&stack.aws, &family, "score-payments").await;
    let other = ecs::fargate_definition(&stack.aws, &unique("other-job"), "other").await;
    let scheduler = aws_sdk_scheduler::Client::new(&common::setup_config(&stack.aws));
    let group = short_unique("jobs-");
    scheduler.create_schedule_group().name(&group).send().await.unwrap();
    // The account's other schedules, which no read below walks.
    for _ in 0..20 {
        ecs_schedule(&stack, "default", &short_unique("other-"), &cluster.arn, &other, ("subnet-other", "sg-other"))
            .await;
    }

    // The task's events name its subnet but no security group: the
    // schedule's is how the re-run shows where its network came from.
    let network = (cluster.subnet.as_str(), cluster.security_group.as_str());
    // The cut name: 19 characters of `startedBy`'s 36, shared by the run's
    // schedule (in a group of its own) and by decoys: one on another
    // cluster, one of another family on the run's cluster.
    let prefix = short_unique("tfg-fraud-");
    assert_eq!(prefix.len(), 20);
    let prefix = &prefix[..19];
    let daily = format!("{prefix}-p2p-daily");
    ecs_schedule(
        &stack,
        "default",
        &format!("{prefix}-p2p-elsewhere"),
        &elsewhere.arn,
        &definition,
        ("subnet-no", "sg-no"),
    )
    .await;
    ecs_schedule(&stack, "default", &format!("{prefix}-p2p-v2"), &cluster.arn, &other, ("subnet-no", "sg-no")).await;
    ecs_schedule(&stack, &group, &daily, &cluster.arn, &definition, network).await;
    // A whole name in `default`, and one in the group only.
    let nightly = short_unique("nightly-");
    ecs_schedule(&stack, "default", &nightly, &cluster.arn, &definition, network).await;
    let grouped = short_unique("grouped-");
    ecs_schedule(&stack, &group, &grouped, &cluster.arn, &definition, network).await;

    let secret = common::create_secret(
        &stack.aws,
        &json!({"token": common::fake_slack::TOKEN, "signing_secret": SIGNING}).to_string(),
    )
    .await;
    let jobs_config = json!({"operators": [OPERATOR]}).to_string();
    let table = [
        // Shorter than the cut: the whole name, one GetSchedule.
        (format!("chronos-schedule/{nightly}"), vec!["scheduler GetSchedule"], format!("/schedules/{nightly}")),
        // At the cut: one listing under the prefix, then the run's cluster's
        // schedules, `default` first, until one runs the family.
        (
            format!("chronos-schedule/{prefix}"),
            vec!["scheduler ListSchedules", "scheduler GetSchedule", "scheduler GetSchedule"],
            format!("NamePrefix={prefix}"),
        ),
        // A whole name not in `default`: there first, then its group.
        (
            format!("chronos-schedule/{grouped}"),
            vec!["scheduler GetSchedule", "scheduler ListSchedules", "scheduler GetSchedule"],
            format!("groupName={group}"),
        ),
    ];
    for (round, (started_by, want, asked)) in table.into_iter().enumerate() {
        assert!(started_by.len() <= 36, "{started_by}");
        // A new execution environment, its calls recorded.
        let (aws, calls) = common::aws_calls::recording(&stack.aws);
        let handler = stack.notifier_on(&aws, &[("SLACK_TOKEN_SECRET_ID", &secret), ("JOBS_CONFIG", &jobs_config)]);
        let failed_task = format!(
            "arn:aws:ecs:us-east-1:123456789012:task/{}/5c3e8a7f9b1d4e2fa6c0b8d7e9f1a2b{round}",
            cluster.arn.rsplit('/').next().unwrap(),
        );
        let mut stopped = event("events/ecs-task-stopped-failure.json", &failed_task, &cluster, &definition, &family);
        stopped["detail"]["startedBy"] = json!(started_by);
        handler.handle(stopped, deadline()).await.unwrap();
        let failure = stack.slack.posted().last().unwrap().clone();
        assert!(failure.visible().contains("\"action_id\":\"rerun_task\""), "{}", failure.visible());
        calls.clear();

        http(&handler, signed(&press(&stack, "rerun_task", &failed_task, OPERATOR), false)).await;
        assert_eq!(calls.of("scheduler"), want, "{started_by}: {:#?}", calls.all());
        assert_eq!(calls.of("events"), Vec::<String>::new(), "{started_by}: no rule is read");
        let scheduler_calls: Vec<String> =
            calls.all().into_iter().filter(|c| c.service == "scheduler").map(|c| c.path).collect();
        assert!(scheduler_calls.iter().any(|p| p.contains(&asked)), "{asked} in {scheduler_calls:?}");
        let runs: Vec<_> = calls.all().into_iter().filter(|c| c.name() == "ecs RunTask").collect();
        assert_eq!(runs.len(), 1, "{started_by}");
        let run: Value = serde_json::from_slice(&runs[0].body).unwrap();
        let vpc = &run["networkConfiguration"]["awsvpcConfiguration"];
        assert_eq!(vpc["securityGroups"], json!([cluster.security_group]), "the schedule's network: {run}");
        assert_eq!(vpc["assignPublicIp"], "DISABLED", "{run}");
        assert_eq!(run["taskDefinition"], json!(definition), "the run's own revision: {run}");
        let said = stack.slack.posted().into_iter().filter(|p| p.thread_ts.as_deref() == Some(&failure.ts)).count();
        assert_eq!(said, 1, "{started_by}: the re-run said in the run's thread");
    }
}

#[tokio::test]
async fn anyone_acknowledges_a_failure_once_and_the_table_and_slack_keep_who() {
    let Some(stack) = Stack::new().await else { return };
    let cluster = ecs::cluster(&stack.moto, &stack.aws).await;
    let family = unique("market-pulse-ack");
    let definition = ecs::fargate_definition(&stack.aws, &family, "analyze-sentiment").await;
    let task_arn = run_fargate_task(&stack, &cluster, &definition).await;
    let handler = controlled(&stack, json!({})).await;
    for path in ["events/ecs-task-running-before-failure.json", "events/ecs-task-stopped-failure.json"] {
        handler.handle(event(path, &task_arn, &cluster, &definition, &family), deadline()).await.unwrap();
    }
    let failure = |stack: &Stack| {
        let posted = stack.slack.posted();
        (posted[0].clone(), posted.iter().find(|p| p.thread_ts.is_some()).cloned().unwrap())
    };
    let (start, reply) = failure(&stack);
    assert!(start.visible().contains("\"action_id\":\"ack_failure\"") && reply.visible().contains("ack_failure"));

    // A stranger presses first (anyone may), twice; then an operator.
    for user in [STRANGER, STRANGER, OPERATOR] {
        assert_eq!(http(&handler, signed(&press(&stack, "ack_failure", &task_arn, user), false)).await.0, 200);
    }
    let (start, reply) = failure(&stack);
    let on_it = format!("👀 <@{STRANGER}> is on it");
    for message in [&start, &reply] {
        assert!(
            message.visible().contains(&on_it) && !message.visible().contains("ack_failure"),
            "{}",
            message.visible()
        );
        assert!(message.visible().contains("rerun_task"), "Re-run stays");
    }
    assert_eq!((start.updates, reply.updates), (2, 1), "stamped once: the start was updated to ❌ before");
    let told: Vec<String> =
        stack.slack.responses().iter().map(|r| r["text"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(
        told,
        [
            "👀 You are on it already. Nothing changed.".to_owned(),
            format!("👀 <@{STRANGER}> is on it already. Nothing changed.")
        ]
    );
    let (_, status) = http(&handler, signed(&command(&stack, "status", OPERATOR), false)).await;
    assert!(status.to_string().contains(&on_it), "{status}");
}

fn watch_event(time: chrono::DateTime<chrono::Utc>) -> Value {
    json!({"version": "0", "id": unique("watch"), "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": time.to_rfc3339(), "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/ecs-slack-notifier-watch"], "detail": {}})
}

#[tokio::test]
async fn an_operator_mutes_a_job_in_the_table_its_runs_post_nothing_and_its_end_is_said_once() {
    let Some(stack) = Stack::new().await else { return };
    let cluster = ecs::cluster(&stack.moto, &stack.aws).await;
    let family = unique("market-pulse-mute");
    let definition = ecs::fargate_definition(&stack.aws, &family, "analyze-sentiment").await;
    let handler = controlled(&stack, json!({})).await;
    let run = |path: &'static str, task_arn: String| {
        let event = event(path, &task_arn, &cluster, &definition, &family);
        let handler = &handler;
        async move { handler.handle(event, deadline()).await.unwrap() }
    };
    let first = run_fargate_task(&stack, &cluster, &definition).await;
    run("events/ecs-task-running-before-failure.json", first.clone()).await;
    run("events/ecs-task-stopped-failure.json", first.clone()).await;
    let said = |stack: &Stack| stack.slack.posted().iter().map(|p| p.text.clone()).collect::<Vec<_>>();
    let posted = said(&stack).len();

    // A stranger may not; the operator may, once per command.
    let (_, refused) = http(&handler, signed(&command(&stack, &format!("mute {family} 2h"), STRANGER), false)).await;
    assert!(refused["text"].as_str().unwrap().starts_with("You are not allowed to mute"), "{refused}");
    assert_eq!(said(&stack).len(), posted);
    let (_, muted) = http(&handler, signed(&command(&stack, &format!("mute {family} 2h"), OPERATOR), false)).await;
    assert!(muted["text"].as_str().unwrap().starts_with("🔕 Muted"), "{muted}");
    assert!(said(&stack).last().unwrap().starts_with(&format!("🔕 {family} muted until ")));
    let item = aws_sdk_dynamodb::Client::new(&stack.aws)
        .get_item()
        .table_name(&stack.table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("job#{family}")))
        .send()
        .await
        .unwrap();
    let head = item.item().unwrap();
    assert_eq!(head["mute_by"].as_s().unwrap(), OPERATOR, "kept on the job's head");
    assert!(head.contains_key("mute_until") && head.contains_key("mute_id"));

    // Muted: a failing run posts nothing, in Slack or in its channel's thread.
    let posted = said(&stack).len();
    let second = run_fargate_task(&stack, &cluster, &definition).await;
    run("events/ecs-task-running-before-failure.json", second.clone()).await;
    run("events/ecs-task-stopped-failure.json", second.clone()).await;
    assert_eq!(said(&stack).len(), posted, "held back: {:?}", said(&stack));
    let (_, status) = http(&handler, signed(&command(&stack, "status", STRANGER), false)).await;
    assert!(status.to_string().contains("🔕 muted until"), "{status}");

    // Unmuted by the operator: said once, with what happened meanwhile.
    for _ in 0..2 {
        http(&handler, signed(&command(&stack, &format!("unmute {family}"), OPERATOR), false)).await;
    }
    let ended: Vec<String> = said(&stack).into_iter().filter(|t| t.starts_with("🔔")).collect();
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert!(ended[0].starts_with(&format!("🔔 {family} unmuted: ")), "{ended:?}");

    // A short mute ends by itself at the watch after its time, once.
    http(&handler, signed(&command(&stack, &format!("mute {family} 1m"), OPERATOR), false)).await;
    let later = chrono::Utc::now() + chrono::Duration::minutes(5);
    for minutes in [0, 5] {
        handler.handle(watch_event(later + chrono::Duration::minutes(minutes)), deadline()).await.unwrap();
    }
    let ended: Vec<String> = said(&stack).into_iter().filter(|t| t.starts_with("🔔")).collect();
    assert_eq!(ended.len(), 2, "{ended:?}");
    assert!(ended[1].starts_with(&format!("🔔 {family} unmuted: 0 runs")), "{ended:?}");
    let item = aws_sdk_dynamodb::Client::new(&stack.aws)
        .get_item()
        .table_name(&stack.table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("job#{family}")))
        .send()
        .await
        .unwrap();
    assert!(!item.item().unwrap().contains_key("mute_by"), "gone from the head");
}
