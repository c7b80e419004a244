use std::time::Duration;

use crate::handler::Handled;
use crate::kinds::queued::{BatchResponse, ItemFailure};
use crate::ports::{QueuedPost, SlackError, Slot};
use crate::testing::{Fakes, message_to, sqs_event};

fn post(key: &str, channel: &str) -> QueuedPost {
    QueuedPost { key: key.into(), slot: Slot::Completion, message: message_to(channel) }
}

fn failures(handled: Handled) -> Vec<String> {
    let Handled::Queue(BatchResponse { batch_item_failures }) = handled else { panic!("{handled:?}") };
    batch_item_failures.into_iter().map(|ItemFailure { item_identifier }| item_identifier).collect()
}

#[tokio::test(start_paused = true)]
async fn each_post_is_made_once_with_a_pause_after_it() {
    let fakes = Fakes::new();
    let handler = fakes.default_handler();
    let event = sqs_event(&[post("task#a", "C1"), post("task#b", "C1")]);
    let started = tokio::time::Instant::now();
    assert!(failures(handler.handle(event.clone(), fakes.deadline()).await.unwrap()).is_empty());
    assert_eq!(fakes.slack.posted().len(), 2);
    assert!(started.elapsed() >= 2 * super::SPACING, "paced: {:?}", started.elapsed());
    // SQS delivers at least once: a message again is not a post again.
    assert!(failures(fakes.default_handler().handle(event, fakes.deadline()).await.unwrap()).is_empty());
    assert_eq!(fakes.slack.posted().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_failed_post_and_the_ones_after_it_are_handed_back_in_order() {
    let fakes = Fakes::new();
    fakes.slack.fail_next(SlackError::Api("channel_not_found".into()));
    let event = sqs_event(&[post("task#a", "C1"), post("task#b", "C1")]);
    let handed_back = failures(fakes.default_handler().handle(event.clone(), fakes.deadline()).await.unwrap());
    assert_eq!(handed_back, ["m0", "m1"], "b waits behind a");
    assert!(fakes.slack.posted().is_empty());
    // Released: the redelivery posts both.
    assert!(failures(fakes.default_handler().handle(event, fakes.deadline()).await.unwrap()).is_empty());
    assert_eq!(fakes.slack.posted().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_message_that_is_not_a_post_is_handed_back_with_its_reason() {
    let fakes = Fakes::new();
    let mut event = sqs_event(&[post("task#a", "C1")]);
    event["Records"][0]["body"] = "{\"key\": 1}".into();
    let handed_back = failures(fakes.default_handler().handle(event, fakes.deadline()).await.unwrap());
    assert_eq!(handed_back, ["m0"]);
    assert!(fakes.slack.posted().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_post_claimed_by_a_live_attempt_is_handed_back_after_a_short_wait() {
    let fakes = Fakes::new();
    let notices = crate::claim::Notices {
        store: &fakes.store,
        slack: &fakes.slack,
        clock: &fakes.clock,
        record_ttl: Duration::from_secs(3600),
    };
    let held = notices.claim_for("task#a", Slot::Completion, fakes.deadline());
    assert!(matches!(notices.claim(&held).await.unwrap(), crate::ports::ClaimResult::Claimed(_)));
    let event = sqs_event(&[post("task#a", "C1")]);
    let handed_back = failures(fakes.default_handler().handle(event, fakes.deadline()).await.unwrap());
    assert_eq!(handed_back, ["m0"]);
    assert!(fakes.slack.posted().is_empty());
}
