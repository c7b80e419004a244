//! Thread state in DynamoDB, one item per task (or registration), with
//! conditional writes so concurrent and repeated invocations agree on who
//! posts. One round trip per step; no read before a conditional write.
//!
//! Item layout (partition key `pk`, string):
//!
//! | attribute | meaning |
//! |---|---|
//! | `{slot}_claim` | token of the attempt holding the slot |
//! | `{slot}_lease` | epoch seconds until which that claim holds |
//! | `{slot}_ts`, `{slot}_channel` | where the notice was posted |
//! | `expires_at` | TTL, epoch seconds |
//! | `lookup` | `task#<task id>`: the key of the `lookup` index, to find a task by id |
//! | `job`, `stream_logs`, `stream_logs_max_replies` | the task's job settings, from its start claim |
//! | `streamed` | log replies streamed into the task's thread |
//!
//! with `{slot}` one of `start`, `completion`, `once`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use crate::log_levels::Threshold;
use crate::ports::{
    Claim, ClaimResult, FoundTask, Posted, Record, Slot, SlotState, StoreError, TaskFacts, TaskIndex, ThreadStore,
};

pub const PARTITION_KEY: &str = "pk";
pub const TTL_ATTRIBUTE: &str = "expires_at";
/// The global secondary index that finds records by `lookup`.
pub const LOOKUP_INDEX: &str = "lookup";
pub const LOOKUP_ATTRIBUTE: &str = "lookup";

#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore { client, table: table.into() }
    }
}

type Item = HashMap<String, AttributeValue>;

