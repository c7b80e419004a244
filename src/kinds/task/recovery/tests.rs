//! A success after failures edits the failures' messages, once.

use crate::testing::{Fakes, Sent, run_events};

const PRICES: &str = "market-pulse-collect-stock-prices";

async fn run(handler: &crate::handler::Handler, fakes: &Fakes, task: &str, started: &str, exit_code: i64) {
    let (running, stopped) = run_events(task, PRICES, started, 240, exit_code);
    handler.handle(running, fakes.deadline()).await.unwrap();
    handler.handle(stopped, fakes.deadline()).await.unwrap();
}

fn recovered(sent: &Sent) -> bool {
    serde_json::to_string(&sent.message.blocks).unwrap().contains("✅ recovered at")
}

#[tokio::test(start_paused = true)]
async fn a_success_marks_the_failures_since_the_last_success_recovered_once() {
    let fakes = Fakes::new();
    let handler = fakes.default_handler();
    run(&handler, &fakes, "t1", "2026-11-27T05:00:00Z", 1).await;
    run(&handler, &fakes, "t2", "2026-11-27T06:00:00Z", 0).await;
    run(&handler, &fakes, "t3", "2026-11-27T07:00:00Z", 1).await;
    run(&handler, &fakes, "t4", "2026-11-27T08:00:00Z", 1).await;
    let before = fakes.slack.posted().len();
    run(&handler, &fakes, "t5", "2026-11-27T09:00:00Z", 0).await;
    let posted = fakes.slack.posted();
    assert_eq!(posted.len(), before + 2, "the success's own start and outcome only: edits, not posts");
    let marked: Vec<&Sent> = posted.iter().filter(|s| recovered(s)).collect();
    // t1's two, by t2's success; then t3's and t4's: each its reply and its
    // start message showing ❌.
    assert_eq!(marked.len(), 6, "{:#?}", marked.iter().map(|s| &s.message.text).collect::<Vec<_>>());
    let success = posted.last().unwrap();
    let link = format!("https://slack.com/archives/C0JOBS/p{}", success.ts.replace('.', ""));
    for sent in &marked[2..] {
        let json = serde_json::to_string(&sent.message.blocks).unwrap();
        assert!(json.contains(&link), "links the run that recovered: {json}");
        assert!(json.contains("<!date^1795770240^{time}|09:04 UTC>"), "{json}");
        assert!(!json.contains("ack_failure"), "nobody need be on it now: {json}");
        assert!(sent.message.text.contains("failed") || json.contains("❌"), "the ❌ stays: {json}");
    }
    // t1 was marked by t2's success.
    let t1_marked = posted.iter().take(2).filter(|s| recovered(s)).count();
    assert_eq!(t1_marked, 2);
    // Another success recovers nothing more and edits nothing again.
    let updates: usize = posted.iter().map(|s| s.updates).sum();
    run(&handler, &fakes, "t6", "2026-11-27T10:00:00Z", 0).await;
    let after: usize = fakes.slack.posted().iter().take(posted.len()).map(|s| s.updates).sum();
    assert_eq!(after, updates, "nothing edited twice");
}

#[tokio::test(start_paused = true)]
async fn at_most_the_last_ten_failures_are_edited() {
    let fakes = Fakes::new();
    let handler = fakes.default_handler();
    for hour in 0..12 {
        run(&handler, &fakes, &format!("f{hour}"), &format!("2026-11-27T{hour:02}:00:00Z"), 1).await;
    }
    run(&handler, &fakes, "ok", "2026-11-27T13:00:00Z", 0).await;
    let posted = fakes.slack.posted();
    let marked: Vec<usize> = posted.iter().enumerate().filter(|(_, s)| recovered(s)).map(|(i, _)| i).collect();
    assert_eq!(marked.len(), 20, "10 failures × (reply + start message)");
    assert!(marked.iter().all(|&i| i >= 4), "the two oldest failures (4 messages) are left: {marked:?}");
}
