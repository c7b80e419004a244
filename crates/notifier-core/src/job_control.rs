//! Job control from Slack, the decisions: what a re-run starts (the failed
//! run's own parameters), where its network comes from, and what `/jobs`
//! was asked. Pure: `kinds::slack_request` does the I/O.

use serde::{Deserialize, Serialize};

use crate::event::{Container, EcsTask, Overrides, definition_family};
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

    /// The EventBridge Scheduler schedule that started it, as far as its
    /// `startedBy` names it (see [`ScheduleName`]).
    pub fn schedule(&self) -> Option<ScheduleName> {
        ScheduleName::of_started_by(self.started_by.as_deref()?)
    }

    /// Whether a schedule's target runs what this run ran: its task
    /// definition's family on its cluster. The revision may differ (a
    /// target may name the family's latest).
    pub fn runs_as(&self, cluster_arn: &str, task_definition_arn: &str) -> bool {
        cluster_arn == self.cluster
            && definition_family(task_definition_arn)
                .is_some_and(|f| Some(f) == definition_family(&self.task_definition))
    }
}

/// What EventBridge Scheduler puts in `startedBy`: this, then the
/// schedule's name, cut to [`STARTED_BY_CUT`] characters in all. Seen on a
/// task of the schedule `tfg-fraud-dev-sched-p2p-daily` (group `default`):
/// `chronos-schedule/tfg-fraud-dev-sched`. The group is not in it.
pub const SCHEDULER_STARTED_BY: &str = "chronos-schedule/";
pub const STARTED_BY_CUT: usize = 36;

/// At most this many listed schedules are read (`GetSchedule`) to find
/// the one a cut name stands for: more than one on the run's cluster
/// under one 19-character prefix is already rare.
pub const SCHEDULE_READS: usize = 8;

/// The schedule a run's `startedBy` names, as far as it names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleName {
    /// Shorter than the cut: the schedule's whole name.
    Whole(String),
    /// Exactly at the cut: the first characters of its name.
    Prefix(String),
}

impl ScheduleName {
    /// `None` for what Scheduler does not write: another prefix, an empty
    /// name, a character a schedule's name cannot have (its names are 1
    /// to 64 of `0-9 a-z A-Z - _ .`), a value longer than the cut.
    pub fn of_started_by(started_by: &str) -> Option<ScheduleName> {
        let name = started_by.strip_prefix(SCHEDULER_STARTED_BY)?;
        let valid = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
        if name.is_empty() || !name.bytes().all(valid) {
            return None;
        }
        // All ASCII from here: bytes are characters.
        match started_by.len() {
            n if n < STARTED_BY_CUT => Some(ScheduleName::Whole(name.to_owned())),
            STARTED_BY_CUT => Some(ScheduleName::Prefix(name.to_owned())),
            _ => None,
        }
    }

    /// The name as far as it is known: `ListSchedules`' `NamePrefix`.
    pub fn prefix(&self) -> &str {
        match self {
            ScheduleName::Whole(name) | ScheduleName::Prefix(name) => name,
        }
    }

    /// Whether the schedule `name` may be the one named.
    pub fn names(&self, name: &str) -> bool {
        match self {
            ScheduleName::Whole(whole) => name == whole,
            ScheduleName::Prefix(prefix) => name.starts_with(prefix.as_str()),
        }
    }

    /// The one read that settles it when the whole name is known
    /// (`GetSchedule`): in the group `default`, where a schedule goes
    /// unless it is given another.
    pub fn first_read(&self) -> Option<(&'static str, &str)> {
        match self {
            ScheduleName::Whole(name) => Some(("default", name)),
            ScheduleName::Prefix(_) => None,
        }
    }
}

/// A schedule as `ListSchedules` lists it: enough to tell whether to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedSchedule {
    pub group: String,
    pub name: String,
    /// The target's ARN: an ECS target's is its cluster's.
    pub target_arn: String,
}

