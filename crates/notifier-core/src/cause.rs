//! What a failure's stop code, reason and exit code usually mean: one line
//! of likely cause, one of what to check, and AWS's page on the error where
//! there is one. Pure. An unknown combination gives nothing: no guessing.

use crate::event::EcsTask;
use crate::lifecycle::Outcome;

/// AWS's stopped-task error pages.
pub const STOPPED_TASK_ERRORS: &str =
    "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-error-codes.html";
pub const CANNOT_PULL: &str = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_cannot_pull_image.html";
pub const RESOURCE_INITIALIZATION: &str =
    "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/resource-initialization-error.html";
pub const CANNOT_START: &str =
    "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/cannot-start-container.html";

/// One entry of the table. All of it is fixed text: nothing from the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cause {
    pub likely: &'static str,
    pub check: &'static str,
    pub doc: Option<&'static str>,
}

const fn cause(likely: &'static str, check: &'static str, doc: Option<&'static str>) -> Cause {
    Cause { likely, check, doc }
}

/// The facts of a stopped task the table reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts<'a> {
    pub stop_code: Option<&'a str>,
    /// Every reason the event gives: the containers' and the task's.
    pub reasons: Vec<&'a str>,
    /// The exit code of the essential container that failed.
    pub exit_code: Option<i64>,
    /// Its job summary reported failures (a run that exited 0 can fail on
    /// them: `summary_failures_fail_job`).
    pub summary_failed: bool,
}

impl<'a> Facts<'a> {
    pub fn of(task: &'a EcsTask, outcome: &'a Outcome) -> Facts<'a> {
        let mut reasons: Vec<&str> = outcome.reason.as_deref().into_iter().collect();
        reasons.extend(task.containers.iter().filter_map(|c| c.reason.as_deref()));
        reasons.extend(task.stopped_reason.as_deref());
        let failing = |essential_only: bool| {
            outcome
                .containers
                .iter()
                .filter(|c| c.essential || !essential_only)
                .filter_map(|c| c.exit_code)
                .find(|&code| code != 0)
        };
        Facts {
            stop_code: outcome.stop_code.as_deref(),
            reasons,
            // A sidecar's exit says why only when no container is essential.
            exit_code: failing(outcome.containers.iter().any(|c| c.essential)),
            summary_failed: outcome.reported_failures.is_some(),
        }
    }

    fn says(&self, needle: &str) -> bool {
        let needle = needle.to_ascii_lowercase();
        self.reasons.iter().any(|r| r.to_ascii_lowercase().contains(&needle))
    }

    fn says_any(&self, needles: &[&str]) -> bool {
        needles.iter().any(|n| self.says(n))
    }
}

/// What a stopped task's failure likely means, when the table knows.
pub fn explain(facts: &Facts) -> Option<Cause> {
    // The most specific first: the error a reason names, then the stop
    // code, then the exit code, then a bare essential-container exit.
    if facts.says("OutOfMemoryError") {
        return Some(cause(
            "the container ran out of memory and was killed",
            "raise the task's or the container's memory, or find the leak (Container Insights shows its memory over time)",
            Some(STOPPED_TASK_ERRORS),
        ));
    }
    if facts.says("CannotPullContainerError") {
        return Some(pull_cause(facts));
    }
    if facts.says("CannotStartContainerError") {
        return Some(cause(
            "the container could not be started: its entry point or command is missing from the image, or it asked for more memory than it has",
            "the image's ENTRYPOINT and CMD, the command override, and the container's memory",
            Some(CANNOT_START),
        ));
    }
    if facts.says("ResourceInitializationError") {
        return Some(initialization_cause(facts));
    }
    match facts.stop_code {
        Some("SpotInterruption") => return Some(spot()),
        Some("TerminationNotice") if facts.says("spot") => return Some(spot()),
        Some("TaskFailedToStart") => {
            if let Some(found) = placement_cause(facts) {
                return Some(found);
            }
        }
        Some("UserInitiated") => {
            return Some(cause(
                "something called StopTask: a person, a script, a deployment or a workflow's timeout",
                "who stopped it: CloudTrail's StopTask events for this task",
                Some(STOPPED_TASK_ERRORS),
            ));
        }
        Some("ServiceSchedulerInitiated") => {
            return Some(cause(
                "its ECS service stopped it: a deployment, a scale-in or a failed health check",
                "the service's events and its deployments",
                Some(STOPPED_TASK_ERRORS),
            ));
        }
        _ => {}
    }
    if facts.says("spot") && facts.says_any(&["interrupt", "reclaim"]) {
        return Some(spot());
    }
    if let Some(found) = facts.exit_code.and_then(exit_cause) {
        return Some(found);
    }
    if facts.summary_failed && facts.exit_code.is_none() {
        // It exited 0: ECS stopped nothing on its own.
        return Some(cause(
            "the job exited 0 but its summary reports failures",
            "the log: which items failed, and why",
            None,
        ));
    }
    (facts.stop_code == Some("EssentialContainerExited")).then(|| {
        cause(
            "an essential container exited, so ECS stopped the task",
            "that container's exit code and its log",
            Some(STOPPED_TASK_ERRORS),
        )
    })
}

