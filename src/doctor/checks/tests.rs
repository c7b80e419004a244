use super::*;
use crate::config::Needs;
use crate::doctor::report::Mark;

const TOKEN: &str = "xoxb-1111-2222-abcdefghijklmnopqrstuvwx";

fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let vars: std::collections::HashMap<&str, &str> = vars.iter().copied().collect();
    Config::from_lookup(|k| vars.get(k).map(|v| v.to_string()), Needs::LAMBDA)
}

fn api(code: &str) -> SlackError {
    SlackError::Api(code.into())
}

fn assert_fail(line: &Line, detail: &str, fix: &str) {
    assert_eq!(line.mark, Mark::Fail, "{line}");
    assert!(line.detail.contains(detail), "{detail:?} not in {line}");
    assert!(line.fix.as_deref().is_some_and(|f| f.contains(fix)), "{fix:?} not in {line}");
}

#[test]
fn a_token_shows_at_most_its_kind_and_last_four_characters() {
    assert_eq!(masked(&SlackToken::new(TOKEN)), "xoxb-…uvwx");
    assert_eq!(masked(&SlackToken::new("xoxb-short")), "xoxb-…", "too short to show any of it");
    assert_eq!(masked(&SlackToken::new("xoxp-1111-2222-abcdefghijklmnopqrstuvwx")), "xoxp-…");
    assert_eq!(masked(&SlackToken::new("not-a-token-at-all-0123456789")), "…");
}

#[test]
fn the_configuration_line_names_what_is_checked_or_every_problem() {
    let ok = config(&[
        ("SLACK_DEFAULT_CHANNEL", "C0JOBS"),
        ("SLACK_USERS_CHANNEL", "C0USERS"),
        ("THREADS_TABLE", "threads"),
        ("SLACK_TOKEN_SECRET_ID", "slack/bot"),
    ]);
    let line = configuration(&Origin::Function { name: "fn".into(), stack: Some("prod".into()) }, &ok);
    assert_eq!(line.mark, Mark::Pass);
    assert_eq!(
        line.detail,
        "of function fn (stack prod): default channel C0JOBS, users channel C0USERS, table threads, token from secret slack/bot, 0 job rule(s)"
    );
    let line = configuration(&Origin::Environment, &config(&[("SLACK_BOT_TOKEN", TOKEN)]));
    assert_fail(
        &line,
        "missing required environment variable(s): SLACK_DEFAULT_CHANNEL, THREADS_TABLE",
        "--stack NAME",
    );
    assert!(!line.to_string().contains(TOKEN));
}

