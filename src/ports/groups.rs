//! Groups' counts: which tasks are in a group, how they ended, and which
//! version its message shows.

use async_trait::async_trait;

use crate::burst::Group;

use super::store::StoreError;

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
    /// Takes the turn to make the message show `version`: only while no
    /// later version is shown and the last change began or ended at least
    /// `gap_ms` before `now_ms`. False when someone else has it.
    async fn take_turn(&self, key: &str, version: i64, now_ms: i64, gap_ms: i64) -> Result<bool, StoreError>;
    /// The turn for `version` is over: shown at `now_ms`, or (`shown`
    /// false) given back as `previous`, so a later change shows it.
    async fn end_turn(&self, key: &str, version: i64, outcome: TurnEnd) -> Result<(), StoreError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnEnd {
    /// The message shows it; the gap counts from `at` (epoch ms).
    Shown { at: i64 },
    /// Slack did not take it: the message still shows `previous`.
    Failed { previous: i64 },
}
