//! The real function binary under a Lambda Runtime API emulator: bad
//! payloads are invocation errors and the process lives on.

mod common;

use std::time::Duration;

use common::runtime_api::{DeadlineHeader, Function, Invocation, RuntimeApi};
use common::{Stack, task_event, unique};

#[tokio::test]
async fn bad_payloads_fail_the_invocation_and_the_process_lives_on() {
    let Some(stack) = Stack::new().await else { return };
    let api = RuntimeApi::start().await;
    let mut function = Function::spawn(&api, &stack.moto, &stack.env());

    let table: [(&[u8], &str); 4] = [
        (b"this is not json {", ""),
        (br#"{"hello": "world"}"#, "payload is not an EventBridge event: missing field `detail-type`"),
        (
            br#"{"detail-type": "User Registered", "source": "app", "detail": {"email": "a@b.c"}}"#,
            "missing field `user_id`",
        ),
        (br#"{"awslogs": {"data": "not base64 at all"}}"#, "invalid `awslogs.data`: not base64"),
    ];
    for (payload, want) in table {
        match api.invoke(payload.to_vec()).await {
            Invocation::Error(body) => {
                let message = body["errorMessage"].as_str().unwrap_or_default();
                assert!(message.contains(want), "{message}");
            }
            other => panic!("{}: {other:?}", String::from_utf8_lossy(payload)),
        }
        assert!(function.alive(), "the function died on {}", String::from_utf8_lossy(payload));
    }

    let (running, _) = task_event("events/ecs-task-running.json", &unique("task"));
    match api.invoke(serde_json::to_vec(&running).unwrap()).await {
        Invocation::Response(body) => assert_eq!(body["action"], "posted_start", "{body}"),
        other => panic!("{other:?}\n{}", function.logs()),
    }
    assert_eq!(stack.slack.posted().len(), 1);
    assert!(function.alive());
    let logs = function.logs();
    assert!(!logs.contains(common::fake_slack::TOKEN), "the token leaked into the logs:\n{logs}");
    // Each rejected payload is logged once, as the error people read: not
    // as a warning and again as the error's debug form.
    for want in [
        "payload is not an EventBridge event: missing field `detail-type`",
        "invalid `User Registered` event detail: missing field `user_id`",
        "invalid `awslogs.data`: not base64",
    ] {
        let lines: Vec<&str> = logs.lines().filter(|l| l.contains(want)).collect();
        assert_eq!(lines.len(), 1, "{want}:\n{logs}");
        assert!(lines[0].starts_with("ERROR"), "{}", lines[0]);
    }
    assert!(!logs.contains("Input("), "no debug dump:\n{logs}");
}

#[tokio::test]
async fn missing_configuration_stops_start_up_with_one_clear_error() {
    let Some(stack) = Stack::new().await else { return };
    let api = RuntimeApi::start().await;
    let mut env = stack.env();
    env.remove("SLACK_DEFAULT_CHANNEL");
    env.remove("SLACK_TOKEN_SECRET_ID");
    let mut function = Function::spawn(&api, &stack.moto, &env);
    let status = tokio::time::timeout(std::time::Duration::from_secs(20), function.child.wait())
        .await
        .expect("the function should exit")
        .unwrap();
    assert!(!status.success());
    let logs = function.logs();
    assert!(logs.contains("missing required environment variable(s): SLACK_DEFAULT_CHANNEL"), "{logs}");
    assert!(logs.contains("Slack bot token not configured"), "{logs}");
}

#[tokio::test]
async fn logs_are_structured_and_hold_no_token_and_no_email() {
    let Some(stack) = Stack::new().await else { return };
    let api = RuntimeApi::start().await;
    let mut env = stack.env();
    env.insert("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into());
    env.insert("AWS_LAMBDA_LOG_LEVEL".into(), "INFO".into());
    let function = Function::spawn(&api, &stack.moto, &env);

    stack.slack.fail_next(common::Fault::Http { status: 429, retry_after: Some(1) });
    let (running, _) = task_event("events/ecs-task-running.json", &unique("task"));
    let mut registration = common::event("events/user-registered.json");
    registration["detail"]["user_id"] = serde_json::json!(unique("usr"));
    registration["detail"]["email"] = serde_json::json!("grace.hopper@example.com");
    for payload in [running, registration] {
        match api.invoke(serde_json::to_vec(&payload).unwrap()).await {
            Invocation::Response(body) => assert!(body["action"].as_str().unwrap().starts_with("posted"), "{body}"),
            other => panic!("{other:?}\n{}", function.logs()),
        }
    }
    let logs = function.logs();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON log line: {line}")))
        .collect();
    let messages: Vec<&str> = lines.iter().filter_map(|l| l["fields"]["message"].as_str()).collect();
    assert_eq!(messages.iter().filter(|m| **m == "decision").count(), 2, "one line per decision:\n{logs}");
    // The task's fields are set once, on its span, and carried by its lines.
    let decision = lines.iter().find(|l| l["fields"]["message"] == "decision" && l["span"]["name"] == "task");
    let span = &decision.unwrap_or_else(|| panic!("no task decision line:\n{logs}"))["span"];
    assert_eq!(span["job"], "market-pulse-collect-stock-prices", "{span}");
    assert_eq!((span["status"].as_str(), span["version"].as_i64()), (Some("RUNNING"), Some(3)), "{span}");
    assert!(span["task"].as_str().is_some_and(|t| t.starts_with("task-")), "{span}");
    assert!(messages.iter().any(|m| m.contains("retrying")), "the rate limit is logged:\n{logs}");
    assert!(!logs.contains(common::fake_slack::TOKEN), "the token leaked:\n{logs}");
    assert!(!logs.contains("grace.hopper"), "the email leaked:\n{logs}");
}

#[tokio::test]
async fn a_constant_emulator_deadline_is_unknown_and_events_still_post() {
    let Some(stack) = Stack::new().await else { return };
    // cargo-lambda's emulator (1.9) sends this constant: read as epoch
    // milliseconds it is in 1970.
    let api = RuntimeApi::with_deadline(DeadlineHeader::Fixed("600000".into())).await;
    let function = Function::spawn(&api, &stack.moto, &stack.env());

    let task = unique("task");
    let (running, _) = task_event("events/ecs-task-running.json", &task);
    let (stopped, _) = task_event("events/ecs-task-stopped-success.json", &task);
    let mut actions = Vec::new();
    for payload in [running, stopped] {
        match api.invoke(serde_json::to_vec(&payload).unwrap()).await {
            Invocation::Response(body) => actions.push(body),
            other => panic!("{other:?}\n{}", function.logs()),
        }
    }
    assert_eq!(actions[0]["action"], "posted_start", "{actions:?}");
    assert_eq!(
        (actions[1]["action"].as_str(), actions[1]["threaded"].as_bool()),
        (Some("posted_completion"), Some(true))
    );
    let posted = stack.slack.posted();
    assert_eq!(posted.len(), 2);
    assert_eq!(posted[1].thread_ts.as_deref(), Some(posted[0].ts.as_str()), "the completion is in the start's thread");

    let logs = function.logs();
    let warnings: Vec<&str> = logs.lines().filter(|l| l.contains("Lambda-Runtime-Deadline-Ms 600000")).collect();
    assert_eq!(warnings.len(), 2, "one warning per invocation:\n{logs}");
    assert!(warnings.iter().all(|w| w.contains("WARN") && w.contains("default 30 s")), "{warnings:?}");
}

#[tokio::test]
async fn a_real_deadline_is_used_as_given() {
    let Some(stack) = Stack::new().await else { return };
    // 2.5 s ahead: a real deadline, so it is used as given, and the Slack
    // client keeps its 2 s reserve before it: no time for an attempt.
    let api = RuntimeApi::with_deadline(DeadlineHeader::In(Duration::from_millis(2_500))).await;
    let function = Function::spawn(&api, &stack.moto, &stack.env());
    let (running, _) = task_event("events/ecs-task-running.json", &unique("task"));
    match api.invoke(serde_json::to_vec(&running).unwrap()).await {
        Invocation::Error(body) => {
            let message = body["errorMessage"].as_str().unwrap_or_default();
            assert!(message.contains("no time left before the invocation deadline"), "{message}");
        }
        other => panic!("{other:?}\n{}", function.logs()),
    }
    assert!(stack.slack.posted().is_empty());
    assert!(!function.logs().contains("Lambda-Runtime-Deadline-Ms"), "{}", function.logs());
}

#[tokio::test]
async fn slacks_requests_through_the_binary_never_log_the_secret_the_signature_or_the_body() {
    let Some(stack) = Stack::new().await else { return };
    let signing = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
    let secret = common::create_secret(
        &stack.aws,
        &serde_json::json!({"token": common::fake_slack::TOKEN, "signing_secret": signing}).to_string(),
    )
    .await;
    let api = RuntimeApi::start().await;
    let mut env = stack.env();
    env.insert("SLACK_TOKEN_SECRET_ID".into(), secret);
    env.insert("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into());
    env.insert("AWS_LAMBDA_LOG_LEVEL".into(), "DEBUG".into());
    env.insert("JOBS_CONFIG".into(), r#"{"operators": ["U0OPERATOR"]}"#.into());
    let mut function = Function::spawn(&api, &stack.moto, &env);

    let body = "command=%2Fjobs&text=status+private-marker-7731&user_id=U0OPERATOR&channel_id=C0JOBS&trigger_id=t1";
    let now = chrono::Utc::now().timestamp();
    let signature = ecs_slack_notifier::signature::sign(
        &ecs_slack_notifier::signature::SigningSecret::new(signing),
        now,
        body.as_bytes(),
    );
    let request = |signature: &str| {
        serde_json::json!({"version": "2.0", "rawPath": "/", "headers": {"x-slack-request-timestamp": now.to_string(),
            "x-slack-signature": signature}, "requestContext": {"requestId": "r1",
            "http": {"method": "POST", "path": "/"}, "timeEpoch": now * 1000}, "body": body, "isBase64Encoded": false})
    };
    // Change the last hex digit, whatever it is: always a different signature.
    let last = if signature.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{last}", &signature[..signature.len() - 1]);
    for (sig, want) in [(signature.as_str(), 200), (tampered.as_str(), 401)] {
        match api.invoke(serde_json::to_vec(&request(sig)).unwrap()).await {
            Invocation::Response(response) => assert_eq!(response["statusCode"], want, "{response}"),
            other => panic!("an HTTP answer never fails the invocation: {other:?}\n{}", function.logs()),
        }
    }
    assert!(function.alive());
    let logs = function.logs();
    assert!(logs.contains("refused a request") && logs.contains("the signature does not match"), "{logs}");
    for secret in [signing, signature.as_str(), tampered.as_str(), "private-marker-7731", common::fake_slack::TOKEN] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs:\n{logs}");
    }
}

#[tokio::test]
async fn an_error_that_will_not_heal_is_answered_once_with_its_fix_and_counted() {
    let Some(stack) = Stack::new().await else { return };
    let api = RuntimeApi::start().await;
    let mut env = stack.env();
    env.insert("AWS_LAMBDA_FUNCTION_NAME".into(), "notifier-under-test".into());
    let function = Function::spawn(&api, &stack.moto, &env);
    stack.slack.remove_bot_from("C0JOBS");
    let (running, _) = task_event("events/ecs-task-running.json", &unique("task"));
    let requests = stack.slack.requests();
    match api.invoke(serde_json::to_vec(&running).unwrap()).await {
        // Done, not failed: Lambda does not retry it, the DLQ does not keep it.
        Invocation::Response(body) => {
            assert_eq!(body["action"], "will_not_heal", "{body}");
            assert_eq!(body["error"], "Slack API error: not_in_channel", "{body}");
            assert!(body["fix"].as_str().unwrap().contains("/invite"), "{body}");
        }
        other => panic!("{other:?}\n{}", function.logs()),
    }
    assert_eq!(stack.slack.requests() - requests, 1, "not retried within the invocation either");
    let logs = function.logs();
    let metric: Vec<serde_json::Value> =
        logs.lines().filter(|l| l.contains("\"_aws\"")).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(metric.len(), 1, "one metric line:\n{logs}");
    assert_eq!(metric[0]["WillNotHeal"], 1);
    assert_eq!(metric[0]["FunctionName"], "notifier-under-test");
    assert_eq!(logs.matches("will not heal").count(), 1, "the fix is logged once:\n{logs}");
}
