//! The events the notifier receives: the EventBridge envelope, the ECS task
//! detail and the app's user-registration detail.
//!
//! Every detail field the code does not need is ignored and every field it
//! reads is optional where AWS does not guarantee it, because AWS adds and
//! omits fields over time and one odd event must not stop the notifier.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::time::Timestamp;

pub const ECS_TASK_STATE_CHANGE: &str = "ECS Task State Change";
pub const USER_REGISTERED: &str = "User Registered";
/// What an EventBridge schedule sends: the scheduled watch.
pub const SCHEDULED_EVENT: &str = "Scheduled Event";

/// An event after routing on its `detail-type`.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    pub id: Option<String>,
    pub time: Option<Timestamp>,
    pub source: String,
    pub detail_type: String,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    EcsTask(Box<EcsTask>),
    UserRegistered(Registration),
    /// The scheduled watch: missed runs, long runs, the daily digest.
    Scheduled,
    /// A detail-type this notifier has no message for.
    Unhandled,
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("payload is not an EventBridge event: {0}")]
    NotEventBridge(serde_json::Error),
    #[error("invalid `{detail_type}` event detail: {source}")]
    InvalidDetail { detail_type: String, source: serde_json::Error },
    #[error("invalid `ECS Task State Change` event: no `detail.taskArn`, and no task ARN in `resources`")]
    NoTaskArn,
}

/// Parses a Lambda payload and routes it on `detail-type`.
pub fn parse(payload: Value) -> Result<Incoming, EventError> {
    let envelope: EventBridgeEvent<Value> = serde_json::from_value(payload).map_err(EventError::NotEventBridge)?;
    let detail_error = |source| EventError::InvalidDetail { detail_type: envelope.detail_type.clone(), source };
    let kind = match envelope.detail_type.as_str() {
        ECS_TASK_STATE_CHANGE => {
            let mut task = EcsTask::deserialize(&envelope.detail).map_err(detail_error)?;
            if task.task_arn.is_empty() {
                // Some events (a task that never started, among them) name
                // the task only in the envelope.
                let resources = envelope.resources.as_deref().unwrap_or_default();
                task.task_arn =
                    resources.iter().find(|r| r.contains(":task/")).cloned().ok_or(EventError::NoTaskArn)?;
            }
            EventKind::EcsTask(Box::new(task))
        }
        USER_REGISTERED => {
            EventKind::UserRegistered(Registration::deserialize(&envelope.detail).map_err(detail_error)?)
        }
        SCHEDULED_EVENT => EventKind::Scheduled,
        _ => EventKind::Unhandled,
    };
    Ok(Incoming {
        id: envelope.id,
        time: envelope.time.map(Timestamp::from),
        source: envelope.source,
        detail_type: envelope.detail_type,
        kind,
    })
}

/// `detail` of an "ECS Task State Change" event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcsTask {
    /// From `resources[0]` when the detail has none.
    #[serde(default)]
    pub task_arn: String,
    pub last_status: String,
    #[serde(default)]
    pub cluster_arn: Option<String>,
    #[serde(default)]
    pub task_definition_arn: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub desired_status: Option<String>,
    #[serde(default)]
    pub launch_type: Option<String>,
    #[serde(default)]
    pub capacity_provider_name: Option<String>,
    #[serde(default)]
    pub platform_version: Option<String>,
    #[serde(default)]
    pub cpu: Option<String>,
    #[serde(default)]
    pub memory: Option<String>,
    #[serde(default)]
    pub started_by: Option<String>,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    #[serde(default)]
    pub stopped_at: Option<Timestamp>,
    #[serde(default)]
    pub execution_stopped_at: Option<Timestamp>,
    #[serde(default)]
    pub stop_code: Option<String>,
    #[serde(default)]
    pub stopped_reason: Option<String>,
    #[serde(default)]
    pub containers: Vec<Container>,
    #[serde(default)]
    pub overrides: Option<Overrides>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    #[serde(default)]
    pub version: Option<i64>,
    /// Which containers decide the outcome, when known: ECS events do not
    /// say, so the task workflow sets it from the task definition (or
    /// `NON_ESSENTIAL_CONTAINERS`). `None`: every container counts.
    #[serde(skip)]
    pub essential_containers: Option<Vec<String>>,
}

