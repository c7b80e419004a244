//! Thread state and job records in memory: for the replay command and
//! tests. Applies the same claim rules as the DynamoDB store, and writes a
//! start claim and its job's record together, as its transaction does.
//!
//! Tests can make it fail on cue as DynamoDB does (`fail_next`): a throttle
//! or a conflict that applies nothing, or a write that is applied and then
//! answered with an error, so the retry meets its own write.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::group::{self, Anchor, Group, Grouping};
use crate::health::Run;
use crate::mute::Mute;
use crate::ports::{Acknowledged, HISTORY_RUNS, StoreErrorKind};
use crate::ports::{
    Claim, ClaimResult, FoundTask, GroupChange, GroupStore, JobRun, JobStart, JobState, JobStore, Posted, Record, Slot,
    StartClaim, StoreError, TaskFacts, TaskIndex, ThreadStore, TurnEnd, TurnTimes,
};
use crate::time::Timestamp;

/// Clones share the records: two handlers on clones are two execution
/// environments with one table.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    tables: Arc<Mutex<Tables>>,
}

#[derive(Debug, Default)]
struct Tables {
    faults: VecDeque<Fault>,
    /// Settles that fail (`Unavailable`, not applied), from now on.
    failing_settles: usize,
    records: HashMap<String, Stored>,
    jobs: HashMap<String, JobState>,
    groups: HashMap<String, Group>,
    watching_since: Option<Timestamp>,
}

#[derive(Debug, Clone, Default)]
struct Stored {
    record: Record,
    /// The token of the live claim of each slot, by slot.
    tokens: HashMap<&'static str, String>,
    facts: Option<TaskFacts>,
    streamed: HashSet<String>,
    run: Option<crate::job_control::RunSpec>,
}

/// A failure the next store call meets.
#[derive(Debug, Clone, Copy)]
pub struct Fault {
    pub kind: StoreErrorKind,
    /// The call is applied, then answered with the error (for a write, the
    /// ambiguous 500 of DynamoDB under load).
    pub applied: bool,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next calls fail with these faults, one call each, in order.
    pub fn fail_next(&self, faults: impl IntoIterator<Item = Fault>) {
        if let Ok(mut tables) = self.tables.lock() {
            tables.faults.extend(faults);
        }
    }

    /// The next `n` settles fail, whatever else succeeds: a posted message
    /// whose `ts` cannot be recorded.
    pub fn fail_settles(&self, n: usize) {
        if let Ok(mut tables) = self.tables.lock() {
            tables.failing_settles = n;
        }
    }

    pub fn clear_faults(&self) {
        if let Ok(mut tables) = self.tables.lock() {
            tables.faults.clear();
        }
    }

    /// Faults not yet met.
    pub fn faults_left(&self) -> usize {
        self.tables.lock().map_or(0, |t| t.faults.len())
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Stored>) -> T) -> Result<T, StoreError> {
        self.tables(|tables| f(&mut tables.records))
    }

    fn tables<T>(&self, f: impl FnOnce(&mut Tables) -> T) -> Result<T, StoreError> {
        let mut tables = self.tables.lock().map_err(|_| StoreError::other("memory store poisoned"))?;
        let fault = tables.faults.pop_front();
        match fault {
            None => Ok(f(&mut tables)),
            Some(Fault { kind, applied }) => {
                if applied {
                    f(&mut tables);
                }
                Err(StoreError::new(kind, format!("memory store: injected {kind:?} (applied: {applied})")))
            }
        }
    }
}

fn found(key: &str, stored: &Stored) -> Option<FoundTask> {
    Some(FoundTask {
        key: key.to_owned(),
        facts: stored.facts.clone()?,
        record: stored.record.clone(),
        run: stored.run.clone(),
    })
}

fn record_start(jobs: &mut HashMap<String, JobState>, start: &JobStart) {
    let job = jobs.entry(start.job.clone()).or_default();
    job.job.clone_from(&start.job);
    job.channel = Some(start.channel.clone());
    if !job.runs.iter().any(|r| r.task_id == start.task_id) {
        job.runs.push(Run {
            task_id: start.task_id.clone(),
            start: Some(start.started),
            end: None,
            run_time: None,
            succeeded: None,
            failed: None,
            interrupted: false,
            ..Run::default()
        });
    }
}

