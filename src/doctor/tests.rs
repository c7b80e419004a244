//! The order of the checks, and what a failed prerequisite stops, on
//! in-memory fakes of the doctor's ports.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::reads::*;
use super::report::{Mark, Report};
use super::*;
use crate::ports::{SlackError, SlackToken};
use crate::time::Timestamp;

const TOKEN: &str = "xoxb-1111-2222-abcdefghijklmnopqrstuvwx";
const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:prod-notifier";
const SLACK_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:prod-slack-requests";

struct FakeAws {
    stack: Result<StackInfo, ReadError>,
    environment: BTreeMap<String, String>,
    /// The Slack-requests function's environment.
    slack_environment: BTreeMap<String, String>,
    secret: Result<SecretValue, ReadError>,
    table: Result<TableInfo, ReadError>,
    rules: HashMap<String, RuleInfo>,
    targeting: Vec<String>,
    /// Each queue's depth; others are empty.
    queues: HashMap<String, QueueDepth>,
    errors: f64,
    calls: Mutex<Vec<String>>,
}

impl FakeAws {
    fn healthy() -> FakeAws {
        let environment = [
            ("SLACK_TOKEN_SECRET_ID", "slack/bot"),
            ("SLACK_DEFAULT_CHANNEL", "C0JOBS"),
            ("SLACK_USERS_CHANNEL", "C0USERS"),
            ("THREADS_TABLE", "threads"),
            ("POST_QUEUE_URL", "https://sqs/posts.fifo"),
            ("NOTIFIER_ROLE", "events"),
        ];
        let rule = |name: &str| RuleInfo { name: name.into(), state: "ENABLED".into(), targets: vec![ARN.into()] };
        FakeAws {
            stack: Ok(StackInfo {
                outputs: [
                    ("NotifierFunctionArn", ARN),
                    ("DeadLetterQueueUrl", "https://sqs/dlq"),
                    ("ThreadsTableName", "threads"),
                    ("PostDeadLetterQueueUrl", "https://sqs/posts-dlq.fifo"),
                    ("SlackRequestsFunctionArn", SLACK_ARN),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
                rules: vec!["prod-ecs".into(), "prod-users".into()],
            }),
            environment: environment.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
            slack_environment: [("THREADS_TABLE", "threads"), ("NOTIFIER_ROLE", "slack")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            secret: Ok(SecretValue(Some(format!(r#"{{"token": "{TOKEN}"}}"#)))),
            table: Ok(TableInfo {
                status: "ACTIVE".into(),
                partition_key: Some("pk".into()),
                ttl_status: "ENABLED".into(),
                ttl_attribute: Some("expires_at".into()),
            }),
            rules: [("prod-ecs".to_owned(), rule("prod-ecs")), ("prod-users".to_owned(), rule("prod-users"))].into(),
            targeting: vec!["prod-ecs".into()],
            queues: HashMap::new(),
            errors: 0.0,
            calls: Mutex::default(),
        }
    }

    fn called(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }
}

#[async_trait]
impl AwsReads for FakeAws {
    async fn stack(&self, name: &str) -> Result<StackInfo, ReadError> {
        self.called(format!("stack {name}"));
        self.stack.clone()
    }

    async fn function(&self, name: &str) -> Result<FunctionInfo, ReadError> {
        self.called(format!("function {name}"));
        if name == SLACK_ARN {
            let environment = self.slack_environment.clone();
            return Ok(FunctionInfo { name: "prod-slack-requests".into(), arn: SLACK_ARN.into(), environment });
        }
        if name != ARN && name != "prod-notifier" {
            return Err(ReadError::NotFound(format!("function {name}")));
        }
        Ok(FunctionInfo { name: "prod-notifier".into(), arn: ARN.into(), environment: self.environment.clone() })
    }

    async fn secret(&self, id: &str) -> Result<SecretValue, ReadError> {
        self.called(format!("secret {id}"));
        self.secret.clone()
    }

    async fn table(&self, name: &str) -> Result<TableInfo, ReadError> {
        self.called(format!("table {name}"));
        self.table.clone()
    }

    async fn rule(&self, id: &str) -> Result<RuleInfo, ReadError> {
        self.called(format!("rule {id}"));
        self.rules.get(id).cloned().ok_or_else(|| ReadError::NotFound(format!("rule {id}")))
    }

    async fn rules_targeting(&self, arn: &str) -> Result<Vec<String>, ReadError> {
        self.called(format!("rules targeting {arn}"));
        Ok(self.targeting.clone())
    }

    async fn queue_depth(&self, url: &str) -> Result<QueueDepth, ReadError> {
        self.called(format!("queue {url}"));
        Ok(self.queues.get(url).copied().unwrap_or_default())
    }

    async fn function_errors(&self, name: &str, since: Timestamp, until: Timestamp) -> Result<f64, ReadError> {
        self.called(format!("errors {name} {}s", until.duration_since(since).as_secs()));
        Ok(self.errors)
    }
}

#[derive(Clone)]
struct FakeSlack {
    auth: Result<Identity, &'static str>,
    /// Channels the bot can see, and whether it is in each.
    channels: HashMap<&'static str, bool>,
    tokens: std::sync::Arc<Mutex<Vec<String>>>,
}

impl FakeSlack {
    fn healthy() -> FakeSlack {
        FakeSlack {
            auth: Ok(Identity { team: "Market Pulse".into(), user: "notifier".into(), user_id: "U0BOT".into() }),
            channels: [("C0JOBS", true), ("C0USERS", true)].into(),
            tokens: Default::default(),
        }
    }
}

impl SlackConnect for FakeSlack {
    fn connect(&self, _api_url: &str, token: SlackToken) -> Result<Box<dyn SlackReads>, SlackError> {
        self.tokens.lock().unwrap().push(token.expose().to_owned());
        Ok(Box::new(self.clone()))
    }
}

#[async_trait]
impl SlackReads for FakeSlack {
    async fn auth_test(&self, _deadline: Timestamp) -> Result<Identity, SlackError> {
        self.auth.clone().map_err(|code| SlackError::Api(code.into()))
    }

    async fn channel(&self, id: &str, _deadline: Timestamp) -> Result<ChannelInfo, SlackError> {
        let member = *self.channels.get(id).ok_or_else(|| SlackError::Api("channel_not_found".into()))?;
        Ok(ChannelInfo {
            id: id.into(),
            name: id.to_lowercase(),
            is_private: false,
            is_archived: false,
            is_member: member,
        })
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

const NOW: Duration = Duration::from_secs(1_795_708_800);

async fn run(
    aws: &FakeAws,
    slack: &FakeSlack,
    target: Target,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Report {
    Doctor { aws, slack }.run(&target, env, Timestamp::EPOCH + NOW).await
}

fn marks(report: &Report) -> Vec<(Mark, &str)> {
    report.lines.iter().map(|l| (l.mark, l.check.as_str())).collect()
}

#[tokio::test]
async fn a_healthy_stack_passes_every_check_in_order() {
    let (aws, slack) = (FakeAws::healthy(), FakeSlack::healthy());
    let report = run(&aws, &slack, Target::Stack("prod".into()), &no_env).await;
    assert_eq!(
        marks(&report),
        [
            (Mark::Pass, "configuration"),
            (Mark::Pass, "Slack token"),
            (Mark::Pass, "Slack auth.test"),
            (Mark::Pass, "channel C0JOBS (default)"),
            (Mark::Pass, "channel C0USERS (sign-ups)"),
            (Mark::Pass, "table threads"),
            (Mark::Pass, "EventBridge rule prod-ecs"),
            (Mark::Pass, "EventBridge rule prod-users"),
            (Mark::Pass, "dead-letter queue"),
            (Mark::Pass, "post queue"),
            (Mark::Pass, "post dead-letter queue"),
            (Mark::Pass, "function errors"),
            (Mark::Pass, "Slack-requests function"),
            (Mark::Pass, "Slack-requests function errors"),
        ],
        "{report}"
    );
    assert_eq!(report.exit_code(), 0);
    assert_eq!(
        *aws.calls.lock().unwrap(),
        [
            "stack prod",
            &format!("function {ARN}"),
            "secret slack/bot",
            "table threads",
            "rule prod-ecs",
            "rule prod-users",
            "queue https://sqs/dlq",
            "queue https://sqs/posts.fifo",
            "queue https://sqs/posts-dlq.fifo",
            "errors prod-notifier 86400s",
            &format!("function {SLACK_ARN}"),
            "errors prod-slack-requests 86400s",
        ]
    );
    assert_eq!(*slack.tokens.lock().unwrap(), [TOKEN], "Slack is asked with the secret's token");
    assert!(!report.to_string().contains("abcdefgh"), "{report}");
}

#[tokio::test]
async fn from_the_environment_the_deployment_checks_say_what_they_need() {
    let (aws, slack) = (FakeAws::healthy(), FakeSlack::healthy());
    let env = |name: &str| aws.environment.get(name).cloned();
    let report = run(&aws, &slack, Target::Environment, &env).await;
    let text = report.to_string();
    assert_eq!(report.exit_code(), 0, "{text}");
    assert!(text.contains("✓ configuration: from the environment: default channel C0JOBS"), "{text}");
    assert!(
        text.contains("– EventBridge rules: not run: no function known: run with --stack NAME (or --function NAME)"),
        "{text}"
    );
    assert!(
        text.contains("– dead-letter queue: not run: the queue is the stack's output DeadLetterQueueUrl"),
        "{text}"
    );
    assert!(text.contains("– function errors: not run: no function known"), "{text}");
    assert!(text.contains("✓ post queue: reachable; 0 post(s) waiting their turn"), "{text}");
    assert!(text.contains("– post dead-letter queue: not run: the queue is the stack's output PostDeadLetterQueueUrl"));
    assert!(text.ends_with("All 7 checks hold (4 not run).\n"), "{text}");
}

#[tokio::test]
async fn a_function_alone_finds_its_rules_by_target() {
    let (mut aws, slack) = (FakeAws::healthy(), FakeSlack::healthy());
    let report = run(&aws, &slack, Target::Function("prod-notifier".into()), &no_env).await;
    assert!(report.to_string().contains("✓ EventBridge rule prod-ecs: enabled, targets the function"), "{report}");
    assert!(aws.calls.lock().unwrap().contains(&format!("rules targeting {ARN}")));

    aws.targeting.clear();
    let report = run(&aws, &slack, Target::Function("prod-notifier".into()), &no_env).await;
    assert!(report.to_string().contains("✗ EventBridge rules: no rule targets"), "{report}");
    assert_eq!(report.exit_code(), 1);
}

#[tokio::test]
async fn an_unreadable_stack_stops_everything_and_says_why() {
    let (mut aws, slack) = (FakeAws::healthy(), FakeSlack::healthy());
    aws.stack = Err(ReadError::NotFound("stack nope".into()));
    let report = run(&aws, &slack, Target::Stack("nope".into()), &no_env).await;
    assert_eq!(report.lines[0].mark, Mark::Fail);
    assert!(
        report.lines[1..].iter().all(|l| l.mark == Mark::Skip && l.detail.contains("could not be read")),
        "{report}"
    );
    assert_eq!(report.lines.len(), 11);
    assert_eq!(report.exit_code(), 1);

    let report = run(&aws, &slack, Target::Function("other".into()), &no_env).await;
    assert!(report.to_string().starts_with("✗ function other: not found in this region\n"), "{report}");
}

#[tokio::test]
async fn a_bad_configuration_runs_nothing_else() {
    let (mut aws, slack) = (FakeAws::healthy(), FakeSlack::healthy());
    aws.environment.remove("SLACK_DEFAULT_CHANNEL");
    let report = run(&aws, &slack, Target::Stack("prod".into()), &no_env).await;
    assert_eq!(report.lines[0].mark, Mark::Fail, "{report}");
    assert!(report.lines[0].detail.contains("SLACK_DEFAULT_CHANNEL"), "{report}");
    assert_eq!(report.lines.len(), 10);
    assert!(report.lines[1..].iter().all(|l| l.mark == Mark::Skip), "{report}");
    assert_eq!(*aws.calls.lock().unwrap(), ["stack prod", &format!("function {ARN}")]);
}

#[tokio::test]
async fn no_token_no_slack_checks_but_the_rest_runs() {
    let (mut aws, slack) = (FakeAws::healthy(), FakeSlack::healthy());
    aws.secret = Err(ReadError::Denied("secret slack/bot: no".into()));
    let report = run(&aws, &slack, Target::Stack("prod".into()), &no_env).await;
    let text = report.to_string();
    assert!(text.contains("✗ Slack token: secret slack/bot is not readable"), "{text}");
    assert!(text.contains("– Slack auth.test: not run: no bot token to try"), "{text}");
    assert!(text.contains("– channels: not run: no bot token to try"), "{text}");
    assert!(text.contains("✓ table threads") && text.contains("✓ function errors"), "{text}");
    assert!(slack.tokens.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_refused_token_skips_the_channels() {
    let (aws, mut slack) = (FakeAws::healthy(), FakeSlack::healthy());
    slack.auth = Err("token_revoked");
    let report = run(&aws, &slack, Target::Stack("prod".into()), &no_env).await;
    let text = report.to_string();
    assert!(text.contains("✗ Slack auth.test: Slack refuses the token: token_revoked"), "{text}");
    assert!(text.contains("– channels: not run: auth.test did not pass"), "{text}");
    assert_eq!(report.exit_code(), 1);
}

#[tokio::test]
async fn a_function_on_another_table_than_its_stacks() {
    let (mut aws, slack) = (FakeAws::healthy(), FakeSlack::healthy());
    aws.environment.insert("THREADS_TABLE".into(), "by-hand".into());
    let report = run(&aws, &slack, Target::Stack("prod".into()), &no_env).await;
    let text = report.to_string();
    assert!(
        text.contains("✗ table by-hand: is not the stack's table threads (output ThreadsTableName)\n    fix: redeploy"),
        "{text}"
    );
    assert!(text.contains("✓ table by-hand: ACTIVE"), "the table in use is checked too:\n{text}");
    assert_eq!(report.exit_code(), 1);
}

#[tokio::test]
async fn each_broken_part_is_its_own_failure() {
    let (mut aws, mut slack) = (FakeAws::healthy(), FakeSlack::healthy());
    slack.channels.insert("C0USERS", false);
    aws.rules.get_mut("prod-users").unwrap().state = "DISABLED".into();
    aws.queues.insert("https://sqs/dlq".into(), QueueDepth { visible: 4, in_flight: 0 });
    aws.queues.insert("https://sqs/posts.fifo".into(), QueueDepth { visible: 9, in_flight: 1 });
    aws.queues.insert("https://sqs/posts-dlq.fifo".into(), QueueDepth { visible: 2, in_flight: 0 });
    aws.errors = 2.0;
    let report = run(&aws, &slack, Target::Stack("prod".into()), &no_env).await;
    let failed: Vec<&str> = report.lines.iter().filter(|l| l.mark == Mark::Fail).map(|l| l.check.as_str()).collect();
    assert_eq!(
        failed,
        [
            "channel C0USERS (sign-ups)",
            "EventBridge rule prod-users",
            "dead-letter queue",
            "post dead-letter queue",
            "function errors",
            "Slack-requests function errors"
        ],
        "{report}"
    );
    let text = report.to_string();
    assert!(
        text.contains("✓ post queue: reachable; 10 post(s) waiting their turn"),
        "a backlog is pacing, not a fault"
    );
    assert!(text.contains("✗ post dead-letter queue: 2 queued post(s) failed every try"), "{text}");
    assert!(text.ends_with("6 of 14 checks failed; each ✗ says what to do.\n"), "{text}");
}

#[tokio::test]
async fn the_two_functions_must_know_their_roles_and_a_stack_before_the_split_is_told_to_redeploy() {
    let (mut aws, slack) = (FakeAws::healthy(), FakeSlack::healthy());
    aws.slack_environment.remove("NOTIFIER_ROLE");
    let text = run(&aws, &slack, Target::Stack("prod".into()), &no_env).await.to_string();
    assert!(
        text.contains("✗ Slack-requests function: prod-slack-requests: NOTIFIER_ROLE=both, the notifier's events"),
        "{text}"
    );
    let (mut aws, slack) = (FakeAws::healthy(), FakeSlack::healthy());
    aws.stack.as_mut().unwrap().outputs.remove("SlackRequestsFunctionArn");
    let text = run(&aws, &slack, Target::Stack("prod".into()), &no_env).await.to_string();
    assert!(
        text.contains("– Slack-requests function: not run: the stack has no output SlackRequestsFunctionArn"),
        "{text}"
    );
}
