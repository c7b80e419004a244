//! "👀 I'm on it": anyone may press it, the first press is claimed once and
//! stamped on the failure's messages, and nothing in AWS is touched.

use std::time::Duration;

use super::*;

/// How many of the failure's messages (start and reply) carry `text`.
fn stamped(fakes: &Fakes, text: &str) -> usize {
    fakes
        .slack
        .posted()
        .iter()
        .take(2)
        .filter(|p| serde_json::to_string(&p.message.blocks).unwrap().contains(text))
        .count()
}

#[tokio::test(start_paused = true)]
async fn a_failure_offers_the_button_to_everyone_even_without_operators() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings());
    failed_run(&handler, &fakes).await;
    assert_eq!(stamped(&fakes, r#""action_id":"ack_failure""#), 2, "the reply and the start message updated to ❌");
    // A job without operators: no Stop or Re-run, but the button.
    let quiet_task = "0123456789abcdef0123456789abcdef";
    let mut running = task_event(RUNNING, quiet_task);
    running["detail"]["group"] = json!("family:quiet-cleanup");
    let mut stopped = task_event(FAILED, quiet_task);
    stopped["detail"]["group"] = json!("family:quiet-cleanup");
    handler.handle(running, fakes.deadline()).await.unwrap();
    handler.handle(stopped, fakes.deadline()).await.unwrap();
    let quiet: Vec<String> =
        fakes.slack.posted()[2..].iter().map(|p| serde_json::to_string(&p.message.blocks).unwrap()).collect();
    assert!(
        quiet.iter().all(|b| b.contains("ack_failure") && !b.contains("rerun_task") && !b.contains("stop_task")),
        "{quiet:?}"
    );
    // Without the signing secret nothing could be checked: no button.
    let fakes = Fakes::new();
    fakes.secrets.without_signing();
    let handler = fakes.handler(settings());
    failed_run(&handler, &fakes).await;
    assert_eq!(stamped(&fakes, "ack_failure"), 0);
}

#[tokio::test(start_paused = true)]
async fn the_first_press_by_anyone_is_stamped_once_and_a_later_one_is_told_who() {
    let fakes = Fakes::new();
    let (a, b) = (fakes.handler(settings()), fakes.handler(settings()));
    failed_run(&a, &fakes).await;
    let first = press("ack_failure", &arn(TASK), STRANGER);
    // A double click reaches two environments at once.
    let (x, y) = tokio::join!(send(&a, &fakes, &first), send(&b, &fakes, &first));
    assert_eq!((x.0, y.0), (200, 200));
    let on_it = format!("👀 <@{STRANGER}> is on it");
    assert_eq!(stamped(&fakes, &on_it), 2, "stamped on the reply and on the start message");
    assert_eq!(stamped(&fakes, "ack_failure"), 0, "the button is gone");
    assert_eq!(stamped(&fakes, "rerun_task"), 2, "Re-run stays");
    let updates: Vec<usize> = fakes.slack.posted().iter().take(2).map(|p| p.updates).collect();
    // The start message was updated once to ❌, then once for the stamp.
    assert_eq!(updates, [2, 1], "each stamped once");
    // Later presses: the same person, then another.
    send(&a, &fakes, &first).await;
    send(&b, &fakes, &press("ack_failure", &arn(TASK), OPERATOR)).await;
    let updates_after: Vec<usize> = fakes.slack.posted().iter().take(2).map(|p| p.updates).collect();
    assert_eq!(updates_after, updates, "later presses change nothing");
    assert_eq!(stamped(&fakes, &on_it), 2);
    assert!(fakes.control.calls().is_empty(), "acts on nothing in AWS");
    let told = answers(&fakes);
    assert_eq!(told.len(), 3, "the concurrent click and the two later presses: {told:?}");
    assert_eq!(told[1], "👀 You are on it already. Nothing changed.");
    assert_eq!(told[2], format!("👀 <@{STRANGER}> is on it already. Nothing changed."));
    assert!(told[0].contains("on it already. Nothing changed."), "{told:?}");
    // The job's record keeps it: `/jobs status` shows it.
    let (_, reply) = send(&a, &fakes, &command("status", OPERATOR, "s1")).await;
    let reply = reply.unwrap().to_string();
    assert!(reply.contains("❌ failed") && reply.contains(&on_it), "{reply}");
}

#[tokio::test(start_paused = true)]
async fn a_press_is_recorded_before_the_stamp_and_a_failed_stamp_is_said() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings());
    failed_run(&handler, &fakes).await;
    fakes.slack.fail_next_update(crate::ports::SlackError::Api("message_not_found".into()));
    send(&handler, &fakes, &press("ack_failure", &arn(TASK), STRANGER)).await;
    let told = answers(&fakes);
    assert_eq!(told.len(), 1);
    assert!(
        told[0].starts_with(
            "👀 You are on it, but I could not show it on the failure: Slack API error: message_not_found"
        ),
        "{told:?}"
    );
    assert_eq!(stamped(&fakes, &format!("👀 <@{STRANGER}> is on it")), 1, "the other message is stamped");
    // Still claimed once: a second press is told who has it.
    send(&handler, &fakes, &press("ack_failure", &arn(TASK), OPERATOR)).await;
    assert_eq!(answers(&fakes)[1], format!("👀 <@{STRANGER}> is on it already. Nothing changed."));
    // A button naming no task, or a task unknown.
    send(&handler, &fakes, &press("ack_failure", "not an arn", STRANGER)).await;
    send(&handler, &fakes, &press("ack_failure", &arn("00000000000000000000000000000000"), STRANGER)).await;
    assert_eq!(answers(&fakes)[2..], ["That button names no task.", "I know nothing of this run any more."]);
}