/// A job's record as the DynamoDB store reads it: its most recent runs.
fn recent(job: &JobState) -> JobState {
    let mut job = job.clone();
    job.runs.sort_by_key(|r| std::cmp::Reverse(r.start.or(r.end)));
    job.runs.truncate(HISTORY_RUNS);
    job
}

fn claimable(stored: &Stored, claim: &Claim) -> bool {
    let record = &stored.record;
    let state = record.slot(claim.slot);
    let mine = stored.tokens.get(claim.slot.name()) == Some(&claim.token);
    let free = state.posted.is_none() && (mine || state.claimed_until.is_none_or(|until| until < claim.now));
    let completion_untouched = record.completion.posted.is_none() && record.completion.claimed_until.is_none();
    free && (claim.slot != Slot::Start || completion_untouched)
}

/// The claim's write when the slot is free: the record after it, else the
/// record that refused it.
fn apply_claim(tables: &mut Tables, claim: &Claim) -> ClaimResult {
    let stored = tables.records.entry(claim.key.clone()).or_default();
    if !claimable(stored, claim) {
        return ClaimResult::Taken(Some(stored.record.clone()));
    }
    let mine = stored.tokens.get(claim.slot.name()) == Some(&claim.token);
    let state = stored.record.slot_mut(claim.slot);
    // Taken over from an earlier attempt that never settled, as the
    // DynamoDB store tells it.
    // `tried` is whole seconds, as the DynamoDB store keeps it.
    let earlier = state.tried.filter(|_| !mine);
    state.tried.get_or_insert(Timestamp::from_secs(claim.now.secs()));
    state.claimed_until = Some(claim.lease_until);
    stored.tokens.insert(claim.slot.name(), claim.token.clone());
    if let Some(facts) = &claim.facts {
        stored.facts = Some(facts.clone());
    }
    if let Some(run) = &claim.run {
        stored.run = Some(run.clone());
    }
    let mut record = stored.record.clone();
    record.slot_mut(claim.slot).earlier = earlier;
    if let Some(start) = &claim.job_start {
        record_start(&mut tables.jobs, start);
    }
    ClaimResult::Claimed(record)
}

/// Whether a task can still join `anchor`'s group: its outcome unclaimed.
fn joinable(tables: &Tables, anchor: &Anchor) -> bool {
    tables.records.get(&anchor.key).is_some_and(|stored| {
        stored.record.completion.posted.is_none() && stored.record.completion.claimed_until.is_none()
    })
}

#[async_trait]
impl ThreadStore for MemoryStore {
    async fn claim(&self, claim: &Claim) -> Result<ClaimResult, StoreError> {
        self.tables(|tables| apply_claim(tables, claim))
    }

    async fn claim_start(&self, claim: &Claim, burst: &Grouping) -> Result<StartClaim, StoreError> {
        let start =
            claim.job_start.as_ref().ok_or_else(|| StoreError::other("a start claim without its job's start"))?;
        self.tables(|tables| {
            if let Some(stored) = tables.records.get(&claim.key) {
                if !claimable(stored, claim) {
                    return StartClaim::Taken(Some(stored.record.clone()));
                }
            }
            match burst {
                Grouping::Lead { window, replacing } => {
                    let current = tables.jobs.get(&start.job).and_then(|job| job.anchor.as_ref());
                    let open = current.filter(|anchor| {
                        group::must_join(Some(anchor), &start.task_id, start.started, *window, replacing.as_deref())
                    });
                    if let Some(anchor) = open {
                        return StartClaim::InGroup(anchor.clone());
                    }
                }
                Grouping::Join(anchor) if !joinable(tables, anchor) => return StartClaim::Closed,
                Grouping::Join(_) => {}
            }
            let mut record = match apply_claim(tables, claim) {
                ClaimResult::Claimed(record) => record,
                ClaimResult::Taken(record) => return StartClaim::Taken(record),
            };
            match burst {
                Grouping::Lead { .. } => {
                    let anchor =
                        Anchor { task_id: start.task_id.clone(), key: claim.key.clone(), started: start.started };
                    tables.jobs.entry(start.job.clone()).or_default().anchor = Some(anchor);
                }
                Grouping::Join(anchor) => {
                    for key in [&claim.key, &anchor.key] {
                        if let Some(stored) = tables.records.get_mut(key) {
                            stored.record.group = Some(anchor.key.clone());
                        }
                    }
                    record.group = Some(anchor.key.clone());
                }
            }
            StartClaim::Claimed(record)
        })
    }

