//! Reads the end of a task's log stream from CloudWatch Logs, finding the
//! stream from the task definition's `awslogs` settings (through the task
//! definitions port, which reads each revision once for the life of the
//! execution environment).

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use aws_config::SdkConfig;

use crate::event::EcsTask;
use crate::jobs::LogStream;
use crate::ports::{LogError, LogSource, LogTail, TaskDefinitions};

/// How much of the log's end is read: enough for a summary line and a
/// failure's last lines, little enough to stay fast.
pub const MAX_EVENTS: i32 = 200;
pub const MAX_BYTES: usize = 64 * 1024;

pub struct CloudWatchTail {
    aws: Box<SdkConfig>,
    /// Built on the first completion: RUNNING events and the cold start
    /// never pay for it.
    client: OnceLock<aws_sdk_cloudwatchlogs::Client>,
    definitions: Arc<dyn TaskDefinitions>,
}

impl CloudWatchTail {
    pub fn new(aws: &SdkConfig, definitions: Arc<dyn TaskDefinitions>) -> Self {
        CloudWatchTail { aws: Box::new(aws.clone()), client: OnceLock::new(), definitions }
    }

    fn logs(&self) -> &aws_sdk_cloudwatchlogs::Client {
        self.client.get_or_init(|| aws_sdk_cloudwatchlogs::Client::new(&self.aws))
    }

    /// The stream of the task's main container (the essential one that
    /// failed, else the essential one), else of another essential one:
    /// never a sidecar's while an essential container is known.
    async fn stream_from_definition(&self, task: &EcsTask) -> Result<Option<LogStream>, LogError> {
        let Some(arn) = task.task_definition_arn.as_deref() else { return Ok(None) };
        let Some(definition) = self.definitions.definition(arn).await.map_err(|e| LogError(e.0))? else {
            return Ok(None);
        };
        let main = task.main_container();
        let mut candidates =
            main.into_iter().chain(task.deciding_containers().into_iter().filter(|c| Some(*c) != main));
        Ok(candidates.find_map(|c| {
            let logs = definition.container(&c.name)?.awslogs.as_ref()?;
            Some(LogStream {
                group: logs.group.clone(),
                stream: format!("{}/{}/{}", logs.stream_prefix, c.name, task.task_id()),
            })
        }))
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
            .map_err(|e| {
                LogError(format!("CloudWatch Logs GetLogEvents: {}", crate::adapters::aws_error::describe(&e)))
            })?;
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
