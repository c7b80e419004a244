//! Schedules with ECS targets, as the account has them: EventBridge rules
//! (`ListRules`, `ListTargetsByRule`) and EventBridge Scheduler schedules
//! (`ListSchedules`, `GetSchedule`). Clients are built on first use, so
//! only the scheduled watch and job control pay for them.
//!
//! A discovery lists page by page, then reads the rules' targets and the
//! schedules [`CONCURRENCY`] at a time, and stops at the caller's time
//! (saying so: [`Discovery::cut_short`]). A complete one is kept in the
//! execution environment for [`CACHE_FOR`] (5 minutes): schedules change
//! rarely, and a `/jobs run` after a watch, or a second one, reads nothing.
//! A task's own rule (its `startedBy`) is one `ListTargetsByRule`, a
//! schedule one `GetSchedule`, a schedule's cut name one `ListSchedules`
//! under that prefix (a few pages at most): none walks the account. Each
//! looks in a kept discovery first, and reads AWS only when it is not there.
//!
//! Every call has the SDK's standard retry, within `app::aws_timeouts`:
//! reads need nothing more (the store's ports add `retry::Policy` for
//! their writes). A schedule that is not there is `None`, not an error.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use async_trait::async_trait;
use aws_config::SdkConfig;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::job_control::ListedSchedule;
use crate::ports::{Discovery, EcsTarget, FoundSchedule, Listed, ScheduleError, Schedules};
use crate::time::Timestamp;

/// How long a complete discovery is kept in an execution environment.
pub const CACHE_FOR: Duration = Duration::from_secs(300);
/// How many rules' targets (or schedules) are read at once.
pub const CONCURRENCY: usize = 8;
/// A listing under a name's prefix reads at most this many pages of
/// [`NAMED_PAGE`]: hundreds of schedules under one prefix are not one
/// run's.
pub const NAMED_PAGES: usize = 3;
pub const NAMED_PAGE: i32 = 100;

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
    /// Held across the listing, so concurrent callers list once. Only a
    /// complete discovery is kept.
    cached: Mutex<Option<(Instant, Vec<FoundSchedule>)>>,
}

/// A rule with a schedule, as `ListRules` has it.
struct ScheduledRule {
    name: String,
    expression: String,
    enabled: bool,
}

/// Where a discovery got to, to say so when it was cut short.
#[derive(Default)]
struct Progress {
    found: Vec<FoundSchedule>,
    cut_short: Option<String>,
}

fn events_failed(op: &str, e: &dyn std::fmt::Display) -> ScheduleError {
    ScheduleError(format!("EventBridge {op}: {e}"))
}

fn scheduler_failed(op: &str, e: &dyn std::fmt::Display) -> ScheduleError {
    ScheduleError(format!("EventBridge Scheduler {op}: {e}"))
}

impl AwsSchedules {
    pub fn new(aws: &SdkConfig) -> Self {
        AwsSchedules { aws: Box::new(aws.clone()), clients: OnceLock::new(), cached: Mutex::new(None) }
    }

    /// The complete discovery kept, while it is fresh. `None` while one is
    /// being made too: a single read is quicker than waiting for it.
    fn kept(&self) -> Option<Vec<FoundSchedule>> {
        let cached = self.cached.try_lock().ok()?;
        cached.as_ref().filter(|(at, _)| at.elapsed() < CACHE_FOR).map(|(_, found)| found.clone())
    }

    fn clients(&self) -> &(aws_sdk_eventbridge::Client, aws_sdk_scheduler::Client) {
        self.clients
            .get_or_init(|| (aws_sdk_eventbridge::Client::new(&self.aws), aws_sdk_scheduler::Client::new(&self.aws)))
    }