    async fn get(&self, key: &str) -> Result<Record, StoreError> {
        self.with(|records| records.get(key).map(|s| s.record.clone()).unwrap_or_default())
    }

    async fn settle(&self, claim: &Claim, posted: &Posted) -> Result<(), StoreError> {
        let failing = {
            let mut tables = self.tables.lock().map_err(|_| StoreError::other("memory store poisoned"))?;
            let failing = tables.failing_settles > 0;
            tables.failing_settles = tables.failing_settles.saturating_sub(1);
            failing
        };
        if failing {
            return Err(StoreError::new(StoreErrorKind::Unavailable, "memory store: settle refused"));
        }
        self.with(|records| {
            if let Some(stored) = records.get_mut(&claim.key) {
                if stored.tokens.get(claim.slot.name()) == Some(&claim.token) {
                    stored.tokens.remove(claim.slot.name());
                    let state = stored.record.slot_mut(claim.slot);
                    state.claimed_until = None;
                    state.posted = Some(posted.clone());
                    return Ok(());
                }
                // Its own earlier settle, applied.
                if stored.record.slot(claim.slot).posted.as_ref() == Some(posted) {
                    return Ok(());
                }
            }
            Err(StoreError::other(format!(
                "claim on {} {} was lost before it was settled",
                claim.key,
                claim.slot.name()
            )))
        })?
    }

    async fn found(&self, key: &str, slot: Slot, posted: &Posted) -> Result<(), StoreError> {
        self.with(|records| {
            let state = records.entry(key.to_owned()).or_default().record.slot_mut(slot);
            if state.posted.is_none() {
                state.posted = Some(posted.clone());
            }
        })
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
                stored.facts.as_ref().filter(|f| f.task_id == task_id)?;
                found(key, stored)
            })
        })
    }

    async fn task(&self, key: &str) -> Result<Option<FoundTask>, StoreError> {
        self.with(|records| records.get(key).and_then(|stored| found(key, stored)))
    }

    async fn count_streamed(&self, key: &str, batch: &str, delta: i64) -> Result<i64, StoreError> {
        self.with(|records| match records.get_mut(key) {
            Some(stored) => {
                if delta > 0 {
                    stored.streamed.insert(batch.to_owned());
                } else {
                    stored.streamed.remove(batch);
                }
                Ok(stored.streamed.len() as i64)
            }
            None => Err(StoreError::other(format!("no record {key}"))),
        })?
    }
}

#[async_trait]
impl JobStore for MemoryStore {
    async fn record_start(&self, start: &JobStart) -> Result<(), StoreError> {
        self.tables(|tables| record_start(&mut tables.jobs, start))
    }

    async fn record_run(&self, run: &JobRun) -> Result<JobState, StoreError> {
        self.tables(|tables| {
            let job = tables.jobs.entry(run.job.clone()).or_default();
            let mut before = recent(job);
            before.job.clone_from(&run.job);
            job.job.clone_from(&run.job);
            job.channel = Some(run.channel.clone());
            job.runs.retain(|r| r.task_id != run.run.task_id);
            job.runs.push(run.run.clone());
            if run.spec.is_some() {
                job.last_run.clone_from(&run.spec);
            }
            before
        })
    }

    async fn jobs(&self) -> Result<Vec<JobState>, StoreError> {
        // As the table's index: no acknowledgement or mute (read with `head`).
        self.tables(|tables| {
            tables.jobs.values().map(|j| JobState { acknowledged: None, mute: None, ..recent(j) }).collect()
        })
    }

