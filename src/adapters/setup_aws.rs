//! The doctor's reads of a deployment in AWS: CloudFormation, Lambda,
//! Secrets Manager, DynamoDB, EventBridge, SQS and CloudWatch. Read-only,
//! with the caller's credentials; the function itself never builds these
//! clients.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};

use crate::ports::setup::{AwsReads, FunctionInfo, QueueDepth, ReadError, RuleInfo, SecretValue, StackInfo, TableInfo};
use crate::time::Timestamp;

pub struct AwsSetup {
    cloudformation: aws_sdk_cloudformation::Client,
    lambda: aws_sdk_lambda::Client,
    secrets: aws_sdk_secretsmanager::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    events: aws_sdk_eventbridge::Client,
    sqs: aws_sdk_sqs::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
}

impl AwsSetup {
    pub fn new(aws: &SdkConfig) -> AwsSetup {
        AwsSetup {
            cloudformation: aws_sdk_cloudformation::Client::new(aws),
            lambda: aws_sdk_lambda::Client::new(aws),
            secrets: aws_sdk_secretsmanager::Client::new(aws),
            dynamodb: aws_sdk_dynamodb::Client::new(aws),
            events: aws_sdk_eventbridge::Client::new(aws),
            sqs: aws_sdk_sqs::Client::new(aws),
            cloudwatch: aws_sdk_cloudwatch::Client::new(aws),
        }
    }
}

/// Error codes that mean "there is no such thing", per service.
const NOT_FOUND: [&str; 4] =
    ["ResourceNotFoundException", "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "NotFoundException"];
const DENIED: [&str; 4] = ["AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"];

fn read_error<E, R>(what: &str, error: SdkError<E, R>) -> ReadError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let code = error.code().unwrap_or_default().to_owned();
    let message = error.message().unwrap_or_default().to_owned();
    // CloudFormation says a stack is missing with a ValidationError.
    if NOT_FOUND.contains(&code.as_str()) || (code == "ValidationError" && message.contains("does not exist")) {
        ReadError::NotFound(what.to_owned())
    } else if DENIED.contains(&code.as_str()) {
        ReadError::Denied(format!("{what}: {message}"))
    } else {
        ReadError::Other(format!("{what}: {}", super::with_causes(&error)))
    }
}

