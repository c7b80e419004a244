//! Thread state: claims on notices, and finding a task's record by id.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use async_trait::async_trait;

use crate::group::{Anchor, Grouping, Part};
use crate::job_control::RunSpec;
use crate::log_levels::Threshold;
use crate::time::Timestamp;

use super::error::StoreError;
use super::history::JobStart;

/// Which notice of a record a claim is for. A task has a start and a
/// completion; a registration has one notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Slot {
    Start,
    Completion,
    Once,
}

impl Slot {
    pub const ALL: [Slot; 3] = [Slot::Start, Slot::Completion, Slot::Once];

    /// The prefix of this slot's attributes in a stored record.
    pub fn name(self) -> &'static str {
        match self {
            Slot::Start => "start",
            Slot::Completion => "completion",
            Slot::Once => "once",
        }
    }
}

/// The `ts` a slot is settled with when what it did was not a message of
/// its own (an answer to a slash command, a muted run's notice).
pub const ANSWERED: &str = "answered";

/// Where a message landed: what a reply needs to thread under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlotState {
    pub posted: Option<Posted>,
    /// Until when a claim by some invocation holds.
    pub claimed_until: Option<Timestamp>,
    /// When an attempt first claimed the slot: set once a slot was ever
    /// claimed. A slot claimed but not posted may hold a message that was
    /// posted and never recorded.
    pub tried: Option<Timestamp>,
    /// In a claim's answer only: the claim took the slot over from an
    /// earlier attempt that never settled it, which first claimed it then.
    pub earlier: Option<Timestamp>,
}

impl SlotState {
    /// Where its message is, when it posted one.
    pub fn message(&self) -> Option<&Posted> {
        self.posted.as_ref().filter(|p| p.ts != ANSWERED)
    }

    pub fn in_flight(&self, now: Timestamp) -> bool {
        self.posted.is_none() && self.claimed_until.is_some_and(|until| until > now)
    }
}

/// Everything stored about one task or registration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub start: SlotState,
    pub completion: SlotState,
    pub once: SlotState,
    /// The key of the group's anchor (`task#<task ARN>`) when the task is in
    /// a group, itself for the anchor: its message is the group's.
    pub group: Option<String>,
    /// What the task was counted as in its group, once it was.
    pub part: Option<Part>,
}

impl Record {
    pub fn slot(&self, slot: Slot) -> &SlotState {
        match slot {
            Slot::Start => &self.start,
            Slot::Completion => &self.completion,
            Slot::Once => &self.once,
        }
    }

    /// The messages that show a failed run, with the thread each is in: its
    /// reply (in the start message's thread) and its start message.
    pub fn failure_places(&self) -> Vec<(Posted, Option<String>)> {
        let start = self.start.message();
        let mut places: Vec<(Posted, Option<String>)> = Vec::new();
        if let Some(reply) = self.completion.message() {
            places.push((reply.clone(), start.map(|s| s.ts.clone())));
        }
        places.extend(start.map(|s| (s.clone(), None)));
        places
    }

    pub fn slot_mut(&mut self, slot: Slot) -> &mut SlotState {
        match slot {
            Slot::Start => &mut self.start,
            Slot::Completion => &mut self.completion,
            Slot::Once => &mut self.once,
        }
    }
}

/// A request to become the one invocation that posts a notice.
///
/// The claim is a lease, not a lock: it lapses at `lease_until`, so an
/// invocation that died mid-way cannot block the retry of its event.
#[derive(Debug, Clone)]
pub struct Claim {
    pub key: String,
    pub slot: Slot,
    /// Unique per attempt, so only its owner can release or settle it.
    pub token: String,
    pub now: Timestamp,
    pub lease_until: Timestamp,
    /// When the stored record may be deleted (TTL).
    pub expires_at: Timestamp,
    /// Written with the claim, so the record can be found by task id.
    pub facts: Option<TaskFacts>,
    /// Recorded on the job's record in the same write (a start claim).
    pub job_start: Option<JobStart>,
    /// What the run had, kept for a re-run (a completion claim).
    pub run: Option<RunSpec>,
    /// Set by `claim::Notices` when the store answers that this claim took
    /// over from an earlier attempt that never settled (when it first
    /// claimed, epoch ms; 0: none): the post looks for that attempt's
    /// message before it posts one.
    pub earlier: Arc<AtomicI64>,
}