    async fn set_outage(&self, job: &str, since: Option<Timestamp>) -> Result<(), StoreError> {
        self.tables(|tables| {
            let state = tables.jobs.entry(job.to_owned()).or_default();
            state.job = job.to_owned();
            state.outage = since;
        })
    }

    async fn head(&self, job: &str) -> Result<Option<JobState>, StoreError> {
        self.tables(|tables| tables.jobs.get(job).map(|s| JobState { runs: Vec::new(), last_run: None, ..s.clone() }))
    }

    async fn acknowledge(&self, job: &str, ack: &Acknowledged) -> Result<(), StoreError> {
        self.tables(|tables| {
            let state = tables.jobs.entry(job.to_owned()).or_default();
            state.job = job.to_owned();
            state.acknowledged = Some(ack.clone());
        })
    }

    async fn set_mute(&self, job: &str, mute: Option<&Mute>) -> Result<(), StoreError> {
        self.tables(|tables| {
            let state = tables.jobs.entry(job.to_owned()).or_default();
            state.job = job.to_owned();
            state.mute = mute.cloned();
        })
    }

    async fn forget_runs(&self, job: &str, task_ids: &[String]) -> Result<(), StoreError> {
        self.tables(|tables| {
            if let Some(state) = tables.jobs.get_mut(job) {
                state.runs.retain(|r| !task_ids.contains(&r.task_id));
            }
        })
    }

    async fn watching_since(&self, now: Timestamp) -> Result<Timestamp, StoreError> {
        self.tables(|tables| *tables.watching_since.get_or_insert(now))
    }
}

#[async_trait]
impl GroupStore for MemoryStore {
    async fn add(&self, key: &str, change: &GroupChange, _expires_at: Timestamp) -> Result<Group, StoreError> {
        self.tables(|tables| {
            let stored = tables.records.entry(change.task_key.clone()).or_default();
            let before = stored.record.part;
            let after = group::next_part(before, change.part);
            let group = tables.groups.entry(key.to_owned()).or_default();
            if before != Some(after) {
                stored.record.part = Some(after);
                *group = group.with(group::delta(before, after, change.anchor));
            }
            group.clone()
        })
    }

    async fn group(&self, key: &str) -> Result<Group, StoreError> {
        self.tables(|tables| tables.groups.get(key).cloned().unwrap_or_default())
    }

    async fn take_turn(&self, key: &str, turn: TurnTimes) -> Result<Option<Group>, StoreError> {
        self.tables(|tables| match tables.groups.get_mut(key) {
            // Its own turn, taken by an attempt that was answered with an error.
            Some(group) if group.busy_until == turn.until => Some(group.clone()),
            Some(group)
                if group.shown < group.version
                    && group.shown_at <= turn.now - turn.gap
                    && group.busy_until <= turn.now =>
            {
                group.shown = group.version;
                group.shown_at = turn.now;
                group.busy_until = turn.until;
                group.waiter_until = Timestamp::EPOCH;
                Some(group.clone())
            }
            _ => None,
        })
    }

    async fn register_waiter(&self, key: &str, mark: Timestamp, now: Timestamp) -> Result<bool, StoreError> {
        self.tables(|tables| match tables.groups.get_mut(key) {
            Some(group) if group.waiter_until <= now || group.waiter_until == mark => {
                group.waiter_until = mark;
                true
            }
            _ => false,
        })
    }

    async fn unregister_waiter(&self, key: &str, mark: Timestamp) -> Result<(), StoreError> {
        self.tables(|tables| {
            if let Some(group) = tables.groups.get_mut(key).filter(|g| g.waiter_until == mark) {
                group.waiter_until = Timestamp::EPOCH;
            }
        })
    }

    async fn end_turn(&self, key: &str, version: i64, outcome: TurnEnd) -> Result<(), StoreError> {
        self.tables(|tables| {
            if let Some(group) = tables.groups.get_mut(key).filter(|g| g.shown == version) {
                match outcome {
                    TurnEnd::Shown { at } => group.shown_at = at,
                    TurnEnd::Failed => group.shown = 0,
                }
                group.busy_until = Timestamp::EPOCH;
            }
        })
    }
}
