//! Each check's verdict from what was read: pure, so every verdict and fix
//! is unit-tested. Nothing here prints a token; [`masked`] is the most of
//! one that is ever shown.

use crate::adapters::dynamodb::{PARTITION_KEY, TTL_ATTRIBUTE};
use crate::adapters::token::parse_secret;
use crate::config::{Config, ConfigError, TokenConfig};
use crate::doctor::reads::{
    ChannelInfo, FunctionInfo, Identity, QueueDepth, ReadError, RuleInfo, SecretValue, TableInfo,
};
use crate::doctor::report::Line;
use crate::ports::{SlackError, SlackToken};
use crate::settings::Settings;

/// Where the docs explain replaying the dead-letter queue.
const REPLAY_LOOP: &str = "docs/operations.md, \"Replaying the dead-letter queue\"";

/// Where the checked configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Environment,
    Function { name: String, stack: Option<String> },
}

impl Origin {
    fn describe(&self) -> String {
        match self {
            Origin::Environment => "from the environment".into(),
            Origin::Function { name, stack: Some(stack) } => format!("of function {name} (stack {stack})"),
            Origin::Function { name, stack: None } => format!("of function {name}"),
        }
    }
}

/// At most the token's kind and, for a bot token of a plausible length,
/// its last 4 characters: `xoxb-…abcd`.
pub fn masked(token: &SlackToken) -> String {
    let token = token.expose();
    let kind = token.split_once('-').map(|(kind, _)| kind).filter(|k| k.len() == 4 && k.starts_with("xox"));
    match kind {
        Some("xoxb") if token.chars().count() >= 24 => {
            let last4: String = token.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
            format!("xoxb-…{last4}")
        }
        Some(kind) => format!("{kind}-…"),
        None => "…".into(),
    }
}

fn slack_code(error: &SlackError) -> Option<&str> {
    match error {
        SlackError::Api(code) | SlackError::AuthUnchanged(code) => Some(code),
        _ => None,
    }
}

pub fn configuration(origin: &Origin, config: &Result<Config, ConfigError>) -> Line {
    const CHECK: &str = "configuration";
    match config {
        Ok(config) => {
            let s = &config.settings;
            let token = match &config.token {
                TokenConfig::Secret(id) => format!("token from secret {id}"),
                TokenConfig::Static(..) => "token from SLACK_BOT_TOKEN".into(),
                TokenConfig::Missing => "no token".into(),
            };
            let mut parts = vec![format!("default channel {}", s.default_channel)];
            if let Some(users) = &s.users_channel {
                parts.push(format!("users channel {users}"));
            }
            parts.push(format!("table {}", config.threads_table.as_deref().unwrap_or("(none)")));
            parts.push(token);
            parts.push(format!("{} job rule(s)", s.jobs.jobs.len()));
            Line::pass(CHECK, format!("{}: {}", origin.describe(), parts.join(", ")))
        }
        Err(e) => {
            let fix = match origin {
                Origin::Environment => {
                    "set the function's variables in this environment (docs/configuration.md), or check the deployed function with --stack NAME"
                }
                Origin::Function { .. } => {
                    "redeploy with the parameters set (`sam deploy --guided`); docs/configuration.md names each variable"
                }
            };
            let ConfigError::Invalid(problems) = e;
            Line::fail(CHECK, format!("{} is not usable: {}", origin.describe(), problems.join("; ")), fix)
        }
    }
}

/// What a failed read says after the check's name, which already names
/// the thing read.
fn unreadable(error: &ReadError) -> String {
    match error {
        ReadError::NotFound(_) => "not found in this region".into(),
        other => format!("not readable: {other}"),
    }
}

pub fn stack_unreadable(stack: &str, error: &ReadError) -> Line {
    let fix = match error {
        ReadError::NotFound(_) => "check the stack's name and the region (AWS_REGION or AWS_PROFILE)",
        ReadError::Denied(_) => {
            "your credentials need cloudformation:DescribeStacks and cloudformation:ListStackResources"
        }
        ReadError::Other(_) => "check your AWS credentials, region and network",
    };
    Line::fail(format!("stack {stack}"), unreadable(error), fix)
}