#[tokio::test(start_paused = true)]
async fn a_press_late_is_claimed_and_stamped_after_the_answer_once() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings());
    failed_run(&handler, &fakes).await;
    let body = press("ack_failure", &arn(TASK), STRANGER);
    let payload = request_at(&body, fakes.clock.now().secs(), None, false);
    tokio::time::advance(Duration::from_millis(2000)).await;
    assert_eq!(http(&handler, &fakes, payload).await.0, 200);
    assert_eq!(fakes.deferral.len(), 1, "no time to stamp before the answer: handed over");
    let on_it = format!("👀 <@{STRANGER}> is on it");
    assert_eq!(stamped(&fakes, &on_it), 0);
    for payload in fakes.deferral.take() {
        for _ in 0..2 {
            fakes.handler(settings()).handle(payload.clone(), fakes.deadline()).await.unwrap();
        }
    }
    assert_eq!(stamped(&fakes, &on_it), 2);
    let updates: Vec<usize> = fakes.slack.posted().iter().take(2).map(|p| p.updates).collect();
    assert_eq!(updates, [2, 1], "stamped once although delivered twice");
    // Taken now: another press is told who.
    send(&handler, &fakes, &press("ack_failure", &arn(TASK), OPERATOR)).await;
    assert_eq!(answers(&fakes), [format!("👀 <@{STRANGER}> is on it already. Nothing changed.")]);
}