    /// A rule's ECS targets, every page of them.
    async fn targets_of(&self, rule: ScheduledRule) -> Result<Vec<FoundSchedule>, ScheduleError> {
        let events = &self.clients().0;
        let mut found = Vec::new();
        let mut next = None;
        loop {
            let page = events
                .list_targets_by_rule()
                .rule(&rule.name)
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| events_failed("ListTargetsByRule", &crate::adapters::aws_error::describe(&e)))?;
            for target in page.targets() {
                let Some(ecs) = target.ecs_parameters().filter(|_| is_cluster(target.arn())) else { continue };
                found.push(FoundSchedule {
                    source: format!("rule {}", rule.name),
                    expression: rule.expression.clone(),
                    time_zone: None,
                    flexible_window: Duration::ZERO,
                    enabled: rule.enabled,
                    target: ecs_target!(target, ecs),
                });
            }
            match page.next_token() {
                Some(token) => next = Some(token.to_owned()),
                None => return Ok(found),
            }
        }
    }

    /// Every rule with a schedule (`ListRules`, page by page), then their
    /// targets, `CONCURRENCY` at a time, until `until`.
    async fn rules(&self, until: tokio::time::Instant) -> Result<Progress, ScheduleError> {
        let events = &self.clients().0;
        let mut rules = Vec::new();
        let mut next = None;
        let mut progress = Progress::default();
        loop {
            let page = match tokio::time::timeout_at(until, events.list_rules().set_next_token(next).send()).await {
                Ok(page) => page.map_err(|e| events_failed("ListRules", &crate::adapters::aws_error::describe(&e)))?,
                Err(_) => {
                    progress.cut_short = Some(format!("listed {} rules before the time ran out", rules.len()));
                    break;
                }
            };
            rules.extend(page.rules().iter().filter_map(|rule| {
                Some(ScheduledRule {
                    name: rule.name()?.to_owned(),
                    expression: rule.schedule_expression()?.to_owned(),
                    enabled: rule.state().is_some_and(|s| s.as_str() == "ENABLED"),
                })
            }));
            match page.next_token() {
                Some(token) => next = Some(token.to_owned()),
                None => break,
            }
        }
        let total = rules.len();
        let mut reads = futures_util::stream::iter(rules.into_iter().map(|rule| self.targets_of(rule)))
            .buffer_unordered(CONCURRENCY);
        let mut read = 0;
        loop {
            match tokio::time::timeout_at(until, reads.next()).await {
                Ok(Some(targets)) => {
                    progress.found.extend(targets?);
                    read += 1;
                }
                Ok(None) => break,
                Err(_) => {
                    let listed = progress.cut_short.take().map(|c| format!(" ({c})")).unwrap_or_default();
                    progress.cut_short = Some(format!("read the targets of {read} of {total} rules in time{listed}"));
                    break;
                }
            }
        }
        Ok(progress)
    }

    /// `None` when it is not there (any more), or has no ECS target.
    async fn get_schedule(&self, group: String, name: String) -> Result<Option<FoundSchedule>, ScheduleError> {
        let read = self.clients().1.get_schedule().name(&name).group_name(&group).send().await;
        let schedule = match read {
            Ok(schedule) => schedule,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => return Ok(None),
            Err(e) => return Err(scheduler_failed("GetSchedule", &crate::adapters::aws_error::describe(&e))),
        };
        let (Some(target), Some(expression)) = (schedule.target(), schedule.schedule_expression()) else {
            return Ok(None);
        };
        let Some(ecs) = target.ecs_parameters().filter(|_| is_cluster(target.arn())) else { return Ok(None) };
        let window = schedule
            .flexible_time_window()
            .filter(|w| w.mode().as_str() == "FLEXIBLE")
            .and_then(|w| w.maximum_window_in_minutes())
            .unwrap_or(0);
        Ok(Some(FoundSchedule {
            source: format!("schedule {group}/{name}"),
            expression: expression.to_owned(),
            time_zone: schedule.schedule_expression_timezone().map(str::to_owned),
            flexible_window: Duration::from_secs(60 * window.max(0) as u64),
            enabled: schedule.state().is_none_or(|s| s.as_str() == "ENABLED"),
            target: ecs_target!(target, ecs),
        }))
    }

    /// Every schedule with an ECS target (`ListSchedules`, page by page),
    /// then each one's `GetSchedule`, `CONCURRENCY` at a time, until `until`.
    async fn scheduler(&self, until: tokio::time::Instant) -> Result<Progress, ScheduleError> {
        let scheduler = &self.clients().1;
        let mut named = Vec::new();
        let mut next = None;
        let mut progress = Progress::default();
        loop {
            let page =
                match tokio::time::timeout_at(until, scheduler.list_schedules().set_next_token(next).send()).await {
                    Ok(page) => {
                        page.map_err(|e| scheduler_failed("ListSchedules", &crate::adapters::aws_error::describe(&e)))?
                    }
                    Err(_) => {
                        progress.cut_short = Some(format!("listed {} schedules before the time ran out", named.len()));
                        break;
                    }
                };
            named.extend(page.schedules().iter().filter_map(|summary| {
                let ecs_target = summary.target().is_some_and(|t| is_cluster(t.arn()));
                let name = summary.name().filter(|_| ecs_target)?;
                Some((summary.group_name().unwrap_or("default").to_owned(), name.to_owned()))
            }));
            match page.next_token() {
                Some(token) => next = Some(token.to_owned()),
                None => break,
            }
        }
        let total = named.len();
        let mut reads =
            futures_util::stream::iter(named.into_iter().map(|(group, name)| self.get_schedule(group, name)))
                .buffer_unordered(CONCURRENCY);
        let mut read = 0;
        loop {
            match tokio::time::timeout_at(until, reads.next()).await {
                Ok(Some(schedule)) => {
                    progress.found.extend(schedule?);
                    read += 1;
                }
                Ok(None) => break,
                Err(_) => {
                    let listed = progress.cut_short.take().map(|c| format!(" ({c})")).unwrap_or_default();
                    progress.cut_short = Some(format!("read {read} of {total} schedules in time{listed}"));
                    break;
                }
            }
        }
        Ok(progress)
    }
}