fn spot() -> Cause {
    cause(
        "Fargate Spot reclaimed its capacity (a two-minute warning, then SIGTERM)",
        "whether the job can be re-run safely, or run it on FARGATE instead of FARGATE_SPOT",
        Some(STOPPED_TASK_ERRORS),
    )
}

fn pull_cause(facts: &Facts) -> Cause {
    if facts.says_any(&["not found", "manifest unknown", "does not exist", "repository not found"]) {
        return cause(
            "the image or its tag does not exist",
            "that the tag in the task definition was pushed (a failed build, a typo, a lifecycle policy that expired it)",
            Some(CANNOT_PULL),
        );
    }
    if facts.says_any(&[
        "accessdenied",
        "access denied",
        "not authorized",
        "403",
        "no basic auth credentials",
        "unauthorized",
    ]) {
        return cause(
            "the task's execution role may not pull the image",
            "the execution role's ECR permissions (ecr:GetAuthorizationToken, ecr:BatchGetImage, ecr:GetDownloadUrlForLayer) and the repository's policy",
            Some(CANNOT_PULL),
        );
    }
    if facts.says_any(&["timeout", "timed out", "dial tcp", "context canceled", "connection refused", "no route"]) {
        return cause(
            "the task could not reach the registry",
            "the subnet's route to ECR: a NAT gateway, a public IP, or the ECR (api, dkr) and S3 VPC endpoints",
            Some(CANNOT_PULL),
        );
    }
    cause(
        "the image could not be pulled",
        "that the tag exists, the execution role's ECR permissions, and the subnet's route to ECR (NAT or VPC endpoints)",
        Some(CANNOT_PULL),
    )
}

fn initialization_cause(facts: &Facts) -> Cause {
    if facts.says_any(&["secret", "ssm", "parameter"]) {
        return cause(
            "its secrets or SSM parameters could not be read",
            "that they exist, the execution role's secretsmanager:GetSecretValue / ssm:GetParameters (and kms:Decrypt), and a route to those services",
            Some(RESOURCE_INITIALIZATION),
        );
    }
    if facts.says_any(&["log group", "logs", "createlogstream"]) {
        return cause(
            "its log group could not be used",
            "that the log group exists and the execution role has logs:CreateLogStream and logs:PutLogEvents",
            Some(RESOURCE_INITIALIZATION),
        );
    }
    if facts.says_any(&["network", "eni", "timeout", "dial tcp"]) {
        return cause(
            "the task's network could not be set up or reach AWS",
            "the subnet's route (NAT or VPC endpoints), its free IP addresses and the security group's outbound rules",
            Some(RESOURCE_INITIALIZATION),
        );
    }
    cause(
        "ECS could not prepare the task: secrets, SSM parameters, its log group or its network",
        "the execution role's permissions and the subnet's route to AWS services",
        Some(RESOURCE_INITIALIZATION),
    )
}

fn placement_cause(facts: &Facts) -> Option<Cause> {
    if facts.says("RESOURCE:MEMORY") {
        return Some(cause(
            "no container instance had enough free memory for the task",
            "the cluster's capacity (its capacity provider's scaling) or a smaller memory reservation",
            Some(STOPPED_TASK_ERRORS),
        ));
    }
    if facts.says("RESOURCE:CPU") {
        return Some(cause(
            "no container instance had enough free CPU for the task",
            "the cluster's capacity (its capacity provider's scaling) or a smaller CPU reservation",
            Some(STOPPED_TASK_ERRORS),
        ));
    }
    if facts.says_any(&["capacity is unavailable", "insufficient capacity", "no capacity"]) {
        return Some(cause(
            "Fargate had no capacity for the task in its Availability Zone at that time",
            "try again later, give the task subnets in more Availability Zones, or another size",
            Some(STOPPED_TASK_ERRORS),
        ));
    }
    None
}

