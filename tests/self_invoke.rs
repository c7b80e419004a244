//! The deferral as deployed: the Slack-requests function binary, under the
//! Lambda Runtime API emulator, invokes itself asynchronously through the
//! real Lambda client (`AWS_ENDPOINT_URL_LAMBDA` points it at a stand-in
//! for Lambda's Invoke API). The recorded payload is then delivered to the
//! function as Lambda delivers an asynchronous invocation, twice, as its
//! retry may.
//!
//! One test in its own binary: the latency it injects is moto's, for every
//! client.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::lambda_invoke::LambdaInvoke;
use common::runtime_api::{DeadlineHeader, Function, Invocation, RuntimeApi};
use common::{Stack, deadline, ecs, task_event, unique};
use ecs_slack_notifier::signature::{SigningSecret, sign};
use ecs_slack_notifier::time::Timestamp;
use serde_json::{Value, json};

const SIGNING: &str = "e3b0c44298fc1c149afbf4c8996fb924";
const OPERATOR: &str = "U0OPERATOR";
/// The template's timeout for the Slack-requests function.
const TIMEOUT: Duration = Duration::from_secs(10);

async fn set_latency(moto: &str, latency: &Value) {
    let response = reqwest::Client::new().post(format!("{moto}/_latency")).json(latency).send().await.unwrap();
    assert!(response.status().is_success(), "moto's control API: {}", response.status());
}

/// A task event of `definition` on the cluster, as ECS would send it.
fn event(task_arn: &str, cluster: &ecs::Cluster, definition: &str, family: &str) -> Value {
    let (mut event, _) = task_event("events/ecs-task-stopped-failure.json", task_arn.rsplit('/').next().unwrap());
    let detail = &mut event["detail"];
    detail["taskArn"] = json!(task_arn);
    detail["clusterArn"] = json!(cluster.arn);
    detail["taskDefinitionArn"] = json!(definition);
    detail["group"] = json!(format!("family:{family}"));
    detail["attachments"][0]["details"][0]["value"] = json!(cluster.subnet);
    event
}

async fn tasks_started_by(stack: &Stack, cluster: &str, user: &str) -> Vec<String> {
    let ecs = aws_sdk_ecs::Client::new(&stack.aws);
    let listed = ecs.list_tasks().cluster(cluster).started_by(format!("slack/{user}")).send().await.unwrap();
    listed.task_arns().to_vec()
}

fn keys(value: &Value) -> BTreeSet<&str> {
    value.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default()
}

