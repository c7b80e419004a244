//! What a job's run history says: the usual run time, slow runs, failure
//! streaks and recoveries, and a day's figures for the digest. Pure.

use std::time::Duration;

use crate::changes::RunSetup;
use crate::time::Timestamp;

/// Successful runs the usual run time is taken from, at most and at least.
const USUAL_WINDOW: usize = 20;
const USUAL_MIN_RUNS: usize = 5;

/// One run of a job as its history keeps it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Run {
    pub task_id: String,
    pub start: Option<Timestamp>,
    /// None while it runs.
    pub end: Option<Timestamp>,
    pub run_time: Option<Duration>,
    /// None while it runs.
    pub succeeded: Option<bool>,
    /// The `failed` count of its job summary.
    pub failed: Option<u64>,
    /// Stopped from outside (Spot, a user, a deployment): not a success,
    /// and not the job's own failure either, so it neither makes nor
    /// breaks a failure streak and is not counted as a failure.
    /// A failure's exit code: its first essential container that exited
    /// other than 0 (what the unmute message says of a job's last failure).
    pub exit_code: Option<i64>,
    pub interrupted: bool,
    /// What it ran with: a failure after it says what changed.
    pub setup: Option<Box<RunSetup>>,
    /// The whole-number keys of its job summary, at most [`MAX_COUNTS`].
    pub counts: Vec<(String, u64)>,
}

/// Summary keys a run keeps for the zero-count check, and their length.
pub const MAX_COUNTS: usize = 10;
pub const MAX_COUNT_KEY: usize = 40;

/// The whole-number keys of a summary, bounded, for a run's record.
pub fn kept_counts(counts: &[(String, u64)]) -> Vec<(String, u64)> {
    counts.iter().filter(|(k, _)| k.chars().count() <= MAX_COUNT_KEY).take(MAX_COUNTS).cloned().collect()
}

impl Run {
    pub fn finished(&self) -> bool {
        self.succeeded.is_some()
    }

    /// When it happened, for ordering: its end, else its start.
    fn at(&self) -> Timestamp {
        self.end.or(self.start).unwrap_or_default()
    }
}

/// Finished runs, oldest first, without `except` (a retried completion
/// finds its own earlier write in the history).
pub fn finished<'a>(runs: &'a [Run], except: &str) -> Vec<&'a Run> {
    let mut finished: Vec<&Run> = runs.iter().filter(|r| r.finished() && r.task_id != except).collect();
    finished.sort_by_key(|r| (r.at(), r.task_id.clone()));
    finished
}

/// The failures a success recovers from: the task ids of the failed runs
/// since the last success (`finished`, oldest first), the most recent
/// `max`, newest first. Interruptions are no failure of the job's own and
/// end no streak: they are passed over.
pub fn failures_since_success<'a>(finished: &[&'a Run], max: usize) -> Vec<&'a str> {
    finished
        .iter()
        .rev()
        .filter(|r| !r.interrupted)
        .take_while(|r| r.succeeded == Some(false))
        .take(max)
        .map(|r| r.task_id.as_str())
        .collect()
}

/// The median run time of the last successful runs, when there are enough.
pub fn usual_run_time(finished: &[&Run]) -> Option<Duration> {
    let mut times: Vec<Duration> = finished
        .iter()
        .rev()
        .filter(|r| r.succeeded == Some(true))
        .filter_map(|r| r.run_time)
        .take(USUAL_WINDOW)
        .collect();
    if times.len() < USUAL_MIN_RUNS {
        return None;
    }
    times.sort();
    Some(median_of_sorted(&times))
}

fn median_of_sorted(times: &[Duration]) -> Duration {
    let mid = times.len() / 2;
    if times.len() % 2 == 1 { times[mid] } else { (times[mid - 1] + times[mid]) / 2 }
}

/// What a completion says about its place in the history.
#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    /// A success that took `factor` times the usual run time.
    Slow { factor: f64, usual: Duration },
    /// The n-th failure in a row (n ≥ 2).
    Streak(usize),
    /// The first success after n failures.
    Recovered(usize),
    /// A success under a quarter of the usual run time: it may have done
    /// nothing.
    Fast { took: Duration, usual: Duration },
    /// A summary key that is 0 where it usually is not.
    Zero { key: String, usual: u64 },
}

/// A success this much faster than usual is suspicious.
pub const FAST_FRACTION: f64 = 0.25;
/// Zero-count notes on one completion, at most.
pub const MAX_ZERO_NOTES: usize = 3;

/// Which of the history's suspicions a job wants (`fast_run`,
/// `zero_counts` in `JOBS_CONFIG`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suspicions {
    pub fast_run: bool,
    pub zero_counts: bool,
}