/// An attachment of the task: its network interface, for `awsvpc` tasks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub details: Vec<KeyValue>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub image: Option<String>,
    /// `sha256:…`, once the image was pulled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    #[serde(default)]
    pub last_status: Option<String>,
    #[serde(default)]
    pub exit_code: Option<i64>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Overrides {
    #[serde(default)]
    pub container_overrides: Vec<ContainerOverride>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerOverride {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environment: Vec<KeyValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub value: String,
}

impl EcsTask {
    /// The task id: the last segment of the task ARN.
    pub fn task_id(&self) -> &str {
        last_segment(&self.task_arn)
    }

    pub fn cluster_name(&self) -> Option<&str> {
        self.cluster_arn.as_deref().map(last_segment)
    }

    /// The task definition family: from `group` `family:NAME`, else from the
    /// task definition ARN (`…:task-definition/NAME:REVISION`).
    pub fn family(&self) -> Option<&str> {
        if let Some(name) = self.group.as_deref().and_then(|g| g.strip_prefix("family:")) {
            if !name.is_empty() {
                return Some(name);
            }
        }
        definition_family(self.task_definition_arn.as_deref()?)
    }

    /// The region, from the task ARN (`arn:aws:ecs:REGION:…`).
    pub fn region(&self) -> Option<&str> {
        self.task_arn.split(':').nth(3).filter(|r| !r.is_empty())
    }

    /// Command overrides given when the task was started, per container.
    pub fn command_overrides(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.overrides
            .iter()
            .flat_map(|o| &o.container_overrides)
            .filter_map(|o| Some((o.name.as_str(), o.command.as_deref()?)))
    }
}

impl EcsTask {
    /// The subnet of its `awsvpc` network interface, when it has one.
    pub fn subnet(&self) -> Option<&str> {
        self.attachments
            .iter()
            .filter(|a| a.kind.eq_ignore_ascii_case("eni") || a.kind == "ElasticNetworkInterface")
            .flat_map(|a| &a.details)
            .find(|d| d.name == "subnetId")
            .map(|d| d.value.as_str())
    }

    /// Whether it ran with the `awsvpc` network mode (it has an interface).
    pub fn has_network_interface(&self) -> bool {
        self.attachments.iter().any(|a| a.kind.eq_ignore_ascii_case("eni") || a.kind == "ElasticNetworkInterface")
    }

    /// Environment variables set as overrides when the task was started.
    pub fn environment_overrides(&self) -> impl Iterator<Item = (&str, &str)> {
        self.overrides
            .iter()
            .flat_map(|o| &o.container_overrides)
            .flat_map(|o| &o.environment)
            .map(|kv| (kv.name.as_str(), kv.value.as_str()))
    }
}

/// The stop codes of a task that Spot stopped: `SpotInterruption` in
/// today's events, `TerminationNotice` in older ones.
pub const SPOT_STOP_CODES: [&str; 2] = ["SpotInterruption", "TerminationNotice"];

impl Container {
    fn has_reason(&self) -> bool {
        self.reason.as_deref().is_some_and(|r| !r.trim().is_empty())
    }
}

impl EcsTask {
    /// A task of an ECS service: its `group` is `service:…`, or a service's
    /// deployment started it (`startedBy` `ecs-svc/…`).
    pub fn is_service(&self) -> bool {
        self.group.as_deref().is_some_and(|g| g.starts_with("service:"))
            || self.started_by.as_deref().is_some_and(|s| s.starts_with("ecs-svc/"))
    }

    /// Whether Spot stopped it (or is about to).
    pub fn stopped_by_spot(&self) -> bool {
        self.stop_code.as_deref().is_some_and(|code| SPOT_STOP_CODES.contains(&code))
    }

    /// Whether the container is one that decides the outcome.
    pub fn is_essential(&self, name: &str) -> bool {
        self.essential_containers.as_ref().is_none_or(|essential| essential.iter().any(|n| n == name))
    }

    /// The containers whose exit codes decide the outcome: the essential
    /// ones, or all of them when none of them is known to be essential.
    pub fn deciding_containers(&self) -> Vec<&Container> {
        let essential: Vec<&Container> = self.containers.iter().filter(|c| self.is_essential(&c.name)).collect();
        if essential.is_empty() { self.containers.iter().collect() } else { essential }
    }

    /// The container whose log tells the run: the essential container that
    /// failed first, else the first essential one. Never a sidecar while
    /// an essential container is known.
    ///
    /// ECS does not say which container failed first; the one that did is
    /// the one with its own reason (`OutOfMemoryError: …`) or an exit code
    /// of its own, rather than the 143 (SIGTERM) or 137 (SIGKILL) that ECS
    /// gives the others when it stops the task because of it.
    pub fn main_container(&self) -> Option<&Container> {
        let deciding = self.deciding_containers();
        let stopped = self.last_status == "STOPPED";
        let rank = |c: &&Container| match c.exit_code {
            Some(_) if c.has_reason() => 0,
            Some(137 | 143) => 2,
            Some(_) => 1,
            None => 3,
        };
        let failed = deciding
            .iter()
            .copied()
            .filter(|c| c.exit_code != Some(0) && (c.exit_code.is_some() || stopped))
            .min_by_key(rank);
        failed.or_else(|| deciding.first().copied())
    }

    /// The name a task goes by when nothing names its job: its task
    /// definition family, else its `group`, else its main container's name.
    pub fn default_name(&self) -> Option<&str> {
        self.family()
            .or_else(|| self.group.as_deref().filter(|g| !g.trim().is_empty() && *g != "family:"))
            .or_else(|| self.main_container().map(|c| c.name.as_str()).filter(|n| !n.is_empty()))
    }
}

fn last_segment(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The family of a task definition ARN, with its revision
/// (`…:task-definition/NAME:REVISION`) or without (`…/NAME`, the latest,
/// as a schedule's target may name it).
pub fn definition_family(arn: &str) -> Option<&str> {
    let name_and_revision = last_segment(arn);
    let name = name_and_revision.rsplit_once(':').map_or(name_and_revision, |(name, _)| name);
    (!name.is_empty()).then_some(name)
}

/// `detail` of a "User Registered" event put on the bus by the app.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    pub user_id: String,
    pub email: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub total_users: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fixture;
    use serde_json::json;

    #[test]
    fn parses_running_task_and_tolerates_unknown_fields() {
        let mut payload = fixture("events/ecs-task-running.json");
        payload["detail"]["someFieldAwsAddsLater"] = json!({"nested": [1, 2]});
        payload["newEnvelopeField"] = json!(true);
        let incoming = parse(payload).unwrap();
        let EventKind::EcsTask(task) = incoming.kind else { panic!("not an ECS task") };
        assert_eq!(task.last_status, "RUNNING");
        assert_eq!(task.family(), Some("market-pulse-collect-stock-prices"));
        assert_eq!(task.task_id(), "9781c248b1ab4c5b9d5f0d7f1e2c3a4b");
        assert_eq!(task.cluster_name(), Some("market-pulse"));
        assert_eq!(task.region(), Some("us-east-1"));
    }

    #[test]
    fn family_falls_back_to_task_definition_arn() {
        let table = [
            (Some("family:etl"), None, Some("etl")),
            (Some("service:web"), Some("arn:aws:ecs:us-east-1:1:task-definition/web-app:7"), Some("web-app")),
            (None, Some("arn:aws:ecs:us-east-1:1:task-definition/batch:12"), Some("batch")),
            (Some("family:"), None, None),
            (None, None, None),
        ];
        for (group, arn, want) in table {
            let task = EcsTask {
                group: group.map(Into::into),
                task_definition_arn: arn.map(Into::into),
                ..EcsTask::default()
            };
            assert_eq!(task.family(), want, "group {group:?} arn {arn:?}");
        }
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let table = [
            (json!({"foo": 1}), "not an EventBridge event: missing field `detail-type`"),
            (json!("just a string"), "not an EventBridge event"),
            (json!({"detail-type": "ECS Task State Change", "source": "aws.ecs"}), "missing field `detail`"),
            (
                json!({"detail-type": "ECS Task State Change", "source": "aws.ecs",
                       "detail": {"taskArn": 5, "lastStatus": "RUNNING"}}),
                "invalid `ECS Task State Change` event detail: invalid type: integer `5`",
            ),
            (
                json!({"detail-type": "User Registered", "source": "app",
                       "detail": {"email": "a@b.c"}}),
                "missing field `user_id`",
            ),
            (
                json!({"detail-type": "User Registered", "source": "app",
                       "detail": {"user_id": "usr_1"}}),
                "missing field `email`",
            ),
        ];
        for (payload, want) in table {
            let err = parse(payload.clone()).unwrap_err().to_string();
            assert!(err.contains(want), "{payload}: got {err:?}, want {want:?}");
        }
    }

    #[test]
    fn the_task_arn_falls_back_to_the_events_resources() {
        let mut payload = fixture("events/ecs-task-never-started.json");
        let arn = payload["detail"]["taskArn"].clone();
        payload["detail"].as_object_mut().unwrap().remove("taskArn");
        let EventKind::EcsTask(task) = parse(payload.clone()).unwrap().kind else { panic!() };
        assert_eq!(json!(task.task_arn), arn);
        payload["resources"] = json!([]);
        let err = parse(payload).unwrap_err().to_string();
        assert!(err.contains("no `detail.taskArn`, and no task ARN in `resources`"), "{err}");
    }

    fn container(name: &str, exit_code: Option<i64>, reason: Option<&str>) -> Container {
        Container { name: name.into(), exit_code, reason: reason.map(Into::into), ..Container::default() }
    }

    #[test]
    fn the_main_container_is_the_essential_one_that_failed_first() {
        let stopped = |containers, essential: Option<&[&str]>| EcsTask {
            last_status: "STOPPED".into(),
            containers,
            essential_containers: essential.map(|e| e.iter().map(|n| n.to_string()).collect()),
            ..EcsTask::default()
        };
        let table: Vec<(EcsTask, &str)> = vec![
            // A sidecar listed first never leads while an essential one is known.
            (
                stopped(vec![container("timeout", Some(143), None), container("app", Some(0), None)], Some(&["app"])),
                "app",
            ),
            // The one with its own reason failed first; ECS stopped the others.
            (
                stopped(
                    vec![container("a", Some(143), None), container("b", Some(137), Some("OutOfMemoryError: …"))],
                    None,
                ),
                "b",
            ),
            (stopped(vec![container("a", Some(143), None), container("b", Some(2), None)], None), "b"),
            (stopped(vec![container("a", None, None), container("b", Some(143), None)], None), "b"),
            (stopped(vec![container("a", Some(0), None), container("b", Some(0), None)], None), "a"),
            // Only sidecars known as essential elsewhere: all of them count.
            (stopped(vec![container("x", Some(1), None)], Some(&["gone"])), "x"),
        ];
        for (task, want) in table {
            assert_eq!(task.main_container().map(|c| c.name.as_str()), Some(want), "{:?}", task.containers);
        }
        // Running: no exit codes yet, so the first essential one.
        let running = EcsTask {
            last_status: "RUNNING".into(),
            containers: vec![container("log_router", None, None), container("app", None, None)],
            essential_containers: Some(vec!["app".into()]),
            ..EcsTask::default()
        };
        assert_eq!(running.main_container().map(|c| c.name.as_str()), Some("app"));
    }

    #[test]
    fn a_task_with_no_family_is_named_by_its_group_then_its_container_never_its_id() {
        let task = |group: Option<&str>, containers: Vec<Container>| EcsTask {
            task_arn: "arn:aws:ecs:us-east-1:1:task/c/0ac6a99cc0a74871aa435d41b78f0a0d".into(),
            group: group.map(Into::into),
            containers,
            ..EcsTask::default()
        };
        assert_eq!(task(Some("service:web"), vec![]).default_name(), Some("service:web"));
        assert_eq!(task(None, vec![container("reddit-scraper", None, None)]).default_name(), Some("reddit-scraper"));
        assert_eq!(task(Some("family:"), vec![container("scraper", None, None)]).default_name(), Some("scraper"));
        assert_eq!(task(None, vec![]).default_name(), None);
    }

    #[test]
    fn service_tasks_by_group_or_by_who_started_them() {
        let task = |group: Option<&str>, started_by: Option<&str>| EcsTask {
            group: group.map(Into::into),
            started_by: started_by.map(Into::into),
            ..EcsTask::default()
        };
        assert!(task(Some("service:web"), None).is_service());
        assert!(task(Some("family:web"), Some("ecs-svc/9223370564342396817")).is_service());
        assert!(!task(Some("family:etl"), Some("events-rule/etl")).is_service());
        assert!(!task(None, Some("manual-run")).is_service());
    }

    #[test]
    fn unknown_detail_types_are_unhandled_not_errors() {
        let payload = json!({"detail-type": "ECS Container Instance State Change",
                             "source": "aws.ecs", "detail": {"anything": [1]}});
        assert_eq!(parse(payload).unwrap().kind, EventKind::Unhandled);
    }
}