#[async_trait]
impl AwsReads for AwsSetup {
    async fn stack(&self, name: &str) -> Result<StackInfo, ReadError> {
        let what = format!("stack {name}");
        let out =
            self.cloudformation.describe_stacks().stack_name(name).send().await.map_err(|e| read_error(&what, e))?;
        let stack = out.stacks().first().ok_or_else(|| ReadError::NotFound(what.clone()))?;
        let outputs = stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
            .collect();
        let mut rules = Vec::new();
        let mut next = None;
        loop {
            let page = self
                .cloudformation
                .list_stack_resources()
                .stack_name(name)
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| read_error(&what, e))?;
            rules.extend(
                page.stack_resource_summaries()
                    .iter()
                    .filter(|r| r.resource_type() == Some("AWS::Events::Rule"))
                    .filter_map(|r| r.physical_resource_id().map(str::to_owned)),
            );
            next = page.next_token().map(str::to_owned);
            if next.is_none() {
                break;
            }
        }
        Ok(StackInfo { outputs, rules })
    }

    async fn function(&self, name: &str) -> Result<FunctionInfo, ReadError> {
        let what = format!("function {name}");
        let out = self
            .lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .map_err(|e| read_error(&what, e))?;
        let environment: BTreeMap<String, String> = out
            .environment()
            .and_then(|e| e.variables())
            .map(|vars| vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        Ok(FunctionInfo {
            name: out.function_name().unwrap_or(name).to_owned(),
            arn: out.function_arn().unwrap_or(name).to_owned(),
            environment,
        })
    }

    async fn secret(&self, id: &str) -> Result<SecretValue, ReadError> {
        let what = format!("secret {id}");
        let out = self.secrets.get_secret_value().secret_id(id).send().await.map_err(|e| read_error(&what, e))?;
        Ok(SecretValue(out.secret_string().map(str::to_owned)))
    }

    async fn table(&self, name: &str) -> Result<TableInfo, ReadError> {
        use aws_sdk_dynamodb::types::KeyType;
        let what = format!("table {name}");
        let out = self.dynamodb.describe_table().table_name(name).send().await.map_err(|e| read_error(&what, e))?;
        let table = out.table().ok_or_else(|| ReadError::NotFound(what.clone()))?;
        let partition_key =
            table.key_schema().iter().find(|k| k.key_type() == &KeyType::Hash).map(|k| k.attribute_name().to_owned());
        let ttl =
            self.dynamodb.describe_time_to_live().table_name(name).send().await.map_err(|e| read_error(&what, e))?;
        let ttl = ttl.time_to_live_description();
        Ok(TableInfo {
            status: table.table_status().map_or_else(|| "unknown".into(), |s| s.as_str().to_owned()),
            partition_key,
            ttl_status: ttl
                .and_then(|t| t.time_to_live_status())
                .map_or_else(|| "DISABLED".into(), |s| s.as_str().to_owned()),
            ttl_attribute: ttl.and_then(|t| t.attribute_name()).map(str::to_owned),
        })
    }

    async fn rule(&self, id: &str) -> Result<RuleInfo, ReadError> {
        let (bus, name) = match id.rsplit_once('|') {
            Some((bus, name)) => (Some(bus.to_owned()), name),
            None => (None, id),
        };
        let what = format!("rule {name}");
        let rule = self
            .events
            .describe_rule()
            .name(name)
            .set_event_bus_name(bus.clone())
            .send()
            .await
            .map_err(|e| read_error(&what, e))?;
        let mut targets = Vec::new();
        let mut next = None;
        loop {
            let page = self
                .events
                .list_targets_by_rule()
                .rule(name)
                .set_event_bus_name(bus.clone())
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| read_error(&what, e))?;
            targets.extend(page.targets().iter().map(|t| t.arn().to_owned()));
            next = page.next_token().map(str::to_owned);
            if next.is_none() {
                break;
            }
        }
        Ok(RuleInfo {
            name: name.to_owned(),
            state: rule.state().map_or_else(|| "unknown".into(), |s| s.as_str().to_owned()),
            targets,
        })
    }

    async fn rules_targeting(&self, arn: &str) -> Result<Vec<String>, ReadError> {
        let what = format!("rules targeting {arn}");
        let mut names = Vec::new();
        let mut next = None;
        loop {
            let page = self
                .events
                .list_rule_names_by_target()
                .target_arn(arn)
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| read_error(&what, e))?;
            names.extend(page.rule_names().iter().cloned());
            next = page.next_token().map(str::to_owned);
            if next.is_none() {
                break;
            }
        }
        Ok(names)
    }

    async fn queue_depth(&self, url: &str) -> Result<QueueDepth, ReadError> {
        use aws_sdk_sqs::types::QueueAttributeName;
        let what = format!("queue {url}");
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| read_error(&what, e))?;
        let count = |name: QueueAttributeName| {
            out.attributes().and_then(|a| a.get(&name)).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        };
        Ok(QueueDepth {
            visible: count(QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        })
    }

    async fn function_errors(&self, name: &str, since: Timestamp, until: Timestamp) -> Result<f64, ReadError> {
        use aws_sdk_cloudwatch::primitives::DateTime;
        use aws_sdk_cloudwatch::types::{Dimension, Statistic};
        let what = format!("the Errors metric of {name}");
        let out = self
            .cloudwatch
            .get_metric_statistics()
            .namespace("AWS/Lambda")
            .metric_name("Errors")
            .dimensions(Dimension::builder().name("FunctionName").value(name).build())
            .start_time(DateTime::from_millis(since.millis()))
            .end_time(DateTime::from_millis(until.millis()))
            .period(3600)
            .statistics(Statistic::Sum)
            .send()
            .await
            .map_err(|e| read_error(&what, e))?;
        Ok(out.datapoints().iter().filter_map(|d| d.sum()).sum())
    }
}
