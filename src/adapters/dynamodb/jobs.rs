//! Each job's record, `job#<job name>`:
//!
//! | attribute | meaning |
//! |---|---|
//! | `lookup` | `jobs`: every job's record is found through the `lookup` index |
//! | `job`, `channel` | the job's name and channel |
//! | `r_<task id>` | a run: map of `s` start, `e` end (epoch seconds), `d` run time (s), `ok`, `f` failed count; a running task has `s` only |
//! | `outage` | the first due time of a reported outage of missed runs |
//! | `last_run` | what the last finished run had (JSON): `/jobs run` runs it again |
//! | `b_anchor`, `b_key`, `b_at` | the task that opened the job's latest group: id, record key, start (epoch seconds) |
//! | `expires_at` | TTL, epoch seconds, pushed back by every run |
//!
//! One item per job, one attribute per run: recording a run is one
//! idempotent write (the same task's run is the same attribute), and its
//! `ALL_OLD` is the history before it.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::{Change, DynamoStore, Item, LOOKUP_ATTRIBUTE, LOOKUP_INDEX, TTL_ATTRIBUTE, error, n, number, s, text};
use crate::burst::Anchor;
use crate::health::Run;
use crate::ports::{JobRun, JobStart, JobState, JobStore, StoreError};

const JOBS: &str = "jobs";
const RUN_PREFIX: &str = "r_";
const WATCH_KEY: &str = "watch";
/// REMOVE clauses per write, well within DynamoDB's expression limits.
const FORGET_PER_WRITE: usize = 50;

fn job_key(job: &str) -> String {
    format!("job#{job}")
}

/// The job's record with this start: `if_not_exists`, so a start never
/// overwrites the finished run of the same task.
pub(super) fn start_change(start: &JobStart) -> Change {
    let partial = AttributeValue::M(HashMap::from([("s".to_owned(), n(start.started))]));
    Change::new(
        job_key(&start.job),
        "SET #lookup = :jobs, #job = :job, #channel = :channel, #expires = :expires, #run = if_not_exists(#run, :run)",
    )
    .name("#lookup", LOOKUP_ATTRIBUTE)
    .name("#job", "job")
    .name("#channel", "channel")
    .name("#expires", TTL_ATTRIBUTE)
    .name("#run", format!("{RUN_PREFIX}{}", start.task_id))
    .value(":jobs", s(JOBS))
    .value(":job", s(&start.job))
    .value(":channel", s(&start.channel))
    .value(":expires", n(start.expires_at))
    .value(":run", partial)
}

fn run_value(run: &Run) -> AttributeValue {
    let mut map = HashMap::new();
    if let Some(start) = run.start {
        map.insert("s".to_owned(), n(start));
    }
    if let Some(end) = run.end {
        map.insert("e".to_owned(), n(end));
    }
    if let Some(took) = run.run_time {
        map.insert("d".to_owned(), n(took.as_secs() as i64));
    }
    if let Some(ok) = run.succeeded {
        map.insert("ok".to_owned(), AttributeValue::Bool(ok));
    }
    if let Some(failed) = run.failed {
        map.insert("f".to_owned(), n(failed as i64));
    }
    AttributeValue::M(map)
}

fn run_from(task_id: &str, value: &AttributeValue) -> Option<Run> {
    let AttributeValue::M(map) = value else { return None };
    let num = |k: &str| number(map, k);
    Some(Run {
        task_id: task_id.to_owned(),
        start: num("s"),
        end: num("e"),
        run_time: num("d").map(|d| Duration::from_secs(d.max(0) as u64)),
        succeeded: match map.get("ok") {
            Some(AttributeValue::Bool(ok)) => Some(*ok),
            _ => None,
        },
        failed: num("f").map(|f| f.max(0) as u64),
    })
}

pub(super) const ANCHOR: &str = "b_anchor";
pub(super) const ANCHOR_KEY: &str = "b_key";
pub(super) const ANCHOR_AT: &str = "b_at";

pub(super) fn anchor_from(item: &Item) -> Option<Anchor> {
    Some(Anchor { task_id: text(item, ANCHOR)?, key: text(item, ANCHOR_KEY)?, started: number(item, ANCHOR_AT)? })
}

pub(super) fn state_from(item: &Item) -> JobState {
    JobState {
        job: text(item, "job").unwrap_or_default(),
        channel: text(item, "channel"),
        runs: item.iter().filter_map(|(name, value)| run_from(name.strip_prefix(RUN_PREFIX)?, value)).collect(),
        outage: number(item, "outage"),
        last_run: text(item, "last_run").and_then(|run| serde_json::from_str(&run).ok()),
        anchor: anchor_from(item),
    }
}

#[async_trait]
impl JobStore for DynamoStore {
    async fn record_start(&self, start: &JobStart) -> Result<(), StoreError> {
        self.update(start_change(start)).send().await.map_err(|e| error("UpdateItem (job start)", e))?;
        Ok(())
    }

