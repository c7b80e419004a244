//! The task workflow on a store that fails as DynamoDB does under load:
//! throttles and conflicts that apply nothing, and writes applied and then
//! answered with an error, so their retry meets its own write. Every
//! decision on the paused clock: what is retried, until when, and that
//! each task still gets one start and one outcome, threaded.

use std::time::Duration;

use super::tests::{handle, kind};
use crate::adapters::memory::Fault;
use crate::ports::{Clock, StoreErrorKind, ThreadStore};
use crate::testing::{Fakes, run_events, task_event};
use crate::time::Timestamp;

const RUNNING: &str = "events/ecs-task-running.json";
const SUCCEEDED: &str = "events/ecs-task-stopped-success.json";
const KEY: &str = "task#arn:aws:ecs:us-east-1:123456789012:task/market-pulse/t1";

fn fault(kind: StoreErrorKind) -> Fault {
    Fault { kind, applied: false }
}

fn applied() -> Fault {
    Fault { kind: StoreErrorKind::Unavailable, applied: true }
}

#[tokio::test(start_paused = true)]
async fn throttles_500s_and_conflicts_are_retried_within_the_invocation() {
    use StoreErrorKind::*;
    let fakes = Fakes::new();
    let handler = fakes.default_handler();
    // The start claim, then its settle: each fails before it goes through.
    fakes.store.fail_next([fault(Throttled), fault(Unavailable), fault(Conflict)]);
    let start = handle(&handler, &fakes, task_event(RUNNING, "t1")).await;
    assert_eq!(kind(&start), "start");
    assert_eq!(fakes.store.faults_left(), 0);
    fakes.store.fail_next([fault(Conflict), fault(Conflict), fault(Throttled)]);
    let done = handle(&handler, &fakes, task_event(SUCCEEDED, "t1")).await;
    assert_eq!(kind(&done), "threaded", "the settle was retried, so the completion found its thread");
    let record = fakes.store.get(KEY).await.unwrap();
    assert!(record.start.posted.is_some() && record.completion.posted.is_some());
    assert_eq!(fakes.slack.posted().len(), 2);
    assert_eq!(fakes.slack.posted()[0].updates, 1, "the start message shows the outcome");
}

#[tokio::test(start_paused = true)]
async fn a_write_applied_then_answered_500_finds_its_own_write() {
    let fakes = Fakes::new();
    let handler = fakes.default_handler();
    // The start claim applied and answered 500, then its settle.
    fakes.store.fail_next([applied()]);
    assert_eq!(kind(&handle(&handler, &fakes, task_event(RUNNING, "t1")).await), "start");
    // The completion claim, its read of the start, and its settle.
    fakes.store.fail_next([applied()]);
    let done = handle(&handler, &fakes, task_event(SUCCEEDED, "t1")).await;
    assert_eq!(kind(&done), "threaded", "not skipped as someone else's claim: {done:?}");
    // Settles applied and answered 500 are done too.
    let (running, stopped) = run_events("t2", "prices", "2026-11-26T14:00:00Z", 60, 0);
    fakes.store.fail_next([fault(StoreErrorKind::Throttled), applied()]);
    assert_eq!(kind(&handle(&handler, &fakes, running.clone()).await), "start");
    fakes.store.fail_next([applied(), applied(), applied()]);
    assert_eq!(kind(&handle(&handler, &fakes, stopped.clone()).await), "threaded");
    // Redeliveries find everything done.
    assert_eq!(kind(&handle(&handler, &fakes, running).await), "skipped");
    assert_eq!(kind(&handle(&handler, &fakes, stopped).await), "skipped");
    assert_eq!(fakes.slack.posted().len(), 4, "one start and one outcome each");
}

#[tokio::test(start_paused = true)]
async fn what_cannot_heal_fails_at_once_with_its_kind() {
    let fakes = Fakes::new();
    let handler = fakes.default_handler();
    fakes.store.fail_next([fault(StoreErrorKind::TooLarge), fault(StoreErrorKind::Throttled)]);
    let started = fakes.clock.now();
    let err = handler.handle(task_event(RUNNING, "t1"), fakes.deadline()).await.unwrap_err();
    assert_eq!(fakes.store.faults_left(), 1, "tried once");
    assert_eq!(fakes.clock.now(), started, "no backoff");
    assert!(matches!(&err, crate::error::NotifyError::Store(e) if e.kind == StoreErrorKind::TooLarge), "{err:?}");
    assert!(fakes.slack.posted().is_empty());
}

