//! The notifier's ports: where it keeps thread state, how it posts to Slack,
//! where the Slack token and job logs come from, and what time it is.
//! Adapters live in `adapters`; [`Ports`] bundles one of each.
//!
//! Ports are trait objects: a new port is one field of [`Ports`], not a type
//! parameter on everything, and a caller can mix adapters (the replay keeps
//! threads in memory or in DynamoDB). Each call is a network round trip, so
//! the cost of a boxed future is nothing next to it.

use std::fmt;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::event::EcsTask;
use crate::jobs::LogStream;
use crate::log_levels::Threshold;
use crate::message::Message;

/// Which notice of a record a claim is for. A task has a start and a
/// completion; a registration has one notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// Where a message landed: what a reply needs to thread under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlotState {
    pub posted: Option<Posted>,
    /// Epoch seconds until which a claim by some invocation holds.
    pub claimed_until: Option<i64>,
}

impl SlotState {
    pub fn in_flight(&self, now: i64) -> bool {
        self.posted.is_none() && self.claimed_until.is_some_and(|until| until > now)
    }
}

/// Everything stored about one task or registration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub start: SlotState,
    pub completion: SlotState,
    pub once: SlotState,
}

impl Record {
    pub fn slot(&self, slot: Slot) -> &SlotState {
        match slot {
            Slot::Start => &self.start,
            Slot::Completion => &self.completion,
            Slot::Once => &self.once,
        }
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
    pub now: i64,
    pub lease_until: i64,
    /// When the stored record may be deleted (TTL), epoch seconds.
    pub expires_at: i64,
    /// Written with the claim, so the record can be found by task id.
    pub facts: Option<TaskFacts>,
}

/// What a task's record keeps besides its notices, written with its start
/// claim: what the notifier needs when it knows only the task id (a log
/// stream's name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFacts {
    pub task_id: String,
    pub job: String,
    pub stream_logs: Threshold,
    pub stream_logs_max_replies: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimResult {
    /// This attempt holds the slot; the record as it now stands.
    Claimed(Record),
    /// Posted already, or claimed by a live attempt elsewhere, or (for a
    /// start) the task's completion came first. The record when known.
    Taken(Option<Record>),
}

#[derive(Debug, thiserror::Error)]
#[error("thread store: {0}")]
pub struct StoreError(pub String);

/// Thread state with conditional writes: the rules of a claim are
///
/// - a slot can be claimed when it is not posted and has no live claim;
/// - a start can be claimed only while the completion has never been
///   claimed or posted, so a late RUNNING never posts after the outcome;
/// - settling and releasing act only on the caller's own claim.
#[async_trait]
pub trait ThreadStore: Send + Sync {
    async fn claim(&self, claim: &Claim) -> Result<ClaimResult, StoreError>;
    async fn get(&self, key: &str) -> Result<Record, StoreError>;
    /// Marks the claimed slot posted and drops the claim.
    async fn settle(&self, claim: &Claim, posted: &Posted) -> Result<(), StoreError>;
    /// Drops the claim so a retry can post.
    async fn release(&self, claim: &Claim) -> Result<(), StoreError>;
}

/// A task's record, found by task id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundTask {
    /// The record's key (`task#<task ARN>`).
    pub key: String,
    pub facts: TaskFacts,
    pub record: Record,
}

/// Tasks by id, and what is counted per task.
#[async_trait]
pub trait TaskIndex: Send + Sync {
    /// The record whose start claim wrote facts for `task_id`.
    async fn find(&self, task_id: &str) -> Result<Option<FoundTask>, StoreError>;
    /// Adds `delta` to the task's count of streamed log replies and
    /// returns the count after, atomically.
    async fn count_streamed(&self, key: &str, delta: i64) -> Result<i64, StoreError>;
}

#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    #[error("Slack API error: {0}")]
    Api(String),
    #[error(
        "Slack API error: {0} (the token was read again from Secrets Manager and is unchanged: fix or rotate the secret)"
    )]
    AuthUnchanged(String),
    #[error("Slack API rate limited (retry after {retry_after_secs:?} s)")]
    RateLimited { retry_after_secs: Option<u64> },
    #[error("Slack API HTTP {status}: {detail}")]
    Http { status: u16, detail: String },
    #[error("Slack API unreachable: {0}")]
    Transport(String),
    #[error(transparent)]
    Token(#[from] TokenError),
}

/// Posts to Slack, retrying what can be retried until `deadline` allows
/// no more (the invocation's own deadline).
#[async_trait]
pub trait SlackPoster: Send + Sync {
    async fn post(&self, message: &Message, deadline: SystemTime) -> Result<Posted, SlackError>;
    /// Replaces the message at `at` with `message` (`chat.update`).
    async fn update(&self, at: &Posted, message: &Message, deadline: SystemTime) -> Result<(), SlackError>;
}

/// A Slack bot token. Its `Debug` and `Display` never show the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SlackToken(String);

impl SlackToken {
    pub fn new(token: impl Into<String>) -> SlackToken {
        SlackToken(token.into())
    }

    /// The secret itself, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SlackToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SlackToken(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("Slack bot token not configured: set SLACK_TOKEN_SECRET_ID or SLACK_BOT_TOKEN")]
    NotConfigured,
    #[error("reading Slack token secret {secret_id}: {detail}")]
    Secret { secret_id: String, detail: String },
}

#[async_trait]
pub trait TokenSource: Send + Sync {
    async fn token(&self) -> Result<SlackToken, TokenError>;
    /// Called when Slack refused `stale`: reads the token again and returns
    /// it if it changed (the secret was rotated), `None` if it did not.
    async fn refresh(&self, stale: &SlackToken) -> Result<Option<SlackToken>, TokenError>;
}

/// The end of a task's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTail {
    /// The CloudWatch Logs stream read, when the lines came from one.
    pub stream: Option<LogStream>,
    /// Oldest first.
    pub lines: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LogError(pub String);

/// Reads the end of a task's main container log: from `configured` when
/// the job's settings name it, else where the task definition says.
#[async_trait]
pub trait LogSource: Send + Sync {
    /// `Ok(None)`: the task has no known log stream.
    async fn tail(&self, task: &EcsTask, configured: Option<&LogStream>) -> Result<Option<LogTail>, LogError>;
}

/// What time it is, and waiting: a port so that tests run on a clock they
/// control instead of waiting in real time.
#[async_trait]
pub trait Clock: Send + Sync {
    fn now(&self) -> SystemTime;
    async fn sleep(&self, duration: Duration);
}

/// One adapter for each port. `app` builds the Lambda's (DynamoDB, Slack
/// over HTTPS, CloudWatch Logs) and the local one (memory, console, files).
pub struct Ports {
    pub store: Box<dyn ThreadStore>,
    pub tasks: Box<dyn TaskIndex>,
    pub slack: Box<dyn SlackPoster>,
    pub logs: Box<dyn LogSource>,
    pub clock: Box<dyn Clock>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_debug_is_redacted() {
        let token = SlackToken::new("xoxb-very-secret");
        assert!(!format!("{token:?}").contains("secret"));
    }
}
