//! The end of a task's log.

use async_trait::async_trait;

use crate::event::EcsTask;
use crate::jobs::LogStream;

/// The end of a task's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTail {
    /// The CloudWatch Logs stream read, when the lines came from one.
    pub stream: Option<LogStream>,
    /// Oldest first.
    pub lines: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LogError(pub String);

/// Reads the end of a task's main container log: from `configured` when
/// the job's settings name it, else where the task definition says.
#[async_trait]
pub trait LogSource: Send + Sync {
    /// `Ok(None)`: the task has no known log stream.
    async fn tail(&self, task: &EcsTask, configured: Option<&LogStream>) -> Result<Option<LogTail>, LogError>;
}