/// A job due hourly that ran at 06:00 and missed 07:00: its alert is out.
async fn missed_run_alert(fakes: &Fakes) -> (Handler, crate::testing::Sent) {
    let mut settings = settings();
    settings.digest_at = None;
    settings.jobs = JobsConfig::parse(
        r#"{"escalate_to": ["U0ONCALL1"], "jobs": [{"match": {"family": "market-pulse-collect-stock-prices"},
            "name": "prices", "schedule": "cron(0 * * * ? *)", "grace": "2m", "escalate_after": "30m"}]}"#,
    )
    .unwrap();
    let handler = fakes.handler(settings);
    handler.handle(crate::testing::scheduled_event("2026-11-27T00:00:00Z"), fakes.deadline()).await.unwrap();
    let (running, stopped) =
        crate::testing::run_events("t1", "market-pulse-collect-stock-prices", "2026-11-27T06:00:00Z", 60, 0);
    handler.handle(running, fakes.deadline()).await.unwrap();
    handler.handle(stopped, fakes.deadline()).await.unwrap();
    handler.handle(crate::testing::scheduled_event("2026-11-27T07:05:00Z"), fakes.deadline()).await.unwrap();
    let alert = fakes.slack.posted().into_iter().find(|s| s.message.text.starts_with('⏰')).expect("the alert");
    (handler, alert)
}

#[tokio::test(start_paused = true)]
async fn an_open_missed_run_alert_is_taken_once_and_then_not_escalated() {
    let fakes = Fakes::new();
    let (handler, alert) = missed_run_alert(&fakes).await;
    let json = serde_json::to_string(&alert.message.blocks).unwrap();
    let key = "outage#prices#1795762800";
    assert!(json.contains(&format!(r#""action_id":"ack_failure","value":"{key}""#)), "{json}");
    assert_eq!(send(&handler, &fakes, &press("ack_failure", key, STRANGER)).await.0, 200);
    let alert_now = fakes.slack.posted().into_iter().find(|s| s.ts == alert.ts).unwrap();
    let json = serde_json::to_string(&alert_now.message.blocks).unwrap();
    assert!(json.contains(&format!("👀 <@{STRANGER}> is on it")) && !json.contains("ack_failure"), "{json}");
    // A second press changes nothing and says who has it.
    assert_eq!(send(&handler, &fakes, &press("ack_failure", key, OPERATOR)).await.0, 200);
    assert!(
        answers(&fakes).last().unwrap().contains(&format!("<@{STRANGER}> is on it already")),
        "{:?}",
        answers(&fakes)
    );
    assert_eq!(fakes.slack.posted().into_iter().find(|s| s.ts == alert.ts).unwrap().updates, 1, "stamped once");
    // Taken: not escalated; and the alert's later edit keeps who has it.
    handler.handle(crate::testing::scheduled_event("2026-11-27T08:05:00Z"), fakes.deadline()).await.unwrap();
    assert!(!fakes.slack.posted().iter().any(|s| s.message.text.starts_with("🚨")), "nobody is woken");
    let edited = fakes.slack.posted().into_iter().find(|s| s.ts == alert.ts).unwrap();
    assert!(edited.message.text.contains("missed 2 runs"), "{}", edited.message.text);
    assert!(serde_json::to_string(&edited.message.blocks).unwrap().contains("is on it"));
    // A made-up alert is refused and touches nothing.
    let before = fakes.slack.posted().len();
    for bad in ["outage#prices#1795766400", "outage#nope", "outage##1"] {
        assert_eq!(send(&handler, &fakes, &press("ack_failure", bad, STRANGER)).await.0, 200);
    }
    assert_eq!(fakes.slack.posted().len(), before);
    assert!(
        answers(&fakes).iter().rev().take(3).all(|a| a.contains("no alert") || a.contains("know nothing")),
        "{:?}",
        answers(&fakes)
    );
}

#[tokio::test(start_paused = true)]
async fn an_alert_nobody_takes_is_escalated() {
    let fakes = Fakes::new();
    let (handler, alert) = missed_run_alert(&fakes).await;
    handler.handle(crate::testing::scheduled_event("2026-11-27T07:35:00Z"), fakes.deadline()).await.unwrap();
    let escalated: Vec<_> = fakes.slack.posted().into_iter().filter(|s| s.message.text.starts_with("🚨")).collect();
    assert_eq!(escalated.len(), 1);
    assert_eq!(escalated[0].message.thread_ts.as_deref(), Some(alert.ts.as_str()));
}
