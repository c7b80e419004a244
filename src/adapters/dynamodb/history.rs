//! Each job's records: a small head, and one item per run.
//!
//! The head, `job#<job name>`:
//!
//! | attribute | meaning |
//! |---|---|
//! | `lookup` | `jobs`: every job's head is found through the `lookup` index |
//! | `job`, `channel` | the job's name and channel |
//! | `outage` | the first due time of a reported outage of missed runs |
//! | `b_anchor`, `b_key`, `b_at` | the task that opened the job's latest group: id, record key, start (epoch seconds) |
//! | `ack_task`, `ack_user`, `ack_at` | the latest acknowledged failure ("👀 I'm on it"): its task id (or a missed-run alert's key), who, when (epoch seconds) |
//! | `mute_id`, `mute_by`, `mute_since`, `mute_until` | the job's mute, while it is muted: the command that set it, who, since when, until when (epoch seconds; no `mute_until`: until its next success) |
//! | `expires_at` | TTL, epoch seconds |
//!
//! It is written when a group opens, when an outage opens or closes, when
//! a failure is acknowledged, when the job is muted or unmuted, and
//! otherwise at most once an hour per execution environment (to keep its
//! TTL ahead): never on every run, so it is no hot item, and the `jobs`
//! key of the `lookup` index is no hot partition.
//!
//! A run, `run#<job name>#<task id>`:
//!
//! | attribute | meaning |
//! |---|---|
//! | `run_job`, `run_at` | the `runs` index's keys: the job, and the run's start (else its end), epoch seconds |
//! | `task_id`, `s`, `e`, `d`, `ok`, `f` | the task, start and end (epoch seconds), run time (s), succeeded, failed count; a running task has `s` only |
//! | `spec` | what the run had (JSON): `/jobs run` runs the job as its last run did; with, under `had`, what a failure after it compares against (bounded: revision, images and digests, override names only, size, launch, platform), under `c` its job summary's whole-number keys (at most 10) for the zero-count check, and under `x` a failure's exit code |
//!
//! `had`, `c` and `x` (a failure's exit code) ride in `spec` because the `runs` index projects it: the
//! history the completion already reads brings them, and no index changes.
//! | `expires_at` | TTL, epoch seconds |
//!
//! Recording a run writes its own item, the same item for a retried
//! event: idempotent, and the same size at the 5,000th run as at the
//! first. The history is a query of the `runs` index for the job's most
//! recent `HISTORY_RUNS`, newest first.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::{Change, DynamoStore, Item, LOOKUP_ATTRIBUTE, LOOKUP_INDEX, TTL_ATTRIBUTE, error, n, number, s, text};
use crate::changes::RunSetup;
use crate::group::Anchor;
use crate::health::Run;
use crate::mute::Mute;
use crate::ports::{Acknowledged, HISTORY_RUNS, JobRun, JobStart, JobState, JobStore, StoreError};
use crate::time::Timestamp;

const JOBS: &str = "jobs";
const WATCH_KEY: &str = "watch";
/// The global secondary index of runs by job and time.
pub const RUNS_INDEX: &str = "runs";
pub const RUN_JOB: &str = "run_job";
pub const RUN_AT: &str = "run_at";
/// How often an execution environment writes a job's head that nothing
/// else changed: its TTL is days ahead, so hourly keeps it alive.
const HEAD_REFRESH_SECS: i64 = 3600;
/// Jobs whose runs `jobs()` reads at once.
const QUERIES_AT_ONCE: usize = 8;

fn job_key(job: &str) -> String {
    format!("job#{job}")
}

fn run_key(job: &str, task_id: &str) -> String {
    format!("run#{job}#{task_id}")
}

/// The job's head: its name, channel, and that it is a job.
fn head_change(job: &str, channel: &str, expires_at: Timestamp) -> Change {
    Change::new(job_key(job), "SET #lookup = :jobs, #job = :job, #channel = :channel, #expires = :expires")
        .name("#lookup", LOOKUP_ATTRIBUTE)
        .name("#job", "job")
        .name("#channel", "channel")
        .name("#expires", TTL_ATTRIBUTE)
        .value(":jobs", s(JOBS))
        .value(":job", s(job))
        .value(":channel", s(channel))
        .value(":expires", n(expires_at.secs()))
}

