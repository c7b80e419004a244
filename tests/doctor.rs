//! `doctor`, run as the built binary against moto and the fake Slack: a
//! stack deployed in moto as the template would (function, rules, queue,
//! table, secret), then broken one part at a time.

mod common;

use std::process::Output;

use tokio::process::Command;

use common::fake_slack::{self, BOT_NAME, TOKEN};
use common::{Stack, create_threads_table, unique};
use serde_json::json;

/// A notifier deployed in moto: the CloudFormation stack's name, its
/// function and rules, and the stand-ins behind them.
struct Deployed {
    stack: Stack,
    name: String,
    function_name: String,
    rules: Vec<String>,
    queue_url: String,
    post_dead_letters_url: String,
    table: String,
}

impl Deployed {
    /// What `sam deploy` makes of template.yaml, in the parts the doctor
    /// reads; its own table (with TTL on) and secret, as the template's.
    async fn new() -> Option<Deployed> {
        let stack = Stack::new().await?;
        let table = create_threads_table(&stack.aws).await;
        let name = unique("notifier").replace('-', "x");
        let template = json!({
            "Resources": {
                "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
                }}},
                "NotifierFunction": {"Type": "AWS::Lambda::Function", "Properties": {
                    "Runtime": "provided.al2023", "Handler": "bootstrap", "Code": {"ZipFile": "bootstrap"},
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Environment": {"Variables": {
                        "SLACK_TOKEN_SECRET_ID": stack.secret_id,
                        "SLACK_BOT_TOKEN": "",
                        "SLACK_DEFAULT_CHANNEL": "C0JOBS",
                        "SLACK_USERS_CHANNEL": "C0USERS",
                        "THREADS_TABLE": table,
                        "SLACK_API_URL": stack.slack.url,
                        "JOBS_CONFIG": r#"{"jobs": [{"match": {"family": "ops-*"}, "channel": "C0OPS"}]}"#,
                        "JOB_LOGS": "on",
                        "POST_QUEUE_URL": {"Ref": "PostQueue"},
                        "NOTIFIER_ROLE": "events",
                    }}
                }},
                "SlackRequestsFunction": {"Type": "AWS::Lambda::Function", "Properties": {
                    "Runtime": "provided.al2023", "Handler": "bootstrap", "Code": {"ZipFile": "bootstrap"},
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Environment": {"Variables": {"THREADS_TABLE": table, "NOTIFIER_ROLE": "slack"}}
                }},
                "DeadLetterQueue": {"Type": "AWS::SQS::Queue"},
                "PostQueue": {"Type": "AWS::SQS::Queue", "Properties": {"FifoQueue": true, "QueueName": format!("{name}-posts.fifo")}},
                "PostDeadLetterQueue": {"Type": "AWS::SQS::Queue", "Properties": {"FifoQueue": true, "QueueName": format!("{name}-posts-dlq.fifo")}},
                "EcsTaskStateChange": {"Type": "AWS::Events::Rule", "Properties": {
                    "EventPattern": {"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"]},
                    "State": "ENABLED",
                    "Targets": [{"Arn": {"Fn::GetAtt": ["NotifierFunction", "Arn"]}, "Id": "notifier"}]
                }},
                "UserRegistered": {"Type": "AWS::Events::Rule", "Properties": {
                    "EventPattern": {"source": ["market-pulse.api"], "detail-type": ["User Registered"]},
                    "State": "ENABLED",
                    "Targets": [{"Arn": {"Fn::GetAtt": ["NotifierFunction", "Arn"]}, "Id": "notifier"}]
                }}
            },
            "Outputs": {
                "NotifierFunctionArn": {"Value": {"Fn::GetAtt": ["NotifierFunction", "Arn"]}},
                "SlackRequestsFunctionArn": {"Value": {"Fn::GetAtt": ["SlackRequestsFunction", "Arn"]}},
                "ThreadsTableName": {"Value": table},
                "DeadLetterQueueUrl": {"Value": {"Ref": "DeadLetterQueue"}},
                "PostDeadLetterQueueUrl": {"Value": {"Ref": "PostDeadLetterQueue"}}
            }
        });
        let cloudformation = aws_sdk_cloudformation::Client::new(&common::setup_config(&stack.aws));
        cloudformation
            .create_stack()
            .stack_name(&name)
            .template_body(template.to_string())
            .send()
            .await
            .expect("create the stack in moto");
        let described = cloudformation.describe_stacks().stack_name(&name).send().await.unwrap();
        let output = |key: &str| {
            described.stacks()[0]
                .outputs()
                .iter()
                .find(|o| o.output_key() == Some(key))
                .and_then(|o| o.output_value())
                .unwrap_or_else(|| panic!("stack output {key}"))
                .to_owned()
        };
        let function_arn = output("NotifierFunctionArn");
        let queue_url = output("DeadLetterQueueUrl");
        let post_dead_letters_url = output("PostDeadLetterQueueUrl");
        let resources = cloudformation.list_stack_resources().stack_name(&name).send().await.unwrap();
        let rules = resources
            .stack_resource_summaries()
            .iter()
            .filter(|r| r.resource_type() == Some("AWS::Events::Rule"))
            .map(|r| r.physical_resource_id().unwrap().to_owned())
            .collect::<Vec<_>>();
        assert_eq!(rules.len(), 2);
        let function_name = function_arn.rsplit(':').next().unwrap().to_owned();
        Some(Deployed { stack, name, function_name, rules, queue_url, post_dead_letters_url, table })
    }

    async fn doctor(&self, args: &[&str]) -> (Output, String) {
        doctor_at(&self.stack.moto, args).await
    }

    async fn check(&self) -> (Output, String) {
        self.doctor(&["--stack", &self.name]).await
    }
}

