//! Groups' counts: which tasks are in a group, how they ended, and which
//! version its message shows.

use async_trait::async_trait;

use std::time::Duration;

use crate::group::{Group, Part};
use crate::time::Timestamp;

use super::error::StoreError;

/// One task counted in its group: as running (it joined) or with its
/// outcome. Counting a task again as what it was counted as changes
/// nothing, so a retried event counts once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupChange {
    /// The task's record (`task#<task ARN>`), which keeps its `Part`.
    pub task_key: String,
    /// Whether the task is the group's anchor, a member from the start.
    pub anchor: bool,
    pub part: Part,
}

#[async_trait]
pub trait GroupStore: Send + Sync {
    /// Counts the task in the group at `key` and returns the group after:
    /// the task's part and the group's counters change together, only
    /// from the part the task's record had, so no count is lost or made
    /// twice under concurrent, repeated or retried writes.
    async fn add(&self, key: &str, change: &GroupChange, expires_at: Timestamp) -> Result<Group, StoreError>;
    async fn group(&self, key: &str) -> Result<Group, StoreError>;
    /// Takes the turn to change the message, until `turn.until` at the
    /// latest: only while it does not show the latest version, no change
    /// is under way, and the last one began or ended at least `turn.gap`
    /// before `turn.now`. Marks the latest version shown, unregisters the
    /// waiter, and returns the group as it then is; `None` when the turn
    /// is not there to take.
    async fn take_turn(&self, key: &str, turn: TurnTimes) -> Result<Option<Group>, StoreError>;
    /// Registers as the group's one waiter, with `mark` (when the
    /// registration lapses): false while another's is live.
    async fn register_waiter(&self, key: &str, mark: Timestamp, now: Timestamp) -> Result<bool, StoreError>;
    /// Drops the waiter's registration, if it is still `mark`.
    async fn unregister_waiter(&self, key: &str, mark: Timestamp) -> Result<(), StoreError>;
    /// The turn that showed `version` is over.
    async fn end_turn(&self, key: &str, version: i64, outcome: TurnEnd) -> Result<(), StoreError>;
}

/// When a turn is taken, the least time since the last change, and when
/// the turn lapses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnTimes {
    pub now: Timestamp,
    pub gap: Duration,
    pub until: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnEnd {
    /// The message shows it; the gap counts from `at`.
    Shown { at: Timestamp },
    /// Slack did not take it: marked unshown, so the next turn shows it.
    Failed,
}