/// The run's item with this start: `if_not_exists`, so a start never
/// overwrites the finished run of the same task.
pub(super) fn run_start_change(start: &JobStart) -> Change {
    Change::new(
        run_key(&start.job, &start.task_id),
        "SET #job = :job, #at = if_not_exists(#at, :started), #task = :task, #s = if_not_exists(#s, :started), \
         #expires = if_not_exists(#expires, :expires)",
    )
    .name("#job", RUN_JOB)
    .name("#at", RUN_AT)
    .name("#task", "task_id")
    .name("#s", "s")
    .name("#expires", TTL_ATTRIBUTE)
    .value(":job", s(&start.job))
    .value(":started", n(start.started.secs()))
    .value(":task", s(&start.task_id))
    .value(":expires", n(start.expires_at.secs()))
}

/// A finished run's item, whole.
fn run_change(run: &JobRun) -> Change {
    let r = &run.run;
    let mut sets = vec!["#job = :job", "#at = :at", "#task = :task", "#expires = :expires"];
    let mut change = Change::new(run_key(&run.job, &r.task_id), "")
        .name("#job", RUN_JOB)
        .name("#at", RUN_AT)
        .name("#task", "task_id")
        .name("#expires", TTL_ATTRIBUTE)
        .value(":job", s(&run.job))
        .value(":at", n(r.start.or(r.end).unwrap_or_default().secs()))
        .value(":task", s(&r.task_id))
        .value(":expires", n(run.expires_at.secs()));
    let numbers = [
        ("s", r.start.map(Timestamp::secs)),
        ("e", r.end.map(Timestamp::secs)),
        ("d", r.run_time.map(|d| d.as_secs() as i64)),
        ("f", r.failed.map(|f| f as i64)),
    ];
    for (name, value) in numbers {
        if let Some(value) = value {
            change = change.name(&format!("#{name}"), name).value(&format!(":{name}"), n(value));
            sets.push(match name {
                "s" => "#s = :s",
                "e" => "#e = :e",
                "d" => "#d = :d",
                _ => "#f = :f",
            });
        }
    }
    if let Some(ok) = r.succeeded {
        change = change.name("#ok", "ok").value(":ok", AttributeValue::Bool(ok));
        sets.push("#ok = :ok");
    }
    if r.interrupted {
        change = change.name("#i", "i").value(":i", AttributeValue::Bool(true));
        sets.push("#i = :i");
    }
    if let Some(spec) = stored_spec(run) {
        change = change.name("#spec", "spec").value(":spec", s(&spec));
        sets.push("#spec = :spec");
    }
    change.update = format!("SET {}", sets.join(", "));
    change
}

/// The run's `spec`: its `RunSpec`, with what it had (`had`) and its
/// summary's counts (`c`) alongside.
fn stored_spec(run: &JobRun) -> Option<String> {
    let mut spec = match &run.spec {
        Some(spec) => serde_json::to_value(spec).ok()?,
        None => serde_json::Value::Object(serde_json::Map::new()),
    };
    let object = spec.as_object_mut()?;
    if let Some(setup) = run.run.setup.as_ref().and_then(|setup| serde_json::to_value(setup).ok()) {
        object.insert(SPEC_SETUP.into(), setup);
    }
    if !run.run.counts.is_empty() {
        object.insert(SPEC_COUNTS.into(), serde_json::to_value(&run.run.counts).ok()?);
    }
    if let Some(code) = run.run.exit_code {
        object.insert(SPEC_EXIT.into(), code.into());
    }
    (!object.is_empty()).then(|| spec.to_string())
}

const SPEC_SETUP: &str = "had";
const SPEC_COUNTS: &str = "c";
const SPEC_EXIT: &str = "x";

