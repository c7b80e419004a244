//! Shared integration-test stack: moto's server for the AWS services, the
//! fake Slack, and the handler wired exactly as `main` wires it.
//!
//! moto comes from `MOTO_ENDPOINT` (the README's test command,
//! `scripts/test.sh`, starts one), else is started here from the venv that
//! command creates; without either, these tests are skipped, and say so.

#![allow(dead_code)]

pub mod aws_calls;
pub mod cargo_lambda;
pub mod dynamodb_faults;
pub mod ecs;
pub mod elf;
pub mod fake_slack;
pub mod lambda_invoke;
pub mod moto;
pub mod queue;
pub mod runtime_api;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use ecs_slack_notifier::adapters::dynamodb::{PARTITION_KEY, TTL_ATTRIBUTE};
use ecs_slack_notifier::app;
use ecs_slack_notifier::config::{Config, Needs};
use ecs_slack_notifier::handler::{Handled, Handler};
use ecs_slack_notifier::kinds::{registration, task};
use ecs_slack_notifier::time::Timestamp;
use serde_json::Value;

#[allow(unused_imports)]
pub use fake_slack::{FakeSlack, Fault};

/// The outcome of one kind, for tests that know which kind they sent.
pub trait HandledExt {
    fn task(self) -> task::Handled;
    fn registration(self) -> registration::Handled;
    /// The response's `action`, whatever the kind.
    fn action(&self) -> String;
}

impl HandledExt for Handled {
    fn task(self) -> task::Handled {
        match self {
            Handled::Task(handled) => handled,
            other => panic!("not a task outcome: {other:?}"),
        }
    }

    fn registration(self) -> registration::Handled {
        match self {
            Handled::Registration(handled) => handled,
            other => panic!("not a registration outcome: {other:?}"),
        }
    }

    fn action(&self) -> String {
        serde_json::to_value(self).unwrap()["action"].as_str().unwrap_or_default().to_owned()
    }
}

/// A name no other test (or earlier run against the same moto) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = Timestamp::now().millis() * 1_000_000;
    format!("{prefix}-{}-{nanos:x}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// The same configuration with patient timeouts, for the tests' own setup
/// (creating tables and stacks in moto, which takes seconds on a busy
/// machine): the code under test keeps the function's timeouts.
pub fn setup_config(aws: &SdkConfig) -> SdkConfig {
    aws.to_builder()
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(60))
                .operation_timeout(Duration::from_secs(120))
                .build(),
        )
        .build()
}

pub fn aws_config(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(Credentials::for_tests()))
        .timeout_config(app::aws_timeouts())
        .build()
}

/// The table as `template.yaml` defines it.
pub struct TableSpec {
    pub key: String,
    pub ttl_attribute: String,
    pub billing_mode: String,
    /// Every key attribute: name and type (`S`, `N`).
    pub attributes: Vec<(String, String)>,
    pub indexes: Vec<IndexSpec>,
}

/// A global secondary index as the template defines it.
pub struct IndexSpec {
    pub name: String,
    pub hash: String,
    pub range: Option<String>,
    pub projection: String,
    pub non_key: Vec<String>,
}

