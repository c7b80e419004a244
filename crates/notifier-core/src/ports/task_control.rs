//! Starting and stopping ECS tasks, for job control from Slack.

use async_trait::async_trait;

use crate::job_control::RunRequest;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ControlError(pub String);

#[async_trait]
pub trait TaskControl: Send + Sync {
    /// Starts the task; its ARN.
    async fn run_task(&self, request: &RunRequest) -> Result<String, ControlError>;
    /// Asks ECS to stop a task; `reason` shows in the console and the
    /// task's STOPPED event.
    async fn stop_task(&self, cluster: &str, task: &str, reason: &str) -> Result<(), ControlError>;
}
