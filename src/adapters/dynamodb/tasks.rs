//! Notices' claims and where they were posted; tasks found by id.
//!
//! Item layout of a notice (a task, a registration, a log batch…):
//!
//! | attribute | meaning |
//! |---|---|
//! | `{slot}_claim` | token of the attempt holding the slot |
//! | `{slot}_lease` | epoch seconds until which that claim holds |
//! | `{slot}_ts`, `{slot}_channel` | where the notice was posted |
//! | `expires_at` | TTL, epoch seconds |
//! | `lookup` | `task#<task id>`: the key of the `lookup` index, to find a task by id |
//! | `job`, `stream_logs`, `stream_logs_max_replies` | the task's job settings, from its start claim |
//! | `spec` | the task as the rules see it (JSON), from its claims: which rule's operators may act on it |
//! | `streamed` | log replies streamed into the task's thread |
//! | `run` | what the run had (JSON), from its completion claim: a re-run's parameters |
//! | `group` | the key of its group's anchor, when the task is in a group (the anchor's own key on the anchor) |
//! | `g_part` | what the task was counted as in its group: `running`, `ok`, `failed` |
//! | `streamed_n`, `streamed_b` | on a log batch's record: counted among its task's replies; on the task's: how many are |
//!
//! with `{slot}` one of `start`, `completion`, `once`.
//!
//! Every conditional write here also accepts the caller's own earlier
//! write (`#claim = :token`, or the item it was refused by shows the
//! caller's write): a write applied and then answered 500 is retried by
//! the SDK or the retry policy, and that retry must not read itself as
//! someone else's claim.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::history::{ANCHOR, ANCHOR_AT, ANCHOR_KEY, anchor_from, run_start_change};
use super::{
    Change, DynamoStore, Item, LOOKUP_ATTRIBUTE, LOOKUP_INDEX, PARTITION_KEY, TTL_ATTRIBUTE, error, n, number, s, text,
};
use crate::group::{Grouping, Part};
use crate::log_levels::Threshold;
use crate::ports::{
    Claim, ClaimResult, FoundTask, JobStart, Posted, Record, Slot, SlotState, StartClaim, StoreError, StoreErrorKind,
    TaskFacts, TaskIndex, ThreadStore,
};
use crate::time::Timestamp;

/// The key of the group's anchor, on a grouped task's record.
const GROUP: &str = "group";
/// What the task was counted as in its group.
pub(super) const PART: &str = "g_part";
const STREAMED: &str = "streamed_n";
const STREAMED_BATCH: &str = "streamed_b";

fn attr(slot: Slot, what: &str) -> String {
    format!("{}_{what}", slot.name())
}

pub fn task_lookup(task_id: &str) -> String {
    format!("task#{task_id}")
}

fn facts_from(item: &Item) -> Option<TaskFacts> {
    let task_id = text(item, LOOKUP_ATTRIBUTE)?.strip_prefix("task#")?.to_owned();
    Some(TaskFacts {
        task_id,
        job: text(item, "job")?,
        stream_logs: text(item, "stream_logs").and_then(|t| Threshold::from_name(&t)).unwrap_or_default(),
        stream_logs_max_replies: number(item, "stream_logs_max_replies").and_then(|n| n.try_into().ok()).unwrap_or(0),
        spec: text(item, "spec").and_then(|spec| serde_json::from_str(&spec).ok()),
    })
}

fn record_from(item: &Item) -> Record {
    let mut record = Record::default();
    for slot in Slot::ALL {
        let posted = text(item, &attr(slot, "ts"))
            .zip(text(item, &attr(slot, "channel")))
            .map(|(ts, channel)| Posted { channel, ts });
        let claimed_until =
            text(item, &attr(slot, "claim")).and(number(item, &attr(slot, "lease"))).map(Timestamp::from_secs);
        let tried = number(item, &attr(slot, "tried")).map(Timestamp::from_secs);
        *record.slot_mut(slot) = SlotState { posted, claimed_until, tried, earlier: None };
    }
    record.group = text(item, GROUP);
    record.part = text(item, PART).and_then(|p| Part::from_name(&p));
    record
}