impl Claim {
    /// When an earlier attempt that never settled first claimed the slot.
    pub fn earlier(&self) -> Option<Timestamp> {
        Some(self.earlier.load(Ordering::Relaxed)).filter(|t| *t > 0).map(Timestamp::from_millis)
    }
}

/// What a task's record keeps besides its notices, written with its start
/// claim: what the notifier needs when it knows only the task id (a log
/// stream's name).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskFacts {
    pub task_id: String,
    /// The job's name, for messages and logs; never for who may act on
    /// it, since names can be shared by tasks of different rules.
    pub job: String,
    pub stream_logs: Threshold,
    pub stream_logs_max_replies: u32,
    /// The task as the rules see it: job control finds the rule that
    /// matched it, and so its operators and `run` settings, from this.
    pub spec: Option<RunSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimResult {
    /// This attempt holds the slot; the record as it now stands.
    Claimed(Record),
    /// Posted already, or claimed by a live attempt elsewhere, or (for a
    /// start) the task's completion came first. The record when known.
    Taken(Option<Record>),
}

/// What a start claim that may group found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartClaim {
    Claimed(Record),
    Taken(Option<Record>),
    /// Another of the job's tasks opened a group that this start belongs in.
    InGroup(Anchor),
    /// The group to join has closed: its anchor's outcome is claimed.
    Closed,
}

impl From<ClaimResult> for StartClaim {
    fn from(result: ClaimResult) -> Self {
        match result {
            ClaimResult::Claimed(record) => StartClaim::Claimed(record),
            ClaimResult::Taken(record) => StartClaim::Taken(record),
        }
    }
}

/// Thread state with conditional writes: the rules of a claim are
///
/// - a slot can be claimed when it is not posted and has no live claim;
/// - a start can be claimed only while the completion has never been
///   claimed or posted, so a late RUNNING never posts after the outcome;
/// - settling and releasing act only on the caller's own claim;
/// - a write that finds the caller's own earlier write (the same token: a
///   retry of a write that was applied and then answered with an error)
///   succeeds as if it were the first.
#[async_trait]
pub trait ThreadStore: Send + Sync {
    async fn claim(&self, claim: &Claim) -> Result<ClaimResult, StoreError>;
    /// A start claim (`claim.job_start` set) that opens or joins its job's
    /// group, in the same write as the claim and the job's record. Joining
    /// marks the anchor's record too, on condition that the anchor's
    /// outcome is not claimed: then the anchor's completion knows it leads
    /// a group, and no task joins a group whose outcome was told alone.
    async fn claim_start(&self, claim: &Claim, burst: &Grouping) -> Result<StartClaim, StoreError>;
    async fn get(&self, key: &str) -> Result<Record, StoreError>;
    /// Marks the claimed slot posted and drops the claim.
    async fn settle(&self, claim: &Claim, posted: &Posted) -> Result<(), StoreError>;
    /// Drops the claim so a retry can post.
    async fn release(&self, claim: &Claim) -> Result<(), StoreError>;
    /// Records where `key`'s `slot` was found posted (a message an earlier
    /// attempt posted and never recorded), unless a post is recorded.
    async fn found(&self, key: &str, slot: Slot, posted: &Posted) -> Result<(), StoreError>;
}

/// A task's record, found by task id.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundTask {
    /// The record's key (`task#<task ARN>`).
    pub key: String,
    pub facts: TaskFacts,
    pub record: Record,
    /// What the run had, once it finished.
    pub run: Option<RunSpec>,
}

/// Tasks by id, and what is counted per task.
#[async_trait]
pub trait TaskIndex: Send + Sync {
    /// The record whose claims wrote facts for `task_id`.
    async fn find(&self, task_id: &str) -> Result<Option<FoundTask>, StoreError>;
    /// The record at `key` (`task#<task ARN>`), when claims wrote its facts.
    async fn task(&self, key: &str) -> Result<Option<FoundTask>, StoreError>;
    /// Counts (`delta` 1) or uncounts (`delta` -1) the log batch `batch`
    /// (its record's key) among the task's streamed replies, and returns
    /// the count after. Counting a batch that is counted, or uncounting
    /// one that is not, changes nothing: a retried write counts once.
    async fn count_streamed(&self, key: &str, batch: &str, delta: i64) -> Result<i64, StoreError>;
}
