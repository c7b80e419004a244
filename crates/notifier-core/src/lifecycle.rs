//! What an ECS task state change means for the job: it started, it finished
//! (and how), or it is nothing to report.

use std::time::Duration;

use crate::event::{Container, EcsTask, SPOT_STOP_CODES};
use crate::jobs::{Job, Notify};

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Start,
    /// A running task that ECS was asked to stop: Spot reclaiming it, a
    /// `StopTask`, a deployment. Its STOPPED event follows.
    Stopping(StopRequest),
    Finish(Outcome),
    Ignore(&'static str),
}

/// A `RUNNING` event whose `desiredStatus` is `STOPPED`.
#[derive(Debug, Clone, PartialEq)]
pub struct StopRequest {
    /// Fargate Spot reclaiming the capacity: the task has about two minutes.
    pub spot: bool,
    pub stop_code: Option<String>,
    pub reason: Option<String>,
}

/// A run that ended because it was stopped, not because its job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interruption {
    /// Spot took the capacity back (`SpotInterruption`, `TerminationNotice`).
    Spot,
    /// A `StopTask` call (`UserInitiated`): a person, the console, a script.
    StopTask,
    /// Its service's scheduler (`ServiceSchedulerInitiated`).
    Scheduler,
}

impl Interruption {
    fn of(stop_code: Option<&str>) -> Option<Interruption> {
        match stop_code? {
            code if SPOT_STOP_CODES.contains(&code) => Some(Interruption::Spot),
            "UserInitiated" => Some(Interruption::StopTask),
            "ServiceSchedulerInitiated" => Some(Interruption::Scheduler),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub succeeded: bool,
    /// The task stopped without its containers ever running (image pull
    /// failure, no capacity, ENI errors…).
    pub never_started: bool,
    /// It was stopped (by Spot, a `StopTask`, its service): not a success,
    /// and not the job's own failure either.
    pub interrupted: Option<Interruption>,
    pub run_time: Option<Duration>,
    /// The most specific reason known, shown when the job failed.
    pub reason: Option<String>,
    pub stop_code: Option<String>,
    pub containers: Vec<ContainerResult>,
    /// The `failed` count of the job's own summary, when above zero.
    pub reported_failures: Option<u64>,
}

impl Outcome {
    /// Takes in the `failed` count of the job's summary: shown always, and
    /// when `fails_job` the run counts as failed even if it exited 0.
    pub fn with_reported_failures(mut self, failed: Option<u64>, fails_job: bool) -> Outcome {
        let Some(failed) = failed.filter(|&n| n > 0) else { return self };
        self.reported_failures = Some(failed);
        if fails_job && self.succeeded {
            self.succeeded = false;
            self.reason = Some(format!("The job's summary reports {failed} failed."));
        }
        self
    }
}

impl Outcome {
    /// A failure's exit code: its first essential container's that was not
    /// 0. `None` for a success, or when no container says.
    pub fn failing_exit_code(&self) -> Option<i64> {
        (!self.succeeded)
            .then(|| self.containers.iter().filter(|c| c.essential).find_map(|c| c.exit_code.filter(|code| *code != 0)))
            .flatten()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContainerResult {
    pub name: String,
    pub exit_code: Option<i64>,
    pub essential: bool,
}

/// ECS events carry no `essential` flag: the task workflow sets the task's
/// essential containers from its task definition; `non_essential`
/// (`NON_ESSENTIAL_CONTAINERS`) names sidecars on top of that, and alone
/// when the task definition is not known.
pub fn decide(task: &EcsTask, non_essential: &[String]) -> Decision {
    match (task.last_status.as_str(), task.desired_status.as_deref()) {
        ("RUNNING", Some("STOPPED")) => match task.stop_code.as_deref() {
            // Its job ended (or never began): the STOPPED event says how.
            Some("EssentialContainerExited" | "TaskFailedToStart") => {
                Decision::Ignore("stopping: the STOPPED event tells how it ended")
            }
            _ => Decision::Stopping(StopRequest {
                spot: task.stopped_by_spot(),
                stop_code: task.stop_code.clone(),
                reason: task.stopped_reason.clone().filter(|r| !r.trim().is_empty()),
            }),
        },
        ("RUNNING", _) => Decision::Start,
        ("STOPPED", _) => Decision::Finish(outcome(task, non_essential)),
        _ => Decision::Ignore("status is not RUNNING or STOPPED"),
    }
}

fn outcome(task: &EcsTask, non_essential: &[String]) -> Outcome {
    let task = &with_overrides(task, non_essential);
    let essential = task.deciding_containers();
    let never_started = task.started_at.is_none()
        || task.containers.is_empty()
        || task.stop_code.as_deref() == Some("TaskFailedToStart");
    let interrupted = Interruption::of(task.stop_code.as_deref());
    let succeeded = !never_started && interrupted.is_none() && essential.iter().all(|c| c.exit_code == Some(0));
    // Real events can have an `executionStoppedAt` before `startedAt`.
    let run_time = task.started_at.and_then(|start| {
        [task.execution_stopped_at, task.stopped_at]
            .into_iter()
            .flatten()
            .find_map(|end| end.checked_duration_since(start))
    });
    let reason = match interrupted {
        // Who stopped it says more than how its containers took it.
        Some(_) => {
            task.stopped_reason.clone().filter(|r| !r.trim().is_empty()).or_else(|| failure_reason(task, &essential))
        }
        None => (!succeeded).then(|| failure_reason(task, &essential)).flatten(),
    };
    Outcome {
        succeeded,
        never_started,
        interrupted,
        run_time,
        reason,
        stop_code: task.stop_code.clone(),
        reported_failures: None,
        containers: task
            .containers
            .iter()
            .map(|c| ContainerResult {
                name: c.name.clone(),
                exit_code: c.exit_code,
                essential: task.is_essential(&c.name),
            })
            .collect(),
    }
}

/// The task with `non_essential` taken out of its essential containers.
pub fn with_overrides(task: &EcsTask, non_essential: &[String]) -> EcsTask {
    let mut task = task.clone();
    if !non_essential.is_empty() {
        let known = task.essential_containers.take();
        let essential = task
            .containers
            .iter()
            .map(|c| &c.name)
            .filter(|name| known.as_ref().is_none_or(|k| k.contains(name)) && !non_essential.contains(name))
            .cloned()
            .collect();
        task.essential_containers = Some(essential);
    }
    task
}

/// A container's own reason (e.g. `OutOfMemoryError: …`) says more than the
/// task's generic `Essential container in task exited`, and the container
/// that failed says more than one that was merely stopped with it.
fn failure_reason(task: &EcsTask, essential: &[&Container]) -> Option<String> {
    let has_reason = |c: &&&Container| c.reason.as_deref().is_some_and(|r| !r.trim().is_empty());
    essential
        .iter()
        .filter(has_reason)
        .find(|c| c.exit_code != Some(0))
        .or_else(|| essential.iter().find(has_reason))
        .and_then(|c| c.reason.clone())
        .or_else(|| task.stopped_reason.clone().filter(|r| !r.trim().is_empty()))
}

/// What the job's configuration makes of a decision: services are not jobs
/// unless included, and `notify` drops the notices the job does not want.
pub fn apply_policy(decision: Decision, job: &Job, include_services: bool) -> Decision {
    if job.is_service && !include_services {
        return Decision::Ignore("service task (set include_services to report it)");
    }
    match (job.notify, decision) {
        (Notify::None, _) => Decision::Ignore("notify is none"),
        (Notify::Failures, Decision::Start) => Decision::Ignore("notify is failures: no start message"),
        (Notify::Failures, Decision::Stopping(_)) => {
            Decision::Ignore("notify is failures: no start message to reply to")
        }
        // A job whose summary can fail it must be looked at after all.
        (Notify::Failures, Decision::Finish(o)) if o.succeeded && !job.summary_failures_fail_job => {
            Decision::Ignore("notify is failures: it succeeded")
        }
        (_, decision) => decision,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventKind, parse};
    use crate::testing::fixture;

    fn task(path: &str) -> EcsTask {
        match parse(fixture(path)).unwrap().kind {
            EventKind::EcsTask(task) => *task,
            other => panic!("{path}: not a task event: {other:?}"),
        }
    }

    fn finish(path: &str) -> Outcome {
        match decide(&task(path), &[]) {
            Decision::Finish(outcome) => outcome,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn decisions_by_status() {
        let table = [
            ("events/ecs-task-running.json", "start"),
            ("events/ecs-task-stopped-success.json", "finish"),
            ("events/ecs-task-stopped-failure.json", "finish"),
            ("events/ecs-task-never-started.json", "finish"),
            ("tests/fixtures/ecs-task-pending.json", "ignore"),
        ];
        for (path, want) in table {
            let got = match decide(&task(path), &[]) {
                Decision::Start => "start",
                Decision::Stopping(_) => "stopping",
                Decision::Finish(_) => "finish",
                Decision::Ignore(_) => "ignore",
            };
            assert_eq!(got, want, "{path}");
        }
        for status in ["PROVISIONING", "PENDING", "ACTIVATING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", ""] {
            let task = EcsTask { last_status: status.into(), ..EcsTask::default() };
            assert!(matches!(decide(&task, &[]), Decision::Ignore(_)), "{status}");
        }
    }

    #[test]
    fn outcomes_of_the_sample_events() {
        let ok = finish("events/ecs-task-stopped-success.json");
        assert!(ok.succeeded && !ok.never_started);
        assert_eq!(ok.run_time, Some(Duration::from_secs(241)));
        assert_eq!(ok.reason, None);

        let oom = finish("events/ecs-task-stopped-failure.json");
        assert!(!oom.succeeded && !oom.never_started);
        assert_eq!(oom.reason.as_deref(), Some("OutOfMemoryError: Container killed due to memory usage"));
        assert_eq!(oom.containers[0].exit_code, Some(137));
        assert_eq!(oom.stop_code.as_deref(), Some("EssentialContainerExited"));

        let pull = finish("events/ecs-task-never-started.json");
        assert!(!pull.succeeded && pull.never_started);
        assert_eq!(pull.run_time, None);
        assert!(pull.reason.unwrap().starts_with("CannotPullContainerError"));
    }

    fn stopped(containers: Vec<Container>) -> EcsTask {
        let mut t = task("events/ecs-task-stopped-success.json");
        t.containers = containers;
        t
    }

    fn container(name: &str, exit_code: Option<i64>, reason: Option<&str>) -> Container {
        Container { name: name.into(), exit_code, reason: reason.map(Into::into), ..Container::default() }
    }

    #[test]
    fn success_needs_every_essential_container_to_exit_zero() {
        let sidecar = vec!["log_router".to_string()];
        let table: Vec<(Vec<Container>, &[String], bool)> = vec![
            (vec![container("app", Some(0), None)], &[], true),
            (vec![container("app", None, None)], &[], false),
            (vec![container("app", Some(1), None)], &[], false),
            (vec![container("app", Some(0), None), container("log_router", Some(143), None)], &[], false),
            (vec![container("app", Some(0), None), container("log_router", Some(143), None)], &sidecar, true),
            (vec![container("app", Some(2), None), container("log_router", Some(0), None)], &sidecar, false),
            // Only sidecars listed: they are all there is, so they count.
            (vec![container("log_router", Some(1), None)], &sidecar, false),
            (vec![], &[], false),
        ];
        for (containers, non_essential, want) in table {
            let Decision::Finish(o) = decide(&stopped(containers.clone()), non_essential) else { panic!() };
            assert_eq!(o.succeeded, want, "{containers:?} non-essential {non_essential:?}");
        }
    }

    #[test]
    fn reason_prefers_the_failing_containers_own() {
        let table = [
            (vec![container("a", Some(0), Some("stopped")), container("b", Some(1), Some("boom"))], Some("boom")),
            (vec![container("a", Some(1), None)], Some("Essential container in task exited")),
            (vec![container("a", Some(1), Some("  "))], Some("Essential container in task exited")),
        ];
        for (containers, want) in table {
            let Decision::Finish(o) = decide(&stopped(containers), &[]) else { panic!() };
            assert_eq!(o.reason.as_deref(), want);
        }
    }

    #[test]
    fn reported_failures_are_shown_and_may_fail_the_job() {
        let ok = finish("events/ecs-task-stopped-success.json");
        assert_eq!(ok.clone().with_reported_failures(Some(0), true), ok);
        assert_eq!(ok.clone().with_reported_failures(None, true), ok);
        let shown = ok.clone().with_reported_failures(Some(5), false);
        assert!(shown.succeeded && shown.reported_failures == Some(5));
        let failed = ok.with_reported_failures(Some(5), true);
        assert!(!failed.succeeded);
        assert_eq!(failed.reason.as_deref(), Some("The job's summary reports 5 failed."));
        let oom = finish("events/ecs-task-stopped-failure.json").with_reported_failures(Some(2), true);
        assert_eq!(
            oom.reason.as_deref(),
            Some("OutOfMemoryError: Container killed due to memory usage"),
            "keeps its own reason"
        );
    }

    #[test]
    fn run_time_uses_execution_stop_else_stop() {
        let mut t = task("events/ecs-task-stopped-success.json");
        t.execution_stopped_at = None;
        let Decision::Finish(o) = decide(&t, &[]) else { panic!() };
        assert_eq!(o.run_time, Some(Duration::from_millis(271_108)));
        // Real events can stop executing before they started: the stop counts.
        t.execution_stopped_at = t.started_at.map(|s| s - Duration::from_secs(5));
        let Decision::Finish(o) = decide(&t, &[]) else { panic!() };
        assert_eq!(o.run_time, Some(Duration::from_millis(271_108)));
    }

    #[test]
    fn a_running_task_asked_to_stop_is_a_stop_request_not_a_start() {
        let mut t = task("events/ecs-task-running.json");
        t.desired_status = Some("STOPPED".into());
        for (code, spot) in [("SpotInterruption", true), ("TerminationNotice", true), ("UserInitiated", false)] {
            t.stop_code = Some(code.into());
            t.stopped_reason = Some("Your Spot Task was interrupted.".into());
            let Decision::Stopping(stop) = decide(&t, &[]) else { panic!("{code}") };
            assert_eq!((stop.spot, stop.stop_code.as_deref()), (spot, Some(code)));
            assert_eq!(stop.reason.as_deref(), Some("Your Spot Task was interrupted."));
        }
        // Its job ended: the STOPPED event that follows says how.
        t.stop_code = Some("EssentialContainerExited".into());
        assert!(matches!(decide(&t, &[]), Decision::Ignore(_)));
    }

    #[test]
    fn an_interrupted_run_is_neither_a_success_nor_the_jobs_failure() {
        let table = [
            ("SpotInterruption", Some(Interruption::Spot)),
            ("TerminationNotice", Some(Interruption::Spot)),
            ("UserInitiated", Some(Interruption::StopTask)),
            ("ServiceSchedulerInitiated", Some(Interruption::Scheduler)),
            ("EssentialContainerExited", None),
        ];
        for (code, want) in table {
            let mut t = task("events/ecs-task-stopped-success.json");
            t.stop_code = Some(code.into());
            t.stopped_reason = Some("Your Spot Task was interrupted.".into());
            let Decision::Finish(o) = decide(&t, &[]) else { panic!() };
            assert_eq!(o.interrupted, want, "{code}");
            assert_eq!(o.succeeded, want.is_none(), "{code}: exit 0, yet stopped");
            if want.is_some() {
                assert_eq!(o.reason.as_deref(), Some("Your Spot Task was interrupted."), "{code}");
            }
        }
    }

    #[test]
    fn the_task_definitions_essential_flags_decide_and_the_setting_overrides() {
        let mut t = stopped(vec![
            container("log_router", Some(143), None),
            container("app", Some(0), None),
            container("timeout", Some(143), None),
        ]);
        assert!(!matches!(decide(&t, &[]), Decision::Finish(Outcome { succeeded: true, .. })), "all count");
        t.essential_containers = Some(vec!["app".into()]);
        let Decision::Finish(o) = decide(&t, &[]) else { panic!() };
        assert!(o.succeeded, "{o:?}");
        let flags: Vec<bool> = o.containers.iter().map(|c| c.essential).collect();
        assert_eq!(flags, [false, true, false]);
        // NON_ESSENTIAL_CONTAINERS on top of the task definition.
        t.essential_containers = Some(vec!["app".into(), "timeout".into()]);
        assert!(!matches!(decide(&t, &[]), Decision::Finish(Outcome { succeeded: true, .. })));
        let Decision::Finish(o) = decide(&t, &["timeout".to_string()]) else { panic!() };
        assert!(o.succeeded);
    }

    #[test]
    fn policy_by_notify_setting_and_services() {
        let job = |notify, is_service| Job {
            name: "j".into(),
            channel: None,
            notify,
            mention: None,
            show_environment: vec![],
            logs: None,
            is_service,
            summary_failures_fail_job: false,
            stream_logs: Default::default(),
            stream_logs_max_replies: 20,
            slow_factor: 2.0,
            schedule: None,
            operators: Vec::new(),
            run: None,
            group_window: 60,
            runbook: None,
            suspicions: Default::default(),
            escalation: None,
        };
        let ok = finish("events/ecs-task-stopped-success.json");
        let failed = finish("events/ecs-task-stopped-failure.json");
        let kind = |d: Decision| match d {
            Decision::Start => "start",
            Decision::Stopping(_) => "stopping",
            Decision::Finish(_) => "finish",
            Decision::Ignore(_) => "ignore",
        };
        let table = [
            (Notify::All, false, false, Decision::Start, "start"),
            (Notify::All, false, false, Decision::Finish(ok.clone()), "finish"),
            (Notify::Failures, false, false, Decision::Start, "ignore"),
            (Notify::Failures, false, false, Decision::Finish(ok.clone()), "ignore"),
            (Notify::Failures, false, false, Decision::Finish(failed.clone()), "finish"),
            (Notify::None, false, false, Decision::Finish(failed.clone()), "ignore"),
            (Notify::All, true, false, Decision::Start, "ignore"),
            (Notify::All, true, true, Decision::Start, "start"),
        ];
        for (notify, service, include, decision, want) in table {
            assert_eq!(
                kind(apply_policy(decision, &job(notify, service), include)),
                want,
                "{notify:?} service {service} include {include}"
            );
        }
    }
}
