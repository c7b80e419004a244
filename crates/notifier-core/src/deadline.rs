//! The invocation's deadline as the Runtime API gave it, checked for sense.
//!
//! Lambda sends `Lambda-Runtime-Deadline-Ms` as epoch milliseconds. Not
//! every emulator does: cargo-lambda's (1.9) sends a constant `600000`,
//! which read as the Runtime API defines it is in 1970 and would leave no
//! time for a single call. A deadline that cannot be the real one is
//! treated as unknown, and the invocation works within the template's
//! timeout instead. Pure: the caller supplies the clock.

use std::fmt;
use std::time::Duration;

use crate::time::Timestamp;

/// The header the deadline comes in, as named in warnings.
pub const HEADER: &str = "Lambda-Runtime-Deadline-Ms";
/// What an invocation gets when its deadline is unknown: the template's
/// `Timeout`.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(30);
/// Lambda's longest timeout: no real deadline is further ahead than this.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Why a deadline cannot be the real one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Implausible {
    /// Before this process even started (a constant, or a duration sent
    /// where an epoch time belongs).
    BeforeProcessStart,
    /// Already over when the invocation starts.
    Passed,
    /// Further ahead than Lambda's longest timeout.
    TooFarAhead,
}

impl fmt::Display for Implausible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Implausible::BeforeProcessStart => "earlier than the process start",
            Implausible::Passed => "already passed when the invocation started",
            Implausible::TooFarAhead => "more than 15 minutes ahead, beyond Lambda's longest timeout",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// A deadline that can be the real one: used as given.
    Given(Timestamp),
    /// The header's value made no sense; the invocation ends by `until`,
    /// [`DEFAULT_BUDGET`] after it started.
    Unknown { raw_ms: u64, why: Implausible, until: Timestamp },
}

impl Deadline {
    /// Reads the header's raw value (`raw_ms`) at the start of an
    /// invocation (`now`) in a process that started at `process_start`.
    pub fn from_header(raw_ms: u64, now: Timestamp, process_start: Timestamp) -> Deadline {
        let given = i64::try_from(raw_ms).ok().map(Timestamp::from_millis);
        let why = match given {
            None => Implausible::TooFarAhead,
            Some(at) if at < process_start => Implausible::BeforeProcessStart,
            Some(at) if at <= now => Implausible::Passed,
            Some(at) if at.duration_since(now) > MAX_TIMEOUT => Implausible::TooFarAhead,
            Some(at) => return Deadline::Given(at),
        };
        Deadline::Unknown { raw_ms, why, until: now + DEFAULT_BUDGET }
    }

    /// The time the invocation must be done by.
    pub fn at(&self) -> Timestamp {
        match *self {
            Deadline::Given(at) => at,
            Deadline::Unknown { until, .. } => until,
        }
    }

    /// The one warning an unknown deadline is logged with; it names the
    /// header's value.
    pub fn warning(&self) -> Option<String> {
        match self {
            Deadline::Given(_) => None,
            Deadline::Unknown { raw_ms, why, .. } => Some(format!(
                "{HEADER} {raw_ms} cannot be the invocation's deadline ({why}): working within the default {} s",
                DEFAULT_BUDGET.as_secs()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START_MS: u64 = 1_795_708_800_000; // 2026-11-26T14:00:00Z

    fn at_ms(ms: u64) -> Timestamp {
        Timestamp::from_millis_u64(ms)
    }

    /// The process started at `START_MS`; the invocation starts a minute later.
    fn read(raw_ms: u64) -> Deadline {
        Deadline::from_header(raw_ms, at_ms(START_MS + 60_000), at_ms(START_MS))
    }

    #[test]
    fn cargo_lambdas_constant_is_unknown_and_gets_the_default_budget() {
        let now = at_ms(START_MS + 60_000);
        let deadline = read(600_000);
        assert_eq!(
            deadline,
            Deadline::Unknown { raw_ms: 600_000, why: Implausible::BeforeProcessStart, until: now + DEFAULT_BUDGET }
        );
        assert_eq!(deadline.at(), now + Duration::from_secs(30));
        let warning = deadline.warning().unwrap();
        assert!(warning.contains("Lambda-Runtime-Deadline-Ms 600000"), "{warning}");
        assert!(warning.contains("earlier than the process start") && warning.contains("default 30 s"), "{warning}");
    }

    #[test]
    fn implausible_deadlines() {
        let table = [
            (0, Implausible::BeforeProcessStart),
            (START_MS - 1, Implausible::BeforeProcessStart),
            (START_MS, Implausible::Passed),
            (START_MS + 59_999, Implausible::Passed),
            (START_MS + 60_000, Implausible::Passed),
            (START_MS + 60_000 + 900_001, Implausible::TooFarAhead),
            (START_MS * 2, Implausible::TooFarAhead),
            (u64::MAX, Implausible::TooFarAhead),
        ];
        for (raw, want) in table {
            match read(raw) {
                Deadline::Unknown { raw_ms, why, until } => {
                    assert_eq!((raw_ms, why), (raw, want), "{raw}");
                    assert_eq!(until, at_ms(START_MS + 60_000 + 30_000), "{raw}");
                }
                given => panic!("{raw}: {given:?}"),
            }
        }
    }

    #[test]
    fn a_real_deadline_is_kept_exactly() {
        for ahead_ms in [1, 2_000, 3_000, 30_000, 899_999, 900_000] {
            let raw = START_MS + 60_000 + ahead_ms;
            assert_eq!(read(raw), Deadline::Given(at_ms(raw)), "{ahead_ms} ms ahead");
            assert_eq!(read(raw).at(), at_ms(raw));
            assert_eq!(read(raw).warning(), None);
        }
    }

    #[test]
    fn a_real_deadline_still_gives_up_two_seconds_before_it() {
        let policy = crate::retry::Policy::default();
        let now = at_ms(START_MS + 60_000);
        let deadline = read(START_MS + 60_000 + 2_400).at();
        assert_eq!(policy.attempt_timeout(now, deadline), None, "2.4 s left: no attempt, as before");
        let unknown = read(600_000).at();
        assert_eq!(policy.attempt_timeout(now, unknown), Some(Duration::from_secs(10)));
    }
}
