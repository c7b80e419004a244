//! The answer's deadline: out within 2.5 s of Slack sending the request;
//! what does not fit is claimed, acknowledged and finished after it, once.

use std::time::Duration;

use super::*;
use crate::kinds::slack_request::{ANSWER_WITHIN, answer_budget, sent_at};
use crate::settings::Role;
use crate::time::Timestamp;

#[test]
fn a_request_that_arrived_two_seconds_ago_gets_at_most_half_a_second() {
    let now = Timestamp::EPOCH + Duration::from_millis(1_795_708_800_250);
    let two_ago = now - Duration::from_secs(2);
    let header = (two_ago.secs()).to_string();
    let epoch_ms = two_ago.millis();
    let budget = answer_budget(sent_at(Some(&header), epoch_ms, now), now);
    assert!(budget <= Duration::from_millis(500), "{budget:?}");
    assert_eq!(budget, Duration::from_millis(500));
    // The later of the two: the header's whole seconds, or the URL's time.
    assert_eq!(sent_at(Some(&header), 0, now), Timestamp::EPOCH + Duration::from_secs(1_795_708_798));
    assert_eq!(sent_at(Some("garbage"), epoch_ms, now), two_ago);
    // A sender's clock ahead of ours gives no extra time; a stale one none.
    assert_eq!(answer_budget(sent_at(None, epoch_ms + 60_000, now), now), ANSWER_WITHIN);
    assert_eq!(answer_budget(now - Duration::from_secs(3), now), Duration::ZERO);
}

/// A request signed now, that reaches the handler `late` after Slack sent it.
async fn send_late(handler: &Handler, fakes: &Fakes, body: &str, late: Duration) -> (i64, Option<Value>) {
    let payload = request_at(body, fakes.clock.now().secs(), None, false);
    tokio::time::advance(late).await;
    let started = tokio::time::Instant::now();
    let answer = http(handler, fakes, payload).await;
    assert!(started.elapsed() + late <= ANSWER_WITHIN, "answered {:?} after it was sent", started.elapsed() + late);
    answer
}

/// Hands every deferred action to a new execution environment, as Lambda
/// delivers an asynchronous invocation; each is delivered twice.
async fn deliver_deferred_twice(fakes: &Fakes) -> usize {
    let payloads = fakes.deferral.take();
    for payload in &payloads {
        for _ in 0..2 {
            let handler = fakes.handler(settings());
            let handled = handler.handle(payload.clone(), fakes.deadline()).await.unwrap();
            assert!(matches!(handled, handler::Handled::Deferred(_)), "{handled:?}");
        }
    }
    payloads.len()
}

#[tokio::test(start_paused = true)]
async fn a_rerun_pressed_late_is_claimed_at_once_and_finished_after_the_answer_once() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings());
    failed_run(&handler, &fakes).await;
    let body = press("rerun_task", &arn(TASK), OPERATOR);
    let (status, _) = send_late(&handler, &fakes, &body, Duration::from_millis(2000)).await;
    assert_eq!(status, 200);
    assert!(fakes.control.calls().is_empty(), "no time for ECS before the answer");
    assert_eq!(fakes.deferral.len(), 1, "handed over");
    // Claimed before the answer: a second press finds it taken.
    send(&handler, &fakes, &body).await;
    assert_eq!(answers(&fakes), ["This run was re-run from Slack already."]);
    assert_eq!(fakes.deferral.len(), 1);

    assert_eq!(deliver_deferred_twice(&fakes).await, 1);
    let calls = fakes.control.calls();
    assert_eq!(calls.len(), 1, "run once, though delivered twice: {calls:?}");
    let EcsCall::Run(run) = &calls[0] else { panic!() };
    assert_eq!(run.started_by, format!("slack/{OPERATOR}"));
    let said: Vec<_> = fakes.slack.posted().into_iter().filter(|p| p.visible().contains("re-ran")).collect();
    assert_eq!(said.len(), 1, "said once in its thread");
}

#[tokio::test(start_paused = true)]
async fn a_slow_ecs_is_cut_off_at_the_answer_and_the_action_finished_after_it() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings());
    handler.handle(task_event(RUNNING, TASK), fakes.deadline()).await.unwrap();
    fakes.control.slow(Duration::from_secs(5));
    let (_, reply) =
        send_late(&handler, &fakes, &command(&format!("stop {TASK}"), OPERATOR, "t1"), Duration::ZERO).await;
    assert_eq!(reply.unwrap()["text"], format!("Stopping `{TASK}`… its thread will say so."));
    assert!(fakes.control.calls().is_empty());
    fakes.control.slow(Duration::ZERO);
    assert_eq!(deliver_deferred_twice(&fakes).await, 1);
    let calls = fakes.control.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let said: Vec<_> = fakes.slack.posted().into_iter().filter(|p| p.visible().contains("asked ECS to stop")).collect();
    assert_eq!(said.len(), 1);
    let responses = fakes.slack.responses();
    assert_eq!(responses.len(), 0, "the thread says it: nothing more to the asker: {responses:?}");
}

