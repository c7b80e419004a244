//! Job control from Slack, the decisions: what a re-run starts (the failed
//! run's own parameters), where its network comes from, and what `/jobs`
//! was asked. Pure: `kinds::slack_request` does the I/O.

use serde::{Deserialize, Serialize};

use crate::event::{Container, EcsTask, Overrides};
use crate::jobs::RunNetwork;

/// What a run had that a re-run needs, kept with its record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    pub cluster: String,
    /// With its revision: the re-run runs the same code.
    pub task_definition: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<Overrides>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    /// The subnet of its network interface (`awsvpc`); `awsvpc` without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    #[serde(default)]
    pub awsvpc: bool,
    /// Its containers' names: a rule's `container` condition reads them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<String>,
}

impl RunSpec {
    pub fn of(task: &EcsTask) -> Option<RunSpec> {
        Some(RunSpec {
            cluster: task.cluster_arn.clone()?,
            task_definition: task.task_definition_arn.clone()?,
            launch_type: task.launch_type.clone(),
            capacity_provider: task.capacity_provider_name.clone(),
            platform_version: task.platform_version.clone(),
            group: task.group.clone().filter(|g| !g.starts_with("service:")),
            overrides: task.overrides.clone(),
            started_by: task.started_by.clone(),
            subnet: task.subnet().map(str::to_owned),
            awsvpc: task.has_network_interface(),
            containers: task.containers.iter().map(|c| c.name.clone()).collect(),
        })
    }

    /// The task as far as the rules of `JOBS_CONFIG` look at it (family,
    /// group, containers, overrides): the rule that matched the run
    /// matches this, so its job is the run's job.
    pub fn as_task(&self) -> EcsTask {
        EcsTask {
            cluster_arn: Some(self.cluster.clone()),
            task_definition_arn: Some(self.task_definition.clone()),
            group: self.group.clone(),
            started_by: self.started_by.clone(),
            containers: self
                .container_names()
                .map(|name| Container { name: name.to_owned(), ..Container::default() })
                .collect(),
            overrides: self.overrides.clone(),
            ..EcsTask::default()
        }
    }

    /// Its containers; a spec kept before they were knows those its
    /// overrides name.
    fn container_names(&self) -> impl Iterator<Item = &str> {
        let overridden = self.overrides.iter().flat_map(|o| &o.container_overrides).map(|o| o.name.as_str());
        let kept = self.containers.iter().map(String::as_str);
        kept.chain(overridden.filter(|_| self.containers.is_empty()))
    }

    /// The EventBridge rule that started it (`startedBy` `events-rule/NAME`).
    pub fn rule(&self) -> Option<&str> {
        self.started_by.as_deref()?.strip_prefix("events-rule/").filter(|n| !n.is_empty())
    }
}

/// An `awsvpc` network for `RunTask`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Network {
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: Option<bool>,
}

/// Where a re-run's network comes from, in order of preference: the
/// schedule that starts the job, the job's `run` settings, the failed run's
/// own subnet. `Ok(None)`: the task needs none (not `awsvpc`).
pub fn choose_network(
    spec: &RunSpec,
    from_schedule: Option<Network>,
    configured: Option<&RunNetwork>,
) -> Result<Option<Network>, &'static str> {
    if let Some(network) = from_schedule.filter(|n| !n.subnets.is_empty()) {
        return Ok(Some(network));
    }
    if let Some(run) = configured {
        return Ok(Some(Network {
            subnets: run.subnets.clone(),
            security_groups: run.security_groups.clone(),
            assign_public_ip: Some(run.assign_public_ip),
        }));
    }
    if !spec.awsvpc {
        return Ok(None);
    }
    match &spec.subnet {
        Some(subnet) => Ok(Some(Network { subnets: vec![subnet.clone()], ..Network::default() })),
        None => Err(
            "no network: the run's events name no subnet, and neither its schedule nor the job's `run` settings give one",
        ),
    }
}

/// What `RunTask` is asked.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRequest {
    pub cluster: String,
    pub task_definition: String,
    pub launch_type: Option<String>,
    pub capacity_providers: Vec<String>,
    pub platform_version: Option<String>,
    pub group: Option<String>,
    pub overrides: Option<Overrides>,
    pub network: Option<Network>,
    /// Shown on the new run's start message: who asked for it.
    pub started_by: String,
    /// ECS's own idempotency token for the request.
    pub client_token: String,
}

impl RunRequest {
    pub fn rerun(spec: &RunSpec, network: Option<Network>, started_by: String, client_token: String) -> RunRequest {
        RunRequest {
            cluster: spec.cluster.clone(),
            task_definition: spec.task_definition.clone(),
            // A capacity provider and a launch type exclude each other.
            launch_type: spec.launch_type.clone().filter(|_| spec.capacity_provider.is_none()),
            capacity_providers: spec.capacity_provider.iter().cloned().collect(),
            platform_version: spec.platform_version.clone(),
            group: spec.group.clone(),
            overrides: spec.overrides.clone(),
            network,
            started_by,
            client_token,
        }
    }
}

