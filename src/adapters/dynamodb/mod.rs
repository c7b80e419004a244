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
mod history;
mod tasks;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use crate::ports::{StoreError, StoreErrorKind};

pub use history::{RUN_AT, RUN_JOB, RUNS_INDEX};
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
    /// Job heads this environment wrote, and when (epoch seconds) with
    /// which channel: a head is written again only when it changed or an
    /// hour went by (`jobs.rs`). Shared by the clones the ports hold.
    heads: Arc<Mutex<HashMap<String, (i64, String)>>>,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore { client, table: table.into(), heads: Arc::default() }
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
            // A refused write says what refused it: a retry of a write that
            // was applied can tell its own write from someone else's.
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
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
            .map_err(|e| StoreError::new(StoreErrorKind::Invalid, format!("DynamoDB transaction item: {e}")))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

/// One item's update: its expressions with their names and values, so
/// that it can be sent alone or as part of a transaction.
#[derive(Debug, Clone, Default)]
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

/// The error of `op`, with its kind read from DynamoDB's answer.
fn error<E, R>(op: &str, e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug + HttpStatus + 'static,
{
    let code = e.as_service_error().and_then(|se| se.code()).map(str::to_owned);
    let message = e.as_service_error().and_then(|se| se.message()).unwrap_or_default().to_owned();
    let status = match &e {
        SdkError::ServiceError(se) => Some(se.raw().status_code()),
        SdkError::ResponseError(re) => Some(re.raw().status_code()),
        _ => None,
    };
    let reasons = match code.as_deref() {
        Some("TransactionCanceledException") => cancellation_codes(&message),
        _ => Vec::new(),
    };
    let kind = match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => StoreErrorKind::Unavailable,
        _ => classify(code.as_deref(), &message, status, &reasons),
    };
    StoreError::new(kind, format!("DynamoDB {op}: {}", crate::adapters::aws_error::describe(&e)))
}

/// The HTTP status of a raw response, where the SDK kept one.
trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_smithy_runtime_api::http::Response {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// The reasons' codes of a cancelled transaction, from its message
/// (`… [None, TransactionConflict]`): what the SDK keeps of them when the
/// error is not matched on its own type.
fn cancellation_codes(message: &str) -> Vec<String> {
    let Some(list) = message.rsplit_once('[').and_then(|(_, rest)| rest.split_once(']')).map(|(list, _)| list) else {
        return Vec::new();
    };
    list.split(',').map(|code| code.trim().to_owned()).filter(|code| !code.is_empty()).collect()
}

/// What kind of failure DynamoDB's answer is (see `StoreErrorKind`).
/// Pure, for the tests: the error code, its message, the HTTP status and
/// a cancelled transaction's reasons.
pub(crate) fn classify(code: Option<&str>, message: &str, status: Option<u16>, reasons: &[String]) -> StoreErrorKind {
    const THROTTLED: [&str; 4] = [
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "LimitExceededException",
    ];
    let too_large = message.contains("Item size has exceeded") || message.contains("Item size to update has exceeded");
    match code {
        Some(code) if THROTTLED.contains(&code) => StoreErrorKind::Throttled,
        Some("TransactionConflictException" | "TransactionInProgressException") => StoreErrorKind::Conflict,
        Some("TransactionCanceledException") => {
            let reason = |want: &str| reasons.iter().any(|r| r == want);
            if reason("ThrottlingError") || reason("ProvisionedThroughputExceeded") {
                StoreErrorKind::Throttled
            } else if reason("TransactionConflict") {
                StoreErrorKind::Conflict
            } else if reason("ItemCollectionSizeLimitExceeded") || too_large {
                StoreErrorKind::TooLarge
            } else if reason("ValidationError") {
                StoreErrorKind::Invalid
            } else {
                StoreErrorKind::Other
            }
        }
        Some("InternalServerError" | "ServiceUnavailable") => StoreErrorKind::Unavailable,
        Some("ValidationException") if too_large => StoreErrorKind::TooLarge,
        Some("ValidationException" | "ResourceNotFoundException" | "SerializationException") => StoreErrorKind::Invalid,
        _ if status.is_some_and(|s| s >= 500) => StoreErrorKind::Unavailable,
        _ => StoreErrorKind::Other,
    }
}

#[cfg(test)]
mod error_tests {
    use super::*;

    #[test]
    fn dynamodbs_answers_are_classified_by_what_heals() {
        use StoreErrorKind::*;
        let none: &[String] = &[];
        let table = [
            (Some("ThrottlingException"), "", Some(400), none, Throttled),
            (Some("ProvisionedThroughputExceededException"), "", Some(400), none, Throttled),
            (Some("RequestLimitExceeded"), "", Some(400), none, Throttled),
            (Some("TransactionConflictException"), "Transaction is ongoing for the item", Some(400), none, Conflict),
            (Some("InternalServerError"), "", Some(500), none, Unavailable),
            (None, "", Some(503), none, Unavailable),
            (Some("ValidationException"), "Item size has exceeded the maximum allowed size", Some(400), none, TooLarge),
            (Some("ValidationException"), "Invalid UpdateExpression", Some(400), none, Invalid),
            (Some("ResourceNotFoundException"), "Requested resource not found", Some(400), none, Invalid),
            (Some("AccessDeniedException"), "", Some(400), none, Other),
        ];
        for (code, message, status, reasons, want) in table {
            assert_eq!(classify(code, message, status, reasons), want, "{code:?} {message}");
        }
        let cancelled = |reasons: &[&str]| {
            let reasons: Vec<String> = reasons.iter().map(|r| (*r).to_owned()).collect();
            classify(Some("TransactionCanceledException"), "", Some(400), &reasons)
        };
        assert_eq!(cancelled(&["None", "TransactionConflict"]), Conflict);
        assert_eq!(cancelled(&["ThrottlingError", "None"]), Throttled);
        assert_eq!(cancelled(&["ValidationError"]), Invalid);
        assert_eq!(
            cancellation_codes(
                "Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict]"
            ),
            ["None", "TransactionConflict"]
        );
        assert!(cancellation_codes("no list").is_empty());
    }
}
