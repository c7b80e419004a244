//! Muting a job from Slack: operators only, said once, posts held back
//! while it holds, and its end says what happened meanwhile, once.

use super::*;
use crate::ports::JobStore;
use crate::testing::{run_events, scheduled_event};
use serde_json::json;

const FAMILY: &str = "market-pulse-collect-stock-prices";
const JOB: &str = "collect_stock_prices";

async fn run(handler: &Handler, fakes: &Fakes, task: &str, started: &str, exit_code: i64) {
    let (running, stopped) = run_events(task, FAMILY, started, 60, exit_code);
    handler.handle(running, fakes.deadline()).await.unwrap();
    handler.handle(stopped, fakes.deadline()).await.unwrap();
}

async fn say(handler: &Handler, fakes: &Fakes, text: &str, user: &str, trigger: &str) -> String {
    let (status, body) = send(handler, fakes, &command(text, user, trigger)).await;
    assert_eq!(status, 200);
    body.and_then(|b| b["text"].as_str().map(str::to_owned)).unwrap_or_default()
}

/// An event time `minutes` after the test clock's now (the clock moves as
/// the handler waits, so times are taken from it, not written down).
fn after(fakes: &Fakes, minutes: u64) -> String {
    (fakes.clock.now() + std::time::Duration::from_secs(minutes * 60)).to_rfc3339()
}

/// Lets the paused clock pass the events' times, as real time would.
async fn later() {
    tokio::time::advance(std::time::Duration::from_secs(3600)).await;
}

fn until(mute: &crate::mute::Mute) -> crate::time::Timestamp {
    mute.until.unwrap()
}

async fn mute_of(fakes: &Fakes) -> Option<crate::mute::Mute> {
    fakes.store.head(JOB).await.unwrap().and_then(|h| h.mute)
}

fn texts(fakes: &Fakes) -> Vec<String> {
    fakes.slack.posted().into_iter().map(|s| s.message.text).collect()
}

#[tokio::test(start_paused = true)]
async fn a_strangers_mute_and_unmute_are_refused_and_change_nothing() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings());
    run(&handler, &fakes, "t1", "2026-11-26T13:00:00Z", 1).await;
    let posted = fakes.slack.posted().len();
    let answer = say(&handler, &fakes, &format!("mute {JOB} 2h"), STRANGER, "m1").await;
    assert!(answer.starts_with(&format!("You are not allowed to mute *{JOB}*")), "{answer}");
    let answer = say(&handler, &fakes, &format!("unmute {JOB}"), STRANGER, "m2").await;
    assert!(answer.starts_with(&format!("You are not allowed to unmute *{JOB}*")), "{answer}");
    assert_eq!(fakes.slack.posted().len(), posted, "nothing said");
    assert_eq!(fakes.store.head(JOB).await.unwrap().unwrap().mute, None);
    let answer = say(&handler, &fakes, "mute nosuchjob 2h", OPERATOR, "m3").await;
    assert!(answer.starts_with("I know no job `nosuchjob`"), "{answer}");
    let answer = say(&handler, &fakes, &format!("mute {JOB} forever"), OPERATOR, "m4").await;
    assert!(answer.contains("until-success") && answer.ends_with("Nothing was done."), "{answer}");
}

