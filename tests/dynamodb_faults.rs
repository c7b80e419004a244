//! Exactly once on DynamoDB as it answers under load: throttles, 500s,
//! conflicts (single writes and transactions) and writes applied then
//! answered 500, injected by the moto server's fault layer, with Slack
//! refusing some calls, duplicates, reordering, concurrent execution
//! environments and Lambda's retries. Every task must come out right.

mod common;

use std::time::Duration;

use common::Stack;
use common::dynamodb_faults::{Report, Scenario, run};

fn scenario(tasks: usize, group: bool, seed: u64) -> Scenario {
    Scenario::under_load(tasks, group, seed, Duration::from_millis(300))
}

fn injected(report: &Report, kind: &str) -> u64 {
    report.injected["injected"][kind].as_u64().unwrap_or_default()
}

#[tokio::test]
async fn single_runs_come_out_right_under_faults() {
    let Some(stack) = Stack::new().await else { return };
    let report = run(&stack, &scenario(24, false, 7)).await;
    let wrong: Vec<_> = report.tasks.iter().filter(|(_, t)| !t.right()).collect();
    assert!(wrong.is_empty(), "{} of {} wrong: {wrong:#?}", wrong.len(), report.tasks.len());
    assert_eq!((report.failed_for_good, report.duplicates, report.stale), (0, 0, 0), "{report:#?}");
    for kind in ["throttle", "server_error", "ambiguous"] {
        assert!(injected(&report, kind) > 0, "no {kind} injected: {}", report.injected);
    }
    assert!(injected(&report, "conflict") + injected(&report, "transaction_conflict") > 0, "{}", report.injected);
    assert!(report.slack_refused > 0);
    assert!(report.tasks.iter().any(|(_, t)| t.stopped_first && t.starts == 0), "some STOPPED came first");
}

#[tokio::test]
async fn short_tasks_whose_events_race_come_out_right_under_faults() {
    let Some(stack) = Stack::new().await else { return };
    let report = run(&stack, &Scenario { back_to_back: true, ..scenario(24, false, 3) }).await;
    let wrong: Vec<_> = report.tasks.iter().filter(|(_, t)| !t.right()).collect();
    assert!(wrong.is_empty(), "{} of {} wrong: {wrong:#?}", wrong.len(), report.tasks.len());
    assert_eq!((report.failed_for_good, report.duplicates, report.stale), (0, 0, 0), "{report:#?}");
}

#[tokio::test]
async fn a_groups_counts_come_out_right_under_faults() {
    let Some(stack) = Stack::new().await else { return };
    let report = run(&stack, &scenario(15, true, 11)).await;
    assert!(report.group_right(), "{:?} != {:?}", report.group_text, report.group_expected);
    assert_eq!((report.failed_for_good, report.duplicates), (0, 0), "{report:#?}");
    assert!(injected(&report, "ambiguous") > 0, "{}", report.injected);
}

/// A start posted whose `ts` never reached DynamoDB (its settle kept
/// failing), as the table then holds it: claimed, lapsed, no `ts`. Its
/// redelivery, or its outcome, whichever comes first, finds it in Slack.
#[tokio::test]
async fn a_start_whose_record_was_lost_is_found_in_slack_not_posted_twice() {
    let Some(stack) = Stack::new().await else { return };
    for redelivered_first in [true, false] {
        let before = stack.slack.posted().len();
        let task = common::unique("task");
        let (mut running, arn) = common::task_event("events/ecs-task-running.json", &task);
        let (mut stopped, _) = common::task_event("events/ecs-task-stopped-success.json", &task);
        for event in [&mut running, &mut stopped] {
            event["detail"]["group"] = serde_json::json!(format!("family:{}", common::unique("job")));
        }
        stack.notifier().handle(running.clone(), common::deadline()).await.unwrap();
        let key = format!("task#{arn}");
        let s = |v: &str| aws_sdk_dynamodb::types::AttributeValue::S(v.into());
        aws_sdk_dynamodb::Client::new(&stack.aws)
            .update_item()
            .table_name(&stack.table)
            .key("pk", s(&key))
            .update_expression("REMOVE start_ts, start_channel SET start_claim = :c, start_lease = :l")
            .expression_attribute_values(":c", s("an-attempt-that-died"))
            .expression_attribute_values(":l", aws_sdk_dynamodb::types::AttributeValue::N("1".into()))
            .send()
            .await
            .unwrap();
        let events = if redelivered_first { [running, stopped] } else { [stopped, running] };
        let mut answers = Vec::new();
        for event in events {
            answers
                .push(serde_json::to_value(stack.notifier().handle(event, common::deadline()).await.unwrap()).unwrap());
        }
        let posted: Vec<_> = stack.slack.posted().into_iter().skip(before).collect();
        assert_eq!(posted.len(), 2, "one start, one outcome: {answers:?}");
        assert_eq!(posted[1].thread_ts.as_deref(), Some(posted[0].ts.as_str()), "{answers:?}");
        assert_eq!(posted[0].updates, 1, "the start shows the outcome");
        let item = stack.item(&key).await.unwrap();
        assert_eq!(item["start_ts"].as_s().unwrap(), &posted[0].ts, "recorded once found");
    }
    assert!(stack.slack.methods().iter().any(|m| m == "conversations.history"));
}
