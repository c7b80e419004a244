//! Who may act is decided by the rule that matches the task, as its
//! buttons were; and requests that are not quite right do nothing.

use super::*;
use crate::ports::SlackError;

const OWNER: &str = "U0OWNER";
/// A second run of analyze_sentiment, still running.
const RUNNING_TASK: &str = "0123456789abcdef0123456789abcdef";

fn settings_with(jobs: &str) -> Settings {
    let mut settings = test_settings();
    settings.jobs = JobsConfig::parse(jobs).unwrap();
    settings
}

/// analyze_sentiment under an unnamed rule with its own operators and a
/// locked-down network; top-level operators and network besides.
fn unnamed_rule(operators: &str) -> Settings {
    settings_with(&format!(
        r#"{{"strip_prefix": "market-pulse-", "snake_case": true, "operators": ["{OPERATOR}"],
            "run": {{"subnets": ["subnet-public"]}},
            "jobs": [{{"match": {{"family": "market-pulse-analyze-*"}}, "operators": {operators},
                       "run": {{"subnets": ["subnet-private"], "security_groups": ["sg-locked"]}}}}]}}"#
    ))
}

async fn failed_and_running(handler: &Handler, fakes: &Fakes) {
    failed_run(handler, fakes).await;
    handler.handle(task_event(RUNNING, RUNNING_TASK), fakes.deadline()).await.unwrap();
}

/// Every action on analyze_sentiment by `user`, and what each was told.
async fn every_action(handler: &Handler, fakes: &Fakes, user: &str) -> Vec<String> {
    let mut told = Vec::new();
    for body in [press("stop_task", &arn(RUNNING_TASK), user), press("rerun_task", &arn(TASK), user)] {
        let before = answers(fakes).len();
        send(handler, fakes, &body).await;
        // Nothing to tell the presser: done, and said in the run's thread.
        told.push(answers(fakes).get(before).cloned().unwrap_or_else(|| "done".into()));
    }
    for text in [format!("stop {RUNNING_TASK}"), "run analyze_sentiment".to_owned()] {
        let (_, reply) = send(handler, fakes, &command(&text, user, &format!("{user}-{text}"))).await;
        told.push(reply.unwrap()["text"].as_str().unwrap().to_owned());
    }
    told
}

fn refused(told: &[String]) -> bool {
    told.iter().all(|t| t.starts_with("You are not allowed to"))
}

#[tokio::test(start_paused = true)]
async fn a_rule_that_turns_control_off_cannot_be_bypassed_by_name() {
    let fakes = Fakes::new();
    let handler = fakes.handler(unnamed_rule("[]"));
    failed_and_running(&handler, &fakes).await;
    for sent in fakes.slack.posted() {
        assert!(!sent.visible().contains("stop_task") && !sent.visible().contains("rerun_task"), "no buttons");
    }
    let told = every_action(&handler, &fakes, OPERATOR).await;
    assert!(refused(&told), "{told:?}");
    assert_eq!(fakes.control.calls(), [], "nothing reached ECS");
}

