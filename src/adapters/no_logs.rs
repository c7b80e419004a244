//! No log source: job summaries and failure logs are off.

use async_trait::async_trait;

use crate::event::EcsTask;
use crate::jobs::LogStream;
use crate::ports::{LogError, LogSource, LogTail};

pub struct NoLogs;

#[async_trait]
impl LogSource for NoLogs {
    async fn tail(&self, _task: &EcsTask, _configured: Option<&LogStream>) -> Result<Option<LogTail>, LogError> {
        Ok(None)
    }
}