pub fn template_table() -> TableSpec {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml");
    let template: serde_yaml_ng::Value = serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let props = &template["Resources"]["NotifierTable"]["Properties"];
    let keys = props["KeySchema"].as_sequence().expect("NotifierTable KeySchema");
    assert_eq!(keys.len(), 1, "the code expects a table with a partition key only");
    let key = keys[0]["AttributeName"].as_str().unwrap().to_owned();
    let attributes: Vec<(String, String)> = props["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|d| (d["AttributeName"].as_str().unwrap().to_owned(), d["AttributeType"].as_str().unwrap().to_owned()))
        .collect();
    assert!(attributes.contains(&(key.clone(), "S".into())), "template's partition key {key} must be a string");
    let ttl = &props["TimeToLiveSpecification"];
    assert_eq!(ttl["Enabled"].as_bool(), Some(true), "TTL must be enabled in template.yaml");
    let indexes = props["GlobalSecondaryIndexes"]
        .as_sequence()
        .map(|indexes| {
            indexes
                .iter()
                .map(|index| {
                    let keys = index["KeySchema"].as_sequence().expect("index KeySchema");
                    let key_of = |kind: &str| {
                        keys.iter()
                            .find(|k| k["KeyType"].as_str() == Some(kind))
                            .and_then(|k| k["AttributeName"].as_str())
                            .map(str::to_owned)
                    };
                    let projection = &index["Projection"];
                    IndexSpec {
                        name: index["IndexName"].as_str().unwrap().to_owned(),
                        hash: key_of("HASH").expect("index HASH key"),
                        range: key_of("RANGE"),
                        projection: projection["ProjectionType"].as_str().unwrap().to_owned(),
                        non_key: projection["NonKeyAttributes"]
                            .as_sequence()
                            .map(|names| names.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect())
                            .unwrap_or_default(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    TableSpec {
        key,
        ttl_attribute: ttl["AttributeName"].as_str().unwrap().to_owned(),
        billing_mode: props["BillingMode"].as_str().unwrap_or_default().to_owned(),
        attributes,
        indexes,
    }
}

/// Creates a table in moto from the template's definition.
pub async fn create_threads_table(aws: &SdkConfig) -> String {
    let spec = template_table();
    let client = aws_sdk_dynamodb::Client::new(&setup_config(aws));
    let table = unique("threads");
    let key =
        |name: &str, kind: KeyType| KeySchemaElement::builder().attribute_name(name).key_type(kind).build().unwrap();
    let mut request = client
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::from(spec.billing_mode.as_str()))
        .key_schema(key(&spec.key, KeyType::Hash));
    for (name, kind) in &spec.attributes {
        let kind = if kind == "N" { ScalarAttributeType::N } else { ScalarAttributeType::S };
        request = request.attribute_definitions(
            AttributeDefinition::builder().attribute_name(name).attribute_type(kind).build().unwrap(),
        );
    }
    for index in &spec.indexes {
        let mut keys = vec![key(&index.hash, KeyType::Hash)];
        keys.extend(index.range.as_deref().map(|range| key(range, KeyType::Range)));
        let projection = Projection::builder()
            .projection_type(ProjectionType::from(index.projection.as_str()))
            .set_non_key_attributes((!index.non_key.is_empty()).then(|| index.non_key.clone()))
            .build();
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&index.name)
                .set_key_schema(Some(keys))
                .projection(projection)
                .build()
                .unwrap(),
        );
    }
    request.send().await.expect("create table in moto");
    client
        .update_time_to_live()
        .table_name(&table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder().attribute_name(&spec.ttl_attribute).enabled(true).build().unwrap(),
        )
        .send()
        .await
        .expect("enable TTL in moto");
    table
}

pub async fn create_secret(aws: &SdkConfig, value: &str) -> String {
    let name = unique("slack/bot-token");
    aws_sdk_secretsmanager::Client::new(&setup_config(aws))
        .create_secret()
        .name(&name)
        .secret_string(value)
        .send()
        .await
        .expect("create secret in moto");
    name
}

/// moto, a fresh table and secret, and a fresh fake Slack, for one test.
pub struct Stack {
    pub moto: String,
    pub aws: SdkConfig,
    pub table: String,
    pub secret_id: String,
    pub slack: FakeSlack,
}

impl Stack {
    /// `None` when moto is not available: the test is skipped (said once).
    pub async fn new() -> Option<Stack> {
        let moto = moto::endpoint()?;
        let aws = aws_config(&moto);
        let table = create_threads_table(&aws).await;
        let secret_id = create_secret(&aws, &format!(r#"{{"token": "{}"}}"#, fake_slack::TOKEN)).await;
        let slack = FakeSlack::start().await;
        Some(Stack { moto, aws, table, secret_id, slack })
    }

    /// The Lambda's environment variables for this stack. No `ENVIRONMENT`:
    /// with one, notification texts start with it (`[test] …`); tests that
    /// look at that set it.
    pub fn env(&self) -> HashMap<String, String> {
        [
            ("SLACK_TOKEN_SECRET_ID", self.secret_id.as_str()),
            ("SLACK_DEFAULT_CHANNEL", "C0JOBS"),
            ("THREADS_TABLE", self.table.as_str()),
            ("SLACK_API_URL", self.slack.url.as_str()),
            ("SLACK_RESPONSE_URL_PREFIX", &self.slack.response_url_prefix()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// A new execution environment: configuration read and clients built
    /// as `main` does, with nothing cached from other instances.
    pub fn notifier(&self) -> Handler {
        self.notifier_with(&[])
    }

    pub fn notifier_with(&self, overrides: &[(&str, &str)]) -> Handler {
        self.notifier_on(&self.aws, overrides)
    }

    /// A handler whose AWS calls go to `aws` (e.g. an endpoint that is down).
    pub fn notifier_on(&self, aws: &SdkConfig, overrides: &[(&str, &str)]) -> Handler {
        let mut env = self.env();
        for (k, v) in overrides {
            env.insert(k.to_string(), v.to_string());
        }
        let config = Config::from_lookup(|k| env.get(k).cloned(), Needs::LAMBDA).expect("test config");
        app::lambda_handler(config, aws).expect("handler")
    }

    /// The stored item of a task, as DynamoDB holds it.
    pub async fn item(&self, key: &str) -> Option<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        aws_sdk_dynamodb::Client::new(&self.aws)
            .get_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, aws_sdk_dynamodb::types::AttributeValue::S(key.into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
    }
}

pub fn ttl_attribute() -> &'static str {
    TTL_ATTRIBUTE
}

pub fn deadline() -> Timestamp {
    deadline_in(30)
}

pub fn deadline_in(secs: u64) -> Timestamp {
    Timestamp::now() + Duration::from_secs(secs)
}

/// A sample event from `events/` or `tests/fixtures/`.
pub fn event(path: &str) -> Value {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))).unwrap()
}

/// A sample task event moved to a task ARN of its own, so tests that share
/// moto never see each other's tasks. Returns the event and its task ARN.
pub fn task_event(path: &str, task: &str) -> (Value, String) {
    let mut event = event(path);
    let arn = format!("arn:aws:ecs:us-east-1:123456789012:task/market-pulse/{task}");
    event["detail"]["taskArn"] = Value::String(arn.clone());
    event["resources"] = serde_json::json!([arn.clone()]);
    (event, arn)
}

/// Registers a task definition whose container logs with `awslogs` to
/// `group` (when given) under `prefix`. Returns its ARN.
pub async fn register_task_definition(
    aws: &SdkConfig,
    family: &str,
    container: &str,
    logs: Option<(&str, &str)>,
) -> String {
    use aws_sdk_ecs::types::{ContainerDefinition, LogConfiguration, LogDriver};
    let mut definition =
        ContainerDefinition::builder().name(container).image("market-pulse-jobs:latest").essential(true).memory(512);
    if let Some((group, prefix)) = logs {
        definition = definition.log_configuration(
            LogConfiguration::builder()
                .log_driver(LogDriver::Awslogs)
                .options("awslogs-group", group)
                .options("awslogs-region", "us-east-1")
                .options("awslogs-stream-prefix", prefix)
                .build()
                .unwrap(),
        );
    }
    let out = aws_sdk_ecs::Client::new(aws)
        .register_task_definition()
        .family(family)
        .container_definitions(definition.build())
        .send()
        .await
        .expect("register task definition in moto");
    out.task_definition().unwrap().task_definition_arn().unwrap().to_owned()
}

/// Writes `lines` to a new log stream (creating the group if needed).
pub async fn put_log_lines(aws: &SdkConfig, group: &str, stream: &str, lines: &[&str]) {
    use aws_sdk_cloudwatchlogs::types::InputLogEvent;
    let logs = aws_sdk_cloudwatchlogs::Client::new(aws);
    let _ = logs.create_log_group().log_group_name(group).send().await;
    logs.create_log_stream().log_group_name(group).log_stream_name(stream).send().await.expect("create log stream");
    let start = Timestamp::now().millis() - 60_000;
    let events: Vec<InputLogEvent> = lines
        .iter()
        .enumerate()
        .map(|(i, line)| InputLogEvent::builder().timestamp(start + i as i64).message(*line).build().unwrap())
        .collect();
    logs.put_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .set_log_events(Some(events))
        .send()
        .await
        .expect("put log events");
}

/// A loopback port with nothing listening: a service that is down.
pub async fn closed_port() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}

/// A loopback server that accepts connections and never answers: a
/// service that hangs.
pub async fn black_hole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{address}")
}
