//! The schedules that run jobs, as the account has them: EventBridge rules
//! and EventBridge Scheduler schedules with ECS targets.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

/// A schedule found in the account.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundSchedule {
    /// `rule NAME` or `schedule GROUP/NAME`, to name it in messages.
    pub source: String,
    /// `rate(…)` or `cron(…)`.
    pub expression: String,
    /// IANA name; UTC when absent.
    pub time_zone: Option<String>,
    /// EventBridge Scheduler's flexible time window: runs may start this
    /// much after their due time.
    pub flexible_window: Duration,
    pub enabled: bool,
    pub target: EcsTarget,
}

/// What a schedule runs: which job it is, and how to run it again.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EcsTarget {
    pub cluster_arn: String,
    pub task_definition_arn: String,
    pub launch_type: Option<String>,
    pub platform_version: Option<String>,
    pub capacity_providers: Vec<String>,
    pub group: Option<String>,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: Option<bool>,
    /// The target's input: ECS `RunTask` overrides, e.g. `containerOverrides`.
    pub overrides: Option<Value>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(pub String);

#[async_trait]
pub trait Schedules: Send + Sync {
    /// Every schedule with an ECS target, enabled or not.
    async fn schedules(&self) -> Result<Vec<FoundSchedule>, ScheduleError>;
}
