//! A group's counts, `group#<anchor's key>`:
//!
//! | attribute | meaning |
//! |---|---|
//! | `joined`, `ok_n`, `failed_n` | counters: tasks counted besides the anchor, succeeded, failed |
//! | `version` | bumped by every change |
//! | `shown`, `shown_at` | the version the group's message shows, and when it last began or finished changing (epoch ms) |
//! | `busy_until` | until when a change under way holds the message (epoch ms) |
//! | `waiter_until` | the one waiting task's mark: until when it is registered (epoch ms) |
//! | `expires_at` | TTL, epoch seconds |
//!
//! Counters keep the item the same size whatever the group's size. Each
//! task's record keeps what it was counted as (`g_part`), and a count is
//! one transaction: the task's part from what it was to what it becomes,
//! and the counters by the difference (`group::delta`). A retried or
//! repeated count finds the part already changed and changes nothing.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;

use super::tasks::PART;
use super::{Change, DynamoStore, Item, PARTITION_KEY, TTL_ATTRIBUTE, error, n, number, s, text};
use crate::group::{self, Group, Part};
use crate::ports::{GroupChange, GroupStore, StoreError, TurnEnd, TurnTimes};
use crate::time::Timestamp;

/// Counts whose task's part changed under them are tried again this often.
const COUNT_ATTEMPTS: usize = 4;

fn group_from(item: &Item) -> Group {
    Group {
        joined: number(item, "joined").unwrap_or_default(),
        succeeded: number(item, "ok_n").unwrap_or_default(),
        failed: number(item, "failed_n").unwrap_or_default(),
        version: number(item, "version").unwrap_or_default(),
        shown: number(item, "shown").unwrap_or_default(),
        shown_at: Timestamp::from_millis(number(item, "shown_at").unwrap_or_default()),
        busy_until: Timestamp::from_millis(number(item, "busy_until").unwrap_or_default()),
        waiter_until: Timestamp::from_millis(number(item, "waiter_until").unwrap_or_default()),
    }
}

/// The task's part, from `before` to `after`.
fn part_change(key: &str, before: Option<Part>, after: Part) -> Change {
    let change = Change::new(key, "SET #part = :after").name("#part", PART).value(":after", s(after.name()));
    match before {
        None => change.condition("attribute_not_exists(#part)"),
        Some(before) => change.condition("#part = :before").value(":before", s(before.name())),
    }
}

/// The group's counters by `delta`.
fn counters_change(key: &str, delta: group::Delta, expires_at: Timestamp) -> Change {
    // `shown` starts at 0, so a turn can compare it with the version.
    Change::new(
        key,
        "SET #expires = :expires, #shown = if_not_exists(#shown, :zero) \
         ADD #version :one, #joined :joined, #ok :ok, #failed :failed",
    )
    .name("#expires", TTL_ATTRIBUTE)
    .name("#shown", "shown")
    .name("#version", "version")
    .name("#joined", "joined")
    .name("#ok", "ok_n")
    .name("#failed", "failed_n")
    .value(":expires", n(expires_at.secs()))
    .value(":zero", n(0))
    .value(":one", n(1))
    .value(":joined", n(delta.joined))
    .value(":ok", n(delta.succeeded))
    .value(":failed", n(delta.failed))
}

#[async_trait]
impl GroupStore for DynamoStore {
    async fn add(&self, key: &str, change: &GroupChange, expires_at: Timestamp) -> Result<Group, StoreError> {
        // The usual part before: none for a join or the anchor, running
        // for a member's outcome. A wrong guess is refused with the part
        // as it is, and tried again from there.
        let mut before = (change.part != Part::Running && !change.anchor).then_some(Part::Running);
        for _ in 0..COUNT_ATTEMPTS {
            let after = group::next_part(before, change.part);
            if before == Some(after) {
                return self.group(key).await;
            }
            let delta = group::delta(before, after, change.anchor);
            let changes = vec![part_change(&change.task_key, before, after), counters_change(key, delta, expires_at)];
            match self.transact_claim(changes).await? {
                super::tasks::Transacted::Done => return self.group(key).await,
                super::tasks::Transacted::Refused(0, item) => {
                    before = item.as_ref().and_then(|item| text(item, PART)).and_then(|p| Part::from_name(&p));
                }
                super::tasks::Transacted::Refused(..) => {
                    return Err(StoreError::other("the group's counters refused an unconditional write"));
                }
            }
        }
        Err(StoreError::other(format!("{}'s part in its group kept changing", change.task_key)))
    }