#[tokio::test(start_paused = true)]
async fn an_operators_mute_holds_the_jobs_posts_back_until_unmuted_then_says_what_happened() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings());
    run(&handler, &fakes, "t1", "2026-11-26T13:00:00Z", 0).await;
    let answer = say(&handler, &fakes, &format!("mute {JOB} 2h"), OPERATOR, "m1").await;
    assert!(answer.starts_with(&format!("🔕 Muted *{JOB}*")), "{answer}");
    // The same command again (Slack's retry): nothing more.
    assert_eq!(say(&handler, &fakes, &format!("mute {JOB} 2h"), OPERATOR, "m1").await, "That was done already.");
    let mute = mute_of(&fakes).await.expect("muted");
    assert_eq!(mute.until, Some(mute.since + std::time::Duration::from_secs(7200)));
    let said: Vec<String> = texts(&fakes).into_iter().filter(|t| t.starts_with("🔕")).collect();
    let when = until(&mute).format_utc("%Y-%m-%d %H:%M UTC");
    assert_eq!(said, [format!("🔕 {JOB} muted until {when}")], "said once, in its channel");
    assert_eq!(fakes.slack.posted().last().unwrap().message.channel, "C0JOBS");
    let (_, status) = send(&handler, &fakes, &command("status", STRANGER, "s1")).await;
    let status = status.unwrap().to_string();
    assert!(status.contains(&format!("🔕 muted until <!date^{}^", until(&mute).secs())), "{status}");
    // Muted: a failing run and a succeeding one post nothing, nor does a
    // log stream or a button appear anywhere.
    let before = fakes.slack.posted().len();
    let (t2, t3) = (after(&fakes, 1), after(&fakes, 3));
    run(&handler, &fakes, "t2", &t2, 1).await;
    run(&handler, &fakes, "t3", &t3, 0).await;
    assert_eq!(fakes.slack.posted().len(), before, "held back");
    later().await;
    let jobs = fakes.store.jobs().await.unwrap();
    assert_eq!(jobs[0].runs.len(), 3, "but recorded");
    let answer = say(&handler, &fakes, &format!("unmute {JOB}"), OPERATOR, "u1").await;
    assert!(answer.starts_with(&format!("🔔 Unmuted *{JOB}*")), "{answer}");
    let unmuted = texts(&fakes).pop().unwrap();
    let failed_at = (crate::time::Timestamp::parse_rfc3339(&t2).unwrap() + std::time::Duration::from_secs(60))
        .format_utc("%Y-%m-%d %H:%M UTC");
    assert_eq!(unmuted, format!("🔔 {JOB} unmuted: 2 runs, 1 failed (last failure {failed_at}, exit 1)"));
    let json = serde_json::to_string(&fakes.slack.posted().last().unwrap().message.blocks).unwrap();
    assert!(json.contains(&format!("(<@{OPERATOR}> unmuted it)")), "{json}");
    let answer = say(&handler, &fakes, &format!("unmute {JOB}"), OPERATOR, "u2").await;
    assert!(answer.ends_with("is not muted. Nothing was done."), "{answer}");
    // Unmuted: posts again.
    let before = fakes.slack.posted().len();
    let t4 = after(&fakes, 5);
    run(&handler, &fakes, "t4", &t4, 1).await;
    assert_eq!(fakes.slack.posted().len(), before + 2, "a start and its failure");
}

#[tokio::test(start_paused = true)]
async fn a_mute_ends_by_itself_once_and_until_success_at_the_next_success() {
    let fakes = Fakes::new();
    let mut config = settings();
    config.digest_at = None;
    let handler = fakes.handler(config);
    run(&handler, &fakes, "t1", "2026-11-26T13:00:00Z", 0).await;
    say(&handler, &fakes, &format!("mute {JOB} 1h"), OPERATOR, "m1").await;
    let end = until(&mute_of(&fakes).await.unwrap());
    let at = |d: i64| (end + std::time::Duration::from_secs(d.unsigned_abs())).to_rfc3339();
    let before_end = (end - std::time::Duration::from_secs(60)).to_rfc3339();
    // The watch before its end: nothing; after: the end, once.
    handler.handle(scheduled_event(&before_end), fakes.deadline()).await.unwrap();
    assert!(!texts(&fakes).iter().any(|t| t.starts_with("🔔")));
    let watched = |h: handler::Handled| match h {
        handler::Handled::Watched(w) => w.unmuted,
        other => panic!("{other:?}"),
    };
    let a = handler.handle(scheduled_event(&at(300)), fakes.deadline()).await.unwrap();
    let b = handler.handle(scheduled_event(&at(600)), fakes.deadline()).await.unwrap();
    assert_eq!((watched(a), watched(b)), (1, 0), "once");
    let ended: Vec<String> = texts(&fakes).into_iter().filter(|t| t.starts_with("🔔")).collect();
    assert_eq!(ended, [format!("🔔 {JOB} unmuted: 0 runs")]);
    let json = serde_json::to_string(&fakes.slack.posted().last().unwrap().message.blocks).unwrap();
    assert!(json.contains("(its mute ended)"), "{json}");
    assert_eq!(fakes.store.head(JOB).await.unwrap().unwrap().mute, None);

    // Until it succeeds: a failure is held back; the success ends it.
    say(&handler, &fakes, &format!("mute {JOB} until-success"), OPERATOR, "m2").await;
    let before = fakes.slack.posted().len();
    let (t2, t3) = (after(&fakes, 1), after(&fakes, 3));
    run(&handler, &fakes, "t2", &t2, 1).await;
    assert_eq!(fakes.slack.posted().len(), before);
    later().await;
    run(&handler, &fakes, "t3", &t3, 0).await;
    let posted = texts(&fakes);
    assert_eq!(posted.len(), before + 1, "the end, not the run: {posted:?}");
    assert!(
        posted.last().unwrap().starts_with(&format!("🔔 {JOB} unmuted: 2 runs, 1 failed (last failure ")),
        "{posted:?}"
    );
    // A redelivered success: the mute is over, so it posts its completion.
    let (_, stopped) = run_events("t3", FAMILY, &t3, 60, 0);
    handler.handle(stopped, fakes.deadline()).await.unwrap();
    assert_eq!(texts(&fakes).len(), before + 2, "unmuted now, it posts its completion: {:?}", texts(&fakes));
}

