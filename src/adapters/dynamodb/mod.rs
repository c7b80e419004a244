//! Thread state and job history in one DynamoDB table, with conditional
//! writes so that concurrent and repeated invocations agree on who posts.
//! One round trip per step; no read before a conditional write.
//!
//! Items (partition key `pk`, string):
//!
//! - `task#<task ARN>`, `registration#<user id>`, `logs#<task id>#<event id>`,
//!   …: a notice's claims and where it was posted (`tasks.rs`);
//! - `job#<job name>`: a job's recent runs, open outage and latest group's
//!   anchor (`jobs.rs`);
//! - `group#<anchor's key>`: a group's tasks and outcomes (`groups.rs`);
//! - `watch`: when the scheduled watch first ran.
//!
//! The `lookup` index finds tasks by id (`lookup` = `task#<task id>`) and
//! every job (`lookup` = `jobs`).

mod groups;
mod jobs;
mod tasks;

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use crate::ports::StoreError;

pub use tasks::task_lookup;

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

    /// `change` as one UpdateItem.
    fn update(&self, change: Change) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(&change.key))
            .update_expression(change.update)
            .set_condition_expression(change.condition)
            .set_expression_attribute_names(Some(change.names))
            .set_expression_attribute_values((!change.values.is_empty()).then_some(change.values))
    }

    /// The item at `key`, read consistently: what a conditional write just
    /// left there.
    async fn item(&self, key: &str, what: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| error(&format!("GetItem ({what})"), e))?;
        Ok(out.item)
    }

    /// `change` as one item of a transaction.
    fn transact(&self, change: Change) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(&change.key))
            .update_expression(change.update)
            .set_condition_expression(change.condition)
            .set_expression_attribute_names(Some(change.names))
            .set_expression_attribute_values((!change.values.is_empty()).then_some(change.values))
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .build()
            .map_err(|e| StoreError(format!("DynamoDB transaction item: {e}")))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

/// One item's update: its expressions with their names and values, so
/// that it can be sent alone or as part of a transaction.
#[derive(Debug, Default)]
struct Change {
    key: String,
    update: String,
    condition: Option<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Change {
    fn new(key: impl Into<String>, update: impl Into<String>) -> Change {
        Change { key: key.into(), update: update.into(), ..Change::default() }
    }

    fn condition(mut self, condition: impl Into<String>) -> Change {
        self.condition = Some(condition.into());
        self
    }

    fn name(mut self, placeholder: &str, name: impl Into<String>) -> Change {
        self.names.insert(placeholder.to_owned(), name.into());
        self
    }

    /// Adds `clause` to the update's `SET` (which must be its only clause).
    fn set_also(mut self, clause: &str) -> Change {
        self.update.push_str(", ");
        self.update.push_str(clause);
        self
    }

    fn value(mut self, placeholder: &str, value: AttributeValue) -> Change {
        self.values.insert(placeholder.to_owned(), value);
        self
    }
}

type Item = HashMap<String, AttributeValue>;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
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

fn error<E, R>(op: &str, e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError(format!("DynamoDB {op}: {}", DisplayErrorContext(&e)))
}