pub fn stack_without_function(stack: &str, outputs: &[&str]) -> Line {
    Line::fail(
        format!("stack {stack}"),
        format!(
            "has no output NotifierFunctionArn (its outputs: {})",
            if outputs.is_empty() { "none".into() } else { outputs.join(", ") }
        ),
        "name the stack deployed from this repository's template.yaml",
    )
}

pub fn function_unreadable(function: &str, error: &ReadError) -> Line {
    let fix = match error {
        ReadError::NotFound(_) => "check the function's name or ARN and the region",
        ReadError::Denied(_) => "your credentials need lambda:GetFunctionConfiguration on the function",
        ReadError::Other(_) => "check your AWS credentials, region and network",
    };
    Line::fail(format!("function {function}"), unreadable(error), fix)
}

const TOKEN_FIX: &str = "store the app's Bot User OAuth Token (xoxb-…, from OAuth & Permissions) as the secret's string, raw or as {\"token\": \"xoxb-…\"}";

/// The token check from the configured source: the secret as read, or
/// the token given in `SLACK_BOT_TOKEN`. Returns the token when it is one.
pub fn token(config: &TokenConfig, secret: Option<&Result<SecretValue, ReadError>>) -> (Line, Option<SlackToken>) {
    const CHECK: &str = "Slack token";
    let (source, token) = match (config, secret) {
        (TokenConfig::Static(token, _), _) => ("SLACK_BOT_TOKEN".to_owned(), token.clone()),
        (TokenConfig::Secret(id), Some(read)) => {
            let source = format!("secret {id}");
            let raw = match read {
                Ok(SecretValue(Some(raw))) => raw,
                Ok(SecretValue(None)) => {
                    return (Line::fail(CHECK, format!("{source} has no string value"), TOKEN_FIX), None);
                }
                Err(e) => {
                    let fix = match e {
                        ReadError::NotFound(_) => {
                            "create it (docs/deploy.md, \"The secret\"), or name the right one in SLACK_TOKEN_SECRET_ID (the stack's SlackTokenSecret)"
                        }
                        ReadError::Denied(_) => {
                            "your credentials need secretsmanager:GetSecretValue on it (and kms:Decrypt on its key, if it has its own)"
                        }
                        ReadError::Other(_) => "check your AWS credentials, region and network",
                    };
                    return (Line::fail(CHECK, format!("{source} is not readable: {e}"), fix), None);
                }
            };
            match parse_secret(raw) {
                Ok(secrets) => (source, secrets.token),
                Err(why) => return (Line::fail(CHECK, format!("{source}: {why}"), TOKEN_FIX), None),
            }
        }
        (TokenConfig::Secret(id), None) => return (Line::skip(CHECK, format!("secret {id} was not read")), None),
        (TokenConfig::Missing, _) => {
            return (
                Line::fail(
                    CHECK,
                    "not configured",
                    "set SLACK_TOKEN_SECRET_ID (deployed) or SLACK_BOT_TOKEN (local runs)",
                ),
                None,
            );
        }
    };
    if !token.expose().starts_with("xoxb-") {
        let line = Line::fail(
            CHECK,
            format!("{source} holds no bot token (a {} token)", masked(&token)),
            "use the app's Bot User OAuth Token (xoxb-…, from OAuth & Permissions); user and app tokens cannot post as the bot",
        );
        return (line, None);
    }
    (Line::pass(CHECK, format!("{source} holds a bot token ({})", masked(&token))), Some(token))
}

pub fn auth(result: &Result<Identity, SlackError>, api_url: &str) -> Line {
    const CHECK: &str = "Slack auth.test";
    match result {
        Ok(who) => Line::pass(CHECK, format!("team {}, bot @{} ({})", who.team, who.user, who.user_id)),
        Err(e) => match slack_code(e) {
            Some(code @ ("token_revoked" | "account_inactive" | "token_expired")) => Line::fail(
                CHECK,
                format!("Slack refuses the token: {code}"),
                "the token was revoked (the app was uninstalled or its token rotated): reinstall the app to the workspace and store its new Bot User OAuth Token in the secret",
            ),
            Some(code @ ("invalid_auth" | "not_authed")) => Line::fail(
                CHECK,
                format!("Slack refuses the token: {code}"),
                "the token belongs to no workspace: copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page into the secret",
            ),
            Some(code) => Line::fail(
                CHECK,
                format!("Slack answered {code}"),
                format!("see Slack's documentation of auth.test for {code}"),
            ),
            None => Line::fail(
                CHECK,
                e.to_string(),
                format!("check that {api_url} is Slack's Web API (SLACK_API_URL) and reachable from here"),
            ),
        },
    }
}

