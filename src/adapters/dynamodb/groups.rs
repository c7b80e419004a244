//! A group's counts, `group#<anchor's key>`:
//!
//! | attribute | meaning |
//! |---|---|
//! | `members`, `ok`, `failed` | string sets of task ids: in the group, succeeded, failed |
//! | `version` | bumped by every change |
//! | `shown`, `shown_at` | the version the group's message shows, and when it last began or finished changing (epoch ms) |
//! | `busy_until` | until when a change under way holds the message (epoch ms) |
//! | `waiter_until` | the one waiting task's mark: until when it is registered (epoch ms) |
//! | `expires_at` | TTL, epoch seconds |
//!
//! Sets make adding a task idempotent, and `ADD` makes concurrent
//! completions safe without a read: each write returns the group after it.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::{Change, DynamoStore, Item, PARTITION_KEY, TTL_ATTRIBUTE, error, n, number};
use crate::burst::Group;
use crate::ports::{GroupChange, GroupStore, StoreError, TurnEnd, TurnTimes};

fn string_set(ids: impl IntoIterator<Item = String>) -> AttributeValue {
    AttributeValue::Ss(ids.into_iter().collect())
}

fn set_of(item: &Item, name: &str) -> BTreeSet<String> {
    match item.get(name) {
        Some(AttributeValue::Ss(ids)) => ids.iter().cloned().collect(),
        _ => BTreeSet::new(),
    }
}

fn group_from(item: &Item) -> Group {
    Group {
        members: set_of(item, "members"),
        succeeded: set_of(item, "ok"),
        failed: set_of(item, "failed"),
        version: number(item, "version").unwrap_or_default(),
        shown: number(item, "shown").unwrap_or_default(),
        shown_at: number(item, "shown_at").unwrap_or_default(),
        busy_until: number(item, "busy_until").unwrap_or_default(),
        waiter_until: number(item, "waiter_until").unwrap_or_default(),
    }
}

/// The `ADD` of a change: its non-empty sets and the version.
fn add_change(key: &str, change: &GroupChange, expires_at: i64) -> Change {
    let mut adds = vec!["version :one".to_owned()];
    let mut values = vec![(":one", n(1)), (":expires", n(expires_at)), (":zero", n(0))];
    if !change.members.is_empty() {
        adds.push("members :members".into());
        values.push((":members", string_set(change.members.iter().cloned())));
    }
    if let Some(id) = &change.succeeded {
        adds.push("ok :ok".into());
        values.push((":ok", string_set([id.clone()])));
    }
    if let Some(id) = &change.failed {
        adds.push("failed :failed".into());
        values.push((":failed", string_set([id.clone()])));
    }
    // `shown` starts at 0, so a turn can compare it with the version.
    let set = "SET #expires = :expires, #shown = if_not_exists(#shown, :zero)";
    let mut update = Change::new(key, format!("{set} ADD {}", adds.join(", ")))
        .name("#expires", TTL_ATTRIBUTE)
        .name("#shown", "shown");
    for (placeholder, value) in values {
        update = update.value(placeholder, value);
    }
    update
}

#[async_trait]
impl GroupStore for DynamoStore {
    async fn add(&self, key: &str, change: &GroupChange, expires_at: i64) -> Result<Group, StoreError> {
        let out = self
            .update(add_change(key, change, expires_at))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| error("UpdateItem (group)", e))?;
        Ok(out.attributes().map(group_from).unwrap_or_default())
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
            .value(":now", n(turn.now_ms))
            .value(":before", n(turn.now_ms - turn.gap_ms))
            .value(":until", n(turn.until_ms));
        match self.update(change).return_values(ReturnValue::AllNew).send().await {
            Ok(out) => Ok(out.attributes().map(group_from)),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(None),
            Err(e) => Err(error("UpdateItem (group turn)", e)),
        }
    }

    async fn register_waiter(&self, key: &str, mark: i64, now_ms: i64) -> Result<bool, StoreError> {
        let change = Change::new(key, "SET #waiter = :mark")
            .condition("attribute_exists(#pk) AND (attribute_not_exists(#waiter) OR #waiter <= :now)")
            .name("#pk", PARTITION_KEY)
            .name("#waiter", "waiter_until")
            .value(":mark", n(mark))
            .value(":now", n(now_ms));
        match self.update(change).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(error("UpdateItem (group waiter)", e)),
        }
    }

    async fn unregister_waiter(&self, key: &str, mark: i64) -> Result<(), StoreError> {
        let change = Change::new(key, "REMOVE #waiter")
            .condition("#waiter = :mark")
            .name("#waiter", "waiter_until")
            .value(":mark", n(mark));
        match self.update(change).send().await {
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(()),
            other => other.map(drop).map_err(|e| error("UpdateItem (group waiter)", e)),
        }
    }

    async fn end_turn(&self, key: &str, version: i64, outcome: TurnEnd) -> Result<(), StoreError> {
        let change = match outcome {
            TurnEnd::Shown { at } => {
                Change::new(key, "SET #at = :at REMOVE #busy").name("#at", "shown_at").value(":at", n(at))
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