    async fn group(&self, key: &str) -> Result<Group, StoreError> {
        Ok(self.item(key, "group").await?.as_ref().map(group_from).unwrap_or_default())
    }

    async fn take_turn(&self, key: &str, turn: TurnTimes) -> Result<Option<Group>, StoreError> {
        let change = Change::new(key, "SET #shown = #version, #at = :now, #busy = :until REMOVE #waiter")
            .condition(
                "#shown < #version AND (attribute_not_exists(#at) OR #at <= :before) \
                 AND (attribute_not_exists(#busy) OR #busy <= :now)",
            )
            .name("#shown", "shown")
            .name("#version", "version")
            .name("#at", "shown_at")
            .name("#busy", "busy_until")
            .name("#waiter", "waiter_until")
            .value(":now", n(turn.now.millis()))
            .value(":before", n((turn.now - turn.gap).millis()))
            .value(":until", n(turn.until.millis()));
        match self.update(change).return_values(ReturnValue::AllNew).send().await {
            Ok(out) => Ok(out.attributes().map(group_from)),
            // Its own turn when the item shows its lease: an attempt that
            // was applied and then answered with an error.
            Err(e) => match refused_item(&e) {
                Some(item) => {
                    let group = item.as_ref().map(group_from).unwrap_or_default();
                    Ok((group.busy_until == turn.until).then_some(group))
                }
                None => Err(error("UpdateItem (group turn)", e)),
            },
        }
    }

    async fn register_waiter(&self, key: &str, mark: Timestamp, now: Timestamp) -> Result<bool, StoreError> {
        let change = Change::new(key, "SET #waiter = :mark")
            .condition("attribute_exists(#pk) AND (attribute_not_exists(#waiter) OR #waiter <= :now)")
            .name("#pk", PARTITION_KEY)
            .name("#waiter", "waiter_until")
            .value(":mark", n(mark.millis()))
            .value(":now", n(now.millis()));
        match self.update(change).send().await {
            Ok(_) => Ok(true),
            Err(e) => match refused_item(&e) {
                Some(item) => {
                    Ok(item.as_ref().and_then(|item| number(item, "waiter_until")).map(Timestamp::from_millis)
                        == Some(mark))
                }
                None => Err(error("UpdateItem (group waiter)", e)),
            },
        }
    }

    async fn unregister_waiter(&self, key: &str, mark: Timestamp) -> Result<(), StoreError> {
        let change = Change::new(key, "REMOVE #waiter")
            .condition("#waiter = :mark")
            .name("#waiter", "waiter_until")
            .value(":mark", n(mark.millis()));
        match self.update(change).send().await {
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(()),
            other => other.map(drop).map_err(|e| error("UpdateItem (group waiter)", e)),
        }
    }

    async fn end_turn(&self, key: &str, version: i64, outcome: TurnEnd) -> Result<(), StoreError> {
        let change = match outcome {
            TurnEnd::Shown { at } => {
                Change::new(key, "SET #at = :at REMOVE #busy").name("#at", "shown_at").value(":at", n(at.millis()))
            }
            TurnEnd::Failed => Change::new(key, "SET #shown = :zero REMOVE #busy").value(":zero", n(0)),
        }
        .condition("#shown = :v")
        .name("#shown", "shown")
        .name("#busy", "busy_until")
        .value(":v", n(version));
        match self.update(change).send().await {
            // A later turn began: its to finish.
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(()),
            other => other.map(drop).map_err(|e| error("UpdateItem (group turn end)", e)),
        }
    }
}

/// The item a conditional write was refused by (`Some(None)` when there
/// was none), or `None` when the write failed otherwise.
fn refused_item<R>(
    e: &aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError, R>,
) -> Option<Option<Item>> {
    match e.as_service_error() {
        Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c)) => {
            Some(c.item().cloned())
        }
        _ => None,
    }
}
