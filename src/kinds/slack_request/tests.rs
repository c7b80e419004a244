//! Slack's requests in-process: signed as Slack signs them, through the real
//! handler, on the in-memory store, a recording Slack and a fake ECS.

use base64::Engine;
use serde_json::{Value, json};

use crate::handler::{self, Handler};
use crate::jobs::JobsConfig;
use crate::message::Reply;
use crate::ports::{Clock, EcsTarget, FoundSchedule};
use crate::settings::Settings;
use crate::signature::{SigningSecret, sign};
use crate::testing::{EcsCall, Fakes, SIGNING_SECRET, task_event, test_settings};

const OPERATOR: &str = "U0OPERATOR";
const STRANGER: &str = "U0STRANGER";
const TASK: &str = "9781c248b1ab4c5b9d5f0d7f1e2c3a4b";
const RUNNING: &str = "events/ecs-task-running-before-failure.json";
const FAILED: &str = "events/ecs-task-stopped-failure.json";

fn arn(task: &str) -> String {
    format!("arn:aws:ecs:us-east-1:123456789012:task/market-pulse/{task}")
}

fn settings() -> Settings {
    let mut settings = test_settings();
    settings.jobs = JobsConfig::parse(&format!(
        r#"{{"strip_prefix": "market-pulse-", "snake_case": true, "operators": ["{OPERATOR}"],
            "jobs": [{{"match": {{"family": "quiet-*"}}, "name": "quiet", "operators": []}}]}}"#
    ))
    .unwrap();
    settings
}

/// A Function URL request with `body`, signed at `at` (epoch seconds)
/// unless `signature` says otherwise.
fn request_at(body: &str, at: i64, signature: Option<&str>, base64: bool) -> Value {
    let good = sign(&SigningSecret::new(SIGNING_SECRET), at, body.as_bytes());
    let mut headers = json!({"x-slack-request-timestamp": at.to_string(),
        "content-type": "application/x-www-form-urlencoded"});
    if let Some(signature) = signature.map(str::to_owned).or(Some(good)).filter(|s| !s.is_empty()) {
        headers["x-slack-signature"] = json!(signature);
    }
    let body = if base64 { base64::engine::general_purpose::STANDARD.encode(body.as_bytes()) } else { body.to_owned() };
    json!({"version": "2.0", "routeKey": "$default", "rawPath": "/", "rawQueryString": "", "headers": headers,
        "requestContext": {"accountId": "anonymous", "requestId": "req-1", "domainName": "example.lambda-url.us-east-1.on.aws",
            "http": {"method": "POST", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "Slackbot"},
            "timeEpoch": at * 1000},
        "body": body, "isBase64Encoded": base64})
}

fn form(fields: &[(&str, &str)]) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        form.append_pair(k, v);
    }
    form.finish()
}

fn press(action: &str, value: &str, user: &str) -> String {
    let payload = json!({"type": "block_actions", "user": {"id": user, "username": "someone"},
        "trigger_id": "t1", "response_url": "https://hooks.slack.test/actions/T1/1/abc",
        "container": {"type": "message", "message_ts": "1795700000.000001", "channel_id": "C0JOBS"},
        "actions": [{"action_id": action, "value": value, "type": "button", "action_ts": "1"}]});
    form(&[("payload", &payload.to_string())])
}

fn command(text: &str, user: &str, trigger: &str) -> String {
    form(&[
        ("command", "/jobs"),
        ("text", text),
        ("user_id", user),
        ("user_name", "someone"),
        ("channel_id", "C0JOBS"),
        ("response_url", "https://hooks.slack.test/commands/T1/2/def"),
        ("trigger_id", trigger),
    ])
}

async fn http(handler: &Handler, fakes: &Fakes, payload: Value) -> (i64, Option<Value>) {
    match handler.handle(payload, fakes.deadline()).await.unwrap() {
        handler::Handled::Http(response) => {
            (response.status_code, response.body.map(|b| serde_json::from_str(&b).unwrap_or(Value::String(b))))
        }
        other => panic!("not an HTTP answer: {other:?}"),
    }
}