impl Default for Suspicions {
    fn default() -> Self {
        Suspicions { fast_run: true, zero_counts: true }
    }
}

/// A success that took under a quarter of the usual (the median of at
/// least 5 recent successes).
pub fn fast_note(before: &[&Run], run_time: Option<Duration>) -> Option<Note> {
    let (usual, took) = (usual_run_time(before)?, run_time?);
    (took.as_secs_f64() < usual.as_secs_f64() * FAST_FRACTION).then_some(Note::Fast { took, usual })
}

/// Keys of this run's summary that are 0 where the job's recent successes
/// (at least 5 of the last 20 with a summary, every one with the key)
/// usually were not: the median of theirs is above 0.
pub fn zero_notes(before: &[&Run], counts: &[(String, u64)]) -> Vec<Note> {
    let recent: Vec<&Run> = before
        .iter()
        .rev()
        .filter(|r| r.succeeded == Some(true) && !r.counts.is_empty())
        .take(USUAL_WINDOW)
        .copied()
        .collect();
    if recent.len() < USUAL_MIN_RUNS {
        return Vec::new();
    }
    counts
        .iter()
        .filter(|(_, value)| *value == 0)
        .filter_map(|(key, _)| {
            let mut values: Vec<u64> = recent
                .iter()
                .map(|r| r.counts.iter().find(|(k, _)| k == key).map(|(_, v)| *v))
                .collect::<Option<Vec<u64>>>()?;
            values.sort_unstable();
            let mid = values.len() / 2;
            let usual = if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2 };
            (usual > 0).then(|| Note::Zero { key: key.clone(), usual })
        })
        .take(MAX_ZERO_NOTES)
        .collect()
}

/// Notes for a run that just finished, given the runs before it, with the
/// suspicions the job wants of a success (its summary's whole-number keys
/// for the zero counts).
pub fn suspicious_notes(
    before: &[&Run],
    succeeded: bool,
    run_time: Option<Duration>,
    counts: &[(String, u64)],
    suspicions: Suspicions,
) -> Vec<Note> {
    if !succeeded {
        return Vec::new();
    }
    let mut notes = Vec::new();
    if suspicions.fast_run {
        notes.extend(fast_note(before, run_time));
    }
    if suspicions.zero_counts {
        notes.extend(zero_notes(before, counts));
    }
    notes
}

/// Notes for a run that just finished, given the runs before it.
pub fn completion_notes(before: &[&Run], succeeded: bool, run_time: Option<Duration>, slow_factor: f64) -> Vec<Note> {
    let failures_before =
        before.iter().rev().filter(|r| !r.interrupted).take_while(|r| r.succeeded == Some(false)).count();
    let mut notes = Vec::new();
    if succeeded {
        if let (Some(usual), Some(took)) = (usual_run_time(before), run_time) {
            let factor = took.as_secs_f64() / usual.as_secs_f64().max(1.0);
            if factor >= slow_factor {
                notes.push(Note::Slow { factor, usual });
            }
        }
        if failures_before > 0 {
            notes.push(Note::Recovered(failures_before));
        }
    } else if failures_before > 0 {
        notes.push(Note::Streak(failures_before + 1));
    }
    notes
}

/// `1st`, `2nd`, `3rd`, `11th`, `22nd`.
pub fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// A day of a job, for the digest.
#[derive(Debug, Clone, PartialEq)]
pub struct DayFigures {
    pub runs: usize,
    pub failures: usize,
    pub median: Option<Duration>,
    pub p95: Option<Duration>,
    /// Run times of the recent runs, oldest first, for the sparkline.
    pub recent: Vec<Duration>,
}

impl DayFigures {
    pub fn success_rate(&self) -> Option<f64> {
        (self.runs > 0).then(|| (self.runs - self.failures) as f64 / self.runs as f64)
    }
}

/// The figures of the runs that finished in `[from, to)`.
pub fn day_figures(finished: &[&Run], from: Timestamp, to: Timestamp, recent: usize) -> DayFigures {
    let day: Vec<&&Run> = finished.iter().filter(|r| (from..to).contains(&r.at())).collect();
    let mut times: Vec<Duration> = day.iter().filter_map(|r| r.run_time).collect();
    let recent_times: Vec<Duration> = times[times.len().saturating_sub(recent)..].to_vec();
    times.sort();
    DayFigures {
        runs: day.len(),
        failures: day.iter().filter(|r| r.succeeded == Some(false) && !r.interrupted).count(),
        median: (!times.is_empty()).then(|| median_of_sorted(&times)),
        p95: percentile_of_sorted(&times, 0.95),
        recent: recent_times,
    }
}