    async fn record_run(&self, run: &JobRun) -> Result<JobState, StoreError> {
        let spec = run.spec.as_ref().and_then(|spec| serde_json::to_string(spec).ok());
        let mut update =
            "SET #lookup = :jobs, #job = :job, #channel = :channel, #expires = :expires, #run = :run".to_owned();
        if spec.is_some() {
            update.push_str(", #last = :last");
        }
        let mut change = Change::new(job_key(&run.job), update)
            .name("#lookup", LOOKUP_ATTRIBUTE)
            .name("#job", "job")
            .name("#channel", "channel")
            .name("#expires", TTL_ATTRIBUTE)
            .name("#run", format!("{RUN_PREFIX}{}", run.run.task_id))
            .value(":jobs", s(JOBS))
            .value(":job", s(&run.job))
            .value(":channel", s(&run.channel))
            .value(":expires", n(run.expires_at))
            .value(":run", run_value(&run.run));
        if let Some(spec) = spec {
            change = change.name("#last", "last_run").value(":last", s(&spec));
        }
        let out = self
            .update(change)
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| error("UpdateItem (job run)", e))?;
        let mut before = out.attributes().map(state_from).unwrap_or_default();
        before.job.clone_from(&run.job);
        Ok(before)
    }

    async fn jobs(&self) -> Result<Vec<JobState>, StoreError> {
        let mut jobs = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(LOOKUP_INDEX)
                .key_condition_expression("#lookup = :jobs")
                .expression_attribute_names("#lookup", LOOKUP_ATTRIBUTE)
                .expression_attribute_values(":jobs", s(JOBS))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| error("Query (jobs)", e))?;
            jobs.extend(out.items().iter().map(state_from));
            match out.last_evaluated_key() {
                Some(key) => start = Some(key.clone()),
                None => return Ok(jobs),
            }
        }
    }

    async fn set_outage(&self, job: &str, since: Option<i64>) -> Result<(), StoreError> {
        let change = match since {
            Some(since) => Change::new(job_key(job), "SET #outage = :since").value(":since", n(since)),
            None => Change::new(job_key(job), "REMOVE #outage"),
        }
        .name("#outage", "outage");
        self.update(change).send().await.map_err(|e| error("UpdateItem (outage)", e))?;
        Ok(())
    }

    async fn forget_runs(&self, job: &str, task_ids: &[String]) -> Result<(), StoreError> {
        for chunk in task_ids.chunks(FORGET_PER_WRITE) {
            let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("#r{i}")).collect();
            let mut change = Change::new(job_key(job), format!("REMOVE {}", placeholders.join(", ")));
            for (placeholder, id) in placeholders.iter().zip(chunk) {
                change = change.name(placeholder, format!("{RUN_PREFIX}{id}"));
            }
            self.update(change).send().await.map_err(|e| error("UpdateItem (forget runs)", e))?;
        }
        Ok(())
    }

    async fn watching_since(&self, now: i64) -> Result<i64, StoreError> {
        let change = Change::new(WATCH_KEY, "SET #since = if_not_exists(#since, :now)")
            .name("#since", "since")
            .value(":now", n(now));
        // ALL_NEW: UPDATED_NEW may leave out an attribute the write kept.
        let out = self
            .update(change)
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| error("UpdateItem (watch)", e))?;
        Ok(out.attributes().and_then(|a| number(a, "since")).unwrap_or(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::dynamodb::PARTITION_KEY;

    #[test]
    fn runs_round_trip_through_their_attribute() {
        let finished = Run {
            task_id: "t1".into(),
            start: Some(100),
            end: Some(341),
            run_time: Some(Duration::from_secs(241)),
            succeeded: Some(true),
            failed: Some(5),
        };
        assert_eq!(run_from("t1", &run_value(&finished)), Some(finished));
        let running =
            Run { task_id: "t2".into(), start: Some(100), end: None, run_time: None, succeeded: None, failed: None };
        assert_eq!(run_from("t2", &run_value(&running)), Some(running));
        assert_eq!(run_from("t3", &s("not a map")), None);
    }

    #[test]
    fn a_record_is_read_back_with_its_runs_and_outage() {
        let item: Item = HashMap::from([
            (PARTITION_KEY.to_owned(), s("job#prices")),
            ("job".to_owned(), s("prices")),
            ("channel".to_owned(), s("C1")),
            ("outage".to_owned(), n(1000)),
            ("r_a".to_owned(), AttributeValue::M(HashMap::from([("s".to_owned(), n(5))]))),
            ("r_b".to_owned(), AttributeValue::M(HashMap::from([("s".to_owned(), n(9))]))),
        ]);
        let state = state_from(&item);
        assert_eq!((state.job.as_str(), state.channel.as_deref(), state.outage), ("prices", Some("C1"), Some(1000)));
        assert_eq!(state.runs.len(), 2);
        assert_eq!(state.latest_start(), Some(9));
    }
}