/// Runs the doctor binary while this test's fake Slack keeps answering.
async fn doctor_at(moto: &str, args: &[&str]) -> (Output, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_doctor"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", moto)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .args(args)
        .output()
        .await
        .expect("run doctor");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    // Never the token: at most its kind and last 4 characters.
    assert!(!text.contains(TOKEN) && !text.contains("test-0000-secret"), "the token leaked:\n{text}");
    (out, text)
}

fn assert_lines(text: &str, lines: &[&str]) {
    for line in lines {
        assert!(text.lines().any(|l| l == *line), "{line:?} not a line of:\n{text}");
    }
}

#[tokio::test]
async fn a_healthy_deployment_passes_every_check_and_nothing_is_posted() {
    let Some(d) = Deployed::new().await else { return };
    let (out, text) = d.check().await;
    assert_eq!(out.status.code(), Some(0), "{text}");
    let secret = &d.stack.secret_id;
    assert_lines(
        &text,
        &[
            &format!("doctor: checking stack {} (region us-east-1)", d.name),
            &format!(
                "✓ configuration: of function {} (stack {}): default channel C0JOBS, users channel C0USERS, table {}, token from secret {secret}, 1 job rule(s)",
                d.function_name, d.name, d.table
            ),
            &format!("✓ Slack token: secret {secret} holds a bot token (xoxb-…oken)"),
            &format!("✓ Slack auth.test: team {}, bot @{BOT_NAME} ({})", fake_slack::TEAM, fake_slack::BOT_USER_ID),
            "✓ channel C0JOBS (default): #jobs, the bot is a member",
            "✓ channel C0USERS (sign-ups): #users, the bot is a member",
            "✓ channel C0OPS (job jobs[0]): #ops, the bot is a member",
            &format!("✓ table {}: ACTIVE, TTL on expires_at", d.table),
            &format!("✓ EventBridge rule {}: enabled, targets the function", d.rules[0]),
            &format!("✓ EventBridge rule {}: enabled, targets the function", d.rules[1]),
            "✓ dead-letter queue: empty",
            "✓ post queue: reachable; 0 post(s) waiting their turn",
            "✓ post dead-letter queue: empty",
            "✓ function errors: none in the last 24 h",
            "✓ Slack-requests function errors: none in the last 24 h",
            "All 15 checks hold.",
        ],
    );
    assert_eq!(
        d.stack.slack.methods(),
        ["auth.test", "conversations.info", "conversations.info", "conversations.info"],
        "reads only"
    );
    assert!(d.stack.slack.posted().is_empty());
}