#[async_trait]
impl Schedules for AwsSchedules {
    async fn schedules(&self) -> Result<Vec<FoundSchedule>, ScheduleError> {
        // The watch's own deadline bounds it; a listing without one is
        // bounded by the SDK's timeouts.
        Ok(self.discover(Timestamp::now() + Duration::from_secs(3600)).await?.found)
    }

    async fn discover(&self, until: Timestamp) -> Result<Discovery, ScheduleError> {
        let mut cached = self.cached.lock().await;
        if let Some((_, found)) = cached.as_ref().filter(|(at, _)| at.elapsed() < CACHE_FOR) {
            return Ok(Discovery { found: found.clone(), cut_short: None });
        }
        let until = tokio::time::Instant::now() + until.duration_since(Timestamp::now());
        let (rules, schedules) = tokio::join!(self.rules(until), self.scheduler(until));
        let (mut rules, schedules) = (rules?, schedules?);
        rules.found.extend(schedules.found);
        let cut_short = match (rules.cut_short, schedules.cut_short) {
            (None, None) => None,
            (a, b) => Some(a.into_iter().chain(b).collect::<Vec<_>>().join("; ")),
        };
        if cut_short.is_none() {
            *cached = Some((Instant::now(), rules.found.clone()));
        }
        Ok(Discovery { found: rules.found, cut_short })
    }

    async fn rule(&self, name: &str) -> Result<Vec<FoundSchedule>, ScheduleError> {
        let source = format!("rule {name}");
        let kept: Vec<FoundSchedule> = self.kept().into_iter().flatten().filter(|f| f.source == source).collect();
        if !kept.is_empty() {
            return Ok(kept);
        }
        // `ListTargetsByRule` alone: the rule's expression is not needed to
        // run its target again.
        let rule = ScheduledRule { name: name.to_owned(), expression: String::new(), enabled: true };
        self.targets_of(rule).await
    }

    async fn schedule(&self, group: &str, name: &str) -> Result<Option<FoundSchedule>, ScheduleError> {
        let source = format!("schedule {group}/{name}");
        if let Some(kept) = self.kept().into_iter().flatten().find(|f| f.source == source) {
            return Ok(Some(kept));
        }
        self.get_schedule(group.to_owned(), name.to_owned()).await
    }

    async fn named(&self, prefix: &str, until: Timestamp) -> Result<Listed, ScheduleError> {
        // A kept discovery has the ECS targets only: what is looked for.
        let kept: Vec<ListedSchedule> = (self.kept().iter().flatten())
            .filter_map(FoundSchedule::listed)
            .filter(|l| l.name.starts_with(prefix))
            .collect();
        if !kept.is_empty() {
            return Ok(Listed { schedules: kept, cut_short: None });
        }
        let until = tokio::time::Instant::now() + until.duration_since(Timestamp::now());
        let scheduler = &self.clients().1;
        let mut listed = Listed::default();
        let mut next = None;
        for page in 1..=NAMED_PAGES {
            let list = scheduler.list_schedules().name_prefix(prefix).max_results(NAMED_PAGE).set_next_token(next);
            let page_read = match tokio::time::timeout_at(until, list.send()).await {
                Ok(read) => {
                    read.map_err(|e| scheduler_failed("ListSchedules", &crate::adapters::aws_error::describe(&e)))?
                }
                Err(_) => {
                    listed.cut_short = Some(format!("listed {} pages before the time ran out", page - 1));
                    return Ok(listed);
                }
            };
            // Kept to the prefix here too: the listing is only as good as
            // the service's filter.
            listed.schedules.extend(page_read.schedules().iter().filter_map(|summary| {
                let name = summary.name().filter(|n| n.starts_with(prefix))?;
                Some(ListedSchedule {
                    group: summary.group_name().unwrap_or("default").to_owned(),
                    name: name.to_owned(),
                    target_arn: summary.target().map(|t| t.arn().to_owned()).unwrap_or_default(),
                })
            }));
            match page_read.next_token() {
                Some(token) => next = Some(token.to_owned()),
                None => return Ok(listed),
            }
        }
        listed.cut_short = Some(format!("more than {NAMED_PAGES} pages of schedules under one prefix"));
        Ok(listed)
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