#[async_trait]
impl ThreadStore for DynamoStore {
    async fn claim(&self, claim: &Claim) -> Result<ClaimResult, StoreError> {
        if let Some(start) = &claim.job_start {
            let mut takeover = None;
            loop {
                let mut changes = vec![claim_change(claim, takeover.is_some()), run_start_change(start)];
                changes.extend(self.head_change(start));
                return Ok(match self.transact_claim(changes).await? {
                    Transacted::Done => {
                        self.head_written(start);
                        ClaimResult::Claimed(taken_over(claimed(claim, None), claim.slot, takeover))
                    }
                    Transacted::Refused(0, Some(item)) if takeover.is_none() && earlier_of(&item, claim).is_some() => {
                        takeover = earlier_of(&item, claim);
                        continue;
                    }
                    Transacted::Refused(0, item) => ClaimResult::Taken(item.as_ref().map(record_from)),
                    Transacted::Refused(..) => {
                        return Err(StoreError::other("the job's records refused an unconditional write"));
                    }
                });
            }
        }
        let mut takeover = None;
        loop {
            let result = self
                .update(claim_change(claim, takeover.is_some()))
                .return_values(ReturnValue::AllNew)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send()
                .await;
            return match result {
                Ok(out) => {
                    let record = out.attributes().map(record_from).unwrap_or_default();
                    Ok(ClaimResult::Claimed(taken_over(record, claim.slot, takeover)))
                }
                Err(e) => match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                        match c.item().and_then(|item| earlier_of(item, claim)) {
                            Some(earlier) if takeover.is_none() => {
                                takeover = Some(earlier);
                                continue;
                            }
                            _ => Ok(ClaimResult::Taken(c.item().map(record_from))),
                        }
                    }
                    _ => Err(error("UpdateItem (claim)", e)),
                },
            };
        }
    }

    async fn claim_start(&self, claim: &Claim, burst: &Grouping) -> Result<StartClaim, StoreError> {
        let start =
            claim.job_start.as_ref().ok_or_else(|| StoreError::other("a start claim without its job's start"))?;
        let (group, changes) = match burst {
            Grouping::Join(anchor) => (Some(anchor.key.as_str()), join_changes(claim, false, &anchor.key)),
            Grouping::Lead { window, replacing } => (
                None,
                vec![claim_change(claim, false), lead_change(self.head(start), claim, start, *window, replacing)],
            ),
        };
        let mut changes = changes;
        changes.push(run_start_change(start));
        if matches!(burst, Grouping::Join(_)) {
            changes.extend(self.head_change(start));
        }
        let mut result = self.transact_claim(changes.clone()).await?;
        let mut takeover = None;
        if let Transacted::Refused(0, Some(item)) = &result {
            if let Some(earlier) = earlier_of(item, claim) {
                // Again, taking over from the attempt that never settled.
                changes[0] = match burst {
                    Grouping::Join(anchor) => join_changes(claim, true, &anchor.key).remove(0),
                    Grouping::Lead { .. } => claim_change(claim, true),
                };
                takeover = Some(earlier);
                result = self.transact_claim(changes).await?;
            }
        }
        Ok(match (result, burst) {
            (Transacted::Done, _) => {
                self.head_written(start);
                StartClaim::Claimed(taken_over(claimed(claim, group), claim.slot, takeover))
            }
            (Transacted::Refused(0, item), _) => StartClaim::Taken(item.as_ref().map(record_from)),
            (Transacted::Refused(1, item), Grouping::Lead { .. }) => match item.as_ref().and_then(anchor_from) {
                Some(anchor) => StartClaim::InGroup(anchor),
                None => return Err(StoreError::other("the job's record refused the start without an anchor")),
            },
            (Transacted::Refused(1, _), Grouping::Join(_)) => StartClaim::Closed,
            (Transacted::Refused(..), _) => {
                return Err(StoreError::other("the job's records refused an unconditional write"));
            }
        })
    }

    async fn get(&self, key: &str) -> Result<Record, StoreError> {
        Ok(self.item(key, "record").await?.as_ref().map(record_from).unwrap_or_default())
    }

    async fn settle(&self, claim: &Claim, posted: &Posted) -> Result<(), StoreError> {
        let result = self
            .client
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
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                // Its own settle, applied and then answered with an error.
                Some(UpdateItemError::ConditionalCheckFailedException(c))
                    if c.item().and_then(|item| text(item, &attr(claim.slot, "ts"))).as_deref()
                        == Some(posted.ts.as_str()) =>
                {
                    Ok(())
                }
                Some(UpdateItemError::ConditionalCheckFailedException(_)) => Err(StoreError::other(format!(
                    "the claim on {} {} lapsed before it was settled",
                    claim.key,
                    claim.slot.name()
                ))),
                _ => Err(error("UpdateItem (settle)", e)),
            },
        }
    }

    async fn found(&self, key: &str, slot: Slot, posted: &Posted) -> Result<(), StoreError> {
        let change = Change::new(key, "SET #ts = :ts, #channel = :channel")
            .condition("attribute_not_exists(#ts)")
            .name("#ts", attr(slot, "ts"))
            .name("#channel", attr(slot, "channel"))
            .value(":ts", s(&posted.ts))
            .value(":channel", s(&posted.channel));
        match self.update(change).send().await {
            // Recorded already, by whoever posted or found it.
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(()),
            other => other.map(drop).map_err(|e| error("UpdateItem (found)", e)),
        }
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

/// How a transaction of a claim ended.
pub(super) enum Transacted {
    Done,
    /// Cancelled by the condition of the item at this index, with that
    /// item as it was.
    Refused(usize, Option<Item>),
}

impl DynamoStore {
    /// The changes in one transaction: all or none. A transaction that
    /// collides with another on one of its items (`TransactionConflict`)
    /// is an error of kind `Conflict`, which the retry policy retries;
    /// the SDK's own retry of one applied and answered 500 carries the same
    /// `ClientRequestToken`, which DynamoDB answers as done.
    pub(super) async fn transact_claim(&self, changes: Vec<Change>) -> Result<Transacted, StoreError> {
        let items = changes.into_iter().map(|change| self.transact(change)).collect::<Result<Vec<_>, _>>()?;
        let result = self.client.transact_write_items().set_transact_items(Some(items)).send().await;
        let e = match result {
            Ok(_) => return Ok(Transacted::Done),
            Err(e) => e,
        };
        let reasons = match e.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(c)) => c.cancellation_reasons(),
            _ => return Err(error("TransactWriteItems (claim)", e)),
        };
        let code = |i: usize| reasons.get(i).and_then(|r| r.code()).unwrap_or_default();
        // The claim's own condition first: a taken slot is the answer
        // whatever else refused.
        if let Some(i) = (0..reasons.len()).find(|&i| code(i) == "ConditionalCheckFailed") {
            return Ok(Transacted::Refused(i, reasons[i].item().cloned()));
        }
        let codes: Vec<String> = (0..reasons.len()).map(|i| code(i).to_owned()).collect();
        let kind = super::classify(Some("TransactionCanceledException"), "", None, &codes);
        Err(StoreError::new(kind, format!("DynamoDB TransactWriteItems (claim): cancelled [{}]", codes.join(", "))))
    }
}