fn attr(slot: Slot, what: &str) -> String {
    format!("{}_{what}", slot.name())
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn error<E, R>(op: &str, e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError(format!("DynamoDB {op}: {}", DisplayErrorContext(&e)))
}

pub fn task_lookup(task_id: &str) -> String {
    format!("task#{task_id}")
}

fn text(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

fn number(item: &Item, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

fn facts_from(item: &Item) -> Option<TaskFacts> {
    let task_id = text(item, LOOKUP_ATTRIBUTE)?.strip_prefix("task#")?.to_owned();
    Some(TaskFacts {
        task_id,
        job: text(item, "job")?,
        stream_logs: text(item, "stream_logs").and_then(|t| Threshold::from_name(&t)).unwrap_or_default(),
        stream_logs_max_replies: number(item, "stream_logs_max_replies").and_then(|n| n.try_into().ok()).unwrap_or(0),
    })
}

fn record_from(item: &Item) -> Record {
    let mut record = Record::default();
    for slot in Slot::ALL {
        let posted = text(item, &attr(slot, "ts"))
            .zip(text(item, &attr(slot, "channel")))
            .map(|(ts, channel)| Posted { channel, ts });
        let claimed_until = text(item, &attr(slot, "claim")).and(number(item, &attr(slot, "lease")));
        *record.slot_mut(slot) = SlotState { posted, claimed_until };
    }
    record
}

#[async_trait]
impl ThreadStore for DynamoStore {
    async fn claim(&self, claim: &Claim) -> Result<ClaimResult, StoreError> {
        let mut condition = "attribute_not_exists(#ts) AND (attribute_not_exists(#claim) OR #lease < :now)".to_owned();
        let mut request = self.client.update_item();
        if claim.slot == Slot::Start {
            condition.push_str(" AND attribute_not_exists(#done_claim) AND attribute_not_exists(#done_ts)");
            request = request
                .expression_attribute_names("#done_claim", attr(Slot::Completion, "claim"))
                .expression_attribute_names("#done_ts", attr(Slot::Completion, "ts"));
        }
        let mut update = "SET #claim = :token, #lease = :lease, #expires = :expires".to_owned();
        if let Some(facts) = &claim.facts {
            update.push_str(", #lookup = :lookup, #job = :job, #stream = :stream, #max = :max");
            request = request
                .expression_attribute_names("#lookup", LOOKUP_ATTRIBUTE)
                .expression_attribute_names("#job", "job")
                .expression_attribute_names("#stream", "stream_logs")
                .expression_attribute_names("#max", "stream_logs_max_replies")
                .expression_attribute_values(":lookup", s(&task_lookup(&facts.task_id)))
                .expression_attribute_values(":job", s(&facts.job))
                .expression_attribute_values(":stream", s(facts.stream_logs.name()))
                .expression_attribute_values(":max", n(facts.stream_logs_max_replies.into()));
        }
        let result = request
            .table_name(&self.table)
            .key(PARTITION_KEY, s(&claim.key))
            .update_expression(update)
            .condition_expression(condition)
            .expression_attribute_names("#ts", attr(claim.slot, "ts"))
            .expression_attribute_names("#claim", attr(claim.slot, "claim"))
            .expression_attribute_names("#lease", attr(claim.slot, "lease"))
            .expression_attribute_names("#expires", TTL_ATTRIBUTE)
            .expression_attribute_values(":token", s(&claim.token))
            .expression_attribute_values(":lease", n(claim.lease_until))
            .expression_attribute_values(":expires", n(claim.expires_at))
            .expression_attribute_values(":now", n(claim.now))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => Ok(ClaimResult::Claimed(out.attributes().map(record_from).unwrap_or_default())),
            Err(e) => match e.as_service_error() {
                Some(se) if se.is_conditional_check_failed_exception() => {
                    let old = match se {
                        aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(
                            c,
                        ) => c.item().map(record_from),
                        _ => None,
                    };
                    Ok(ClaimResult::Taken(old))
                }
                _ => Err(error("UpdateItem (claim)", e)),
            },
        }
    }

    async fn get(&self, key: &str) -> Result<Record, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| error("GetItem", e))?;
        Ok(out.item().map(record_from).unwrap_or_default())
    }

    async fn settle(&self, claim: &Claim, posted: &Posted) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(&claim.key))
            .update_expression("SET #ts = :ts, #channel = :channel REMOVE #claim, #lease")
            .condition_expression("#claim = :token")
            .expression_attribute_names("#ts", attr(claim.slot, "ts"))
            .expression_attribute_names("#channel", attr(claim.slot, "channel"))
            .expression_attribute_names("#claim", attr(claim.slot, "claim"))
            .expression_attribute_names("#lease", attr(claim.slot, "lease"))
            .expression_attribute_values(":ts", s(&posted.ts))
            .expression_attribute_values(":channel", s(&posted.channel))
            .expression_attribute_values(":token", s(&claim.token))
            .send()
            .await
            .map_err(|e| error("UpdateItem (settle)", e))?;
        Ok(())
    }

    async fn release(&self, claim: &Claim) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(&claim.key))
            .update_expression("REMOVE #claim, #lease")
            .condition_expression("#claim = :token")
            .expression_attribute_names("#claim", attr(claim.slot, "claim"))
            .expression_attribute_names("#lease", attr(claim.slot, "lease"))
            .expression_attribute_values(":token", s(&claim.token))
            .send()
            .await;
        match result {
            // Someone else's claim now: theirs to keep.
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(()),
            other => other.map(drop).map_err(|e| error("UpdateItem (release)", e)),
        }
    }
}

#[async_trait]
impl TaskIndex for DynamoStore {
    async fn find(&self, task_id: &str) -> Result<Option<FoundTask>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(LOOKUP_INDEX)
            .key_condition_expression("#lookup = :lookup")
            .expression_attribute_names("#lookup", LOOKUP_ATTRIBUTE)
            .expression_attribute_values(":lookup", s(&task_lookup(task_id)))
            .send()
            .await
            .map_err(|e| error("Query (lookup)", e))?;
        Ok(out.items().iter().find_map(|item| {
            Some(FoundTask { key: text(item, PARTITION_KEY)?, facts: facts_from(item)?, record: record_from(item) })
        }))
    }

    async fn count_streamed(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(key))
            .update_expression("ADD #streamed :delta")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#streamed", "streamed")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_values(":delta", n(delta))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| error("UpdateItem (count streamed)", e))?;
        Ok(out.attributes().and_then(|a| number(a, "streamed")).unwrap_or_default())
    }
}
