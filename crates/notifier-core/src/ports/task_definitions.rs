//! Task definitions: what ECS events do not say about a task's containers
//! (which are essential, where each logs).

use std::sync::Arc;

use async_trait::async_trait;

/// What the notifier reads of one task definition revision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskDefinition {
    pub containers: Vec<ContainerDefinition>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerDefinition {
    pub name: String,
    /// ECS stops the task when an essential container stops; the others
    /// (log routers, agents) are sidecars.
    pub essential: bool,
    /// Its `awslogs` settings, when it logs to CloudWatch Logs with them.
    pub awslogs: Option<AwsLogs>,
}

/// Where a container definition's `awslogs` driver sends its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsLogs {
    pub group: String,
    pub stream_prefix: String,
}

impl TaskDefinition {
    /// The names of its essential containers.
    pub fn essential(&self) -> Vec<String> {
        self.containers.iter().filter(|c| c.essential).map(|c| c.name.clone()).collect()
    }

    pub fn container(&self, name: &str) -> Option<&ContainerDefinition> {
        self.containers.iter().find(|c| c.name == name)
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct TaskDefinitionError(pub String);

/// Task definitions by ARN (with its revision: a revision never changes,
/// so an adapter may keep what it read for as long as it lives).
#[async_trait]
pub trait TaskDefinitions: Send + Sync {
    /// `Ok(None)`: this adapter reads no task definitions.
    async fn definition(&self, arn: &str) -> Result<Option<Arc<TaskDefinition>>, TaskDefinitionError>;
}