/// What rides in a run's `spec` beside its `RunSpec`.
#[derive(Default)]
struct Extras {
    setup: Option<Box<RunSetup>>,
    counts: Vec<(String, u64)>,
    exit_code: Option<i64>,
}

/// What a run had, its counts and a failure's exit code, from its `spec`.
fn extras_from(item: &Item) -> Extras {
    let Some(mut spec) = text(item, "spec").and_then(|spec| serde_json::from_str::<serde_json::Value>(&spec).ok())
    else {
        return Extras::default();
    };
    let Some(object) = spec.as_object_mut() else { return Extras::default() };
    Extras {
        setup: object.remove(SPEC_SETUP).and_then(|had| serde_json::from_value(had).ok()).map(Box::new),
        counts: object.remove(SPEC_COUNTS).and_then(|c| serde_json::from_value(c).ok()).unwrap_or_default(),
        exit_code: object.remove(SPEC_EXIT).and_then(|x| x.as_i64()),
    }
}

fn run_from(item: &Item) -> Option<Run> {
    let Extras { setup, counts, exit_code } = extras_from(item);
    Some(Run {
        task_id: text(item, "task_id")?,
        start: number(item, "s").map(Timestamp::from_secs),
        end: number(item, "e").map(Timestamp::from_secs),
        run_time: number(item, "d").map(|d| Duration::from_secs(d.max(0) as u64)),
        succeeded: match item.get("ok") {
            Some(AttributeValue::Bool(ok)) => Some(*ok),
            _ => None,
        },
        failed: number(item, "f").map(|f| f.max(0) as u64),
        interrupted: matches!(item.get("i"), Some(AttributeValue::Bool(true))),
        exit_code,
        setup,
        counts,
    })
}

pub(super) const ANCHOR: &str = "b_anchor";
pub(super) const ANCHOR_KEY: &str = "b_key";
pub(super) const ANCHOR_AT: &str = "b_at";

pub(super) fn anchor_from(item: &Item) -> Option<Anchor> {
    Some(Anchor {
        task_id: text(item, ANCHOR)?,
        key: text(item, ANCHOR_KEY)?,
        started: Timestamp::from_secs(number(item, ANCHOR_AT)?),
    })
}

/// A job's head, without its runs.
pub(super) fn state_from(item: &Item) -> JobState {
    JobState {
        job: text(item, "job").unwrap_or_default(),
        channel: text(item, "channel"),
        runs: Vec::new(),
        outage: number(item, "outage").map(Timestamp::from_secs),
        last_run: None,
        anchor: anchor_from(item),
        acknowledged: acknowledged_from(item),
        mute: mute_from(item),
    }
}

fn mute_from(item: &Item) -> Option<Mute> {
    Some(Mute {
        id: text(item, "mute_id")?,
        by: text(item, "mute_by")?,
        since: Timestamp::from_secs(number(item, "mute_since")?),
        until: number(item, "mute_until").map(Timestamp::from_secs),
    })
}

fn acknowledged_from(item: &Item) -> Option<Acknowledged> {
    Some(Acknowledged {
        task_id: text(item, "ack_task")?,
        user: text(item, "ack_user")?,
        at: Timestamp::from_secs(number(item, "ack_at")?),
    })
}

impl DynamoStore {
    /// The head's write for this start, to go with it: always when a group
    /// opens (`head`), else only when this environment has not written it
    /// within the hour (`head_change`).
    pub(super) fn head(&self, start: &JobStart) -> Change {
        head_change(&start.job, &start.channel, start.expires_at)
    }

    pub(super) fn head_change(&self, start: &JobStart) -> Option<Change> {
        self.head_stale(&start.job, &start.channel, start.started.secs()).then(|| self.head(start))
    }

    /// Whether this environment should write the head for an event at
    /// `now`: never written here, moved to another channel, or written for
    /// an event more than the refresh interval older. An event older than
    /// the last write needs none: that write's TTL is later than its own
    /// (events come out of order, and a replay's may go back in time).
    fn head_stale(&self, job: &str, channel: &str, now: i64) -> bool {
        let heads = self.heads.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        heads.get(job).is_none_or(|(at, written)| written != channel || now - at >= HEAD_REFRESH_SECS)
    }

