//! `doctor`: the checklist of docs/operations.md as one command. It
//! reads the function's configuration (this environment's, or a deployed
//! function's), then checks in order that the token is readable and a bot
//! token, that Slack accepts it, that the bot is in every configured
//! channel, that the table exists with TTL on, that the EventBridge rules
//! are enabled and target the function, what waits in the dead-letter
//! queue, that the post queue is reachable and its dead-letter queue
//! empty, and the function's recent errors; then, for a stack, that its
//! Slack-requests function (the one with the URL) and the notifier know
//! their roles (`NOTIFIER_ROLE`), share the table, and that function's
//! recent errors. It only reads: it never posts.
//!
//! `reads` holds its ports, `checks` turns each read into a verdict (pure),
//! `report` prints them; this module is the order, and what a failed
//! prerequisite stops.

pub mod checks;
// What the doctor reads: read-only ports of the core (`ports::setup`).
pub use crate::ports::setup as reads;
pub mod report;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::{Config, Needs, TokenConfig};
use crate::time::Timestamp;
use checks::Origin;
use reads::{AwsReads, SlackConnect};
use report::{Line, Report};

/// Whose configuration to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// This process's environment, as the function would read it.
    Environment,
    /// A deployed stack: its outputs, then its function's environment.
    Stack(String),
    /// A deployed function, by name or ARN, without its stack.
    Function(String),
}

/// The window of the function's errors shown.
pub const ERRORS_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// How long each Slack read may take, retries included.
const SLACK_BUDGET: Duration = Duration::from_secs(15);

const CHANNELS: &str = "channels";
const RULES: &str = "EventBridge rules";
const QUEUE: &str = "dead-letter queue";
const POST_QUEUE: &str = "post queue";
const POST_DEAD_LETTERS: &str = "post dead-letter queue";
const ERRORS: &str = "function errors";
/// Every check, in order, for those not run.
const ALL: [&str; 10] = [
    "configuration",
    "Slack token",
    "Slack auth.test",
    CHANNELS,
    "table",
    RULES,
    QUEUE,
    POST_QUEUE,
    POST_DEAD_LETTERS,
    ERRORS,
];

/// What is known of the deployment before its configuration is read.
#[derive(Default)]
struct Deployment {
    origin: Option<Origin>,
    /// The deployed function's environment; `None`: this process's.
    environment: Option<BTreeMap<String, String>>,
    function: Option<(String, String)>,
    stack_rules: Option<Vec<String>>,
    stack_table: Option<String>,
    queue_url: Option<String>,
    post_dead_letters_url: Option<String>,
    /// The stack's Slack-requests function (`SlackRequestsFunctionArn`);
    /// `None` with a stack: one deployed before the split.
    slack_function: Option<String>,
    from_stack: bool,
}

pub struct Doctor<'a> {
    pub aws: &'a dyn AwsReads,
    pub slack: &'a dyn SlackConnect,
}

fn skip(report: &mut Report, checks: &[&str], why: &str) {
    for check in checks {
        report.push(Line::skip(*check, why));
    }
}

