//! Muting a job from Slack: how long a mute holds, when it ends, and what
//! it counts meanwhile. No I/O: the job's record keeps a [`Mute`], the
//! kinds ask it what to do.

use std::time::Duration;

use crate::schedule::parse_duration;

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

/// What happened while a job was muted: counts, never a list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Meanwhile {
    pub runs: u32,
    pub failed: u32,
    /// Its last failure's end, epoch seconds, and exit code when known.
    pub last_failure: Option<(i64, Option<i64>)>,
    pub missed: u32,
}

/// A job's mute, kept on its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mute {
    /// The operator who muted it.
    pub by: String,
    /// Epoch seconds.
    pub since: i64,
    /// When it ends by itself, epoch seconds; `None`: at the next success.
    pub until: Option<i64>,
    pub meanwhile: Meanwhile,
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
    pub fn new(by: &str, now: i64, length: Length) -> Mute {
        let until = match length {
            Length::For(d) => Some(now.saturating_add(d.as_secs() as i64)),
            Length::UntilSuccess => None,
        };
        Mute { by: by.to_owned(), since: now, until, meanwhile: Meanwhile::default() }
    }

    /// Whether it still holds at `now`: a timed mute ends at its time.
    pub fn holds(&self, now: i64) -> bool {
        self.until.is_none_or(|until| now < until)
    }

    /// A finished run while muted: counted; `Some(Ended::Succeeded)` when a
    /// success ends an `until-success` mute (that success is not posted
    /// either: the unmute message says it).
    pub fn count_run(&mut self, succeeded: bool, end: i64, exit_code: Option<i64>) -> Option<Ended> {
        self.meanwhile.runs = self.meanwhile.runs.saturating_add(1);
        if !succeeded {
            self.meanwhile.failed = self.meanwhile.failed.saturating_add(1);
            self.meanwhile.last_failure = Some((end, exit_code));
        }
        (succeeded && self.until.is_none()).then_some(Ended::Succeeded)
    }

    pub fn count_missed(&mut self, missed: u32) {
        self.meanwhile.missed = self.meanwhile.missed.saturating_add(missed);
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
        let timed = Mute::new("U1", 1000, Length::For(Duration::from_secs(3600)));
        assert!(timed.holds(1000) && timed.holds(4599) && !timed.holds(4600));
        let mut forever = Mute::new("U1", 1000, Length::UntilSuccess);
        assert!(forever.holds(i64::MAX));
        assert_eq!(forever.count_run(false, 2000, Some(1)), None);
        assert_eq!(forever.count_run(true, 3000, Some(0)), Some(Ended::Succeeded));
        assert_eq!(forever.meanwhile, Meanwhile { runs: 2, failed: 1, last_failure: Some((2000, Some(1))), missed: 0 });
        let mut timed = timed;
        assert_eq!(timed.count_run(true, 2000, Some(0)), None, "a timed mute outlives a success");
        timed.count_missed(2);
        assert_eq!(timed.meanwhile.missed, 2);
    }
}