    pub(super) fn head_written(&self, start: &JobStart) {
        self.note_head(&start.job, &start.channel, start.started.secs());
    }

    /// Notes a head written for an event at `now`; the latest such event
    /// is what later ones are measured from.
    fn note_head(&self, job: &str, channel: &str, now: i64) {
        let mut heads = self.heads.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let at = match heads.get(job) {
            Some((at, written)) if written == channel => now.max(*at),
            _ => now,
        };
        heads.insert(job.to_owned(), (at, channel.to_owned()));
    }

    /// The job's most recent runs, newest first; with what the latest
    /// finished one had.
    async fn history(&self, job: &str) -> Result<(Vec<Run>, Option<crate::job_control::RunSpec>), StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(RUNS_INDEX)
            .key_condition_expression("#job = :job")
            .expression_attribute_names("#job", RUN_JOB)
            .expression_attribute_values(":job", s(job))
            .scan_index_forward(false)
            .limit(HISTORY_RUNS as i32)
            .send()
            .await
            .map_err(|e| error("Query (runs)", e))?;
        let items = out.items();
        let last_run = items
            .iter()
            .filter(|item| item.contains_key("ok"))
            .max_by_key(|item| number(item, "e"))
            .and_then(|item| text(item, "spec"))
            .and_then(|spec| serde_json::from_str(&spec).ok());
        Ok((items.iter().filter_map(run_from).collect(), last_run))
    }

    async fn with_history(&self, mut state: JobState) -> Result<JobState, StoreError> {
        let (runs, last_run) = self.history(&state.job).await?;
        state.runs = runs;
        state.last_run = last_run;
        Ok(state)
    }
}

#[async_trait]
impl JobStore for DynamoStore {
    async fn record_start(&self, start: &JobStart) -> Result<(), StoreError> {
        let head = async {
            match self.head_change(start) {
                Some(head) => {
                    self.update(head).send().await.map_err(|e| error("UpdateItem (job head)", e))?;
                    self.head_written(start);
                    Ok(())
                }
                None => Ok(()),
            }
        };
        let run = async {
            self.update(run_start_change(start)).send().await.map_err(|e| error("UpdateItem (job start)", e))?;
            Ok::<_, StoreError>(())
        };
        let (head, run) = tokio::join!(head, run);
        head.and(run)
    }

    /// The run's write and the read of the history before it go at once:
    /// the history leaves this task out (`health::finished`), so it does
    /// not matter whether the index has caught up with the write.
    async fn record_run(&self, run: &JobRun) -> Result<JobState, StoreError> {
        let now = run.run.end.unwrap_or_default().secs();
        let head = async {
            if !self.head_stale(&run.job, &run.channel, now) {
                return Ok(());
            }
            let head = head_change(&run.job, &run.channel, run.expires_at);
            self.update(head).send().await.map_err(|e| error("UpdateItem (job head)", e))?;
            self.note_head(&run.job, &run.channel, now);
            Ok(())
        };
        let write = async {
            self.update(run_change(run)).send().await.map_err(|e| error("UpdateItem (job run)", e))?;
            Ok::<_, StoreError>(())
        };
        let before = JobState { job: run.job.clone(), channel: Some(run.channel.clone()), ..JobState::default() };
        let (head, write, before) = tokio::join!(head, write, self.with_history(before));
        head.and(write)?;
        before
    }