/// Which listed schedules to read, in order, to find the one that started
/// `spec`'s run: those `named` names whose target is the run's cluster, in
/// the group `default` first, but not `read` (read already), at most
/// [`SCHEDULE_READS`]. Whether one runs the run's family only its
/// `GetSchedule` tells ([`RunSpec::runs_as`]).
pub fn schedules_to_read<'l>(
    named: &ScheduleName,
    spec: &RunSpec,
    listed: &'l [ListedSchedule],
    read: Option<(&str, &str)>,
) -> Vec<&'l ListedSchedule> {
    let mut to_read: Vec<&ListedSchedule> = listed
        .iter()
        .filter(|l| named.names(&l.name) && l.target_arn == spec.cluster)
        .filter(|l| read != Some((l.group.as_str(), l.name.as_str())))
        .collect();
    to_read.sort_by_key(|l| l.group != "default");
    to_read.truncate(SCHEDULE_READS);
    to_read
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
    /// `/jobs mute <job> <2h|1d|until-success>`.
    Mute(String, crate::mute::Length),
    /// `/jobs unmute <job>`.
    Unmute(String),
    /// A known verb with the wrong words: how to say it.
    Usage(String),
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
            Command::Mute(..) => "mute",
            Command::Unmute(_) => "unmute",
            Command::Usage(_) => "usage",
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
        ("mute", words) => match crate::mute::parse_mute(words) {
            Ok((job, length)) => Command::Mute(job, length),
            Err(usage) => Command::Usage(usage),
        },
        ("unmute", [job]) => Command::Unmute((*job).to_owned()),
        ("unmute", _) => Command::Usage("use `/jobs unmute <job>`".into()),
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
    use std::time::Duration;

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
    fn a_schedules_start_names_it_whole_when_shorter_than_the_cut_and_by_prefix_at_it() {
        // As seen on a task of `tfg-fraud-dev-sched-p2p-daily`: cut at 36.
        let seen = "chronos-schedule/tfg-fraud-dev-sched";
        assert_eq!(seen.len(), STARTED_BY_CUT);
        let cut = ScheduleName::of_started_by(seen).unwrap();
        assert_eq!(cut, ScheduleName::Prefix("tfg-fraud-dev-sched".into()));
        assert_eq!((cut.prefix(), cut.first_read()), ("tfg-fraud-dev-sched", None));
        assert!(cut.names("tfg-fraud-dev-sched-p2p-daily"));
        assert!(cut.names("tfg-fraud-dev-sched"), "a name of exactly 19 characters is cut to itself");
        assert!(!cut.names("tfg-fraud-dev-sche"));

        // One character short of the cut: the whole name, in `default` first.
        let whole = ScheduleName::of_started_by("chronos-schedule/prices-nightly-eu1").unwrap();
        assert_eq!(whole, ScheduleName::Whole("prices-nightly-eu1".into()));
        assert_eq!(whole.first_read(), Some(("default", "prices-nightly-eu1")));
        assert!(whole.names("prices-nightly-eu1"));
        assert!(!whole.names("prices-nightly-eu1-weekly"), "a whole name is not a prefix");
        assert_eq!(
            ScheduleName::of_started_by("chronos-schedule/a"),
            Some(ScheduleName::Whole("a".into())),
            "the shortest name"
        );

        for malformed in [
            "chronos-schedule/",
            "chronos-schedule",
            "events-rule/prices-nightly",
            "slack/U024BE7LH",
            "chronos-schedule/prices nightly",
            "chronos-schedule/prices/nightly",
            "chronos-schedule/pricés-nightly",
            "chronos-schedule/tfg-fraud-dev-sched-p2p-daily",
            "Chronos-schedule/prices",
        ] {
            assert_eq!(ScheduleName::of_started_by(malformed), None, "{malformed}");
        }

        let mut task = failed_task();
        task.started_by = Some(seen.into());
        let spec = RunSpec::of(&task).unwrap();
        assert_eq!((spec.schedule(), spec.rule()), (Some(cut), None));
        task.started_by = Some("events-rule/market-pulse-analyze".into());
        assert_eq!(RunSpec::of(&task).unwrap().schedule(), None);
    }

    #[test]
    fn of_the_listed_schedules_only_those_named_on_the_runs_cluster_are_read_default_group_first() {
        let mut task = failed_task();
        task.started_by = Some("chronos-schedule/tfg-fraud-dev-sched".into());
        let spec = RunSpec::of(&task).unwrap();
        let other_cluster = "arn:aws:ecs:us-east-1:123456789012:cluster/other";
        let listed = |group: &str, name: &str, target: &str| ListedSchedule {
            group: group.into(),
            name: name.into(),
            target_arn: target.into(),
        };
        let listing = [
            listed("fraud", "tfg-fraud-dev-sched-p2p-weekly", &spec.cluster),
            listed("default", "tfg-fraud-dev-sched-p2p-daily", other_cluster),
            listed("default", "tfg-fraud-dev-sched-p2p-daily", &spec.cluster),
            listed("default", "tfg-fraud-dev-sched-p2p-lambda", "arn:aws:lambda:us-east-1:123456789012:function:f"),
            listed("default", "tfg-fraud-prod-sched-p2p-daily", &spec.cluster),
        ];
        let names = |read: Vec<&ListedSchedule>| -> Vec<String> {
            read.iter().map(|l| format!("{}/{}", l.group, l.name)).collect()
        };
        let cut = spec.schedule().unwrap();
        assert_eq!(
            names(schedules_to_read(&cut, &spec, &listing, None)),
            ["default/tfg-fraud-dev-sched-p2p-daily", "fraud/tfg-fraud-dev-sched-p2p-weekly"],
            "on the run's cluster, under the prefix, `default` first"
        );
        // A whole name not in `default`: the same name in other groups, and
        // not the one read already.
        let whole = ScheduleName::Whole("tfg-fraud-dev-sched-p2p-daily".into());
        let read = whole.first_read();
        assert_eq!(names(schedules_to_read(&whole, &spec, &listing, read)), Vec::<String>::new());
        let elsewhere = [listed("fraud", "tfg-fraud-dev-sched-p2p-daily", &spec.cluster), listing[2].clone()];
        assert_eq!(names(schedules_to_read(&whole, &spec, &elsewhere, read)), ["fraud/tfg-fraud-dev-sched-p2p-daily"]);
        // Bounded, however many the prefix lists.
        let many: Vec<ListedSchedule> =
            (0..50).map(|i| listed("default", &format!("tfg-fraud-dev-sched-{i}"), &spec.cluster)).collect();
        assert_eq!(schedules_to_read(&cut, &spec, &many, None).len(), SCHEDULE_READS);
    }

    #[test]
    fn a_schedule_runs_a_run_when_it_runs_its_family_on_its_cluster() {
        let spec = RunSpec::of(&failed_task()).unwrap();
        let family = "arn:aws:ecs:us-east-1:123456789012:task-definition/market-pulse-analyze-sentiment";
        assert!(spec.runs_as(&spec.cluster, family), "the family's latest");
        assert!(spec.runs_as(&spec.cluster, &format!("{family}:41")), "another revision");
        assert!(!spec.runs_as(&spec.cluster, &format!("{family}-v2:42")), "another family");
        assert!(!spec.runs_as("arn:aws:ecs:us-east-1:123456789012:cluster/other", family), "another cluster");
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
            ("mute prices 2h", Command::Mute("prices".into(), crate::mute::Length::For(Duration::from_secs(7200)))),
            ("Mute prices until-success", Command::Mute("prices".into(), crate::mute::Length::UntilSuccess)),
            ("unmute prices", Command::Unmute("prices".into())),
            ("unmute", Command::Usage("use `/jobs unmute <job>`".into())),
        ];
        for (text, want) in table {
            assert_eq!(parse_command(text), want, "{text:?}");
        }
        assert!(matches!(parse_command("mute prices forever"), Command::Usage(u) if u.contains("until-success")));
        assert!(matches!(parse_command("mute prices"), Command::Usage(u) if u.starts_with("use `/jobs mute")));
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