#[tokio::test(start_paused = true)]
async fn jobs_run_asked_late_is_acknowledged_and_its_answer_follows_in_the_response_url() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings());
    failed_run(&handler, &fakes).await;
    let body = command("run analyze_sentiment", OPERATOR, "t9");
    let (_, reply) = send_late(&handler, &fakes, &body, Duration::from_millis(1500)).await;
    assert_eq!(reply.unwrap()["text"], "Running *analyze_sentiment*… I'll say here when it has started.");
    let (_, again) = send(&handler, &fakes, &body).await;
    assert_eq!(again.unwrap()["text"], "That command was done already.", "claimed before the answer");
    assert_eq!(deliver_deferred_twice(&fakes).await, 1);
    assert_eq!(fakes.control.calls().len(), 1, "run once");
    let responses = fakes.slack.responses();
    assert_eq!(responses.len(), 1, "answered once: {responses:?}");
    let (url, reply) = &responses[0];
    assert_eq!(url, "https://hooks.slack.test/commands/T1/2/def");
    assert!(reply.text.contains("started *analyze_sentiment* (as its last run ran)"), "{}", reply.text);
}

#[tokio::test(start_paused = true)]
async fn a_failed_hand_over_gives_the_claim_back_and_says_so() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings());
    handler.handle(task_event(RUNNING, TASK), fakes.deadline()).await.unwrap();
    fakes.deferral.fail_next("Lambda Invoke: AccessDenied");
    let body = command(&format!("stop {TASK}"), OPERATOR, "t1");
    let (_, reply) = send_late(&handler, &fakes, &body, Duration::from_millis(2200)).await;
    let text = reply.unwrap()["text"].as_str().unwrap().to_owned();
    assert!(text.starts_with("I could not hand the action over to be finished: Lambda Invoke"), "{text}");
    // The claim was given back: asking again in time stops it.
    let (_, reply) = send(&handler, &fakes, &command(&format!("stop {TASK}"), OPERATOR, "t2")).await;
    assert_eq!(reply.unwrap()["text"], "Asked ECS to stop it; its thread says so.");
    assert_eq!(fakes.control.calls().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn each_function_refuses_the_others_inputs() {
    let fakes = Fakes::new();
    let mut slack = settings();
    slack.role = Role::Slack;
    let mut events = settings();
    events.role = Role::Events;
    let err = fakes.handler(slack).handle(task_event(RUNNING, TASK), fakes.deadline()).await.unwrap_err();
    assert!(err.to_string().starts_with("an EventBridge event reached the slack function"), "{err}");
    assert!(err.will_not_heal().is_some());
    let request = request_at(&command("status", OPERATOR, "t1"), fakes.clock.now().secs(), None, false);
    let err = fakes.handler(events.clone()).handle(request, fakes.deadline()).await.unwrap_err();
    assert!(err.to_string().starts_with("a Function URL request reached the events function"), "{err}");
    let deferred = json!({"deferred_slack_action": {"action": "stop", "task_arn": arn(TASK), "user": OPERATOR,
        "response_url": null, "command": true, "claim": {"key": "k", "token": "t", "lease_until": 0, "expires_at": 0}}});
    let err = fakes.handler(events).handle(deferred, fakes.deadline()).await.unwrap_err();
    assert!(err.to_string().starts_with("a deferred Slack action reached the events function"), "{err}");
    assert!(fakes.control.calls().is_empty() && fakes.slack.posted().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_discovery_cut_short_defers_jobs_run_and_its_answer_says_so() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings());
    failed_run(&handler, &fakes).await;
    fakes.schedules.cut_short("read the targets of 37 of 100 rules in time");
    let (_, reply) = send(&handler, &fakes, &command("run analyze_sentiment", OPERATOR, "t1")).await;
    assert_eq!(
        reply.unwrap()["text"],
        "Running *analyze_sentiment*… I'm reading its schedules, and will say here when it has started."
    );
    assert!(fakes.control.calls().is_empty());
    let (_, reply) = send(&handler, &fakes, &command("run nope", OPERATOR, "t2")).await;
    assert!(reply.unwrap()["text"].as_str().unwrap().starts_with("Running *nope*…"));
    assert_eq!(deliver_deferred_twice(&fakes).await, 2);
    assert_eq!(fakes.control.calls().len(), 1);
    let texts: Vec<String> = fakes.slack.responses().into_iter().map(|(_, r)| r.text).collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts[0].contains("(as its last run ran, not all schedules read)"), "{texts:?}");
    assert!(
        texts[1].ends_with("(I could not read every schedule in time: read the targets of 37 of 100 rules in time.)"),
        "{texts:?}"
    );
}
