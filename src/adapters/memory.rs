//! Thread state in memory: for the replay command and tests. Applies the
//! same claim rules as the DynamoDB store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::ports::{
    Claim, ClaimResult, FoundTask, Posted, Record, Slot, StoreError, TaskFacts, TaskIndex, ThreadStore,
};

/// Clones share the records: two handlers on clones are two execution
/// environments with one table.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    records: Arc<Mutex<HashMap<String, Stored>>>,
}

#[derive(Debug, Clone, Default)]
struct Stored {
    record: Record,
    /// The token of the live claim of each slot, by slot.
    tokens: HashMap<&'static str, String>,
    facts: Option<TaskFacts>,
    streamed: i64,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Stored>) -> T) -> Result<T, StoreError> {
        let mut records = self.records.lock().map_err(|_| StoreError("memory store poisoned".into()))?;
        Ok(f(&mut records))
    }
}

fn claimable(record: &Record, claim: &Claim) -> bool {
    let state = record.slot(claim.slot);
    let free = state.posted.is_none() && state.claimed_until.is_none_or(|until| until < claim.now);
    let completion_untouched = record.completion.posted.is_none() && record.completion.claimed_until.is_none();
    free && (claim.slot != Slot::Start || completion_untouched)
}

#[async_trait]
impl ThreadStore for MemoryStore {
    async fn claim(&self, claim: &Claim) -> Result<ClaimResult, StoreError> {
        self.with(|records| {
            let stored = records.entry(claim.key.clone()).or_default();
            if !claimable(&stored.record, claim) {
                return ClaimResult::Taken(Some(stored.record.clone()));
            }
            stored.record.slot_mut(claim.slot).claimed_until = Some(claim.lease_until);
            stored.tokens.insert(claim.slot.name(), claim.token.clone());
            if let Some(facts) = &claim.facts {
                stored.facts = Some(facts.clone());
            }
            ClaimResult::Claimed(stored.record.clone())
        })
    }

    async fn get(&self, key: &str) -> Result<Record, StoreError> {
        self.with(|records| records.get(key).map(|s| s.record.clone()).unwrap_or_default())
    }

    async fn settle(&self, claim: &Claim, posted: &Posted) -> Result<(), StoreError> {
        self.with(|records| {
            if let Some(stored) = records.get_mut(&claim.key) {
                if stored.tokens.get(claim.slot.name()) == Some(&claim.token) {
                    stored.tokens.remove(claim.slot.name());
                    let state = stored.record.slot_mut(claim.slot);
                    state.claimed_until = None;
                    state.posted = Some(posted.clone());
                    return Ok(());
                }
            }
            Err(StoreError(format!("claim on {} {} was lost before it was settled", claim.key, claim.slot.name())))
        })?
    }

    async fn release(&self, claim: &Claim) -> Result<(), StoreError> {
        self.with(|records| {
            if let Some(stored) = records.get_mut(&claim.key) {
                if stored.tokens.get(claim.slot.name()) == Some(&claim.token) {
                    stored.tokens.remove(claim.slot.name());
                    stored.record.slot_mut(claim.slot).claimed_until = None;
                }
            }
        })
    }
}

#[async_trait]
impl TaskIndex for MemoryStore {
    async fn find(&self, task_id: &str) -> Result<Option<FoundTask>, StoreError> {
        self.with(|records| {
            records.iter().find_map(|(key, stored)| {
                let facts = stored.facts.as_ref().filter(|f| f.task_id == task_id)?;
                Some(FoundTask { key: key.clone(), facts: facts.clone(), record: stored.record.clone() })
            })
        })
    }

    async fn count_streamed(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.with(|records| match records.get_mut(key) {
            Some(stored) => {
                stored.streamed += delta;
                Ok(stored.streamed)
            }
            None => Err(StoreError(format!("no record {key}"))),
        })?
    }
}