/// `startedBy` of a run asked for in Slack (at most 128 characters).
pub fn started_by(user_id: &str) -> String {
    format!("slack/{user_id}").chars().take(128).collect()
}

/// `RunTask`'s `clientToken`: at most 64 characters of ASCII.
pub fn client_token(key: &str) -> String {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("ecs-slack-notifier-{hash:016x}")
}

/// What `/jobs` was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Status,
    Run(String),
    Stop(String),
    Help,
    Unknown(String),
}

impl Command {
    /// What was asked, without the user's words: for the logs.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Status => "status",
            Command::Run(_) => "run",
            Command::Stop(_) => "stop",
            Command::Help => "help",
            Command::Unknown(_) => "unknown",
        }
    }
}

pub fn parse_command(text: &str) -> Command {
    let mut words = text.split_whitespace();
    let verb = words.next().unwrap_or("").to_ascii_lowercase();
    let argument: Vec<&str> = words.collect();
    match (verb.as_str(), argument.as_slice()) {
        ("" | "status", []) => Command::Status,
        ("help", _) => Command::Help,
        ("run", [job]) => Command::Run((*job).to_owned()),
        ("stop", [task]) => Command::Stop(task.rsplit('/').next().unwrap_or(task).to_owned()),
        _ => Command::Unknown(text.trim().to_owned()),
    }
}

