//! Exactly once on DynamoDB as it answers under load: throttles, 500s,
//! conflicts (single writes and transactions) and writes applied then
//! answered 500, injected by the moto server's fault layer, with Slack
//! refusing some calls, duplicates, reordering, concurrent execution
//! environments and Lambda's retries. Every task must come out right.

mod common;

use std::time::Duration;

use common::Stack;
use common::dynamodb_faults::{Rates, Report, Scenario, run};

fn scenario(tasks: usize, group: bool, seed: u64) -> Scenario {
    Scenario {
        tasks,
        group,
        environments: 4,
        seed,
        rates: Rates::LOAD,
        slack_refusals: 0.10,
        retry_after: Duration::from_millis(300),
        back_to_back: false,
    }
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