async fn send(handler: &Handler, fakes: &Fakes, body: &str) -> (i64, Option<Value>) {
    http(handler, fakes, request_at(body, fakes.clock.now().secs(), None, false)).await
}

/// A job whose task `TASK` started (its start message posted) and failed.
async fn failed_run(handler: &Handler, fakes: &Fakes) {
    handler.handle(task_event(RUNNING, TASK), fakes.deadline()).await.unwrap();
    handler.handle(task_event(FAILED, TASK), fakes.deadline()).await.unwrap();
}

fn answers(fakes: &Fakes) -> Vec<String> {
    fakes.slack.responses().into_iter().map(|(_, reply): (String, Reply)| reply.text).collect()
}

#[tokio::test(start_paused = true)]
async fn unsigned_wrong_and_stale_requests_get_401_and_do_nothing() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings());
    handler.handle(task_event(RUNNING, TASK), fakes.deadline()).await.unwrap();
    let body = press("stop_task", &arn(TASK), OPERATOR);
    let now = fakes.clock.now().secs();
    let forged = sign(&SigningSecret::new("not the secret"), now, body.as_bytes());
    for payload in [
        request_at(&body, now, Some(""), false),
        request_at(&body, now, Some(&forged), false),
        request_at(&body, now, Some("v0=00"), false),
        request_at(&body, now - 301, None, false),
        request_at(&body, now + 301, None, false),
    ] {
        let (status, body) = http(&handler, &fakes, payload).await;
        assert_eq!((status, body), (401, None), "a refusal says nothing");
    }
    assert!(fakes.control.calls().is_empty(), "nothing was done");
    assert_eq!(fakes.slack.posted().len(), 1, "nothing was posted but the start");
    assert!(fakes.slack.responses().is_empty());
}

#[tokio::test(start_paused = true)]
async fn without_a_signing_secret_nothing_is_offered_and_nothing_accepted() {
    let fakes = Fakes::new();
    fakes.secrets.without_signing();
    let handler = fakes.handler(settings());
    handler.handle(task_event(RUNNING, TASK), fakes.deadline()).await.unwrap();
    assert!(!fakes.slack.posted()[0].visible().contains("stop_task"), "no Stop button");
    let (status, _) = send(&handler, &fakes, &command("status", OPERATOR, "t1")).await;
    assert_eq!(status, 401);
}