fn exit_cause(code: i64) -> Option<Cause> {
    Some(match code {
        137 => cause(
            "the container was killed (SIGKILL): by ECS when it did not stop in time, or out of memory without a report",
            "whether it was being stopped, and its memory usage (Container Insights)",
            Some(STOPPED_TASK_ERRORS),
        ),
        139 => cause(
            "the process crashed (segmentation fault)",
            "native libraries and the image's architecture (arm64 or x86_64) against the task's",
            None,
        ),
        143 => cause(
            "the container was stopped (SIGTERM): by ECS, a user or a deployment",
            "who stopped it (the stop code, CloudTrail's StopTask), and that the job finishes its work on SIGTERM",
            Some(STOPPED_TASK_ERRORS),
        ),
        126 | 127 => cause(
            "the command could not be run: not found in the image, or not executable",
            "the command override and the image's ENTRYPOINT and PATH",
            None,
        ),
        1 | 2 => cause("the job's own error", "the log: its last lines are below", None),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(stop_code: Option<&'a str>, reasons: &[&'a str], exit_code: Option<i64>) -> Facts<'a> {
        Facts { stop_code, reasons: reasons.to_vec(), exit_code, summary_failed: false }
    }

    fn likely(f: &Facts) -> &'static str {
        explain(f).map_or("", |c| c.likely)
    }

    #[test]
    fn exit_137_with_and_without_an_out_of_memory_reason() {
        let oom = facts(
            Some("EssentialContainerExited"),
            &["OutOfMemoryError: Container killed due to memory usage"],
            Some(137),
        );
        let c = explain(&oom).unwrap();
        assert!(c.likely.contains("out of memory") && c.check.contains("memory"), "{c:?}");
        let killed = facts(Some("EssentialContainerExited"), &["Essential container in task exited"], Some(137));
        assert!(likely(&killed).contains("SIGKILL"));
    }

    #[test]
    fn exit_codes() {
        let table = [
            (139, "segmentation fault"),
            (143, "SIGTERM"),
            (1, "the job's own error"),
            (2, "the job's own error"),
            (127, "could not be run"),
        ];
        for (code, want) in table {
            assert!(likely(&facts(Some("EssentialContainerExited"), &[], Some(code))).contains(want), "{code}");
        }
        assert!(explain(&facts(None, &[], Some(1))).unwrap().check.contains("log"));
        assert_eq!(explain(&facts(None, &[], Some(3))), None, "an exit code the table does not know");
    }

    #[test]
    fn cannot_pull_is_told_apart_by_its_reason() {
        let table = [
            (
                "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref 123.dkr.ecr.us-east-1.amazonaws.com/jobs:nope: not found",
                "does not exist",
            ),
            (
                "CannotPullContainerError: AccessDeniedException: User: arn:aws:sts::1:assumed-role/exec is not authorized to perform: ecr:BatchGetImage",
                "execution role",
            ),
            (
                "CannotPullContainerError: ref pull has been retried 1 time(s): failed to copy: httpReadSeeker: failed open: failed to do request: Get \"https://prod-us-east-1-starport-layer-bucket.s3.amazonaws.com/\": dial tcp 52.216.1.1:443: i/o timeout",
                "could not reach",
            ),
            ("CannotPullContainerError: something new", "could not be pulled"),
        ];
        for (reason, want) in table {
            let c = explain(&facts(Some("TaskFailedToStart"), &[reason], None)).unwrap();
            assert!(c.likely.contains(want), "{reason}: {c:?}");
            assert_eq!(c.doc, Some(CANNOT_PULL));
        }
        let route = explain(&facts(None, &["CannotPullContainerError: dial tcp: i/o timeout"], None)).unwrap();
        assert!(route.check.contains("NAT") && route.check.contains("VPC endpoints"));
    }

    #[test]
    fn resource_initialization_errors() {
        let table = [
            (
                "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm",
                "secrets",
            ),
            (
                "ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: failed to create Cloudwatch log stream: ResourceNotFoundException: The specified log group does not exist.",
                "log group",
            ),
            ("ResourceInitializationError: failed to configure ENI: timeout", "network"),
            ("ResourceInitializationError: something else", "could not prepare"),
        ];
        for (reason, want) in table {
            let c = explain(&facts(Some("TaskFailedToStart"), &[reason], None)).unwrap();
            assert!(c.likely.contains(want), "{reason}: {c:?}");
            assert_eq!(c.doc, Some(RESOURCE_INITIALIZATION));
        }
    }

    #[test]
    fn cannot_start_container() {
        let c = explain(&facts(
            Some("TaskFailedToStart"),
            &["CannotStartContainerError: ResourceInitializationError: failed to create new container runtime task: exec: \"python\": executable file not found in $PATH"],
            None,
        ))
        .unwrap();
        // The outer error says what failed: here, the command.
        assert_eq!(c.doc, Some(CANNOT_START));
        assert!(c.likely.contains("entry point or command"), "{c:?}");
        let c = explain(&facts(
            Some("TaskFailedToStart"),
            &["CannotStartContainerError: Error response from daemon"],
            None,
        ))
        .unwrap();
        assert_eq!(c.doc, Some(CANNOT_START));
        assert!(c.check.contains("ENTRYPOINT"));
    }

    #[test]
    fn task_failed_to_start_for_placement_or_capacity() {
        let memory = facts(Some("TaskFailedToStart"), &["RESOURCE:MEMORY"], None);
        assert!(likely(&memory).contains("memory"));
        let cpu = facts(Some("TaskFailedToStart"), &["RESOURCE:CPU"], None);
        assert!(likely(&cpu).contains("CPU"));
        let fargate = facts(
            Some("TaskFailedToStart"),
            &["Capacity is unavailable at this time. Please try again later or in a different availability zone"],
            None,
        );
        assert!(likely(&fargate).contains("Fargate had no capacity"));
        assert_eq!(
            explain(&facts(
                Some("TaskFailedToStart"),
                &["Timeout waiting for network interface provisioning to complete."],
                None
            )),
            None,
            "unknown: nothing"
        );
    }

    #[test]
    fn stop_codes() {
        assert!(
            likely(&facts(Some("SpotInterruption"), &["Your Spot Task was interrupted."], Some(143))).contains("Spot")
        );
        assert!(likely(&facts(Some("TerminationNotice"), &["Your Spot Task was interrupted."], None)).contains("Spot"));
        let user = explain(&facts(Some("UserInitiated"), &["Task stopped by user"], Some(143))).unwrap();
        assert!(user.likely.contains("StopTask") && user.check.contains("CloudTrail"), "before the exit code");
        assert!(
            likely(&facts(
                Some("ServiceSchedulerInitiated"),
                &["Scaling activity initiated by (deployment ecs-svc/1)"],
                Some(143)
            ))
            .contains("service")
        );
        let bare = facts(Some("EssentialContainerExited"), &["Essential container in task exited"], None);
        assert!(likely(&bare).contains("essential container exited"));
    }

    #[test]
    fn a_summary_that_fails_a_clean_exit_is_not_an_essential_container_exit() {
        let clean = Facts {
            summary_failed: true,
            ..facts(Some("EssentialContainerExited"), &["Essential container in task exited"], None)
        };
        assert!(likely(&clean).contains("summary reports failures"), "{:?}", explain(&clean));
        let crashed = Facts { summary_failed: true, ..facts(Some("EssentialContainerExited"), &[], Some(139)) };
        assert!(likely(&crashed).contains("segmentation fault"), "the exit code says more");
    }

    #[test]
    fn an_unknown_reason_shows_nothing() {
        assert_eq!(explain(&Facts::default()), None);
        assert_eq!(explain(&facts(Some("SomethingNew"), &["a reason nobody has seen"], None)), None);
        assert_eq!(explain(&facts(None, &["Task stopped"], Some(0))), None);
    }

    #[test]
    fn facts_of_a_task_take_the_failing_essential_container() {
        use crate::lifecycle::ContainerResult;
        let task = EcsTask { stopped_reason: Some("Essential container in task exited".into()), ..EcsTask::default() };
        let outcome = Outcome {
            succeeded: false,
            never_started: false,
            interrupted: None,
            run_time: None,
            reason: None,
            stop_code: Some("EssentialContainerExited".into()),
            containers: vec![
                ContainerResult { name: "sidecar".into(), exit_code: Some(143), essential: false },
                ContainerResult { name: "job".into(), exit_code: Some(1), essential: true },
            ],
            reported_failures: None,
        };
        let f = Facts::of(&task, &outcome);
        assert_eq!((f.exit_code, f.reasons.as_slice()), (Some(1), &["Essential container in task exited"][..]));
        assert!(likely(&f).contains("own error"));
        let mut clean = outcome.clone();
        clean.containers[1].exit_code = Some(0);
        clean.reported_failures = Some(3);
        let f = Facts::of(&task, &clean);
        assert_eq!(f.exit_code, None, "the sidecar's 143 at teardown is not why");
        assert!(likely(&f).contains("summary reports failures"));
    }
}
