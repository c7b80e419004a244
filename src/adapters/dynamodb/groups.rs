//! A group's counts, `group#<anchor's key>`:
//!
//! | attribute | meaning |
//! |---|---|
//! | `members`, `ok`, `failed` | string sets of task ids: in the group, succeeded, failed |
//! | `version` | bumped by every change |
//! | `shown`, `shown_at` | the version the group's message shows, and when it last began or finished changing (epoch ms) |
//! | `expires_at` | TTL, epoch seconds |
//!
//! Sets make adding a task idempotent, and `ADD` makes concurrent
//! completions safe without a read: each write returns the group after it.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::{Change, DynamoStore, Item, PARTITION_KEY, TTL_ATTRIBUTE, error, n, number};
use crate::burst::Group;
use crate::ports::{GroupChange, GroupStore, StoreError, TurnEnd};

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
    }
}

/// The `ADD` of a change: its non-empty sets and the version.
fn add_change(key: &str, change: &GroupChange, expires_at: i64) -> Change {
    let mut adds = vec!["version :one".to_owned()];
    let mut values = vec![(":one", n(1)), (":expires", n(expires_at))];
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
    let mut update =
        Change::new(key, format!("SET #expires = :expires ADD {}", adds.join(", "))).name("#expires", TTL_ATTRIBUTE);
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
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, super::s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| error("GetItem (group)", e))?;
        Ok(out.item().map(group_from).unwrap_or_default())
    }

    async fn take_turn(&self, key: &str, version: i64, now_ms: i64, gap_ms: i64) -> Result<bool, StoreError> {
        let change = Change::new(key, "SET #shown = :v, #at = :now")
            .condition(
                "attribute_exists(#pk) AND (attribute_not_exists(#shown) OR #shown < :v) \
                 AND (attribute_not_exists(#at) OR #at <= :before)",
            )
            .name("#pk", PARTITION_KEY)
            .name("#shown", "shown")
            .name("#at", "shown_at")
            .value(":v", n(version))
            .value(":now", n(now_ms))
            .value(":before", n(now_ms - gap_ms));
        match self.update(change).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(error("UpdateItem (group turn)", e)),
        }
    }

    async fn end_turn(&self, key: &str, version: i64, outcome: TurnEnd) -> Result<(), StoreError> {
        let change = match outcome {
            TurnEnd::Shown { at } => Change::new(key, "SET #at = :at").name("#at", "shown_at").value(":at", n(at)),
            TurnEnd::Failed { previous } => Change::new(key, "SET #shown = :previous").value(":previous", n(previous)),
        }
        .condition("#shown = :v")
        .name("#shown", "shown")
        .value(":v", n(version));
        match self.update(change).send().await {
            // A later turn began: its to finish.
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(()),
            other => other.map(drop).map_err(|e| error("UpdateItem (group turn end)", e)),
        }
    }
}
