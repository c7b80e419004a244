//! Groups' counts: which tasks are in a group, how they ended, and which
//! version its message shows.

use async_trait::async_trait;

use crate::burst::Group;

use super::error::StoreError;

/// Tasks to add to a group's sets: adding a task again changes nothing
/// but the version, so a retried event counts once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupChange {
    pub members: Vec<String>,
    pub succeeded: Option<String>,
    pub failed: Option<String>,
}

#[async_trait]
pub trait GroupStore: Send + Sync {
    /// Adds to the group at `key` atomically and returns it after: no
    /// lost update under concurrent completions.
    async fn add(&self, key: &str, change: &GroupChange, expires_at: i64) -> Result<Group, StoreError>;
    async fn group(&self, key: &str) -> Result<Group, StoreError>;
    /// Takes the turn to change the message, until `until_ms` at the
    /// latest: only while it does not show the latest version, no change
    /// is under way, and the last one began or ended at least `gap_ms`
    /// before `now_ms`. Marks the latest version shown, unregisters the
    /// waiter, and returns the group as it then is; `None` when the turn
    /// is not there to take.
    async fn take_turn(&self, key: &str, turn: TurnTimes) -> Result<Option<Group>, StoreError>;
    /// Registers as the group's one waiter, with `mark` (when the
    /// registration lapses, epoch ms): false while another's is live.
    async fn register_waiter(&self, key: &str, mark: i64, now_ms: i64) -> Result<bool, StoreError>;
    /// Drops the waiter's registration, if it is still `mark`.
    async fn unregister_waiter(&self, key: &str, mark: i64) -> Result<(), StoreError>;
    /// The turn that showed `version` is over.
    async fn end_turn(&self, key: &str, version: i64, outcome: TurnEnd) -> Result<(), StoreError>;
}

/// When a turn is taken, epoch ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnTimes {
    pub now_ms: i64,
    pub gap_ms: i64,
    pub until_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnEnd {
    /// The message shows it; the gap counts from `at` (epoch ms).
    Shown { at: i64 },
    /// Slack did not take it: marked unshown, so the next turn shows it.
    Failed,
}
