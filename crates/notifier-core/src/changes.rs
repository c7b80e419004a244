//! What a run had (its task definition revision, images, override names,
//! size, launch type, platform), and what differs between two runs: the
//! first failure after a success says what changed since it. Pure.
//!
//! Override *names* only, never their values: a value may be a secret.
//! Everything is bounded, so a run's record stays small whatever the task.

use serde::{Deserialize, Serialize};

use crate::event::EcsTask;
use crate::health::Run;
use crate::time::Timestamp;

/// Containers, and override names per container, kept at most.
pub const MAX_CONTAINERS: usize = 10;
pub const MAX_NAMES: usize = 20;
/// Characters kept of any one value (an image, a name).
const MAX_CHARS: usize = 200;

/// What a run had. Short field names: it is stored on every run's item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSetup {
    /// `family:revision`.
    #[serde(rename = "td", default, skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<String>,
    #[serde(rename = "c", default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<ContainerSetup>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    #[serde(rename = "mem", default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Its capacity provider, else its launch type.
    #[serde(rename = "lt", default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<String>,
    #[serde(rename = "pv", default, skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSetup {
    #[serde(rename = "n")]
    pub name: String,
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Whether its command was overridden (not the command itself).
    #[serde(rename = "cmd", default, skip_serializing_if = "std::ops::Not::not")]
    pub command: bool,
    /// The names of its environment overrides, sorted.
    #[serde(rename = "env", default, skip_serializing_if = "Vec::is_empty")]
    pub environment: Vec<String>,
}

fn cut(s: &str) -> String {
    s.chars().take(MAX_CHARS).collect()
}

impl RunSetup {
    pub fn of(task: &EcsTask) -> RunSetup {
        let task_definition = task.task_definition_arn.as_deref().map(|arn| cut(arn.rsplit('/').next().unwrap_or(arn)));
        let overrides = task.overrides.as_ref().map_or(&[][..], |o| &o.container_overrides[..]);
        let containers = task
            .containers
            .iter()
            .take(MAX_CONTAINERS)
            .map(|c| {
                let over = overrides.iter().find(|o| o.name == c.name);
                let mut environment: Vec<String> =
                    over.map(|o| o.environment.iter().map(|kv| cut(&kv.name)).collect()).unwrap_or_default();
                environment.sort();
                environment.dedup();
                environment.truncate(MAX_NAMES);
                ContainerSetup {
                    name: cut(&c.name),
                    image: c.image.as_deref().map(cut),
                    digest: c.image_digest.as_deref().map(cut),
                    command: over.is_some_and(|o| o.command.is_some()),
                    environment,
                }
            })
            .collect();
        RunSetup {
            task_definition,
            containers,
            cpu: task.cpu.as_deref().filter(|c| c.trim() != "0").map(cut),
            memory: task.memory.as_deref().map(cut),
            launch: task.capacity_provider_name.as_deref().or(task.launch_type.as_deref()).map(cut),
            platform_version: task.platform_version.as_deref().map(cut),
        }
    }
}

/// One difference, as people would say it; every value is raw event text,
/// to be escaped where it is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub what: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl Change {
    fn new(what: impl Into<String>, from: Option<&str>, to: Option<&str>) -> Change {
        Change { what: what.into(), from: from.map(str::to_owned), to: to.map(str::to_owned) }
    }
}

/// `family:7` → (`family`, `7`).
fn split_revision(td: &str) -> (&str, &str) {
    td.rsplit_once(':').unwrap_or((td, ""))
}

/// `sha256:74b2c688c700…` → `sha256:74b2c688c700`.
fn short_digest(d: &str) -> &str {
    let end = d.char_indices().nth("sha256:".len() + 12).map_or(d.len(), |(i, _)| i);
    &d[..end]
}