/// A task id as ECS makes it: 32 hex digits (some stand-ins use UUIDs).
pub fn is_task_id(id: &str) -> bool {
    let hex = id.chars().filter(|c| *c != '-').count();
    hex == 32 && (id.len() == 32 || id.len() == 36) && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// `arn:aws:ecs:REGION:ACCOUNT:task/CLUSTER/ID`: its cluster and id.
pub fn task_arn_parts(arn: &str) -> Option<(&str, &str)> {
    let resource = arn.strip_prefix("arn:")?.splitn(5, ':').nth(4)?;
    let mut parts = resource.split('/');
    let (kind, cluster, id) = (parts.next()?, parts.next()?, parts.next()?);
    (kind == "task" && !cluster.is_empty() && is_task_id(id) && parts.next().is_none()).then_some((cluster, id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventKind, parse};
    use crate::testing::fixture;

    fn failed_task() -> EcsTask {
        let EventKind::EcsTask(task) = parse(fixture("events/ecs-task-stopped-failure.json")).unwrap().kind else {
            panic!()
        };
        *task
    }

    #[test]
    fn a_run_spec_keeps_what_the_failed_run_had() {
        let mut task = failed_task();
        task.started_by = Some("events-rule/market-pulse-analyze".into());
        let spec = RunSpec::of(&task).unwrap();
        assert_eq!(spec.cluster, "arn:aws:ecs:us-east-1:123456789012:cluster/market-pulse");
        assert!(
            spec.task_definition.ends_with("task-definition/market-pulse-analyze-sentiment:42"),
            "{}",
            spec.task_definition
        );
        assert_eq!((spec.launch_type.as_deref(), spec.platform_version.as_deref()), (Some("FARGATE"), Some("1.4.0")));
        assert_eq!((spec.subnet.as_deref(), spec.awsvpc), (Some("subnet-0a1b2c3d"), true));
        assert_eq!(spec.rule(), Some("market-pulse-analyze"));
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<RunSpec>(&json).unwrap(), spec);
        task.cluster_arn = None;
        assert_eq!(RunSpec::of(&task), None, "nothing to run without a cluster");
    }

    #[test]
    fn a_run_spec_falls_under_the_rule_its_run_fell_under() {
        let config = crate::jobs::JobsConfig::parse(
            r#"{"jobs": [
                {"match": {"container": "sidecar-only"}, "name": "by_a_container_it_lacks"},
                {"match": {"family": "market-pulse-analyze-*", "command": "--deep"}, "name": "deep"},
                {"match": {"family": "market-pulse-analyze-*", "environment": {"MODE": "fast"}}, "name": "fast"},
                {"match": {"container": "analyze-sentiment"}, "name": "by_container", "operators": ["U0OWNER"]}
            ]}"#,
        )
        .unwrap();
        let mut task = failed_task();
        let job_of_spec = |task: &EcsTask| config.job(&RunSpec::of(task).unwrap().as_task());
        assert_eq!(config.job(&task).name, "by_container");
        assert_eq!(job_of_spec(&task), config.job(&task), "containers that no override names count too");
        let overrides = task.overrides.as_mut().unwrap();
        overrides.container_overrides[0].command = Some(vec!["analyze".into(), "--deep".into()]);
        assert_eq!(job_of_spec(&task).name, "deep");
        let overrides = task.overrides.as_mut().unwrap();
        overrides.container_overrides[0].command = None;
        overrides.container_overrides[0].environment =
            vec![crate::event::KeyValue { name: "MODE".into(), value: "fast".into() }];
        assert_eq!(job_of_spec(&task).name, "fast");
        // A spec kept before containers were kept: only overrides name them.
        let json = serde_json::to_value(RunSpec::of(&failed_task()).unwrap()).unwrap();
        let mut old = json.clone();
        old.as_object_mut().unwrap().remove("containers");
        let old: RunSpec = serde_json::from_value(old).unwrap();
        assert_eq!(config.job(&old.as_task()).name, "by_container", "{json}");
    }

    #[test]
    fn the_network_comes_from_the_schedule_then_the_settings_then_the_run() {
        let spec = RunSpec::of(&failed_task()).unwrap();
        let scheduled = Network {
            subnets: vec!["subnet-s".into()],
            security_groups: vec!["sg-s".into()],
            assign_public_ip: Some(false),
        };
        let configured =
            RunNetwork { subnets: vec!["subnet-c".into()], security_groups: vec![], assign_public_ip: true };
        assert_eq!(choose_network(&spec, Some(scheduled.clone()), Some(&configured)), Ok(Some(scheduled)));
        assert_eq!(choose_network(&spec, None, Some(&configured)).unwrap().unwrap().subnets, ["subnet-c"]);
        assert_eq!(choose_network(&spec, None, None).unwrap().unwrap().subnets, ["subnet-0a1b2c3d"]);
        let no_subnet = RunSpec { subnet: None, ..spec.clone() };
        assert!(choose_network(&no_subnet, None, None).unwrap_err().starts_with("no network"));
        let bridge = RunSpec { subnet: None, awsvpc: false, ..spec };
        assert_eq!(choose_network(&bridge, None, None), Ok(None), "not awsvpc: no network needed");
    }

    #[test]
    fn a_rerun_asks_for_the_same_revision_and_overrides() {
        let spec = RunSpec { capacity_provider: Some("FARGATE_SPOT".into()), ..RunSpec::of(&failed_task()).unwrap() };
        let request = RunRequest::rerun(&spec, None, started_by("U024BE7LH"), client_token("action#rerun#x"));
        assert_eq!(request.task_definition, spec.task_definition);
        assert_eq!((request.launch_type, request.capacity_providers), (None, vec!["FARGATE_SPOT".to_owned()]));
        assert_eq!(request.started_by, "slack/U024BE7LH");
        assert!(request.client_token.len() <= 64);
        assert_ne!(client_token("a"), client_token("b"));
    }

    #[test]
    fn jobs_commands() {
        let table = [
            ("", Command::Status),
            ("status", Command::Status),
            ("  STATUS ", Command::Status),
            ("help", Command::Help),
            ("run prices", Command::Run("prices".into())),
            ("stop 9781c248b1ab4c5b9d5f0d7f1e2c3a4b", Command::Stop("9781c248b1ab4c5b9d5f0d7f1e2c3a4b".into())),
            (
                "stop arn:aws:ecs:us-east-1:1:task/c/9781c248b1ab4c5b9d5f0d7f1e2c3a4b",
                Command::Stop("9781c248b1ab4c5b9d5f0d7f1e2c3a4b".into()),
            ),
            ("run", Command::Unknown("run".into())),
            ("run a b", Command::Unknown("run a b".into())),
            ("deploy prod", Command::Unknown("deploy prod".into())),
        ];
        for (text, want) in table {
            assert_eq!(parse_command(text), want, "{text:?}");
        }
    }

    #[test]
    fn task_arns_and_ids() {
        let arn = "arn:aws:ecs:us-east-1:123456789012:task/market-pulse/9781c248b1ab4c5b9d5f0d7f1e2c3a4b";
        assert_eq!(task_arn_parts(arn), Some(("market-pulse", "9781c248b1ab4c5b9d5f0d7f1e2c3a4b")));
        let uuid = "arn:aws:ecs:us-east-1:123456789012:task/c/2b5d3c1e-0f4a-4b6c-9d8e-7f6a5b4c3d2e";
        assert!(task_arn_parts(uuid).is_some(), "moto's ids");
        for bad in [
            "task/c/x",
            "arn:aws:ecs:us-east-1:1:cluster/c",
            "arn:aws:ecs:us-east-1:1:task/c/<!channel>",
            "arn:aws:ecs:r:1:task/c/9781c248b1ab4c5b9d5f0d7f1e2c3a4b/x",
        ] {
            assert_eq!(task_arn_parts(bad), None, "{bad}");
        }
    }
}