/// A channel the configuration posts to, and what posts there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredChannel {
    pub id: String,
    pub uses: Vec<String>,
}

/// Every channel the notifier may post to: the default, the users
/// channel, and each job rule's, once each, in that order.
pub fn configured_channels(settings: &Settings) -> Vec<ConfiguredChannel> {
    let mut channels: Vec<ConfiguredChannel> = Vec::new();
    let mut add = |id: &str, use_: String| match channels.iter_mut().find(|c| c.id == id) {
        Some(channel) => channel.uses.push(use_),
        None => channels.push(ConfiguredChannel { id: id.to_owned(), uses: vec![use_] }),
    };
    add(&settings.default_channel, "default".into());
    add(settings.users_channel(), "sign-ups".into());
    for (i, rule) in settings.jobs.jobs.iter().enumerate() {
        if let Some(channel) = &rule.channel {
            let name = rule.name.clone().unwrap_or_else(|| format!("jobs[{i}]"));
            add(channel, format!("job {name}"));
        }
    }
    channels
}

pub fn channel(configured: &ConfiguredChannel, result: &Result<ChannelInfo, SlackError>, bot: &str) -> Line {
    let check = format!("channel {} ({})", configured.id, configured.uses.join(", "));
    match result {
        Ok(info) if info.is_archived => {
            Line::fail(check, format!("#{} is archived", info.name), "unarchive it, or configure another channel")
        }
        Ok(info) if !info.is_member => Line::fail(
            check,
            format!("the bot is not a member of #{}", info.name),
            format!("invite it: type `/invite @{bot}` in #{}", info.name),
        ),
        Ok(info) => Line::pass(check, format!("#{}, the bot is a member", info.name)),
        Err(e) => match slack_code(e) {
            Some("channel_not_found") => Line::fail(
                check,
                "no such channel, or a private channel the bot is not in",
                format!(
                    "configure the channel's ID (channel details → About, at the bottom), not its name; for a private channel, `/invite @{bot}` in it first"
                ),
            ),
            Some("missing_scope") => Line::fail(
                check,
                "the app may not read channels (missing_scope)",
                "add the Bot Token Scopes channels:read and groups:read to the Slack app, reinstall it, and store the new token",
            ),
            Some(code) => Line::fail(
                check,
                format!("Slack answered {code}"),
                format!("see Slack's documentation of conversations.info for {code}"),
            ),
            None => Line::fail(check, e.to_string(), "check the network to Slack and run the doctor again"),
        },
    }
}

pub fn table(name: &str, result: &Result<TableInfo, ReadError>) -> Line {
    let check = format!("table {name}");
    let info = match result {
        Ok(info) => info,
        Err(e) => {
            let fix = match e {
                ReadError::NotFound(_) => {
                    "deploy the stack (it creates the table), or set THREADS_TABLE to the table's name".to_owned()
                }
                ReadError::Denied(_) => {
                    "your credentials need dynamodb:DescribeTable and dynamodb:DescribeTimeToLive on it".to_owned()
                }
                ReadError::Other(_) => "check your AWS credentials, region and network".to_owned(),
            };
            let detail = match e {
                ReadError::NotFound(_) => "does not exist".to_owned(),
                other => format!("not readable: {other}"),
            };
            return Line::fail(check, detail, fix);
        }
    };
    if info.status != "ACTIVE" {
        return Line::fail(check, format!("is {}", info.status), "wait until it is ACTIVE, then run the doctor again");
    }
    if info.partition_key.as_deref() != Some(PARTITION_KEY) {
        return Line::fail(
            check,
            format!(
                "its partition key is {}, the notifier's is {PARTITION_KEY} (a string)",
                info.partition_key.as_deref().unwrap_or("unknown")
            ),
            "use the table template.yaml defines (the stack's ThreadsTableName)",
        );
    }
    let ttl_on = matches!(info.ttl_status.as_str(), "ENABLED" | "ENABLING");
    if !ttl_on || info.ttl_attribute.as_deref() != Some(TTL_ATTRIBUTE) {
        let now = match (&info.ttl_attribute, ttl_on) {
            (Some(attribute), true) => format!("TTL is on {attribute}, not {TTL_ATTRIBUTE}"),
            _ => "TTL is off: thread records are never deleted".into(),
        };
        return Line::fail(
            check,
            now,
            format!(
                "aws dynamodb update-time-to-live --table-name {name} --time-to-live-specification Enabled=true,AttributeName={TTL_ATTRIBUTE}"
            ),
        );
    }
    Line::pass(check, format!("ACTIVE, TTL on {TTL_ATTRIBUTE}"))
}