/// When an earlier attempt first claimed the slot that refused `claim`,
/// if that slot is free for it otherwise: not posted, no live claim of
/// another's, and for a start, no completion claimed. `None`: truly taken.
fn earlier_of(item: &Item, claim: &Claim) -> Option<Timestamp> {
    let record = record_from(item);
    let slot = record.slot(claim.slot);
    let own = text(item, &attr(claim.slot, "claim")).as_deref() == Some(claim.token.as_str());
    // As the claim's condition (`#lease < :now`) compares them: in seconds.
    let live = slot.claimed_until.is_some_and(|until| until.secs() >= claim.now.secs()) && !own;
    let completion_touched = record.completion.posted.is_some() || record.completion.claimed_until.is_some();
    if slot.posted.is_some() || live || own || (claim.slot == Slot::Start && completion_touched) {
        return None;
    }
    slot.tried
}

/// The claimed record, marked as taken over from an earlier attempt.
fn taken_over(mut record: Record, slot: Slot, earlier: Option<Timestamp>) -> Record {
    record.slot_mut(slot).earlier = earlier;
    record
}

/// A claim's record as it stands after a transaction, which returns nothing.
fn claimed(claim: &Claim, group: Option<&str>) -> Record {
    let mut record = Record::default();
    record.slot_mut(claim.slot).claimed_until = Some(Timestamp::from_secs(claim.lease_until.secs()));
    record.group = group.map(str::to_owned);
    record
}

