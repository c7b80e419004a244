//! The real function binary under a Lambda Runtime API emulator: bad
//! payloads are invocation errors and the process lives on.

mod common;

use common::runtime_api::{Function, Invocation, RuntimeApi};
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