/// The function's `THREADS_TABLE` is not the table its stack made (the
/// variable was changed by hand).
pub fn table_not_the_stacks(table: &str, stack_table: &str) -> Line {
    Line::fail(
        format!("table {table}"),
        format!("is not the stack's table {stack_table} (output ThreadsTableName)"),
        "redeploy the stack (`sam deploy`), which sets THREADS_TABLE to its table",
    )
}

/// A rule's name from a stack's physical id (`bus|name` off the default bus).
pub fn rule_name(id: &str) -> &str {
    id.rsplit_once('|').map_or(id, |(_, name)| name)
}

fn targets(target: &str, function_arn: &str) -> bool {
    // A target may be the function or one of its versions or aliases.
    target == function_arn || target.strip_prefix(function_arn).is_some_and(|rest| rest.starts_with(':'))
}

pub fn rule(id: &str, result: &Result<RuleInfo, ReadError>, function_arn: &str) -> Line {
    let name = rule_name(id);
    let check = format!("EventBridge rule {name}");
    match result {
        Err(ReadError::NotFound(_)) => {
            Line::fail(check, "does not exist", "redeploy the stack (`sam deploy`): the template creates its rules")
        }
        Err(e) => Line::fail(
            check,
            format!("not readable: {e}"),
            "your credentials need events:DescribeRule, events:ListTargetsByRule and events:ListRuleNamesByTarget",
        ),
        Ok(rule) if rule.state != "ENABLED" => {
            Line::fail(check, format!("is {}", rule.state), format!("aws events enable-rule --name {name}"))
        }
        Ok(rule) if !rule.targets.iter().any(|t| targets(t, function_arn)) => Line::fail(
            check,
            "does not target the function",
            "redeploy the stack (`sam deploy`), which sets the function as the rule's target",
        ),
        Ok(_) => Line::pass(check, "enabled, targets the function"),
    }
}

pub fn no_rules(function_arn: &str) -> Line {
    Line::fail(
        "EventBridge rules",
        format!("no rule targets {function_arn}: no event reaches the function"),
        "deploy with this repository's template.yaml (`sam deploy`): it creates the ECS and sign-up rules",
    )
}

pub fn rules_unreadable(error: &ReadError) -> Line {
    Line::fail(
        "EventBridge rules",
        format!("not readable: {error}"),
        "your credentials need events:ListRuleNamesByTarget, events:DescribeRule and events:ListTargetsByRule",
    )
}

pub fn queue(url: &str, result: &Result<QueueDepth, ReadError>) -> Line {
    const CHECK: &str = "dead-letter queue";
    match result {
        Ok(depth) if depth.visible + depth.in_flight == 0 => Line::pass(CHECK, "empty"),
        Ok(depth) => Line::fail(
            CHECK,
            format!(
                "{} event(s) wait in it ({} visible, {} being received)",
                depth.visible + depth.in_flight,
                depth.visible,
                depth.in_flight
            ),
            format!(
                "fix their cause (the other checks, the function's logs), then replay them into the function: {REPLAY_LOOP}, with queue {url}"
            ),
        ),
        Err(e) => Line::fail(
            CHECK,
            format!("not readable: {e}"),
            "your credentials need sqs:GetQueueAttributes on the stack's dead-letter queue",
        ),
    }
}