/// What differs from `before` to `now`. A fact either side does not know
/// is not compared: events leave fields out.
pub fn compare(before: &RunSetup, now: &RunSetup) -> Vec<Change> {
    let mut changes = Vec::new();
    if let (Some(a), Some(b)) = (&before.task_definition, &now.task_definition) {
        let ((fa, ra), (fb, rb)) = (split_revision(a), split_revision(b));
        if fa == fb && ra != rb {
            changes.push(Change::new("task definition revision", Some(ra), Some(rb)));
        } else if fa != fb {
            changes.push(Change::new("task definition", Some(a), Some(b)));
        }
    }
    let named = now.containers.len() > 1 || before.containers.len() > 1;
    let label = |what: &str, name: &str| if named { format!("{what} ({name})") } else { what.to_owned() };
    for b in &now.containers {
        let Some(a) = before.containers.iter().find(|a| a.name == b.name) else {
            changes.push(Change::new(format!("container {} added", b.name), None, None));
            continue;
        };
        match (&a.image, &b.image) {
            (Some(ia), Some(ib)) if ia != ib => {
                changes.push(Change::new(label("image", &b.name), Some(ia), Some(ib)));
            }
            _ => {
                if let (Some(da), Some(db)) = (&a.digest, &b.digest) {
                    if da != db {
                        let what = label("image digest", &b.name);
                        changes.push(Change::new(what, Some(short_digest(da)), Some(short_digest(db))));
                    }
                }
            }
        }
        if a.command != b.command {
            let what = if b.command { "command override added" } else { "command override removed" };
            changes.push(Change::new(label(what, &b.name), None, None));
        }
        let added: Vec<&str> =
            b.environment.iter().filter(|n| !a.environment.contains(n)).map(String::as_str).collect();
        let removed: Vec<&str> =
            a.environment.iter().filter(|n| !b.environment.contains(n)).map(String::as_str).collect();
        if !added.is_empty() {
            changes.push(Change::new(label("environment override added", &b.name), None, Some(&added.join(", "))));
        }
        if !removed.is_empty() {
            changes.push(Change::new(label("environment override removed", &b.name), Some(&removed.join(", ")), None));
        }
    }
    for a in &before.containers {
        if !now.containers.iter().any(|b| b.name == a.name) {
            changes.push(Change::new(format!("container {} removed", a.name), None, None));
        }
    }
    let plain = [
        ("CPU units", &before.cpu, &now.cpu),
        ("memory (MiB)", &before.memory, &now.memory),
        ("launch", &before.launch, &now.launch),
        ("platform version", &before.platform_version, &now.platform_version),
    ];
    for (what, a, b) in plain {
        if let (Some(a), Some(b)) = (a, b) {
            if a != b {
                changes.push(Change::new(what, Some(a), Some(b)));
            }
        }
    }
    changes
}

/// What a failure says about the last success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinceSuccess {
    /// When the last success ended.
    pub at: Option<Timestamp>,
    /// Empty: nothing changed.
    pub changes: Vec<Change>,
}

