//! A log read from a local file: lets the replay command show what a job
//! summary and a failure's last lines would look like.

use std::path::PathBuf;

use async_trait::async_trait;

use crate::event::EcsTask;
use crate::jobs::LogStream;
use crate::ports::{LogError, LogSource, LogTail};

pub struct FileLogs {
    path: PathBuf,
}

impl FileLogs {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileLogs { path: path.into() }
    }
}

#[async_trait]
impl LogSource for FileLogs {
    /// Every task's log is the file; a stream configured for the job is
    /// still linked, as it would be in AWS.
    async fn tail(&self, _task: &EcsTask, configured: Option<&LogStream>) -> Result<Option<LogTail>, LogError> {
        let text = tokio::fs::read_to_string(&self.path)
            .await
            .map_err(|e| LogError(format!("reading {}: {e}", self.path.display())))?;
        Ok(Some(LogTail { stream: configured.cloned(), lines: text.lines().map(str::to_owned).collect() }))
    }
}