#[tokio::test(start_paused = true)]
async fn stop_and_rerun_buttons_come_and_go_with_the_run() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings());
    failed_run(&handler, &fakes).await;
    let posted = fakes.slack.posted();
    let (start, failure) = (&posted[0], &posted[1]);
    let original = serde_json::to_string(&start.original.as_ref().unwrap().blocks).unwrap();
    assert!(original.contains(r#""action_id":"stop_task""#) && original.contains(&arn(TASK)), "{original}");
    let finished = serde_json::to_string(&start.message.blocks).unwrap();
    assert!(!finished.contains("stop_task"), "the finished run loses Stop");
    assert!(finished.contains("rerun_task") && failure.visible().contains("rerun_task"), "a failure offers Re-run");

    // No operators for a job: no buttons.
    let mut quiet = task_event(RUNNING, "0123456789abcdef0123456789abcdef");
    quiet["detail"]["group"] = json!("family:quiet-cleanup");
    handler.handle(quiet, fakes.deadline()).await.unwrap();
    assert!(!fakes.slack.posted()[2].visible().contains("stop_task"));
}

#[tokio::test(start_paused = true)]
async fn an_operator_stops_a_task_once_and_its_thread_says_who() {
    let fakes = Fakes::new();
    let (a, b) = (fakes.handler(settings()), fakes.handler(settings()));
    a.handle(task_event(RUNNING, TASK), fakes.deadline()).await.unwrap();
    let body = press("stop_task", &arn(TASK), OPERATOR);
    // A double click reaches two environments at once; then Slack's retry.
    let (x, y) = tokio::join!(send(&a, &fakes, &body), send(&b, &fakes, &body));
    assert_eq!((x.0, y.0), (200, 200));
    assert_eq!(send(&a, &fakes, &body).await.0, 200);
    let calls = fakes.control.calls();
    assert_eq!(calls.len(), 1, "stopped once: {calls:?}");
    let EcsCall::Stop { cluster, task, reason } = &calls[0] else { panic!("{calls:?}") };
    assert_eq!((cluster.as_str(), task.as_str()), ("market-pulse", TASK));
    assert_eq!(reason, &format!("Stopped from Slack by {OPERATOR}"));
    let posted = fakes.slack.posted();
    let said = posted.iter().find(|p| p.visible().contains("asked ECS to stop")).unwrap();
    assert_eq!(said.message.thread_ts.as_deref(), Some(posted[0].ts.as_str()));
    assert!(said.visible().contains(&format!("<@{OPERATOR}> asked ECS to stop this run")));
    assert_eq!(
        answers(&fakes),
        ["This task was stopped from Slack already.", "This task was stopped from Slack already."]
    );
}

#[tokio::test(start_paused = true)]
async fn a_stranger_is_told_no_and_nothing_runs() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings());
    failed_run(&handler, &fakes).await;
    for body in [press("stop_task", &arn(TASK), STRANGER), press("rerun_task", &arn(TASK), STRANGER)] {
        assert_eq!(send(&handler, &fakes, &body).await.0, 200);
    }
    for text in ["run analyze_sentiment", &format!("stop {TASK}")] {
        let (_, reply) = send(&handler, &fakes, &command(text, STRANGER, text)).await;
        let reply = reply.unwrap();
        assert_eq!(reply["response_type"], "ephemeral");
        assert!(reply["text"].as_str().unwrap().starts_with("You are not allowed to"), "{reply}");
    }
    assert!(fakes.control.calls().is_empty());
    let answers = answers(&fakes);
    assert!(answers.iter().all(|a| a.starts_with("You are not allowed to")) && answers.len() == 2, "{answers:?}");
}

#[tokio::test(start_paused = true)]
async fn a_rerun_starts_what_the_failed_run_had_once_and_says_who_in_its_thread() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings());
    failed_run(&handler, &fakes).await;
    let body = press("rerun_task", &arn(TASK), OPERATOR);
    let now = fakes.clock.now().secs();
    // As Slack may send it: base64.
    assert_eq!(http(&handler, &fakes, request_at(&body, now, None, true)).await.0, 200);
    assert_eq!(send(&handler, &fakes, &body).await.0, 200, "a second press");
    let calls = fakes.control.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let EcsCall::Run(run) = &calls[0] else { panic!() };
    assert!(run.task_definition.ends_with("task-definition/market-pulse-analyze-sentiment:42"), "the same revision");
    assert_eq!(run.cluster, "arn:aws:ecs:us-east-1:123456789012:cluster/market-pulse");
    assert_eq!((run.launch_type.as_deref(), run.platform_version.as_deref()), (Some("FARGATE"), Some("1.4.0")));
    assert_eq!(run.network.as_ref().unwrap().subnets, ["subnet-0a1b2c3d"], "the failed run's own subnet");
    assert_eq!(run.started_by, format!("slack/{OPERATOR}"));
    assert_eq!(run.overrides.as_ref().unwrap().container_overrides[0].name, "analyze-sentiment");
    let posted = fakes.slack.posted();
    let said = posted.iter().find(|p| p.visible().contains("re-ran")).unwrap();
    assert_eq!(said.message.thread_ts.as_deref(), Some(posted[0].ts.as_str()));
    assert!(said.visible().contains(&format!("<@{OPERATOR}> re-ran *analyze_sentiment*: task `new")));
    assert_eq!(answers(&fakes), ["This run was re-run from Slack already."]);
}