/// For a failure: what changed since the last success, when this is the
/// first failure after it (`before` is the history, oldest first, without
/// this run) and both runs' setups are known. Later failures of the same
/// streak, and runs whose history has no success, say nothing.
pub fn since_last_success(before: &[&Run], now: &RunSetup) -> Option<SinceSuccess> {
    let last = before.iter().rev().find(|r| !r.interrupted && r.finished())?;
    if last.succeeded != Some(true) {
        return None;
    }
    let setup = last.setup.as_deref()?;
    Some(SinceSuccess { at: last.end, changes: compare(setup, now) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Container, ContainerOverride, KeyValue, Overrides};

    fn task(revision: u32, tag: &str, digest: &str, env: &[&str]) -> EcsTask {
        EcsTask {
            task_definition_arn: Some(format!("arn:aws:ecs:us-east-1:1:task-definition/jobs:{revision}")),
            cpu: Some("512".into()),
            memory: Some("1024".into()),
            launch_type: Some("FARGATE".into()),
            platform_version: Some("1.4.0".into()),
            containers: vec![Container {
                name: "job".into(),
                image: Some(format!("1.dkr.ecr.us-east-1.amazonaws.com/jobs:{tag}")),
                image_digest: Some(digest.into()),
                ..Container::default()
            }],
            overrides: Some(Overrides {
                container_overrides: vec![ContainerOverride {
                    name: "job".into(),
                    environment: env
                        .iter()
                        .map(|n| KeyValue { name: (*n).into(), value: "secret-value".into() })
                        .collect(),
                    ..ContainerOverride::default()
                }],
                ..Overrides::default()
            }),
            ..EcsTask::default()
        }
    }

    #[test]
    fn a_setup_keeps_names_and_never_values() {
        let setup = RunSetup::of(&task(6, "2026.11.25", "sha256:aaa", &["TOKEN", "TICKERS"]));
        assert_eq!(setup.task_definition.as_deref(), Some("jobs:6"));
        assert_eq!(setup.containers[0].environment, ["TICKERS", "TOKEN"]);
        let stored = serde_json::to_string(&setup).unwrap();
        assert!(!stored.contains("secret-value"), "{stored}");
        assert_eq!(serde_json::from_str::<RunSetup>(&stored).unwrap(), setup);
    }

    #[test]
    fn a_setup_is_bounded() {
        let mut big = task(1, &"t".repeat(5000), "sha256:a", &[]);
        big.containers = (0..50).map(|i| Container { name: format!("c{i}"), ..Container::default() }).collect();
        big.overrides.as_mut().unwrap().container_overrides[0].name = "c0".into();
        big.overrides.as_mut().unwrap().container_overrides[0].environment =
            (0..500).map(|i| KeyValue { name: format!("V{i:03}"), value: String::new() }).collect();
        let setup = RunSetup::of(&big);
        assert_eq!(setup.containers.len(), MAX_CONTAINERS);
        assert_eq!(setup.containers[0].environment.len(), MAX_NAMES);
        assert!(serde_json::to_string(&setup).unwrap().len() < 4000);
    }

    #[test]
    fn two_runs_compared() {
        let a = RunSetup::of(&task(6, "2026.11.25", "sha256:aaa", &["A", "B"]));
        let b = RunSetup::of(&task(7, "2026.11.26", "sha256:bbb", &["B", "C"]));
        let changes = compare(&a, &b);
        let said: Vec<(&str, Option<&str>, Option<&str>)> =
            changes.iter().map(|c| (c.what.as_str(), c.from.as_deref(), c.to.as_deref())).collect();
        assert_eq!(
            said,
            [
                ("task definition revision", Some("6"), Some("7")),
                (
                    "image",
                    Some("1.dkr.ecr.us-east-1.amazonaws.com/jobs:2026.11.25"),
                    Some("1.dkr.ecr.us-east-1.amazonaws.com/jobs:2026.11.26")
                ),
                ("environment override added", None, Some("C")),
                ("environment override removed", Some("A"), None),
            ]
        );
        assert!(compare(&a, &a).is_empty(), "nothing changed");
    }

    #[test]
    fn a_moved_tag_is_told_by_its_digest_and_unknown_facts_are_not_compared() {
        let a = RunSetup::of(&task(6, "latest", "sha256:74b2c688c700ec95a93e", &[]));
        let b = RunSetup::of(&task(6, "latest", "sha256:0000c688c700ec95a93e", &[]));
        let changes = compare(&a, &b);
        assert_eq!(changes.len(), 1);
        assert_eq!(
            (changes[0].what.as_str(), changes[0].from.as_deref(), changes[0].to.as_deref()),
            ("image digest", Some("sha256:74b2c688c700"), Some("sha256:0000c688c700"))
        );
        let mut unknown = b.clone();
        unknown.cpu = None;
        unknown.containers[0].digest = None;
        assert!(compare(&a, &unknown).is_empty());
        let mut bigger = a.clone();
        bigger.memory = Some("2048".into());
        bigger.launch = Some("FARGATE_SPOT".into());
        let whats: Vec<String> = compare(&a, &bigger).into_iter().map(|c| c.what).collect();
        assert_eq!(whats, ["memory (MiB)", "launch"]);
    }

    fn run(i: i64, ok: bool, setup: Option<RunSetup>) -> Run {
        Run {
            task_id: format!("t{i}"),
            start: Some(Timestamp::from_secs(i * 100)),
            end: Some(Timestamp::from_secs(i * 100 + 50)),
            run_time: None,
            succeeded: Some(ok),
            setup: setup.map(Box::new),
            ..Run::default()
        }
    }

    #[test]
    fn only_the_first_failure_after_a_success_compares() {
        let old = RunSetup::of(&task(6, "a", "sha256:a", &[]));
        let now = RunSetup::of(&task(7, "a", "sha256:a", &[]));
        let history = [run(1, true, Some(old.clone()))];
        let before: Vec<&Run> = history.iter().collect();
        let since = since_last_success(&before, &now).unwrap();
        assert_eq!((since.at, since.changes.len()), (Some(Timestamp::from_secs(150)), 1));
        assert_eq!(since_last_success(&before, &old).unwrap().changes, [], "nothing changed");

        let streak = [run(1, true, Some(old.clone())), run(2, false, Some(now.clone()))];
        let before: Vec<&Run> = streak.iter().collect();
        assert_eq!(since_last_success(&before, &now), None, "the streak's second failure");

        let interrupted = Run { interrupted: true, ..run(2, false, None) };
        let through = [run(1, true, Some(old.clone())), interrupted];
        let before: Vec<&Run> = through.iter().collect();
        assert!(since_last_success(&before, &now).is_some(), "an interruption is not the streak's failure");

        let unknown = [run(1, true, None)];
        let before: Vec<&Run> = unknown.iter().collect();
        assert_eq!(since_last_success(&before, &now), None, "a success recorded before setups were kept");
        assert_eq!(since_last_success(&[], &now), None, "no success at all");
    }
}