    async fn jobs(&self) -> Result<Vec<JobState>, StoreError> {
        let mut heads = Vec::new();
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
            heads.extend(out.items().iter().map(state_from));
            match out.last_evaluated_key() {
                Some(key) => start = Some(key.clone()),
                None => break,
            }
        }
        let mut jobs = Vec::with_capacity(heads.len());
        let mut heads = heads.into_iter().peekable();
        while heads.peek().is_some() {
            let batch: Vec<JobState> = heads.by_ref().take(QUERIES_AT_ONCE).collect();
            for job in futures_util::future::join_all(batch.into_iter().map(|h| self.with_history(h))).await {
                jobs.push(job?);
            }
        }
        Ok(jobs)
    }

    async fn set_outage(&self, job: &str, since: Option<Timestamp>) -> Result<(), StoreError> {
        let change = match since {
            Some(since) => Change::new(job_key(job), "SET #outage = :since").value(":since", n(since.secs())),
            None => Change::new(job_key(job), "REMOVE #outage"),
        }
        .name("#outage", "outage");
        self.update(change).send().await.map_err(|e| error("UpdateItem (outage)", e))?;
        Ok(())
    }

    async fn head(&self, job: &str) -> Result<Option<JobState>, StoreError> {
        Ok(self.item(&job_key(job), "job head").await?.as_ref().map(state_from))
    }

    async fn acknowledge(&self, job: &str, ack: &Acknowledged) -> Result<(), StoreError> {
        // Like an outage, on the head its runs wrote.
        let change = Change::new(job_key(job), "SET #task = :task, #user = :user, #at = :at")
            .name("#task", "ack_task")
            .name("#user", "ack_user")
            .name("#at", "ack_at")
            .value(":task", s(&ack.task_id))
            .value(":user", s(&ack.user))
            .value(":at", n(ack.at.secs()));
        self.update(change).send().await.map_err(|e| error("UpdateItem (acknowledge)", e))?;
        Ok(())
    }

    async fn set_mute(&self, job: &str, mute: Option<&Mute>) -> Result<(), StoreError> {
        // On the head its runs wrote, like an outage.
        let change = match mute {
            Some(m) => {
                let mut change = Change::new(job_key(job), "")
                    .name("#id", "mute_id")
                    .value(":id", s(&m.id))
                    .name("#by", "mute_by")
                    .name("#since", "mute_since")
                    .name("#until", "mute_until")
                    .value(":by", s(&m.by))
                    .value(":since", n(m.since.secs()));
                change.update = match m.until {
                    Some(until) => {
                        change = change.value(":until", n(until.secs()));
                        "SET #id = :id, #by = :by, #since = :since, #until = :until".into()
                    }
                    None => "SET #id = :id, #by = :by, #since = :since REMOVE #until".into(),
                };
                change
            }
            None => Change::new(job_key(job), "REMOVE #id, #by, #since, #until")
                .name("#id", "mute_id")
                .name("#by", "mute_by")
                .name("#since", "mute_since")
                .name("#until", "mute_until"),
        };
        self.update(change).send().await.map_err(|e| error("UpdateItem (mute)", e))?;
        Ok(())
    }

    /// Deletes the runs' items: a delete of what is gone already is done.
    async fn forget_runs(&self, job: &str, task_ids: &[String]) -> Result<(), StoreError> {
        for id in task_ids {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key(super::PARTITION_KEY, s(&run_key(job, id)))
                .send()
                .await
                .map_err(|e| error("DeleteItem (forget run)", e))?;
        }
        Ok(())
    }

    async fn watching_since(&self, now: Timestamp) -> Result<Timestamp, StoreError> {
        let change = Change::new(WATCH_KEY, "SET #since = if_not_exists(#since, :now)")
            .name("#since", "since")
            .value(":now", n(now.secs()));
        // ALL_NEW: UPDATED_NEW may leave out an attribute the write kept.
        let out = self
            .update(change)
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| error("UpdateItem (watch)", e))?;
        Ok(out.attributes().and_then(|a| number(a, "since")).map_or(now, Timestamp::from_secs))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::adapters::dynamodb::PARTITION_KEY;

    fn item_of(change: &Change) -> Item {
        // The attributes a SET of plain values leaves on a new item.
        let mut item: Item = HashMap::from([(PARTITION_KEY.to_owned(), s(&change.key))]);
        let sets = change.update.trim_start_matches("SET ");
        // Clauses are `#name = value`; a value may hold ", " itself.
        let mut clauses: Vec<String> = Vec::new();
        for piece in sets.split(", ") {
            match clauses.last_mut() {
                Some(last) if !piece.contains(" = ") => *last = format!("{last}, {piece}"),
                _ => clauses.push(piece.to_owned()),
            }
        }
        for clause in &clauses {
            let (name, value) = clause.split_once(" = ").unwrap();
            let value = value.trim_start_matches("if_not_exists(").trim_end_matches(')');
            let value = value.rsplit(", ").next().unwrap();
            item.insert(change.names[name].clone(), change.values[value].clone());
        }
        item
    }

    #[test]
    fn runs_round_trip_through_their_item() {
        let finished = Run {
            task_id: "t1".into(),
            start: Some(Timestamp::from_secs(100)),
            end: Some(Timestamp::from_secs(341)),
            run_time: Some(Duration::from_secs(241)),
            succeeded: Some(false),
            failed: Some(5),
            interrupted: false,
            exit_code: Some(137),
            setup: Some(Box::new(crate::changes::RunSetup {
                task_definition: Some("jobs:7".into()),
                cpu: Some("512".into()),
                ..Default::default()
            })),
            counts: vec![("rows".into(), 12_400), ("skipped".into(), 0)],
        };
        let run = JobRun {
            job: "prices".into(),
            channel: "C1".into(),
            run: finished.clone(),
            spec: None,
            expires_at: Timestamp::from_secs(9),
        };
        let item = item_of(&run_change(&run));
        assert_eq!(text(&item, PARTITION_KEY).as_deref(), Some("run#prices#t1"));
        assert_eq!((text(&item, RUN_JOB).as_deref(), number(&item, RUN_AT)), (Some("prices"), Some(100)));
        assert_eq!(run_from(&item), Some(finished));
        let start = JobStart {
            job: "prices".into(),
            channel: "C1".into(),
            task_id: "t2".into(),
            started: Timestamp::from_secs(100),
            expires_at: Timestamp::from_secs(9),
        };
        let running = Run {
            task_id: "t2".into(),
            start: Some(Timestamp::from_secs(100)),
            end: None,
            run_time: None,
            succeeded: None,
            failed: None,
            interrupted: false,
            ..Run::default()
        };
        assert_eq!(run_from(&item_of(&run_start_change(&start))), Some(running));
    }

    #[test]
    fn a_head_is_read_back_with_its_outage() {
        let item: Item = HashMap::from([
            (PARTITION_KEY.to_owned(), s("job#prices")),
            ("job".to_owned(), s("prices")),
            ("channel".to_owned(), s("C1")),
            ("outage".to_owned(), n(1000)),
        ]);
        let state = state_from(&item);
        assert_eq!(
            (state.job.as_str(), state.channel.as_deref(), state.outage),
            ("prices", Some("C1"), Some(Timestamp::from_secs(1000)))
        );
        assert!(state.runs.is_empty());
    }

    #[test]
    fn a_head_is_written_once_an_hour_per_environment_and_never_for_an_older_event() {
        let config =
            aws_sdk_dynamodb::Config::builder().behavior_version(aws_config::BehaviorVersion::latest()).build();
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), "t");
        assert!(store.head_stale("prices", "C1", 10_000), "never written here");
        store.note_head("prices", "C1", 10_000);
        assert!(!store.head_stale("prices", "C1", 10_000 + HEAD_REFRESH_SECS - 1));
        assert!(
            !store.head_stale("prices", "C1", 10_000 - 5 * HEAD_REFRESH_SECS),
            "an older event: the write covers it"
        );
        store.note_head("prices", "C1", 9_000);
        assert!(!store.head_stale("prices", "C1", 10_000 + HEAD_REFRESH_SECS - 1), "measured from the latest write");
        assert!(store.head_stale("prices", "C1", 10_000 + HEAD_REFRESH_SECS));
        assert!(store.head_stale("prices", "C2", 10_000), "moved to another channel");
        assert!(store.head_stale("volumes", "C1", 10_000), "per job");
    }
}
