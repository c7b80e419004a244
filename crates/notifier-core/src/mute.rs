//! Muting a job from Slack: how long a mute holds, when it ends, and what
//! it counts meanwhile. No I/O: the job's record keeps a [`Mute`], the
//! kinds ask it what to do.

use std::time::Duration;

use crate::health::Run;
use crate::schedule::parse_duration;
use crate::time::Timestamp;

/// The longest a timed mute may last: a forgotten mute ends by itself.
pub const LONGEST: Duration = Duration::from_secs(30 * 86400);

/// How long a mute lasts, as `/jobs mute <job> …` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    For(Duration),
    /// Until the job's next success.
    UntilSuccess,
}

impl Length {
    /// `2h`, `1d`, `1h30m` (at least a minute, at most [`LONGEST`]) or
    /// `until-success`.
    pub fn parse(text: &str) -> Result<Length, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("until-success") {
            return Ok(Length::UntilSuccess);
        }
        let d = parse_duration(text).map_err(|_| "give a duration (`2h`, `1d`) or `until-success`".to_owned())?;
        if d < Duration::from_secs(60) {
            return Err("a mute lasts at least a minute".into());
        }
        if d > LONGEST {
            return Err("a mute lasts at most 30 days (`until-success` ends at the next success)".into());
        }
        Ok(Length::For(d))
    }
}

/// `/jobs mute <job> <length>`'s words after `mute`: the job and how long.
pub fn parse_mute(words: &[&str]) -> Result<(String, Length), String> {
    match words {
        [job, length] => Ok(((*job).to_owned(), Length::parse(length)?)),
        _ => Err("use `/jobs mute <job> 2h`, `/jobs mute <job> 1d` or `/jobs mute <job> until-success`".into()),
    }
}

/// What happened while a job was muted: counts, never a list. Read off
/// the job's runs when the mute ends, not counted as they happen: no write
/// per run, and no item that grows with them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Meanwhile {
    pub runs: u32,
    pub failed: u32,
    /// Its last failure's end, and exit code when one is known.
    pub last_failure: Option<(Timestamp, Option<i64>)>,
    pub missed: u32,
    /// The runs read are the most recent the history gives, all of them
    /// within the mute: there may have been more.
    pub at_least: bool,
}

impl Meanwhile {
    /// The finished runs that ended within the mute (`since`..=`until`);
    /// `missed`: the scheduled runs that never started meanwhile.
    /// `complete`: whether `runs` reaches back before the mute.
    pub fn of(runs: &[Run], since: Timestamp, until: Timestamp, missed: u32, complete: bool) -> Meanwhile {
        let within: Vec<&Run> = runs
            .iter()
            .filter(|r| r.finished() && !r.interrupted)
            .filter(|r| r.end.is_some_and(|end| end >= since && end <= until))
            .collect();
        let failures = || within.iter().filter(|r| r.succeeded == Some(false));
        Meanwhile {
            runs: within.len() as u32,
            failed: failures().count() as u32,
            last_failure: failures().filter_map(|r| Some((r.end?, r.exit_code))).max_by_key(|(end, _)| *end),
            missed,
            at_least: !complete,
        }
    }
}

/// A job's mute, kept on its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mute {
    /// Which mute it is: the command that set it (its trigger), so that a
    /// mute's end is claimed apart from an earlier one's, however close.
    pub id: String,
    /// The operator who muted it.
    pub by: String,
    /// When it was set; with the job, it names this mute (its claims' keys).
    pub since: Timestamp,
    /// When it ends by itself; `None`: at the next success.
    pub until: Option<Timestamp>,
}

/// Why a mute ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// `/jobs unmute`, by this operator.
    By(String),
    /// Its time ran out.
    Expired,
    /// The job succeeded (`until-success`).
    Succeeded,
}

impl Mute {
    pub fn new(id: &str, by: &str, now: Timestamp, length: Length) -> Mute {
        let until = match length {
            Length::For(d) => Some(now + d),
            Length::UntilSuccess => None,
        };
        Mute { id: id.to_owned(), by: by.to_owned(), since: now, until }
    }

    /// Whether it still holds at `now`: a timed mute ends at its time.
    pub fn holds(&self, now: Timestamp) -> bool {
        self.until.is_none_or(|until| now < until)
    }

    /// Whether a finished run ends it: a success ends `until-success`.
    pub fn ended_by(&self, succeeded: bool) -> Option<Ended> {
        (succeeded && self.until.is_none()).then_some(Ended::Succeeded)
    }

    /// The key of the claim that ends this mute (once, whoever ends it).
    pub fn end_key(&self, job: &str) -> String {
        format!("unmute#{job}#{}", self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_durations_or_until_success_within_bounds() {
        assert_eq!(Length::parse("2h"), Ok(Length::For(Duration::from_secs(7200))));
        assert_eq!(Length::parse("1d"), Ok(Length::For(Duration::from_secs(86400))));
        assert_eq!(Length::parse("Until-Success"), Ok(Length::UntilSuccess));
        assert!(Length::parse("30s").unwrap_err().contains("at least a minute"));
        assert!(Length::parse("31d").unwrap_err().contains("at most 30 days"));
        assert!(Length::parse("soon").unwrap_err().contains("until-success"));
    }

    #[test]
    fn mute_commands_name_a_job_and_a_length() {
        assert_eq!(parse_mute(&["prices", "2h"]), Ok(("prices".into(), Length::For(Duration::from_secs(7200)))));
        assert_eq!(parse_mute(&["prices", "until-success"]), Ok(("prices".into(), Length::UntilSuccess)));
        assert!(parse_mute(&["prices"]).unwrap_err().starts_with("use `/jobs mute <job> 2h`"));
        assert!(parse_mute(&["prices", "2h", "extra"]).is_err());
        assert!(parse_mute(&["prices", "forever"]).unwrap_err().contains("until-success"));
    }

    #[test]
    fn a_timed_mute_ends_at_its_time_and_until_success_at_a_success() {
        let t = Timestamp::from_secs;
        let timed = Mute::new("m1", "U1", t(1000), Length::For(Duration::from_secs(3600)));
        assert!(timed.holds(t(1000)) && timed.holds(t(4599)) && !timed.holds(t(4600)));
        assert_eq!(timed.ended_by(true), None, "a timed mute outlives a success");
        let forever = Mute::new("m1", "U1", t(1000), Length::UntilSuccess);
        assert!(forever.holds(Timestamp::MAX));
        assert_eq!(forever.ended_by(false), None);
        assert_eq!(forever.ended_by(true), Some(Ended::Succeeded));
        assert_eq!(forever.end_key("prices"), "unmute#prices#m1");
    }

    #[test]
    fn meanwhile_is_read_off_the_runs_that_ended_within_the_mute() {
        let t = Timestamp::from_secs;
        let run = |id: &str, end: i64, ok: bool| Run {
            task_id: id.into(),
            start: Some(t(end - 60)),
            end: Some(t(end)),
            succeeded: Some(ok),
            ..Run::default()
        };
        let mut spot = run("spot", 2500, false);
        spot.interrupted = true;
        let failed = Run { exit_code: Some(1), ..run("b", 2000, false) };
        let runs = [run("before", 900, false), run("a", 1500, true), failed, spot, run("c", 3000, true)];
        let m = Meanwhile::of(&runs, t(1000), t(3000), 2, true);
        let last_failure = Some((t(2000), Some(1)));
        assert_eq!(m, Meanwhile { runs: 3, failed: 1, last_failure, missed: 2, at_least: false });
        assert!(Meanwhile::of(&runs, t(1000), t(3000), 0, false).at_least);
    }
}
