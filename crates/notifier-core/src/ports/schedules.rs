//! The schedules that run jobs, as the account has them: EventBridge rules
//! and EventBridge Scheduler schedules with ECS targets.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::event::{Container, EcsTask, Overrides};
use crate::job_control::{ListedSchedule, Network, RunRequest};
use crate::time::Timestamp;

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

impl FoundSchedule {
    /// An EventBridge Scheduler schedule as `ListSchedules` lists it;
    /// `None` for a rule.
    pub fn listed(&self) -> Option<ListedSchedule> {
        let (group, name) = self.source.strip_prefix("schedule ")?.split_once('/')?;
        Some(ListedSchedule {
            group: group.to_owned(),
            name: name.to_owned(),
            target_arn: self.target.cluster_arn.clone(),
        })
    }
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

impl EcsTarget {
    /// The task it would start, as far as the rules of `JOBS_CONFIG` can
    /// tell which job it is: its task definition and its overrides.
    pub fn as_task(&self) -> EcsTask {
        let overrides: Option<Overrides> = self.overrides.clone().and_then(|v| serde_json::from_value(v).ok());
        let containers = overrides
            .iter()
            .flat_map(|o| &o.container_overrides)
            .map(|o| Container { name: o.name.clone(), ..Container::default() })
            .collect();
        EcsTask {
            cluster_arn: Some(self.cluster_arn.clone()),
            task_definition_arn: Some(self.task_definition_arn.clone()),
            containers,
            overrides,
            ..EcsTask::default()
        }
    }

    pub fn network(&self) -> Option<Network> {
        (!self.subnets.is_empty()).then(|| Network {
            subnets: self.subnets.clone(),
            security_groups: self.security_groups.clone(),
            assign_public_ip: self.assign_public_ip,
        })
    }

    /// A run now, as the schedule would start it.
    pub fn run_request(&self, started_by: String, client_token: String) -> RunRequest {
        RunRequest {
            cluster: self.cluster_arn.clone(),
            task_definition: self.task_definition_arn.clone(),
            launch_type: self.launch_type.clone().filter(|_| self.capacity_providers.is_empty()),
            capacity_providers: self.capacity_providers.clone(),
            platform_version: self.platform_version.clone(),
            group: self.group.clone(),
            overrides: self.overrides.clone().and_then(|v| serde_json::from_value(v).ok()),
            network: self.network(),
            started_by,
            client_token,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(pub String);

/// What a discovery found, and whether it found everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Discovery {
    pub found: Vec<FoundSchedule>,
    /// Why it stopped before reading every rule and schedule (its time
    /// ran out), to say so in the answer; `None`: complete.
    pub cut_short: Option<String>,
}

/// The schedules listed under a name's prefix, and whether the listing
/// stopped before its end.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listed {
    pub schedules: Vec<ListedSchedule>,
    /// Why it stopped before its end (its pages or its time ran out);
    /// `None`: complete.
    pub cut_short: Option<String>,
}

#[async_trait]
pub trait Schedules: Send + Sync {
    /// Every schedule with an ECS target, enabled or not.
    async fn schedules(&self) -> Result<Vec<FoundSchedule>, ScheduleError>;

    /// Every schedule that can be read before `until`: what was found, and
    /// whether it was cut short.
    async fn discover(&self, until: Timestamp) -> Result<Discovery, ScheduleError> {
        let _ = until;
        Ok(Discovery { found: self.schedules().await?, cut_short: None })
    }

    /// The ECS targets of one EventBridge rule (the rule a task's
    /// `startedBy` names): one call, not a discovery.
    async fn rule(&self, name: &str) -> Result<Vec<FoundSchedule>, ScheduleError> {
        let source = format!("rule {name}");
        Ok(self.schedules().await?.into_iter().filter(|f| f.source == source).collect())
    }

    /// One EventBridge Scheduler schedule (`GetSchedule`), when it is
    /// there and has an ECS target.
    async fn schedule(&self, group: &str, name: &str) -> Result<Option<FoundSchedule>, ScheduleError> {
        let source = format!("schedule {group}/{name}");
        Ok(self.schedules().await?.into_iter().find(|f| f.source == source))
    }

    /// The EventBridge Scheduler schedules whose names start with
    /// `prefix`, in every group (`ListSchedules` `NamePrefix`): a few pages
    /// at most, until `until`. Not a discovery: what a cut `startedBy`
    /// names, to be read one by one.
    async fn named(&self, prefix: &str, until: Timestamp) -> Result<Listed, ScheduleError> {
        let _ = until;
        let found = self.schedules().await?;
        let schedules = found.iter().filter_map(FoundSchedule::listed).filter(|l| l.name.starts_with(prefix)).collect();
        Ok(Listed { schedules, cut_short: None })
    }
}