#[tokio::test(start_paused = true)]
async fn a_rules_own_operators_act_on_its_tasks_with_its_network_and_no_one_else() {
    let fakes = Fakes::new();
    let handler = fakes.handler(unnamed_rule(&format!(r#"["{OWNER}"]"#)));
    failed_and_running(&handler, &fakes).await;
    let told = every_action(&handler, &fakes, OPERATOR).await;
    assert!(refused(&told), "the top-level operators are not this job's: {told:?}");
    assert_eq!(fakes.control.calls(), []);

    let told = every_action(&handler, &fakes, OWNER).await;
    assert!(!told.iter().any(|t| t.starts_with("You are not allowed")), "{told:?}");
    let calls = fakes.control.calls();
    let runs: Vec<_> = calls.iter().filter_map(|c| if let EcsCall::Run(run) = c { Some(run) } else { None }).collect();
    assert_eq!(runs.len(), 2, "a re-run and /jobs run: {calls:?}");
    for run in runs {
        let network = run.network.as_ref().unwrap();
        assert_eq!(
            (&network.subnets[..], &network.security_groups[..]),
            (&["subnet-private".to_owned()][..], &["sg-locked".to_owned()][..]),
            "the rule's network, not the top-level one"
        );
    }
    assert!(calls.iter().any(|c| matches!(c, EcsCall::Stop { task, .. } if task == RUNNING_TASK)));
}

#[tokio::test(start_paused = true)]
async fn a_rule_named_like_another_familys_job_gains_nothing_over_it() {
    // analyze_sentiment's tasks match no rule: the top-level operators are
    // theirs. A rule of another family carries the same name.
    let fakes = Fakes::new();
    let handler = fakes.handler(settings_with(&format!(
        r#"{{"strip_prefix": "market-pulse-", "snake_case": true, "operators": ["{OPERATOR}"],
            "jobs": [{{"match": {{"family": "market-pulse-other"}}, "name": "analyze_sentiment", "operators": ["{OWNER}"]}}]}}"#
    )));
    fakes.schedules.set(vec![FoundSchedule {
        source: "rule market-pulse-other".into(),
        expression: "rate(1 hour)".into(),
        time_zone: None,
        flexible_window: Default::default(),
        enabled: true,
        target: EcsTarget {
            cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/market-pulse".into(),
            task_definition_arn: "arn:aws:ecs:us-east-1:123456789012:task-definition/market-pulse-other:3".into(),
            subnets: vec!["subnet-other".into()],
            ..EcsTarget::default()
        },
    }]);
    failed_and_running(&handler, &fakes).await;
    let running_start = fakes.slack.posted().into_iter().find(|p| p.visible().contains(&arn(RUNNING_TASK))).unwrap();
    assert!(running_start.visible().contains("stop_task"), "the buttons are the top-level operators'");

    send(&handler, &fakes, &press("stop_task", &arn(RUNNING_TASK), OWNER)).await;
    send(&handler, &fakes, &press("rerun_task", &arn(TASK), OWNER)).await;
    assert!(refused(&answers(&fakes)), "{:?}", answers(&fakes));
    assert_eq!(fakes.control.calls(), []);

    send(&handler, &fakes, &press("rerun_task", &arn(TASK), OPERATOR)).await;
    let EcsCall::Run(run) = &fakes.control.calls()[0] else { panic!() };
    assert!(run.task_definition.contains("market-pulse-analyze-sentiment"));
    assert_eq!(
        run.network.as_ref().unwrap().subnets,
        ["subnet-0a1b2c3d"],
        "its own subnet, not the network of the other family's schedule"
    );
}

#[tokio::test(start_paused = true)]
async fn a_record_that_keeps_no_task_is_acted_on_by_no_one() {
    // Records from before the task was kept name only the job.
    let fakes = Fakes::new();
    let handler = fakes.handler(settings());
    handler.handle(task_event(RUNNING, TASK), fakes.deadline()).await.unwrap();
    let claim = crate::ports::Claim {
        key: format!("task#{}", arn(TASK)),
        slot: crate::ports::Slot::Once,
        token: "old".into(),
        now: crate::time::Timestamp::EPOCH,
        lease_until: crate::time::Timestamp::EPOCH,
        expires_at: crate::time::Timestamp::MAX,
        facts: Some(crate::ports::TaskFacts {
            task_id: TASK.into(),
            job: "analyze_sentiment".into(),
            stream_logs: Default::default(),
            stream_logs_max_replies: 20,
            spec: None,
        }),
        job_start: None,
        run: None,
        earlier: Default::default(),
    };
    crate::ports::ThreadStore::claim(&fakes.store, &claim).await.unwrap();
    send(&handler, &fakes, &press("stop_task", &arn(TASK), OPERATOR)).await;
    assert!(answers(&fakes)[0].starts_with("I cannot tell which rule"), "{:?}", answers(&fakes));
    assert_eq!(fakes.control.calls(), []);
}

#[tokio::test(start_paused = true)]
async fn jobs_stop_of_a_task_whose_arn_names_no_cluster_says_it_did_nothing() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings());
    // The long ARN format's predecessor: `task/ID`, no cluster.
    let mut running = task_event(RUNNING, TASK);
    let old_arn = format!("arn:aws:ecs:us-east-1:123456789012:task/{TASK}");
    running["detail"]["taskArn"] = json!(old_arn);
    running["resources"] = json!([old_arn]);
    handler.handle(running, fakes.deadline()).await.unwrap();
    let (_, reply) = send(&handler, &fakes, &command(&format!("stop {TASK}"), OPERATOR, "t1")).await;
    let text = reply.unwrap()["text"].as_str().unwrap().to_owned();
    assert!(text.starts_with("I cannot stop this task"), "{text}");
    assert_eq!(fakes.control.calls(), []);
}

#[tokio::test(start_paused = true)]
async fn an_unreadable_secret_is_a_401_like_any_refusal() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings());
    handler.handle(task_event(RUNNING, TASK), fakes.deadline()).await.unwrap();
    fakes.secrets.unreadable();
    let (status, body) = send(&handler, &fakes, &press("stop_task", &arn(TASK), OPERATOR)).await;
    assert_eq!((status, body), (401, None));
    assert_eq!(fakes.control.calls(), []);
}

#[tokio::test(start_paused = true)]
async fn a_command_without_a_trigger_id_does_nothing() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings());
    failed_run(&handler, &fakes).await;
    for trigger in ["", " "] {
        let (status, body) = send(&handler, &fakes, &command("run analyze_sentiment", OPERATOR, trigger)).await;
        assert_eq!(status, 400);
        assert!(body.unwrap().as_str().unwrap().contains("without a trigger_id"));
    }
    assert_eq!(fakes.control.calls(), []);
    // And it claimed nothing: the same command with a trigger runs.
    send(&handler, &fakes, &command("run analyze_sentiment", OPERATOR, "t1")).await;
    assert_eq!(fakes.control.calls().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn slacks_error_in_an_answer_is_escaped() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings());
    handler.handle(task_event(RUNNING, TASK), fakes.deadline()).await.unwrap();
    fakes.slack.fail_next(SlackError::Api("<!channel> <@U0BOSS> & co".into()));
    send(&handler, &fakes, &press("stop_task", &arn(TASK), OPERATOR)).await;
    let told = answers(&fakes);
    assert_eq!(fakes.control.calls().len(), 1, "stopped");
    assert!(
        told[0].starts_with("Done, but I could not say so in its thread")
            && told[0].contains("&lt;!channel&gt; &lt;@U0BOSS&gt; &amp; co"),
        "{told:?}"
    );
}