/// The job's head that opens a group with this start, unless another of
/// the job's tasks opened one within the window (or this start's own
/// earlier attempt did).
fn lead_change(head: Change, claim: &Claim, start: &JobStart, window: Duration, replacing: &Option<String>) -> Change {
    let mut condition = "attribute_not_exists(#anchor) OR #anchor = :me OR #at < :from OR #at > :to".to_owned();
    let mut head = head
        .set_also("#anchor = :me, #anchor_key = :key, #at = :started")
        .name("#anchor", ANCHOR)
        .name("#anchor_key", ANCHOR_KEY)
        .name("#at", ANCHOR_AT)
        .value(":me", s(&start.task_id))
        .value(":key", s(&claim.key))
        .value(":started", n(start.started.secs()))
        .value(":from", n((start.started - window).secs()))
        .value(":to", n((start.started + window).secs()));
    if let Some(replacing) = replacing {
        condition.push_str(" OR #anchor = :replacing");
        head = head.value(":replacing", s(replacing));
    }
    head.condition(condition)
}

/// A join's claim and the anchor's mark, on condition that the anchor's
/// outcome is not claimed.
fn join_changes(claim: &Claim, takeover: bool, anchor_key: &str) -> Vec<Change> {
    let own =
        claim_change(claim, takeover).set_also("#group = :group").name("#group", GROUP).value(":group", s(anchor_key));
    let mark = Change::new(anchor_key, "SET #group = :group")
        .condition("attribute_exists(#pk) AND attribute_not_exists(#done_claim) AND attribute_not_exists(#done_ts)")
        .name("#group", GROUP)
        .name("#pk", PARTITION_KEY)
        .name("#done_claim", attr(Slot::Completion, "claim"))
        .name("#done_ts", attr(Slot::Completion, "ts"))
        .value(":group", s(anchor_key));
    vec![own, mark]
}