#[test]
fn token_verdicts() {
    let secret = TokenConfig::Secret("slack/bot".into());
    let read = |v: Result<Option<&str>, ReadError>| v.map(|s| SecretValue(s.map(str::to_owned)));

    let (line, token) = token(&secret, Some(&read(Ok(Some(&format!(r#"{{"token": "{TOKEN}"}}"#))))));
    assert_eq!((line.mark, line.detail.as_str()), (Mark::Pass, "secret slack/bot holds a bot token (xoxb-…uvwx)"));
    assert_eq!(token.unwrap().expose(), TOKEN);

    let (line, token) = self::token(&TokenConfig::Static(SlackToken::new(TOKEN), None), None);
    assert_eq!((line.mark, line.detail.as_str()), (Mark::Pass, "SLACK_BOT_TOKEN holds a bot token (xoxb-…uvwx)"));
    assert!(token.is_some());

    type Case<'a> = (Result<Option<&'a str>, ReadError>, &'a str, &'a str);
    let table: [Case; 6] = [
        (Err(ReadError::NotFound("secret slack/bot".into())), "is not readable: not found", "docs/deploy.md"),
        (Err(ReadError::Denied("no".into())), "is not readable: access denied", "secretsmanager:GetSecretValue"),
        (Ok(None), "has no string value", "Bot User OAuth Token"),
        (Ok(Some("")), "the secret is empty", "Bot User OAuth Token"),
        (Ok(Some(r#"{"tok": "xoxb-1"}"#)), "no string member \"token\"", "Bot User OAuth Token"),
        (
            Ok(Some("xoxp-1111-2222-abcdefghijklmnopqrstuvwx")),
            "holds no bot token (a xoxp-… token)",
            "user and app tokens",
        ),
    ];
    for (value, detail, fix) in table {
        let (line, token) = self::token(&secret, Some(&read(value)));
        assert_fail(&line, detail, fix);
        assert!(token.is_none());
        assert!(!line.to_string().contains("abcdefgh"), "{line}");
    }
}

#[test]
fn auth_verdicts_name_the_fix() {
    let who = Identity { team: "Market Pulse".into(), user: "notifier".into(), user_id: "U0BOT".into() };
    let line = auth(&Ok(who), "https://slack.com/api");
    assert_eq!((line.mark, line.detail.as_str()), (Mark::Pass, "team Market Pulse, bot @notifier (U0BOT)"));
    assert_fail(&auth(&Err(api("token_revoked")), ""), "token_revoked", "reinstall the app");
    assert_fail(&auth(&Err(SlackError::AuthUnchanged("account_inactive".into())), ""), "account_inactive", "reinstall");
    assert_fail(&auth(&Err(api("invalid_auth")), ""), "invalid_auth", "OAuth & Permissions");
    assert_fail(&auth(&Err(api("team_added_to_org")), ""), "team_added_to_org", "auth.test");
    let down = auth(&Err(SlackError::Transport("connection refused".into())), "http://127.0.0.1:1/api");
    assert_fail(&down, "connection refused", "http://127.0.0.1:1/api is Slack's Web API (SLACK_API_URL)");
}

#[test]
fn every_configured_channel_once_with_what_posts_there() {
    let c = config(&[
        ("SLACK_DEFAULT_CHANNEL", "C0JOBS"),
        ("THREADS_TABLE", "t"),
        ("SLACK_BOT_TOKEN", TOKEN),
        ("JOBS_CONFIG_FILE", concat!(env!("CARGO_MANIFEST_DIR"), "/config/jobs.example.json")),
    ])
    .unwrap();
    let channels = configured_channels(&c.settings);
    assert_eq!(
        channels,
        [
            ConfiguredChannel { id: "C0JOBS".into(), uses: vec!["default".into(), "sign-ups".into()] },
            ConfiguredChannel {
                id: "C0PRICES".into(),
                uses: vec!["job collect_stock_prices_historical".into(), "job collect_stock_prices".into()]
            },
        ]
    );
}

#[test]
fn channel_verdicts() {
    let configured = ConfiguredChannel { id: "C0OPS".into(), uses: vec!["default".into()] };
    let info = |member: bool, archived: bool| ChannelInfo {
        id: "C0OPS".into(),
        name: "ops".into(),
        is_private: false,
        is_archived: archived,
        is_member: member,
    };
    let line = channel(&configured, &Ok(info(true, false)), "notifier");
    assert_eq!(line.to_string(), "✓ channel C0OPS (default): #ops, the bot is a member");
    let line = channel(&configured, &Ok(info(false, false)), "notifier");
    assert_eq!(
        line.to_string(),
        "✗ channel C0OPS (default): the bot is not a member of #ops\n    fix: invite it: type `/invite @notifier` in #ops"
    );
    assert_fail(&channel(&configured, &Ok(info(true, true)), "notifier"), "#ops is archived", "unarchive");
    assert_fail(
        &channel(&configured, &Err(api("channel_not_found")), "notifier"),
        "no such channel",
        "/invite @notifier",
    );
    assert_fail(
        &channel(&configured, &Err(api("missing_scope")), "n"),
        "missing_scope",
        "channels:read and groups:read",
    );
}

fn table_info(status: &str, key: &str, ttl: &str, attribute: Option<&str>) -> TableInfo {
    TableInfo {
        status: status.into(),
        partition_key: Some(key.into()),
        ttl_status: ttl.into(),
        ttl_attribute: attribute.map(str::to_owned),
    }
}

#[test]
fn table_verdicts() {
    let line = table("t", &Ok(table_info("ACTIVE", "pk", "ENABLED", Some("expires_at"))));
    assert_eq!(line.to_string(), "✓ table t: ACTIVE, TTL on expires_at");
    assert_fail(&table("t", &Err(ReadError::NotFound("table t".into()))), "does not exist", "THREADS_TABLE");
    assert_fail(&table("t", &Err(ReadError::Denied("x".into()))), "access denied", "dynamodb:DescribeTable");
    assert_fail(&table("t", &Ok(table_info("CREATING", "pk", "ENABLED", Some("expires_at")))), "is CREATING", "ACTIVE");
    assert_fail(
        &table("t", &Ok(table_info("ACTIVE", "id", "ENABLED", Some("expires_at")))),
        "partition key is id",
        "template.yaml",
    );
    assert_fail(
        &table("t", &Ok(table_info("ACTIVE", "pk", "DISABLED", None))),
        "TTL is off",
        "aws dynamodb update-time-to-live --table-name t --time-to-live-specification Enabled=true,AttributeName=expires_at",
    );
    assert_fail(
        &table("t", &Ok(table_info("ACTIVE", "pk", "ENABLED", Some("ttl")))),
        "TTL is on ttl, not expires_at",
        "update-time-to-live",
    );
}

#[test]
fn rule_verdicts() {
    let arn = "arn:aws:lambda:us-east-1:123456789012:function:notifier";
    let rule_info = |state: &str, targets: &[&str]| RuleInfo {
        name: "r".into(),
        state: state.into(),
        targets: targets.iter().map(|t| t.to_string()).collect(),
    };
    assert_eq!(
        rule("bus|r", &Ok(rule_info("ENABLED", &[arn])), arn).to_string(),
        "✓ EventBridge rule r: enabled, targets the function"
    );
    assert_eq!(rule("r", &Ok(rule_info("ENABLED", &[&format!("{arn}:live")])), arn).mark, Mark::Pass, "an alias of it");
    assert_fail(&rule("r", &Ok(rule_info("DISABLED", &[arn])), arn), "is DISABLED", "aws events enable-rule --name r");
    assert_fail(
        &rule("r", &Ok(rule_info("ENABLED", &[&format!("{arn}2")])), arn),
        "does not target the function",
        "sam deploy",
    );
    assert_fail(&rule("r", &Err(ReadError::NotFound("rule r".into())), arn), "does not exist", "redeploy");
    assert_fail(&no_rules(arn), "no rule targets", "template.yaml");
}

#[test]
fn queue_and_error_verdicts() {
    let url = "https://sqs.us-east-1.amazonaws.com/123456789012/dlq";
    assert_eq!(queue(url, &Ok(QueueDepth::default())).to_string(), "✓ dead-letter queue: empty");
    let line = queue(url, &Ok(QueueDepth { visible: 2, in_flight: 1 }));
    assert_fail(&line, "3 event(s) wait in it (2 visible, 1 being received)", "Replaying the dead-letter queue");
    assert!(line.fix.unwrap().contains(url));
    assert_fail(&queue(url, &Err(ReadError::Denied("x".into()))), "access denied", "sqs:GetQueueAttributes");

    assert_eq!(function_errors("fn", &Ok(0.0)).to_string(), "✓ function errors: none in the last 24 h");
    assert_fail(
        &function_errors("fn", &Ok(3.0)),
        "3 failed invocation(s) in the last 24 h",
        "aws logs tail /aws/lambda/fn --since 24h",
    );
    assert_fail(
        &function_errors("fn", &Err(ReadError::Other("x".into()))),
        "not readable",
        "cloudwatch:GetMetricStatistics",
    );
}

#[test]
fn stack_and_function_verdicts() {
    assert_fail(&stack_unreadable("prod", &ReadError::NotFound("stack prod".into())), "not found", "region");
    assert_fail(
        &stack_without_function("prod", &["Other"]),
        "no output NotifierFunctionArn (its outputs: Other)",
        "template.yaml",
    );
    assert_fail(
        &function_unreadable("fn", &ReadError::Denied("x".into())),
        "access denied",
        "lambda:GetFunctionConfiguration",
    );
}