#[tokio::test]
async fn a_channel_the_bot_is_not_in_names_the_invite() {
    let Some(d) = Deployed::new().await else { return };
    d.stack.slack.remove_bot_from("C0USERS");
    let (out, text) = d.check().await;
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_lines(
        &text,
        &[
            "✗ channel C0USERS (sign-ups): the bot is not a member of #users",
            "    fix: invite it: type `/invite @notifier` in #users",
            "✓ channel C0JOBS (default): #jobs, the bot is a member",
            "1 of 15 checks failed; each ✗ says what to do.",
        ],
    );
}

#[tokio::test]
async fn a_revoked_token_says_to_reinstall_and_skips_the_channels() {
    let Some(d) = Deployed::new().await else { return };
    d.stack.slack.revoke_token();
    let (out, text) = d.check().await;
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("✗ Slack auth.test: Slack refuses the token: token_revoked\n    fix: the token was revoked"),
        "{text}"
    );
    assert!(
        text.contains("reinstall the app to the workspace and store its new Bot User OAuth Token in the secret"),
        "{text}"
    );
    assert_lines(&text, &["– channels: not run: auth.test did not pass"]);
    // The rest still runs.
    assert!(text.contains("✓ dead-letter queue: empty"), "{text}");
}

#[tokio::test]
async fn a_missing_table() {
    let Some(d) = Deployed::new().await else { return };
    aws_sdk_dynamodb::Client::new(&d.stack.aws).delete_table().table_name(&d.table).send().await.unwrap();
    let (out, text) = d.check().await;
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_lines(
        &text,
        &[
            &format!("✗ table {}: does not exist", d.table),
            "    fix: deploy the stack (it creates the table), or set THREADS_TABLE to the table's name",
        ],
    );
}

#[tokio::test]
async fn a_table_without_ttl() {
    let Some(d) = Deployed::new().await else { return };
    use aws_sdk_dynamodb::types::TimeToLiveSpecification;
    let spec = TimeToLiveSpecification::builder().attribute_name("expires_at").enabled(false).build().unwrap();
    let dynamodb = aws_sdk_dynamodb::Client::new(&d.stack.aws);
    dynamodb.update_time_to_live().table_name(&d.table).time_to_live_specification(spec).send().await.unwrap();
    let (out, text) = d.check().await;
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains(&format!("✗ table {}: TTL is off", d.table)), "{text}");
    assert!(text.contains("aws dynamodb update-time-to-live"), "{text}");
}

#[tokio::test]
async fn a_disabled_rule_found_from_the_stack_or_from_the_function() {
    let Some(d) = Deployed::new().await else { return };
    let disabled = &d.rules[1];
    aws_sdk_eventbridge::Client::new(&d.stack.aws).disable_rule().name(disabled).send().await.unwrap();
    let want = [
        format!("✗ EventBridge rule {disabled}: is DISABLED"),
        format!("    fix: aws events enable-rule --name {disabled}"),
        format!("✓ EventBridge rule {}: enabled, targets the function", d.rules[0]),
    ];
    let want: Vec<&str> = want.iter().map(String::as_str).collect();

    let (out, text) = d.check().await;
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_lines(&text, &want);

    // Without the stack: the rules that target the function.
    let (out, text) = d.doctor(&["--function", &d.function_name]).await;
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_lines(&text, &want);
    assert_lines(
        &text,
        &["– dead-letter queue: not run: the queue is the stack's output DeadLetterQueueUrl: run with --stack NAME"],
    );
}