/// Nearest-rank percentile.
fn percentile_of_sorted(times: &[Duration], p: f64) -> Option<Duration> {
    if times.is_empty() {
        return None;
    }
    let rank = (p * times.len() as f64).ceil() as usize;
    Some(times[rank.clamp(1, times.len()) - 1])
}

/// `▁▂▃▅▇`: each value's height between the smallest and the largest.
pub fn sparkline(values: &[Duration]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let (Some(min), Some(max)) = (values.iter().min(), values.iter().max()) else { return String::new() };
    let span = (*max - *min).as_secs_f64();
    values
        .iter()
        .map(|v| {
            if span == 0.0 {
                return BARS[3];
            }
            let height = ((*v - *min).as_secs_f64() / span * (BARS.len() - 1) as f64).round() as usize;
            BARS[height.min(BARS.len() - 1)]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(i: i64, succeeded: bool, secs: u64) -> Run {
        Run {
            task_id: format!("t{i}"),
            start: Some(Timestamp::from_secs(i * 1000)),
            end: Some(Timestamp::from_secs(i * 1000 + secs as i64)),
            run_time: Some(Duration::from_secs(secs)),
            succeeded: Some(succeeded),
            interrupted: false,
            failed: None,
            ..Run::default()
        }
    }
    #[test]
    fn a_success_recovers_the_failures_since_the_last_success_at_most_max_newest_first() {
        let mut runs: Vec<Run> = vec![run(1, false, 10), run(2, true, 10)];
        runs.extend((3..=15).map(|i| run(i, false, 10)));
        runs[5].interrupted = true; // t6: passed over
        let history = finished(&runs, "");
        let ids = failures_since_success(&history, 10);
        assert_eq!(ids, ["t15", "t14", "t13", "t12", "t11", "t10", "t9", "t8", "t7", "t5"]);
        assert_eq!(failures_since_success(&history, 100).len(), 12, "t3..t15 less the interruption; not t1");
        let none = [run(1, false, 10), run(2, true, 10)];
        assert!(failures_since_success(&finished(&none, ""), 10).is_empty(), "after a success: nothing");
    }

    #[test]
    fn a_fast_success_is_under_a_quarter_of_the_usual() {
        let ok: Vec<Run> = (0..5).map(|i| run(i, true, 3000)).collect();
        let before = finished(&ok, "");
        let fast = fast_note(&before, Some(Duration::from_secs(12)));
        assert_eq!(fast, Some(Note::Fast { took: Duration::from_secs(12), usual: Duration::from_secs(3000) }));
        assert_eq!(fast_note(&before, Some(Duration::from_secs(750))), None, "a quarter exactly is not fast");
        assert!(fast_note(&before, Some(Duration::from_secs(749))).is_some());
        assert_eq!(fast_note(&before[1..], Some(Duration::from_secs(12))), None, "four successes are not enough");
        assert_eq!(fast_note(&before, None), None);
        let off = Suspicions { fast_run: false, zero_counts: true };
        assert!(suspicious_notes(&before, true, Some(Duration::from_secs(12)), &[], off).is_empty());
        assert!(
            suspicious_notes(&before, false, Some(Duration::from_secs(12)), &[], Suspicions::default()).is_empty(),
            "a failure is not suspiciously fast"
        );
    }

    fn counted(i: i64, rows: Option<u64>) -> Run {
        let mut counts = vec![("tickers".to_owned(), 503)];
        counts.extend(rows.map(|r| ("rows".to_owned(), r)));
        Run { counts, ..run(i, true, 100) }
    }

    #[test]
    fn a_zero_count_where_the_key_is_usually_not_zero() {
        let now = [("rows".to_owned(), 0), ("tickers".to_owned(), 503), ("skipped".to_owned(), 0)];
        let history: Vec<Run> =
            [12_000, 12_400, 0, 13_000, 12_400].iter().enumerate().map(|(i, r)| counted(i as i64, Some(*r))).collect();
        let before = finished(&history, "");
        assert_eq!(
            zero_notes(&before, &now),
            [Note::Zero { key: "rows".into(), usual: 12_400 }],
            "skipped: never printed before"
        );
        assert!(zero_notes(&before[1..], &now).is_empty(), "four runs with a summary are not enough");
        let mut gaps = history.clone();
        gaps[2] = counted(2, None);
        assert!(zero_notes(&finished(&gaps, ""), &now).is_empty(), "not printed every run");
        let usually_zero: Vec<Run> =
            [0, 0, 0, 5, 6].iter().enumerate().map(|(i, r)| counted(i as i64, Some(*r))).collect();
        assert!(zero_notes(&finished(&usually_zero, ""), &now).is_empty(), "usually 0: no note");
        let off = Suspicions { fast_run: true, zero_counts: false };
        assert!(suspicious_notes(&before, true, None, &now, off).is_empty());
        let kept = kept_counts(&(0..30).map(|i| (format!("k{i}"), i)).collect::<Vec<_>>());
        assert_eq!(kept.len(), MAX_COUNTS);
        assert!(kept_counts(&[("x".repeat(MAX_COUNT_KEY + 1), 1)]).is_empty());
    }

    #[test]
    fn the_usual_run_time_is_the_median_of_the_last_successes_given_five() {
        let runs: Vec<Run> = (0..4).map(|i| run(i, true, 240 + i as u64)).collect();
        assert_eq!(usual_run_time(&finished(&runs, "")), None, "four are not enough");
        let mut runs: Vec<Run> =
            [200, 250, 245, 999, 240, 260].iter().enumerate().map(|(i, s)| run(i as i64, true, *s)).collect();
        runs.push(run(9, false, 5));
        assert_eq!(usual_run_time(&finished(&runs, "")), Some(Duration::from_millis(247_500)), "failures left out");
    }

    #[test]
    fn slow_streak_and_recovery_notes() {
        let ok: Vec<Run> = (0..6).map(|i| run(i, true, 245)).collect();
        let before = finished(&ok, "");
        let notes = completion_notes(&before, true, Some(Duration::from_secs(833)), 2.0);
        let [Note::Slow { factor, usual }] = notes.as_slice() else { panic!("{notes:?}") };
        assert!((factor - 3.4).abs() < 0.01 && *usual == Duration::from_secs(245));
        assert!(completion_notes(&before, true, Some(Duration::from_secs(489)), 2.0).is_empty(), "1.99x is not slow");
        assert!(completion_notes(&before, false, Some(Duration::from_secs(900)), 2.0).is_empty(), "a first failure");

        let mut runs = ok.clone();
        runs.extend([run(10, false, 10), run(11, false, 10)]);
        let before = finished(&runs, "");
        assert_eq!(completion_notes(&before, false, None, 2.0), [Note::Streak(3)]);
        assert_eq!(completion_notes(&before, true, Some(Duration::from_secs(245)), 2.0), [Note::Recovered(2)]);
        // A retried completion does not count itself.
        runs.push(run(12, false, 10));
        assert_eq!(completion_notes(&finished(&runs, "t12"), false, None, 2.0), [Note::Streak(3)]);
    }

    #[test]
    fn ordinals() {
        let table = [
            (1, "1st"),
            (2, "2nd"),
            (3, "3rd"),
            (4, "4th"),
            (11, "11th"),
            (12, "12th"),
            (13, "13th"),
            (21, "21st"),
            (22, "22nd"),
            (101, "101st"),
            (111, "111th"),
        ];
        for (n, want) in table {
            assert_eq!(ordinal(n), want);
        }
    }

    #[test]
    fn a_days_figures() {
        let runs: Vec<Run> =
            (0..20).map(|i| run(i, i % 10 != 3, 100 + i as u64 * 10)).chain([run(50, true, 9999)]).collect();
        let all = finished(&runs, "");
        let day = day_figures(&all, Timestamp::EPOCH, Timestamp::from_secs(20_000), 5);
        assert_eq!((day.runs, day.failures), (20, 2));
        assert_eq!(day.success_rate(), Some(0.9));
        assert_eq!(day.median, Some(Duration::from_secs(195)));
        assert_eq!(day.p95, Some(Duration::from_secs(280)));
        assert_eq!(day.recent, [250, 260, 270, 280, 290].map(Duration::from_secs));
        let empty = day_figures(&all, Timestamp::from_secs(100_000), Timestamp::from_secs(200_000), 5);
        assert_eq!((empty.runs, empty.median, empty.success_rate()), (0, None, None));
    }

    #[test]
    fn sparklines_span_the_range() {
        let line = sparkline(&[1, 2, 4, 8, 16].map(Duration::from_secs));
        assert_eq!(line, "▁▁▂▄█");
        assert_eq!(sparkline(&[5, 5].map(Duration::from_secs)), "▄▄");
        assert_eq!(sparkline(&[]), "");
    }

    #[test]
    fn an_interrupted_run_neither_makes_nor_breaks_a_failure_streak() {
        let interrupted = Run { interrupted: true, ..run(3, false, 30) };
        let history = [run(1, false, 30), run(2, false, 30), interrupted.clone()];
        let before: Vec<&Run> = history.iter().collect();
        let notes = completion_notes(&before, false, Some(Duration::from_secs(30)), 2.0);
        assert!(notes.contains(&Note::Streak(3)), "{notes:?}");
        let alone = [run(1, true, 30), interrupted];
        let before: Vec<&Run> = alone.iter().collect();
        assert!(completion_notes(&before, false, Some(Duration::from_secs(30)), 2.0).is_empty(), "a first failure");
    }
}