#[tokio::test(start_paused = true)]
async fn a_rerun_takes_the_network_of_the_rule_that_started_the_run() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings());
    let mut running = task_event(RUNNING, TASK);
    let mut failed = task_event(FAILED, TASK);
    for event in [&mut running, &mut failed] {
        event["detail"]["startedBy"] = json!("events-rule/market-pulse-analyze");
    }
    handler.handle(running, fakes.deadline()).await.unwrap();
    handler.handle(failed, fakes.deadline()).await.unwrap();
    fakes.schedules.set(vec![FoundSchedule {
        source: "rule market-pulse-analyze".into(),
        expression: "cron(0 6 * * ? *)".into(),
        time_zone: None,
        flexible_window: Default::default(),
        enabled: true,
        target: EcsTarget {
            cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/market-pulse".into(),
            task_definition_arn: "arn:aws:ecs:us-east-1:123456789012:task-definition/market-pulse-analyze-sentiment"
                .into(),
            subnets: vec!["subnet-private-a".into(), "subnet-private-b".into()],
            security_groups: vec!["sg-jobs".into()],
            assign_public_ip: Some(false),
            ..EcsTarget::default()
        },
    }]);
    send(&handler, &fakes, &press("rerun_task", &arn(TASK), OPERATOR)).await;
    let EcsCall::Run(run) = &fakes.control.calls()[0] else { panic!() };
    let network = run.network.as_ref().unwrap();
    assert_eq!((network.subnets.len(), network.security_groups.as_slice()), (2, &["sg-jobs".to_owned()][..]));
}

fn scheduled(source: &str, cluster: &str, family: &str, security_group: &str) -> FoundSchedule {
    FoundSchedule {
        source: source.into(),
        expression: "cron(0 6 * * ? *)".into(),
        time_zone: None,
        flexible_window: Default::default(),
        enabled: true,
        target: EcsTarget {
            cluster_arn: format!("arn:aws:ecs:us-east-1:123456789012:cluster/{cluster}"),
            task_definition_arn: format!("arn:aws:ecs:us-east-1:123456789012:task-definition/{family}"),
            subnets: vec!["subnet-private-a".into()],
            security_groups: vec![security_group.into()],
            assign_public_ip: Some(false),
            ..EcsTarget::default()
        },
    }
}

