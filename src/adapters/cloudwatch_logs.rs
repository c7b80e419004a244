//! Reads the end of a task's log stream from CloudWatch Logs, finding the
//! stream from the task definition's `awslogs` settings (cached per task
//! definition for the life of the execution environment).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_cloudwatchlogs::error::DisplayErrorContext;

use crate::event::EcsTask;
use crate::jobs::LogStream;
use crate::ports::{LogError, LogSource, LogTail};

/// How much of the log's end is read: enough for a summary line and a
/// failure's last lines, little enough to stay fast.
pub const MAX_EVENTS: i32 = 200;
pub const MAX_BYTES: usize = 64 * 1024;

/// Where a container definition says its logs go.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AwsLogs {
    group: String,
    stream_prefix: String,
}

pub struct CloudWatchTail {
    aws: Box<SdkConfig>,
    /// Built on the first completion: RUNNING events and the cold start
    /// never pay for them.
    clients: OnceLock<(aws_sdk_ecs::Client, aws_sdk_cloudwatchlogs::Client)>,
    /// Task definition ARN → container name → its `awslogs` settings.
    definitions: Mutex<HashMap<String, HashMap<String, AwsLogs>>>,
}

impl CloudWatchTail {
    pub fn new(aws: &SdkConfig) -> Self {
        CloudWatchTail { aws: Box::new(aws.clone()), clients: OnceLock::new(), definitions: Mutex::default() }
    }

    fn ecs(&self) -> &aws_sdk_ecs::Client {
        &self.clients().0
    }

    fn logs(&self) -> &aws_sdk_cloudwatchlogs::Client {
        &self.clients().1
    }

    fn clients(&self) -> &(aws_sdk_ecs::Client, aws_sdk_cloudwatchlogs::Client) {
        self.clients
            .get_or_init(|| (aws_sdk_ecs::Client::new(&self.aws), aws_sdk_cloudwatchlogs::Client::new(&self.aws)))
    }

    async fn stream_from_definition(&self, task: &EcsTask) -> Result<Option<LogStream>, LogError> {
        let Some(arn) = task.task_definition_arn.as_deref() else { return Ok(None) };
        let cached = self.definitions.lock().map_err(|_| LogError("cache poisoned".into()))?.get(arn).cloned();
        let containers = match cached {
            Some(containers) => containers,
            None => {
                let containers = self.describe(arn).await?;
                self.definitions
                    .lock()
                    .map_err(|_| LogError("cache poisoned".into()))?
                    .insert(arn.to_owned(), containers.clone());
                containers
            }
        };
        // The task's first container that logs to CloudWatch: the job itself
        // in the usual one-container task definition.
        Ok(task.containers.iter().find_map(|c| {
            let logs = containers.get(&c.name)?;
            Some(LogStream {
                group: logs.group.clone(),
                stream: format!("{}/{}/{}", logs.stream_prefix, c.name, task.task_id()),
            })
        }))
    }

    async fn describe(&self, arn: &str) -> Result<HashMap<String, AwsLogs>, LogError> {
        let out = self
            .ecs()
            .describe_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(|e| LogError(format!("ECS DescribeTaskDefinition: {}", DisplayErrorContext(&e))))?;
        let definitions = out.task_definition().map(|d| d.container_definitions()).unwrap_or_default();
        Ok(definitions
            .iter()
            .filter_map(|c| {
                let config = c.log_configuration()?;
                if config.log_driver().as_str() != "awslogs" {
                    return None;
                }
                let options = config.options()?;
                let logs = AwsLogs {
                    group: options.get("awslogs-group")?.clone(),
                    stream_prefix: options.get("awslogs-stream-prefix")?.clone(),
                };
                Some((c.name()?.to_owned(), logs))
            })
            .collect())
    }
}

#[async_trait]
impl LogSource for CloudWatchTail {
    async fn tail(&self, task: &EcsTask, configured: Option<&LogStream>) -> Result<Option<LogTail>, LogError> {
        let stream = match configured {
            Some(stream) => stream.clone(),
            None => match self.stream_from_definition(task).await? {
                Some(stream) => stream,
                None => return Ok(None),
            },
        };
        let out = self
            .logs()
            .get_log_events()
            .log_group_name(&stream.group)
            .log_stream_name(&stream.stream)
            .start_from_head(false)
            .limit(MAX_EVENTS)
            .send()
            .await
            .map_err(|e| LogError(format!("CloudWatch Logs GetLogEvents: {}", DisplayErrorContext(&e))))?;
        let mut lines: Vec<String> = out.events().iter().filter_map(|e| e.message().map(str::to_owned)).collect();
        keep_last_bytes(&mut lines, MAX_BYTES);
        Ok(Some(LogTail { stream: Some(stream), lines }))
    }
}

/// Drops the oldest lines until the rest fit in `max` bytes.
fn keep_last_bytes(lines: &mut Vec<String>, max: usize) {
    let mut total = 0;
    let keep_from = lines
        .iter()
        .rposition(|line| {
            total += line.len();
            total > max
        })
        .map_or(0, |i| i + 1);
    lines.drain(..keep_from);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_lines_within_the_byte_budget() {
        let mut lines: Vec<String> = ["aaaa", "bbbb", "cccc"].map(String::from).to_vec();
        keep_last_bytes(&mut lines, 8);
        assert_eq!(lines, ["bbbb", "cccc"]);
        keep_last_bytes(&mut lines, 100);
        assert_eq!(lines, ["bbbb", "cccc"]);
        keep_last_bytes(&mut lines, 3);
        assert!(lines.is_empty());
    }
}