/// The conditional write that claims a slot (see `ports::ThreadStore`).
/// A first try is refused by a slot an earlier attempt claimed and never
/// settled (`#tried`), so that the claim learns of it from the refusal
/// (`earlier_of`) and tries again as a `takeover`: only that rare path
/// costs a second write.
fn claim_change(claim: &Claim, takeover: bool) -> Change {
    let mut condition =
        "attribute_not_exists(#ts) AND (attribute_not_exists(#claim) OR #lease < :now OR #claim = :token)".to_owned();
    if !takeover {
        condition.push_str(" AND (attribute_not_exists(#tried) OR #claim = :token)");
    }
    let mut update =
        "SET #claim = :token, #lease = :lease, #expires = :expires, #tried = if_not_exists(#tried, :now)".to_owned();
    if claim.facts.is_some() {
        update.push_str(", #lookup = :lookup, #job = :job, #stream = :stream, #max = :max");
    }
    let spec = claim.facts.as_ref().and_then(|f| f.spec.as_ref()).and_then(|spec| serde_json::to_string(spec).ok());
    if spec.is_some() {
        update.push_str(", #spec = :spec");
    }
    let run = claim.run.as_ref().and_then(|run| serde_json::to_string(run).ok());
    if run.is_some() {
        update.push_str(", #run = :run");
    }
    if claim.slot == Slot::Start {
        condition.push_str(" AND attribute_not_exists(#done_claim) AND attribute_not_exists(#done_ts)");
    }
    let mut change = Change::new(&claim.key, update)
        .condition(condition)
        .name("#ts", attr(claim.slot, "ts"))
        .name("#claim", attr(claim.slot, "claim"))
        .name("#lease", attr(claim.slot, "lease"))
        .name("#tried", attr(claim.slot, "tried"))
        .name("#expires", TTL_ATTRIBUTE)
        .value(":token", s(&claim.token))
        .value(":lease", n(claim.lease_until.secs()))
        .value(":expires", n(claim.expires_at.secs()))
        .value(":now", n(claim.now.secs()));
    if claim.slot == Slot::Start {
        change =
            change.name("#done_claim", attr(Slot::Completion, "claim")).name("#done_ts", attr(Slot::Completion, "ts"));
    }
    if let Some(facts) = &claim.facts {
        change = change
            .name("#lookup", LOOKUP_ATTRIBUTE)
            .name("#job", "job")
            .name("#stream", "stream_logs")
            .name("#max", "stream_logs_max_replies")
            .value(":lookup", s(&task_lookup(&facts.task_id)))
            .value(":job", s(&facts.job))
            .value(":stream", s(facts.stream_logs.name()))
            .value(":max", n(facts.stream_logs_max_replies.into()));
    }
    if let Some(spec) = spec {
        change = change.name("#spec", "spec").value(":spec", s(&spec));
    }
    if let Some(run) = run {
        change = change.name("#run", "run").value(":run", s(&run));
    }
    change
}

fn found_from(item: &Item) -> Option<FoundTask> {
    Some(FoundTask {
        key: text(item, PARTITION_KEY)?,
        facts: facts_from(item)?,
        record: record_from(item),
        run: text(item, "run").and_then(|run| serde_json::from_str(&run).ok()),
    })
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
        Ok(out.items().iter().find_map(found_from))
    }

    async fn task(&self, key: &str) -> Result<Option<FoundTask>, StoreError> {
        Ok(self.item(key, "task").await?.as_ref().and_then(found_from))
    }

    async fn count_streamed(&self, key: &str, batch: &str, delta: i64) -> Result<i64, StoreError> {
        // The batch's mark and the task's count change together, and only
        // when the mark changes: a retried write counts once.
        let counted = delta > 0;
        let mark = if counted {
            Change::new(batch, "SET #b = :one").condition("attribute_not_exists(#b)").value(":one", n(1))
        } else {
            Change::new(batch, "REMOVE #b").condition("attribute_exists(#b)")
        }
        .name("#b", STREAMED_BATCH);
        let count = Change::new(key, "ADD #n :delta")
            .condition("attribute_exists(#pk)")
            .name("#n", STREAMED)
            .name("#pk", PARTITION_KEY)
            .value(":delta", n(if counted { 1 } else { -1 }));
        match self.transact_claim(vec![mark, count]).await? {
            Transacted::Done | Transacted::Refused(0, _) => {}
            Transacted::Refused(..) => {
                return Err(StoreError::new(StoreErrorKind::Other, format!("no task record {key} to count on")));
            }
        }
        Ok(self.item(key, "streamed").await?.and_then(|item| number(&item, STREAMED)).unwrap_or_default())
    }
}