/// The post queue that paces a burst's failure replies (`POST_QUEUE_URL`).
pub fn post_queue(url: Option<&str>, result: Option<&Result<QueueDepth, ReadError>>) -> Line {
    const CHECK: &str = "post queue";
    match (url, result) {
        (Some(_), Some(Ok(depth))) => {
            Line::pass(CHECK, format!("reachable; {} post(s) waiting their turn", depth.visible + depth.in_flight))
        }
        (Some(url), Some(Err(e))) => Line::fail(
            CHECK,
            format!("{url} is not readable: {e}"),
            "POST_QUEUE_URL must be the stack's post queue (the template sets it), and the function needs sqs:SendMessage on it",
        ),
        _ => Line::pass(CHECK, "not set (POST_QUEUE_URL): a burst's failures are posted at once, unpaced"),
    }
}

/// Queued posts that failed every try.
pub fn post_dead_letters(url: &str, result: &Result<QueueDepth, ReadError>) -> Line {
    const CHECK: &str = "post dead-letter queue";
    match result {
        Ok(depth) if depth.visible + depth.in_flight == 0 => Line::pass(CHECK, "empty"),
        Ok(depth) => Line::fail(
            CHECK,
            format!("{} queued post(s) failed every try", depth.visible + depth.in_flight),
            format!(
                "fix their cause (the Slack checks above, the function's logs), then move them back to the post queue: \
                 docs/operations.md, \"Replaying the post dead-letter queue\", with queue {url}"
            ),
        ),
        Err(e) => Line::fail(
            CHECK,
            format!("not readable: {e}"),
            "your credentials need sqs:GetQueueAttributes on the stack's post dead-letter queue",
        ),
    }
}

pub const SLACK_FUNCTION: &str = "Slack-requests function";

/// The two functions of a stack know their roles: the notifier takes
/// events (`NOTIFIER_ROLE=events`), the one with the URL Slack's requests
/// (`slack`), on the same table.
pub fn slack_function(
    notifier: Option<&std::collections::BTreeMap<String, String>>,
    slack: &Result<FunctionInfo, ReadError>,
) -> Line {
    let info = match slack {
        Ok(info) => info,
        Err(e) => {
            return Line::fail(
                SLACK_FUNCTION,
                format!("not readable: {e}"),
                "your credentials need lambda:GetFunctionConfiguration on the stack's SlackRequestsFunction",
            );
        }
    };
    fn role(env: Option<&std::collections::BTreeMap<String, String>>) -> &str {
        env.and_then(|e| e.get("NOTIFIER_ROLE")).map_or("both", String::as_str)
    }
    let (slack_role, notifier_role) = (role(Some(&info.environment)), role(notifier));
    if slack_role != "slack" || notifier_role != "events" {
        return Line::fail(
            SLACK_FUNCTION,
            format!("{}: NOTIFIER_ROLE={slack_role}, the notifier's {notifier_role}", info.name),
            "the Slack-requests function needs NOTIFIER_ROLE=slack and the notifier NOTIFIER_ROLE=events, as template.yaml sets them: redeploy the stack",
        );
    }
    let table =
        |env: Option<&std::collections::BTreeMap<String, String>>| env.and_then(|e| e.get("THREADS_TABLE")).cloned();
    if table(Some(&info.environment)) != table(notifier) {
        return Line::fail(
            SLACK_FUNCTION,
            format!("{}: another table than the notifier's", info.name),
            "both functions must share THREADS_TABLE (claims and task records): redeploy the stack",
        );
    }
    Line::pass(
        SLACK_FUNCTION,
        format!("{}: answers Slack's requests (the URL); the notifier takes the events", info.name),
    )
}

pub fn function_errors(function: &str, result: &Result<f64, ReadError>) -> Line {
    const CHECK: &str = "function errors";
    match result {
        Ok(n) if *n <= 0.0 => Line::pass(CHECK, "none in the last 24 h"),
        Ok(n) => Line::fail(
            CHECK,
            format!("{n} failed invocation(s) in the last 24 h"),
            format!(
                "read why in its logs: `aws logs tail /aws/lambda/{function} --since 24h`; Lambda retries a failed event twice, then it goes to the dead-letter queue"
            ),
        ),
        Err(e) => {
            Line::fail(CHECK, format!("not readable: {e}"), "your credentials need cloudwatch:GetMetricStatistics")
        }
    }
}

#[cfg(test)]
mod tests;
