//! Wiring: builds the handler with its AWS and Slack adapters, once per
//! execution environment. Nothing here touches the network.

use std::sync::Arc;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

use crate::adapters::clock::SystemClock;
use crate::adapters::cloudwatch_logs::CloudWatchTail;
use crate::adapters::deferral::LambdaDeferral;
use crate::adapters::dynamodb::DynamoStore;
use crate::adapters::ecs_control::EcsControl;
use crate::adapters::no_logs::NoLogs;
use crate::adapters::schedules::AwsSchedules;
use crate::adapters::slack_http::SlackHttp;
use crate::adapters::sqs_outbox::SqsOutbox;
use crate::adapters::task_definitions::EcsTaskDefinitions;
use crate::adapters::token::{SecretToken, Tokens};
use crate::config::{Config, TokenConfig};
use crate::handler::Handler;
use crate::ports::{LogSource, Outbox, Ports, SlackError, TaskDefinitions};
use crate::time::Timestamp;
use crate::tls;

/// Bounds on every AWS call, so one stuck request cannot use up the
/// invocation. The SDK's standard retry (3 attempts, with backoff for
/// throttling) runs inside the operation timeout.
pub fn aws_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(8))
        .build()
}

/// The SDK configuration from the environment (region, credentials,
/// `AWS_ENDPOINT_URL`), with the timeouts above and an HTTP client that
/// trusts the AWS roots without loading the system's certificates.
/// Credentials resolve lazily.
pub async fn load_aws_config() -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(aws_timeouts());
    if !tls::custom_https_endpoint(std::env::vars()) {
        match tls::aws_http_client() {
            Ok(client) => loader = loader.http_client(client),
            Err(e) => tracing::warn!(error = %e, "using the SDK's default HTTP client"),
        }
    }
    loader.load().await
}

pub fn tokens(config: &Config, aws: &SdkConfig) -> Tokens {
    match &config.token {
        TokenConfig::Secret(id) => {
            Tokens::SecretsManager(SecretToken::new(aws_sdk_secretsmanager::Client::new(aws), id, SystemClock))
        }
        TokenConfig::Static(token, signing) => Tokens::Static(token.clone(), signing.clone()),
        TokenConfig::Missing => Tokens::Missing,
    }
}

pub fn dynamo_store(table: &str, aws: &SdkConfig) -> DynamoStore {
    DynamoStore::new(aws_sdk_dynamodb::Client::new(aws), table)
}

/// Job logs from CloudWatch when configured on, else none; the log
/// settings come from `definitions`.
pub fn job_logs(config: &Config, aws: &SdkConfig, definitions: Arc<dyn TaskDefinitions>) -> Box<dyn LogSource> {
    if config.read_job_logs { Box::new(CloudWatchTail::new(aws, definitions)) } else { Box::new(NoLogs) }
}

/// The Lambda's ports: DynamoDB, Slack over HTTPS, CloudWatch Logs, ECS
/// task definitions, EventBridge. Clients that only some events need are built on first use.
pub fn lambda_ports(config: &Config, aws: &SdkConfig) -> Result<Ports, SlackError> {
    let table = dynamo_store(config.threads_table.as_deref().unwrap_or_default(), aws);
    let secrets = Arc::new(tokens(config, aws));
    let definitions: Arc<dyn TaskDefinitions> = Arc::new(EcsTaskDefinitions::new(aws));
    Ok(Ports {
        store: Box::new(table.clone()),
        tasks: Box::new(table.clone()),
        jobs: Box::new(table.clone()),
        groups: Box::new(table),
        outbox: config.post_queue_url.as_ref().map(|url| Box::new(SqsOutbox::new(aws, url)) as Box<dyn Outbox>),
        schedules: Box::new(AwsSchedules::new(aws)),
        control: Box::new(EcsControl::new(aws)),
        deferral: Arc::new(LambdaDeferral::new(aws, config.function_name.clone())),
        secrets: secrets.clone(),
        slack: Box::new(
            SlackHttp::new(&config.slack_api_url, secrets.clone())?
                .with_response_url_prefix(&config.slack_response_url_prefix),
        ),
        logs: job_logs(config, aws, definitions.clone()),
        task_definitions: definitions,
        clock: Arc::new(SystemClock),
    })
}

/// What the Lambda answers for an invocation. An error that no retry can
/// heal is logged once with what to fix, counted in the `WillNotHeal`
/// metric, and answered as done: it burns neither Lambda's retries nor a
/// dead-letter slot on an answer that will not change. Every other error
/// fails the invocation, for Lambda to retry.
pub fn answer(
    result: Result<crate::handler::Handled, crate::error::NotifyError>,
) -> Result<serde_json::Value, crate::error::NotifyError> {
    let e = match result {
        Ok(handled) => return Ok(serde_json::to_value(handled).unwrap_or_default()),
        Err(e) => e,
    };
    let Some(fix) = e.will_not_heal() else { return Err(e) };
    tracing::error!(error = %e, fix, "will not heal: not retried");
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".into());
    let now_ms = u64::try_from(Timestamp::now().millis()).unwrap_or(0);
    println!("{}", crate::error::will_not_heal_metric(&function, &e, fix, now_ms));
    Ok(serde_json::json!({"action": "will_not_heal", "error": e.to_string(), "fix": fix}))
}

/// The handler as the Lambda runs it.
pub fn lambda_handler(config: Config, aws: &SdkConfig) -> Result<Handler, SlackError> {
    let ports = lambda_ports(&config, aws)?;
    Ok(Handler::new(config.settings, ports))
}