#[tokio::test]
async fn events_waiting_in_the_dead_letter_queue_point_to_the_replay() {
    let Some(d) = Deployed::new().await else { return };
    let sqs = aws_sdk_sqs::Client::new(&d.stack.aws);
    for n in 0..2 {
        sqs.send_message()
            .queue_url(&d.queue_url)
            .message_body(format!(r#"{{"requestPayload": {n}}}"#))
            .send()
            .await
            .unwrap();
    }
    let (out, text) = d.check().await;
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("✗ dead-letter queue: 2 event(s) wait in it (2 visible, 0 being received)"), "{text}");
    assert!(text.contains("\"Replaying the dead-letter queue\""), "{text}");
    assert!(text.contains(&format!("with queue {}", d.queue_url)), "{text}");
}

#[tokio::test]
async fn posts_that_failed_every_try_point_to_moving_them_back() {
    let Some(d) = Deployed::new().await else { return };
    aws_sdk_sqs::Client::new(&d.stack.aws)
        .send_message()
        .queue_url(&d.post_dead_letters_url)
        .message_group_id("C0JOBS")
        .message_deduplication_id("one")
        .message_body(r#"{"key": "task#x", "slot": "completion", "message": {}}"#)
        .send()
        .await
        .unwrap();
    let (out, text) = d.check().await;
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_lines(&text, &["✗ post dead-letter queue: 1 queued post(s) failed every try"]);
    assert!(text.contains("\"Replaying the post dead-letter queue\""), "{text}");
    assert!(text.contains(&format!("with queue {}", d.post_dead_letters_url)), "{text}");
}

#[tokio::test]
async fn errors_in_the_last_day_point_to_the_logs() {
    let Some(d) = Deployed::new().await else { return };
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    let datum = MetricDatum::builder()
        .metric_name("Errors")
        .dimensions(Dimension::builder().name("FunctionName").value(&d.function_name).build())
        .value(3.0)
        // Five minutes ago: metrics land at whole seconds, some time after the fact.
        .timestamp((std::time::SystemTime::now() - std::time::Duration::from_secs(300)).into())
        .build();
    aws_sdk_cloudwatch::Client::new(&d.stack.aws)
        .put_metric_data()
        .namespace("AWS/Lambda")
        .metric_data(datum)
        .send()
        .await
        .unwrap();
    let (out, text) = d.check().await;
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_lines(&text, &["✗ function errors: 3 failed invocation(s) in the last 24 h"]);
    assert!(text.contains(&format!("aws logs tail /aws/lambda/{} --since 24h", d.function_name)), "{text}");
}

#[tokio::test]
async fn from_the_environment_and_with_a_stack_that_is_not_there() {
    let Some(stack) = Stack::new().await else { return };
    let mut command = Command::new(env!("CARGO_BIN_EXE_doctor"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", &stack.moto)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .envs(stack.env());
    let out = command.output().await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("✓ configuration: from the environment: default channel C0JOBS"), "{text}");
    assert!(text.contains("– EventBridge rules: not run: no function known"), "{text}");
    assert!(text.contains("All 6 checks hold (4 not run)."), "{text}");

    let (out, text) = doctor_at(&stack.moto, &["--stack", "no-such-stack"]).await;
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_lines(
        &text,
        &[
            "✗ stack no-such-stack: not found in this region",
            "    fix: check the stack's name and the region (AWS_REGION or AWS_PROFILE)",
        ],
    );
    assert!(text.contains("– configuration: not run: the deployment could not be read"), "{text}");
}

#[tokio::test]
async fn usage_errors_exit_2() {
    for args in [&["--stack"][..], &["--stack", "a", "--function", "b"], &["extra"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_doctor")).env_clear().args(args).output().await.unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("usage: doctor"), "{args:?}");
    }
}