#[tokio::test(start_paused = true)]
async fn a_rerun_takes_the_network_of_the_schedule_that_started_the_run_read_alone() {
    const FAMILY: &str = "market-pulse-analyze-sentiment";
    // The account's other schedules, which none of the reads below walks.
    let others: Vec<FoundSchedule> = (0..40)
        .map(|i| scheduled(&format!("schedule default/other-{i}"), "market-pulse", "other-job", "sg-other"))
        .collect();
    /// `startedBy`, the schedules besides the others, what is read, the
    /// re-run's security group.
    type Case = (&'static str, Vec<FoundSchedule>, &'static [&'static str], Option<&'static str>);
    let table: [Case; 4] = [
        (
            // Shorter than the cut: the whole name, one GetSchedule.
            "chronos-schedule/analyze-nightly",
            vec![scheduled("schedule default/analyze-nightly", "market-pulse", FAMILY, "sg-nightly")],
            &["GetSchedule default/analyze-nightly"],
            Some("sg-nightly"),
        ),
        (
            // Cut at 36: the schedules under the prefix, of which only those
            // on the run's cluster are read, until one runs its family.
            "chronos-schedule/market-pulse-analyz",
            vec![
                scheduled("schedule default/market-pulse-analyze-elsewhere", "elsewhere", FAMILY, "sg-elsewhere"),
                scheduled("schedule default/market-pulse-analyze-v2", "market-pulse", "market-pulse-v2", "sg-v2"),
                scheduled("schedule jobs/market-pulse-analyze-sentiment-daily", "market-pulse", FAMILY, "sg-daily"),
                scheduled("schedule jobs/market-pulse-analyze-sentiment-late", "market-pulse", FAMILY, "sg-late"),
            ],
            &[
                "ListSchedules market-pulse-analyz",
                "GetSchedule default/market-pulse-analyze-v2",
                "GetSchedule jobs/market-pulse-analyze-sentiment-daily",
            ],
            Some("sg-daily"),
        ),
        (
            // A whole name not in `default`: found in its group by one listing.
            "chronos-schedule/analyze-nightly",
            vec![scheduled("schedule jobs/analyze-nightly", "market-pulse", FAMILY, "sg-jobs")],
            &[
                "GetSchedule default/analyze-nightly",
                "ListSchedules analyze-nightly",
                "GetSchedule jobs/analyze-nightly",
            ],
            Some("sg-jobs"),
        ),
        (
            // Gone: the job's schedule is looked for as for any run.
            "chronos-schedule/analyze-nightly",
            vec![],
            &["GetSchedule default/analyze-nightly", "ListSchedules analyze-nightly", "discover"],
            None,
        ),
    ];
    for (started_by, schedules, asked, security_group) in table {
        let fakes = Fakes::new();
        let handler = fakes.handler(settings());
        let mut running = task_event(RUNNING, TASK);
        let mut failed = task_event(FAILED, TASK);
        for event in [&mut running, &mut failed] {
            event["detail"]["startedBy"] = json!(started_by);
        }
        handler.handle(running, fakes.deadline()).await.unwrap();
        handler.handle(failed, fakes.deadline()).await.unwrap();
        fakes.schedules.set(others.iter().cloned().chain(schedules).collect());
        send(&handler, &fakes, &press("rerun_task", &arn(TASK), OPERATOR)).await;
        assert_eq!(fakes.schedules.asked(), asked, "{started_by}");
        let EcsCall::Run(run) = &fakes.control.calls()[0] else { panic!() };
        let groups = run.network.as_ref().map(|n| n.security_groups.clone()).unwrap_or_default();
        assert_eq!(groups, security_group.into_iter().map(str::to_owned).collect::<Vec<_>>(), "{started_by}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_run_whose_events_name_no_subnet_offers_rerun_when_its_rule_or_schedule_can_give_one() {
    for (started_by, offered) in [
        ("manual-run", false),
        ("events-rule/market-pulse-analyze", true),
        ("chronos-schedule/analyze-nightly", true),
        ("chronos-schedule/market-pulse-analyz", true),
        ("chronos-schedule/", false),
    ] {
        let fakes = Fakes::new();
        let handler = fakes.handler(settings());
        let mut failed = task_event(FAILED, TASK);
        failed["detail"]["startedBy"] = json!(started_by);
        failed["detail"]["attachments"][0]["details"] =
            json!([{"name": "networkInterfaceId", "value": "eni-0a1b2c3d"}]);
        handler.handle(failed, fakes.deadline()).await.unwrap();
        assert_eq!(fakes.slack.posted()[0].visible().contains("rerun_task"), offered, "{started_by}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_ecs_refusal_is_told_and_the_action_can_be_tried_again() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings());
    handler.handle(task_event(RUNNING, TASK), fakes.deadline()).await.unwrap();
    fakes.control.fail_next("AccessDeniedException: not authorized to perform ecs:StopTask");
    let body = press("stop_task", &arn(TASK), OPERATOR);
    send(&handler, &fakes, &body).await;
    assert!(
        answers(&fakes)[0].starts_with("I could not stop the task: AccessDeniedException"),
        "{:?}",
        answers(&fakes)
    );
    send(&handler, &fakes, &body).await;
    assert_eq!(fakes.control.calls().len(), 1, "the claim was given back: the retry stopped it");
}

#[tokio::test(start_paused = true)]
async fn jobs_status_run_stop_help_and_the_unknown() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings());
    failed_run(&handler, &fakes).await;

    let (status, reply) = send(&handler, &fakes, &command("status", STRANGER, "t1")).await;
    let reply = reply.unwrap();
    assert_eq!((status, reply["response_type"].as_str()), (200, Some("ephemeral")), "anyone may ask");
    assert!(reply.to_string().contains("*analyze_sentiment*  ❌ failed in 12m 18s"), "{reply}");

    let (_, reply) = send(&handler, &fakes, &command("run analyze_sentiment", OPERATOR, "t2")).await;
    let reply = reply.unwrap();
    assert_eq!(reply["response_type"], "in_channel", "{reply}");
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .starts_with(&format!("🔁 <@{OPERATOR}> started *analyze_sentiment* (as its last run ran): task `new")),
        "{reply}"
    );
    let (_, again) = send(&handler, &fakes, &command("run analyze_sentiment", OPERATOR, "t2")).await;
    assert_eq!(again.unwrap()["text"], "That command was done already.", "the same request repeated");

    let (_, reply) = send(&handler, &fakes, &command(&format!("stop {TASK}"), OPERATOR, "t3")).await;
    assert_eq!(reply.unwrap()["text"], "Asked ECS to stop it; its thread says so.");
    let kinds: Vec<&str> =
        fakes.control.calls().iter().map(|c| if matches!(c, EcsCall::Run(_)) { "run" } else { "stop" }).collect();
    assert_eq!(kinds, ["run", "stop"]);

    let (_, reply) = send(&handler, &fakes, &command("help", STRANGER, "t4")).await;
    assert!(reply.unwrap()["text"].as_str().unwrap().contains("`/jobs run <job>`"));
    let (_, reply) = send(&handler, &fakes, &command("deploy <!channel>", STRANGER, "t5")).await;
    let text = reply.unwrap()["text"].as_str().unwrap().to_owned();
    assert!(text.starts_with("I don't know `/jobs deploy &lt;!channel&gt;`"), "escaped: {text}");
    let (_, reply) = send(&handler, &fakes, &command("run nope", OPERATOR, "t6")).await;
    assert!(
        reply.unwrap()["text"].as_str().unwrap().starts_with("I know no job `nope`. Jobs I know: analyze_sentiment")
    );
    let (_, reply) = send(&handler, &fakes, &command("stop 0123456789abcdef0123456789abcdef", OPERATOR, "t7")).await;
    assert!(reply.unwrap()["text"].as_str().unwrap().starts_with("I know no task"));
    let (status, _) = send(&handler, &fakes, "something=else").await;
    assert_eq!(status, 400, "signed, but neither an interaction nor a command");
}

#[tokio::test(start_paused = true)]
async fn jobs_run_uses_the_schedules_target_when_there_is_one() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings());
    fakes.schedules.set(vec![FoundSchedule {
        source: "schedule default/reddit".into(),
        expression: "rate(1 hour)".into(),
        time_zone: None,
        flexible_window: Default::default(),
        enabled: true,
        target: EcsTarget {
            cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/market-pulse".into(),
            task_definition_arn: "arn:aws:ecs:us-east-1:123456789012:task-definition/market-pulse-reddit-scraper:9"
                .into(),
            launch_type: Some("FARGATE".into()),
            subnets: vec!["subnet-s".into()],
            overrides: Some(
                json!({"containerOverrides": [{"name": "reddit-scraper", "command": ["python", "-m", "jobs.reddit"]}]}),
            ),
            ..EcsTarget::default()
        },
    }]);
    let (_, reply) = send(&handler, &fakes, &command("run reddit_scraper", OPERATOR, "t1")).await;
    assert!(reply.unwrap()["text"].as_str().unwrap().contains("(as its schedule default/reddit runs it)"));
    let EcsCall::Run(run) = &fakes.control.calls()[0] else { panic!() };
    assert!(run.task_definition.ends_with("market-pulse-reddit-scraper:9"));
    assert_eq!(run.overrides.as_ref().unwrap().container_overrides[0].command.as_ref().unwrap()[2], "jobs.reddit");
}

mod ack;
mod deadline;
mod mute;
mod security;