impl Doctor<'_> {
    /// Runs every check of `target`; `env` is this process's environment,
    /// `now` ends the errors' window.
    pub async fn run(&self, target: &Target, env: &(dyn Fn(&str) -> Option<String> + Sync), now: Timestamp) -> Report {
        let mut report = Report::default();
        let Some(deployment) = self.deployment(target, &mut report).await else {
            skip(&mut report, &ALL, "the deployment could not be read");
            return report;
        };
        let origin = deployment.origin.clone().unwrap_or(Origin::Environment);
        let lookup = |name: &str| match &deployment.environment {
            Some(vars) => vars.get(name).cloned(),
            None => env(name),
        };
        let config = Config::from_lookup(lookup, Needs::LAMBDA);
        report.push(checks::configuration(&origin, &config));
        let Ok(config) = config else {
            skip(&mut report, &ALL[1..], "the configuration is not usable");
            return report;
        };

        self.slack_checks(&config, &mut report).await;

        let table = config.threads_table.as_deref().unwrap_or_default();
        if let Some(stack_table) = deployment.stack_table.as_deref().filter(|t| *t != table) {
            report.push(checks::table_not_the_stacks(table, stack_table));
        }
        report.push(checks::table(table, &self.aws.table(table).await));

        let function = deployment.function.as_ref();
        let no_function = "no function known: run with --stack NAME (or --function NAME)";
        match (function, &deployment.stack_rules) {
            (None, _) => skip(&mut report, &[RULES], no_function),
            (Some((_, arn)), Some(ids)) if ids.is_empty() => report.push(checks::no_rules(arn)),
            (Some((_, arn)), Some(ids)) => self.rules(ids, arn, &mut report).await,
            (Some((_, arn)), None) => match self.aws.rules_targeting(arn).await {
                Ok(names) if names.is_empty() => report.push(checks::no_rules(arn)),
                Ok(names) => self.rules(&names, arn, &mut report).await,
                Err(e) => report.push(checks::rules_unreadable(&e)),
            },
        }

        match &deployment.queue_url {
            Some(url) => report.push(checks::queue(url, &self.aws.queue_depth(url).await)),
            None => {
                skip(&mut report, &[QUEUE], "the queue is the stack's output DeadLetterQueueUrl: run with --stack NAME")
            }
        }

        let post_queue = config.post_queue_url.as_deref();
        let depth = match post_queue {
            Some(url) => Some(self.aws.queue_depth(url).await),
            None => None,
        };
        report.push(checks::post_queue(post_queue, depth.as_ref()));
        match &deployment.post_dead_letters_url {
            Some(url) => report.push(checks::post_dead_letters(url, &self.aws.queue_depth(url).await)),
            None => skip(
                &mut report,
                &[POST_DEAD_LETTERS],
                "the queue is the stack's output PostDeadLetterQueueUrl: run with --stack NAME",
            ),
        }

        match function {
            Some((name, _)) => {
                let since = (now - ERRORS_WINDOW).max(Timestamp::EPOCH);
                report.push(checks::function_errors(name, &self.aws.function_errors(name, since, now).await));
            }
            None => skip(&mut report, &[ERRORS], no_function),
        }
        self.slack_function(&deployment, now, &mut report).await;
        report
    }

    /// The stack's second function: the one with the URL, Slack's
    /// requests only, and its errors.
    async fn slack_function(&self, deployment: &Deployment, now: Timestamp, report: &mut Report) {
        let Some(arn) = &deployment.slack_function else {
            if deployment.from_stack {
                skip(
                    report,
                    &[checks::SLACK_FUNCTION],
                    "the stack has no output SlackRequestsFunctionArn: it was deployed before Slack's requests had a function of their own; redeploy it",
                );
            }
            return;
        };
        let info = self.aws.function(arn).await;
        report.push(checks::slack_function(deployment.environment.as_ref(), &info));
        if let Ok(info) = info {
            let since = (now - ERRORS_WINDOW).max(Timestamp::EPOCH);
            let mut line = checks::function_errors(&info.name, &self.aws.function_errors(&info.name, since, now).await);
            line.check = format!("{} errors", checks::SLACK_FUNCTION);
            report.push(line);
        }
    }

    /// The stack's outputs and the function's environment, as asked.
    /// `None` (with the failure reported) when they cannot be read.
    async fn deployment(&self, target: &Target, report: &mut Report) -> Option<Deployment> {
        let mut deployment = Deployment::default();
        let (function, stack) = match target {
            Target::Environment => return Some(deployment),
            Target::Function(name) => (name.clone(), None),
            Target::Stack(stack) => {
                let info = match self.aws.stack(stack).await {
                    Ok(info) => info,
                    Err(e) => {
                        report.push(checks::stack_unreadable(stack, &e));
                        return None;
                    }
                };
                let Some(function) = info.outputs.get("NotifierFunctionArn").cloned() else {
                    let keys: Vec<&str> = info.outputs.keys().map(String::as_str).collect();
                    report.push(checks::stack_without_function(stack, &keys));
                    return None;
                };
                deployment.queue_url = info.outputs.get("DeadLetterQueueUrl").cloned();
                deployment.post_dead_letters_url = info.outputs.get("PostDeadLetterQueueUrl").cloned();
                deployment.stack_table = info.outputs.get("ThreadsTableName").cloned();
                deployment.stack_rules = Some(info.rules);
                deployment.slack_function = info.outputs.get("SlackRequestsFunctionArn").cloned();
                deployment.from_stack = true;
                (function, Some(stack.clone()))
            }
        };
        let info = match self.aws.function(&function).await {
            Ok(info) => info,
            Err(e) => {
                report.push(checks::function_unreadable(&function, &e));
                return None;
            }
        };
        deployment.origin = Some(Origin::Function { name: info.name.clone(), stack });
        deployment.environment = Some(info.environment);
        deployment.function = Some((info.name, info.arn));
        Some(deployment)
    }

    /// The token, then `auth.test`, then each channel: each needs the one before.
    async fn slack_checks(&self, config: &Config, report: &mut Report) {
        let secret = match &config.token {
            TokenConfig::Secret(id) => Some(self.aws.secret(id).await),
            _ => None,
        };
        let (line, token) = checks::token(&config.token, secret.as_ref());
        report.push(line);
        let Some(token) = token else {
            skip(report, &["Slack auth.test", CHANNELS], "no bot token to try");
            return;
        };
        let reader = match self.slack.connect(&config.slack_api_url, token) {
            Ok(reader) => reader,
            Err(e) => {
                report.push(checks::auth(&Err(e), &config.slack_api_url));
                skip(report, &[CHANNELS], "auth.test did not pass");
                return;
            }
        };
        let who = reader.auth_test(Timestamp::now() + SLACK_BUDGET).await;
        report.push(checks::auth(&who, &config.slack_api_url));
        let Ok(who) = who else {
            skip(report, &[CHANNELS], "auth.test did not pass");
            return;
        };
        for channel in checks::configured_channels(&config.settings) {
            let info = reader.channel(&channel.id, Timestamp::now() + SLACK_BUDGET).await;
            report.push(checks::channel(&channel, &info, &who.user));
        }
    }

    async fn rules(&self, ids: &[String], function_arn: &str, report: &mut Report) {
        for id in ids {
            report.push(checks::rule(id, &self.aws.rule(id).await, function_arn));
        }
    }
}

#[cfg(test)]
mod tests;