#[tokio::test(start_paused = true)]
async fn retries_stop_before_the_deadline_and_the_redelivery_posts() {
    let fakes = Fakes::new();
    let handler = fakes.default_handler();
    fakes.store.fail_next((0..10_000).map(|_| fault(StoreErrorKind::Throttled)));
    let started = fakes.clock.now();
    // 15 s: the store policy's 64 jittered attempts (about 29 s of backoff
    // on average, rarely under 25) always outlast it, so the deadline, not
    // the attempts, is what stops them.
    let deadline = started + Duration::from_secs(15);
    let err = handler.handle(task_event(RUNNING, "t1"), deadline).await.unwrap_err();
    let took = fakes.clock.now().duration_since(started);
    assert!(took > Duration::from_secs(10) && took < Duration::from_millis(13_600), "{took:?}");
    assert!(err.to_string().contains("Throttled"), "{err}");
    assert!(fakes.slack.posted().is_empty(), "nothing claimed, nothing posted");
    // The throttling ends; Lambda's retry posts.
    fakes.store.clear_faults();
    let retry = handle(&fakes.default_handler(), &fakes, task_event(RUNNING, "t1")).await;
    assert_eq!(kind(&retry), "start");
}

#[tokio::test(start_paused = true)]
async fn a_groups_counts_survive_applied_writes_and_repeats() {
    use crate::group::Part;
    use crate::ports::{GroupChange, GroupStore};
    let fakes = Fakes::new();
    let store = &fakes.store;
    let count = |task: &str, part: Part| GroupChange { task_key: task.into(), anchor: task == "a", part };
    for (task, part) in [("b", Part::Running), ("c", Part::Running), ("a", Part::Succeeded)] {
        store.add("group#a", &count(task, part), Timestamp::EPOCH).await.unwrap();
    }
    // c's success is applied, then answered with an error; its retry and a
    // redelivery change nothing.
    store.fail_next([applied()]);
    assert!(store.add("group#a", &count("c", Part::Succeeded), Timestamp::EPOCH).await.is_err());
    let group = store.add("group#a", &count("c", Part::Succeeded), Timestamp::EPOCH).await.unwrap();
    assert_eq!(
        store.add("group#a", &count("c", Part::Succeeded), Timestamp::EPOCH).await.unwrap().counts(),
        group.counts()
    );
    let counts = group.counts();
    assert_eq!((counts.total, counts.running, counts.succeeded, counts.failed), (3, 1, 2, 0));
    // b fails; a late redelivery of its join changes nothing.
    store.add("group#a", &count("b", Part::Failed), Timestamp::EPOCH).await.unwrap();
    let counts = store.add("group#a", &count("b", Part::Running), Timestamp::EPOCH).await.unwrap().counts();
    assert_eq!((counts.total, counts.running, counts.succeeded, counts.failed), (3, 0, 2, 1));
}

#[tokio::test(start_paused = true)]
async fn a_start_posted_but_never_recorded_is_found_not_posted_again_and_threads_its_outcome() {
    let fakes = Fakes::new();
    fakes.store.fail_settles(100_000);
    let handler = fakes.default_handler();
    assert_eq!(kind(&handle(&handler, &fakes, task_event(RUNNING, "t1")).await), "start", "posted all the same");
    assert_eq!(fakes.store.get(KEY).await.unwrap().start.posted, None, "its ts was never recorded");
    fakes.store.fail_settles(0);
    // The lease lapses; the redelivery takes the claim over and finds the message.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let again = handle(&fakes.default_handler(), &fakes, task_event(RUNNING, "t1")).await;
    assert_eq!(kind(&again), "start");
    assert_eq!(fakes.slack.posted().len(), 1, "not posted twice");
    assert_eq!(fakes.slack.finds(), 1, "looked for it once");
    let start = fakes.slack.posted()[0].ts.clone();
    assert_eq!(fakes.store.get(KEY).await.unwrap().start.posted.unwrap().ts, start, "and recorded it");
    let done = handle(&fakes.default_handler(), &fakes, task_event(SUCCEEDED, "t1")).await;
    assert_eq!(kind(&done), "threaded");
    assert_eq!(fakes.slack.posted()[0].updates, 1, "the start message shows the outcome");
}

#[tokio::test(start_paused = true)]
async fn an_outcome_finds_a_start_that_was_never_recorded() {
    let fakes = Fakes::new();
    fakes.store.fail_settles(100_000);
    handle(&fakes.default_handler(), &fakes, task_event(RUNNING, "t1")).await;
    fakes.store.fail_settles(0);
    tokio::time::sleep(Duration::from_secs(60)).await;
    let done = handle(&fakes.default_handler(), &fakes, task_event(SUCCEEDED, "t1")).await;
    assert_eq!(kind(&done), "threaded", "in the thread of the start it found: {done:?}");
    let posted = fakes.slack.posted();
    assert_eq!(posted.len(), 2);
    assert_eq!(posted[1].message.thread_ts.as_deref(), Some(posted[0].ts.as_str()));
    assert_eq!(posted[0].updates, 1);
    // A start recorded as usual is never looked for.
    let before = fakes.slack.finds();
    let (running, stopped) = run_events("t2", "prices", "2026-11-26T14:00:00Z", 60, 0);
    handle(&fakes.default_handler(), &fakes, running).await;
    handle(&fakes.default_handler(), &fakes, stopped).await;
    assert_eq!(fakes.slack.finds(), before, "no extra call on the usual path");
}