#[tokio::test]
async fn a_deferred_rerun_is_handed_to_lambda_and_done_once_however_often_it_is_delivered() {
    let Some(stack) = Stack::new().await else { return };
    set_latency(&stack.moto, &json!({})).await;
    let secret = common::create_secret(
        &stack.aws,
        &json!({"token": common::fake_slack::TOKEN, "signing_secret": SIGNING}).to_string(),
    )
    .await;
    let jobs_config = json!({"operators": [OPERATOR]}).to_string();
    let cluster = ecs::cluster(&stack.moto, &stack.aws).await;
    let family = unique("market-pulse-prices");
    let definition = ecs::fargate_definition(&stack.aws, &family, "collect-stock-prices").await;
    let rule = unique("prices-nightly");
    ecs::rule(&stack.aws, &rule, &cluster, &definition).await;

    // The notifier (the events function, in process) has posted a failed
    // run of the job, started by its rule.
    let notifier = stack.notifier_with(&[
        ("SLACK_TOKEN_SECRET_ID", &secret),
        ("JOBS_CONFIG", &jobs_config),
        ("NOTIFIER_ROLE", "events"),
    ]);
    let failed_task = format!(
        "arn:aws:ecs:us-east-1:123456789012:task/{}/5c3e8a7f9b1d4e2fa6c0b8d7e9f1a2b3",
        cluster.arn.rsplit('/').next().unwrap()
    );
    let mut stopped = event(&failed_task, &cluster, &definition, &family);
    stopped["detail"]["startedBy"] = json!(format!("events-rule/{rule}"));
    notifier.handle(stopped, deadline()).await.unwrap();
    let failure = stack.slack.posted().last().unwrap().clone();
    assert!(failure.visible().contains("\"action_id\":\"rerun_task\""), "{}", failure.visible());

    // The Slack-requests function, as the template deploys it: its own
    // name, its role, Lambda's API at the stand-in.
    let lambda = LambdaInvoke::start().await;
    let name = unique("ecs-slack-notifier-SlackRequestsFunction");
    let mut env = stack.env();
    env.extend(
        [
            ("SLACK_TOKEN_SECRET_ID", secret.as_str()),
            ("JOBS_CONFIG", &jobs_config),
            ("NOTIFIER_ROLE", "slack"),
            ("AWS_LAMBDA_FUNCTION_NAME", &name),
            ("AWS_ENDPOINT_URL_LAMBDA", &lambda.url),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let api = RuntimeApi::with_deadline(DeadlineHeader::In(TIMEOUT)).await;
    let function = Function::spawn(&api, &stack.moto, &env);

    // The rule's targets are slow to read (longer than Slack waits): the
    // re-run cannot be done before the answer. (A read, not RunTask, is
    // made slow: moto's RunTask ignores `clientToken`, so a RunTask cut
    // off in flight would run once in moto and again when deferred, where
    // ECS would start one task.)
    set_latency(&stack.moto, &json!({"events": [2700, 2700]})).await;
    let trigger = unique("trigger");
    let response_url = stack.slack.response_url(&unique("r"));
    let press = json!({"type": "block_actions", "user": {"id": OPERATOR}, "trigger_id": trigger,
        "response_url": response_url, "actions": [{"action_id": "rerun_task", "value": failed_task, "type": "button"}]});
    let body = form_urlencoded::Serializer::new(String::new()).append_pair("payload", &press.to_string()).finish();
    let sent = Timestamp::now().duration_since(Timestamp::EPOCH);
    let signature = sign(&SigningSecret::new(SIGNING), sent.as_secs() as i64, body.as_bytes());
    let request = json!({"version": "2.0", "rawPath": "/", "headers": {
            "x-slack-request-timestamp": sent.as_secs().to_string(), "x-slack-signature": signature,
            "content-type": "application/x-www-form-urlencoded"},
        "requestContext": {"requestId": unique("req"), "http": {"method": "POST", "path": "/", "sourceIp": "203.0.113.9"},
            "timeEpoch": sent.as_millis() as u64},
        "body": body, "isBase64Encoded": false});
    let answer = api.invoke(serde_json::to_vec(&request).unwrap()).await;
    let answered_after = Timestamp::now().duration_since(Timestamp::EPOCH) - sent;
    set_latency(&stack.moto, &json!({})).await;
    match &answer {
        Invocation::Response(response) => assert_eq!(response["statusCode"], 200, "{response}"),
        other => panic!("{other:?}\n{}", function.logs()),
    }
    assert!(answered_after < Duration::from_millis(2500), "answered {answered_after:?} after Slack sent it");

    // Handed over, not done: one asynchronous invocation of the function
    // itself, signed for Lambda.
    let invoked = lambda.take();
    assert_eq!(invoked.len(), 1, "{}", function.logs());
    assert_eq!((invoked[0].function.as_str(), invoked[0].signed_for.as_str()), (name.as_str(), "lambda"));
    assert!(tasks_started_by(&stack, &cluster.arn, OPERATOR).await.is_empty(), "not run before the answer");
    assert!(!stack.slack.posted().iter().any(|p| p.text.starts_with('🔁')), "nothing said before it is done");

    // The verified, parsed action, and nothing of the request it came in.
    let payload: Value = serde_json::from_slice(&invoked[0].payload).unwrap();
    assert_eq!(keys(&payload), BTreeSet::from(["deferred_slack_action"]), "{payload}");
    let action = &payload["deferred_slack_action"];
    assert_eq!(keys(action), BTreeSet::from(["action", "task_arn", "user", "response_url", "claim"]), "{payload}");
    assert_eq!((action["action"].as_str(), action["user"].as_str()), (Some("rerun"), Some(OPERATOR)));
    assert_eq!(
        (action["task_arn"].as_str(), action["response_url"].as_str()),
        (Some(&*failed_task), Some(&*response_url))
    );
    // The claim taken before the answer; its token is the claim's own (which
    // holder it is), not a credential.
    assert_eq!(keys(&action["claim"]), BTreeSet::from(["key", "token", "lease_until", "expires_at"]), "{payload}");
    assert_eq!(action["claim"]["key"], json!(format!("action#rerun#{failed_task}")));
    let text = String::from_utf8_lossy(&invoked[0].payload).into_owned();
    println!("answered {answered_after:?} after Slack sent it; deferred payload {} bytes: {text}", text.len());
    for leaked in [SIGNING, common::fake_slack::TOKEN, signature.as_str(), body.as_str(), trigger.as_str(), "x-slack"] {
        assert!(!text.contains(leaked), "the payload carries {leaked:?}: {text}");
    }

    // Lambda delivers it to the function: done, and said in the run's thread.
    let deliver = || api.invoke(invoked[0].payload.clone());
    match deliver().await {
        Invocation::Response(done) => assert_eq!(done, json!({"action": "finished", "deferred": "rerun"})),
        other => panic!("{other:?}\n{}", function.logs()),
    }
    let reruns = tasks_started_by(&stack, &cluster.arn, OPERATOR).await;
    assert_eq!(reruns.len(), 1, "{}", function.logs());
    let said = || stack.slack.posted().into_iter().filter(|p| p.text.starts_with('🔁')).collect::<Vec<_>>();
    assert_eq!(said().len(), 1);
    assert_eq!(said()[0].thread_ts.as_deref(), Some(failure.ts.as_str()), "in the run's thread");
    let new_id = reruns[0].rsplit('/').next().unwrap();
    assert!(said()[0].visible().contains(new_id), "{}", said()[0].visible());
    let answers = stack.slack.responses().len();

    // Delivered again (Lambda's retry of an asynchronous invocation): it
    // finds the action done and does nothing, says nothing.
    match deliver().await {
        Invocation::Response(done) => assert_eq!(done, json!({"action": "finished", "deferred": "rerun"})),
        other => panic!("{other:?}\n{}", function.logs()),
    }
    assert_eq!(tasks_started_by(&stack, &cluster.arn, OPERATOR).await, reruns, "run once");
    assert_eq!(said().len(), 1, "said once");
    assert_eq!(stack.slack.responses().len(), answers, "answered once");
    assert!(lambda.take().is_empty(), "a deferred action defers nothing more");

    let logs = function.logs();
    for secret in [SIGNING, common::fake_slack::TOKEN, signature.as_str()] {
        assert!(!logs.contains(secret), "the logs carry a secret:\n{logs}");
    }
}