async fn sentiment_mute(fakes: &Fakes) -> Option<crate::mute::Mute> {
    fakes.store.head("analyze_sentiment").await.unwrap().and_then(|h| h.mute)
}

fn choose(value: &str, user: &str, trigger: &str) -> String {
    let payload = json!({"type": "block_actions", "user": {"id": user, "username": "someone"},
        "trigger_id": trigger, "response_url": "https://hooks.slack.test/actions/T1/1/abc",
        "container": {"type": "message", "message_ts": "1795700000.000001", "channel_id": "C0JOBS"},
        "actions": [{"action_id": "mute_job", "type": "overflow", "action_ts": "1",
            "selected_option": {"text": {"type": "plain_text", "text": "🔕 Mute for 1 hour"}, "value": value}}]});
    form(&[("payload", &payload.to_string())])
}

#[tokio::test(start_paused = true)]
async fn the_failure_menu_mutes_for_operators_only_once_per_choice() {
    let fakes = Fakes::new();
    let handler = fakes.handler(settings());
    failed_run(&handler, &fakes).await;
    let json = serde_json::to_string(&fakes.slack.posted()[1].message.blocks).unwrap();
    assert!(json.contains(r#""type":"overflow","action_id":"mute_job""#), "{json}");
    assert!(json.contains(&format!(r#""value":"until-success#{TASK}""#)), "{json}");
    let posted = fakes.slack.posted().len();
    assert_eq!(send(&handler, &fakes, &choose(&format!("1h#{TASK}"), STRANGER, "tr1")).await.0, 200);
    assert!(answers(&fakes).last().unwrap().starts_with("You are not allowed to mute"), "{:?}", answers(&fakes));
    assert_eq!(fakes.slack.posted().len(), posted, "refused: nothing said");
    assert_eq!(sentiment_mute(&fakes).await, None);
    for _ in 0..2 {
        assert_eq!(send(&handler, &fakes, &choose(&format!("1h#{TASK}"), OPERATOR, "tr2")).await.0, 200);
    }
    let mute = sentiment_mute(&fakes).await.expect("muted");
    assert_eq!((mute.by.as_str(), mute.until.map(|u| u.duration_since(mute.since).as_secs())), (OPERATOR, Some(3600)));
    assert_eq!(texts(&fakes).iter().filter(|t| t.starts_with("🔕")).count(), 1, "said once");
    assert_eq!(answers(&fakes).last().unwrap(), "That was done already.");
    for bad in ["forever#x", "1h#not-a-task", ""] {
        send(&handler, &fakes, &choose(bad, OPERATOR, "tr3")).await;
        assert_eq!(answers(&fakes).last().unwrap(), "That menu names no mute.");
    }
}

#[tokio::test(start_paused = true)]
async fn a_mute_and_its_end_hold_on_a_store_that_applies_then_answers_500_throttles_and_conflicts() {
    use crate::adapters::memory::Fault;
    use crate::ports::StoreErrorKind::*;
    let faults = || {
        [Unavailable, Throttled, Conflict, Unavailable, Throttled, Conflict]
            .into_iter()
            .enumerate()
            .map(|(i, kind)| Fault { kind, applied: i % 2 == 0 })
    };
    let fakes = Fakes::new();
    let handler = fakes.handler(settings());
    run(&handler, &fakes, "t1", "2026-11-26T13:00:00Z", 0).await;
    // Each write and read of the mute meets a fault: applied then 500
    // (its retry meets its own write), a throttle, a conflict.
    fakes.store.fail_next(faults());
    let answer = say(&handler, &fakes, &format!("mute {JOB} 2h"), OPERATOR, "m1").await;
    assert!(answer.starts_with(&format!("🔕 Muted *{JOB}*")), "{answer}");
    assert_eq!(fakes.store.faults_left(), 0, "every fault was met");
    assert!(mute_of(&fakes).await.is_some());
    assert_eq!(texts(&fakes).iter().filter(|t| t.starts_with("🔕")).count(), 1, "said once");
    fakes.store.fail_next(faults());
    let answer = say(&handler, &fakes, &format!("unmute {JOB}"), OPERATOR, "u1").await;
    assert!(answer.starts_with(&format!("🔔 Unmuted *{JOB}*")), "{answer}");
    assert_eq!(fakes.store.faults_left(), 0);
    assert_eq!(mute_of(&fakes).await, None);
    assert_eq!(texts(&fakes).iter().filter(|t| t.starts_with("🔔")).count(), 1, "said once");
}
