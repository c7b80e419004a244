//! Schedules with ECS targets, as the account has them: EventBridge rules
//! (`ListRules`, `ListTargetsByRule`) and EventBridge Scheduler schedules
//! (`ListSchedules`, `GetSchedule`). Clients are built on first use, so
//! only the scheduled watch pays for them, and what was found is kept for
//! an hour: schedules change rarely and the watch runs every few minutes.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_eventbridge::error::DisplayErrorContext;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::ports::{EcsTarget, FoundSchedule, ScheduleError, Schedules};

const CACHE_FOR: Duration = Duration::from_secs(3600);

/// The ECS target of a rule's or a schedule's `target`: EventBridge's and
/// Scheduler's SDKs have types of their own with the same fields.
macro_rules! ecs_target {
    ($target:expr, $ecs:expr) => {{
        let (target, ecs) = ($target, $ecs);
        let vpc = ecs.network_configuration().and_then(|n| n.awsvpc_configuration());
        EcsTarget {
            cluster_arn: target.arn().to_owned(),
            task_definition_arn: ecs.task_definition_arn().to_owned(),
            launch_type: ecs.launch_type().map(|l| l.as_str().to_owned()),
            platform_version: ecs.platform_version().map(str::to_owned),
            capacity_providers: ecs
                .capacity_provider_strategy()
                .iter()
                .map(|c| c.capacity_provider().to_owned())
                .collect(),
            group: ecs.group().map(str::to_owned),
            subnets: vpc.map(|v| v.subnets().to_vec()).unwrap_or_default(),
            security_groups: vpc.map(|v| v.security_groups().to_vec()).unwrap_or_default(),
            assign_public_ip: vpc.and_then(|v| v.assign_public_ip()).map(|a| a.as_str() == "ENABLED"),
            overrides: input(target.input()),
        }
    }};
}

pub struct AwsSchedules {
    aws: Box<SdkConfig>,
    clients: OnceLock<(aws_sdk_eventbridge::Client, aws_sdk_scheduler::Client)>,
    /// Held across the listing, so concurrent callers list once.
    cached: Mutex<Option<(Instant, Vec<FoundSchedule>)>>,
}

impl AwsSchedules {
    pub fn new(aws: &SdkConfig) -> Self {
        AwsSchedules { aws: Box::new(aws.clone()), clients: OnceLock::new(), cached: Mutex::new(None) }
    }

    fn clients(&self) -> &(aws_sdk_eventbridge::Client, aws_sdk_scheduler::Client) {
        self.clients
            .get_or_init(|| (aws_sdk_eventbridge::Client::new(&self.aws), aws_sdk_scheduler::Client::new(&self.aws)))
    }

    async fn rules(&self) -> Result<Vec<FoundSchedule>, ScheduleError> {
        let events = &self.clients().0;
        let failed = |op: &str, e: &dyn std::fmt::Display| ScheduleError(format!("EventBridge {op}: {e}"));
        let mut found = Vec::new();
        let mut next = None;
        loop {
            let page = events
                .list_rules()
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| failed("ListRules", &DisplayErrorContext(&e)))?;
            for rule in page.rules() {
                let (Some(name), Some(expression)) = (rule.name(), rule.schedule_expression()) else { continue };
                let targets = events
                    .list_targets_by_rule()
                    .rule(name)
                    .send()
                    .await
                    .map_err(|e| failed("ListTargetsByRule", &DisplayErrorContext(&e)))?;
                for target in targets.targets() {
                    let Some(ecs) = target.ecs_parameters().filter(|_| is_cluster(target.arn())) else { continue };
                    found.push(FoundSchedule {
                        source: format!("rule {name}"),
                        expression: expression.to_owned(),
                        time_zone: None,
                        flexible_window: Duration::ZERO,
                        enabled: rule.state().is_some_and(|s| s.as_str() == "ENABLED"),
                        target: ecs_target!(target, ecs),
                    });
                }
            }
            match page.next_token() {
                Some(token) => next = Some(token.to_owned()),
                None => return Ok(found),
            }
        }
    }

    async fn scheduler(&self) -> Result<Vec<FoundSchedule>, ScheduleError> {
        let scheduler = &self.clients().1;
        let failed = |op: &str, e: &dyn std::fmt::Display| ScheduleError(format!("EventBridge Scheduler {op}: {e}"));
        let mut found = Vec::new();
        let mut next = None;
        loop {
            let page = scheduler
                .list_schedules()
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| failed("ListSchedules", &DisplayErrorContext(&e)))?;
            for summary in page.schedules() {
                let ecs_target = summary.target().is_some_and(|t| is_cluster(t.arn()));
                let Some(name) = summary.name().filter(|_| ecs_target) else { continue };
                let group = summary.group_name().unwrap_or("default");
                let schedule = scheduler
                    .get_schedule()
                    .name(name)
                    .group_name(group)
                    .send()
                    .await
                    .map_err(|e| failed("GetSchedule", &DisplayErrorContext(&e)))?;
                let (Some(target), Some(expression)) = (schedule.target(), schedule.schedule_expression()) else {
                    continue;
                };
                let Some(ecs) = target.ecs_parameters() else { continue };
                let window = schedule
                    .flexible_time_window()
                    .filter(|w| w.mode().as_str() == "FLEXIBLE")
                    .and_then(|w| w.maximum_window_in_minutes())
                    .unwrap_or(0);
                found.push(FoundSchedule {
                    source: format!("schedule {group}/{name}"),
                    expression: expression.to_owned(),
                    time_zone: schedule.schedule_expression_timezone().map(str::to_owned),
                    flexible_window: Duration::from_secs(60 * window.max(0) as u64),
                    enabled: schedule.state().is_none_or(|s| s.as_str() == "ENABLED"),
                    target: ecs_target!(target, ecs),
                });
            }
            match page.next_token() {
                Some(token) => next = Some(token.to_owned()),
                None => return Ok(found),
            }
        }
    }
}

#[async_trait]
impl Schedules for AwsSchedules {
    async fn schedules(&self) -> Result<Vec<FoundSchedule>, ScheduleError> {
        let mut cached = self.cached.lock().await;
        if let Some((_, found)) = cached.as_ref().filter(|(at, _)| at.elapsed() < CACHE_FOR) {
            return Ok(found.clone());
        }
        let mut found = self.rules().await?;
        found.extend(self.scheduler().await?);
        *cached = Some((Instant::now(), found.clone()));
        Ok(found)
    }
}

/// No schedules in the account: for local runs.
pub struct NoSchedules;

#[async_trait]
impl Schedules for NoSchedules {
    async fn schedules(&self) -> Result<Vec<FoundSchedule>, ScheduleError> {
        Ok(Vec::new())
    }
}

/// `arn:aws:ecs:REGION:ACCOUNT:cluster/NAME`.
fn is_cluster(arn: &str) -> bool {
    arn.split(':').nth(2) == Some("ecs") && arn.split(':').nth(5).is_some_and(|r| r.starts_with("cluster/"))
}

/// A target's input, when it is JSON (ECS targets take `RunTask` overrides).
fn input(text: Option<&str>) -> Option<Value> {
    text.and_then(|t| serde_json::from_str(t).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cluster_targets_are_ecs_targets() {
        assert!(is_cluster("arn:aws:ecs:us-east-1:123456789012:cluster/market-pulse"));
        assert!(!is_cluster("arn:aws:lambda:us-east-1:123456789012:function:notifier"));
        assert!(!is_cluster("arn:aws:ecs:us-east-1:123456789012:task-definition/x:1"));
    }
}
