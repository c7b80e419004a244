//! A point in time: the one type for it, and every conversion to and from
//! the forms it arrives and leaves in.
//!
//! [`Timestamp`] is a `Copy` newtype over milliseconds since the Unix
//! epoch (UTC), as an `i64`. Milliseconds, because that is the finest
//! resolution anything here carries: Lambda's deadline header and a
//! Function URL's `timeEpoch` are epoch milliseconds, ECS and EventBridge
//! times are RFC 3339 with milliseconds, and DynamoDB items keep epoch
//! seconds or milliseconds. An integer rather than `SystemTime`, because
//! its arithmetic is total (adding a `Duration` saturates instead of
//! panicking on overflow), it orders, hashes and compares exactly, and it
//! converts to both stored forms without a `Result` for "before 1970".
//!
//! The conversions live here and nowhere else: `SystemTime`, epoch seconds
//! and milliseconds, chrono's `DateTime<Utc>` (for formatting and
//! calendars), RFC 3339, and Slack's epoch-seconds strings (a request's
//! `X-Slack-Request-Timestamp`, a message's `ts`). Durations stay
//! `std::time::Duration`. Nothing here panics on bad input: parsing gives
//! a [`TimeError`], and arithmetic saturates at the type's range.

use std::fmt;
use std::ops::{Add, Sub};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, NaiveTime, SecondsFormat, Utc};

/// A point in time, in milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

/// Why a text is not a point in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("{0:?} is not an RFC 3339 time")]
    NotRfc3339(String),
    #[error("{0:?} is not a time in epoch seconds")]
    NotEpochSeconds(String),
}

/// A `Duration` as milliseconds, saturating at `i64::MAX`.
fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Timestamp {
    /// 1970-01-01T00:00:00Z.
    pub const EPOCH: Timestamp = Timestamp(0);
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    /// The system's time now.
    pub fn now() -> Timestamp {
        Timestamp::from_system(SystemTime::now())
    }

    pub const fn from_millis(ms: i64) -> Timestamp {
        Timestamp(ms)
    }

    /// Epoch seconds, saturating far outside any real time.
    pub const fn from_secs(secs: i64) -> Timestamp {
        Timestamp(secs.saturating_mul(1000))
    }

    /// Epoch milliseconds as an unsigned number (Lambda's deadline
    /// header), saturating beyond `i64::MAX`.
    pub fn from_millis_u64(ms: u64) -> Timestamp {
        Timestamp(i64::try_from(ms).unwrap_or(i64::MAX))
    }

    /// Epoch milliseconds.
    pub const fn millis(self) -> i64 {
        self.0
    }

    /// Whole epoch seconds, rounded down (towards the past, also before
    /// 1970): what DynamoDB items and Slack's `<!date^…>` carry.
    pub const fn secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// A `SystemTime`, saturating at the type's range.
    pub fn from_system(t: SystemTime) -> Timestamp {
        match t.duration_since(UNIX_EPOCH) {
            Ok(after) => Timestamp(duration_ms(after)),
            // Before 1970: round towards the past, as `secs` does.
            Err(e) => {
                let before = e.duration();
                let ms = duration_ms(before).saturating_add(i64::from(before.subsec_nanos() % 1_000_000 != 0));
                Timestamp(ms.saturating_neg())
            }
        }
    }

    /// The same time as a `SystemTime`, or `None` where the platform's
    /// `SystemTime` cannot hold it.
    pub fn to_system(self) -> Option<SystemTime> {
        let magnitude = Duration::from_millis(self.0.unsigned_abs());
        if self.0 >= 0 { UNIX_EPOCH.checked_add(magnitude) } else { UNIX_EPOCH.checked_sub(magnitude) }
    }

    pub fn from_datetime(t: DateTime<Utc>) -> Timestamp {
        Timestamp(t.timestamp_millis())
    }

    /// The same time in chrono, for formatting and calendars; `None`
    /// beyond chrono's range (about ±262,000 years).
    pub fn to_datetime(self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_millis(self.0)
    }

    /// `2026-11-26T14:00:00Z` or `2026-11-26T14:00:00.250+01:00`.
    pub fn parse_rfc3339(s: &str) -> Result<Timestamp, TimeError> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| Timestamp(t.timestamp_millis()))
            .map_err(|_| TimeError::NotRfc3339(s.to_owned()))
    }

    /// RFC 3339 in UTC, with milliseconds only when there are any:
    /// `2026-11-26T14:00:00Z`, `2026-11-26T14:00:00.250Z`. Outside
    /// chrono's range it saturates to chrono's earliest or latest time.
    pub fn to_rfc3339(self) -> String {
        self.saturated_datetime().to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    /// The time in UTC as chrono's `strftime` format `fmt` writes it
    /// (`%Y-%m-%d %H:%M UTC`), saturating outside chrono's range; a format
    /// chrono cannot write gives what was written before it, not a panic.
    pub fn format_utc(self, fmt: &str) -> String {
        use fmt::Write;
        let mut out = String::new();
        let _ = write!(out, "{}", self.saturated_datetime().format(fmt));
        out
    }

    /// The time of day `time` (UTC) on this time's UTC day: when the
    /// day's digest is due.
    pub fn on_utc_day_at(self, time: NaiveTime) -> Timestamp {
        Timestamp::from_datetime(self.saturated_datetime().date_naive().and_time(time).and_utc())
    }

    fn saturated_datetime(self) -> DateTime<Utc> {
        self.to_datetime().unwrap_or(if self.0 < 0 { DateTime::<Utc>::MIN_UTC } else { DateTime::<Utc>::MAX_UTC })
    }

    /// Slack's epoch-seconds strings: `1795708800` (a request's
    /// `X-Slack-Request-Timestamp`) or `1795708800.123456` (a message's
    /// `ts`, whose fraction is microseconds; kept to the millisecond).
    pub fn parse_slack_secs(s: &str) -> Result<Timestamp, TimeError> {
        let bad = || TimeError::NotEpochSeconds(s.to_owned());
        let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
        if whole.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !fraction.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let secs: i64 = whole.parse().map_err(|_| bad())?;
        let ms: i64 = format!("{fraction:0<3}")[..3].parse().map_err(|_| bad())?;
        secs.checked_mul(1000).and_then(|s| s.checked_add(ms)).map(Timestamp).ok_or_else(bad)
    }

    /// This time plus `d`, saturating.
    pub fn saturating_add(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(duration_ms(d)))
    }

    /// This time less `d`, saturating.
    pub fn saturating_sub(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(duration_ms(d)))
    }

    /// How long after `earlier` this is; zero if it is not after it (as
    /// `Instant::duration_since`).
    pub fn duration_since(self, earlier: Timestamp) -> Duration {
        self.checked_duration_since(earlier).unwrap_or_default()
    }

    /// How long after `earlier` this is, or `None` if it is before it.
    pub fn checked_duration_since(self, earlier: Timestamp) -> Option<Duration> {
        let ms = i128::from(self.0) - i128::from(earlier.0);
        u64::try_from(ms).ok().map(Duration::from_millis)
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, d: Duration) -> Timestamp {
        self.saturating_add(d)
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, d: Duration) -> Timestamp {
        self.saturating_sub(d)
    }
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Timestamp {
        Timestamp::from_system(t)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(t: DateTime<Utc>) -> Timestamp {
        Timestamp::from_datetime(t)
    }
}

/// RFC 3339, as [`Timestamp::to_rfc3339`].
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// Events carry their times as RFC 3339 strings; they are read as chrono
/// reads them and written back in RFC 3339.
impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        DateTime::<Utc>::deserialize(d).map(Timestamp::from_datetime)
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-26T14:00:00Z, the sample events' day.
    const DAY_MS: i64 = 1_795_701_600_000;

    #[test]
    fn epoch_seconds_and_milliseconds_round_trip() {
        let t = Timestamp::from_millis(DAY_MS + 250);
        assert_eq!(t.millis(), DAY_MS + 250);
        assert_eq!(t.secs(), DAY_MS / 1000, "seconds round down");
        assert_eq!(Timestamp::from_secs(t.secs()), Timestamp::from_millis(DAY_MS));
        for secs in [0, 1, -1, 1_795_708_800, -62_135_596_800, 1_795_701_600] {
            assert_eq!(Timestamp::from_secs(secs).secs(), secs);
        }
        assert_eq!(Timestamp::from_millis(-1).secs(), -1, "before 1970 rounds towards the past");
        assert_eq!(Timestamp::from_millis(-1000).secs(), -1);
        assert_eq!(Timestamp::from_millis(-1001).secs(), -2);
    }

    #[test]
    fn huge_seconds_and_milliseconds_saturate() {
        assert_eq!(Timestamp::from_secs(i64::MAX), Timestamp::MAX);
        assert_eq!(Timestamp::from_secs(i64::MIN), Timestamp::MIN);
        assert_eq!(Timestamp::from_millis_u64(u64::MAX), Timestamp::MAX);
        assert_eq!(Timestamp::from_millis_u64(600_000), Timestamp::from_millis(600_000));
        assert_eq!(Timestamp::MIN.secs(), i64::MIN.div_euclid(1000));
    }

    #[test]
    fn system_time_round_trips_to_the_millisecond() {
        let day = UNIX_EPOCH + Duration::from_millis(DAY_MS as u64);
        assert_eq!(Timestamp::from_system(day), Timestamp::from_millis(DAY_MS));
        assert_eq!(Timestamp::from_millis(DAY_MS).to_system(), Some(day));
        let finer = day + Duration::from_nanos(999_999);
        assert_eq!(Timestamp::from(finer), Timestamp::from_millis(DAY_MS), "below a millisecond is dropped");
        let before = UNIX_EPOCH - Duration::from_millis(1500);
        assert_eq!(Timestamp::from_system(before), Timestamp::from_millis(-1500));
        assert_eq!(Timestamp::from_millis(-1500).to_system(), Some(before));
        let just_before = UNIX_EPOCH - Duration::from_nanos(1);
        assert_eq!(Timestamp::from_system(just_before), Timestamp::from_millis(-1), "towards the past");
        assert!(Timestamp::now() > Timestamp::from_millis(DAY_MS - 365 * 86_400_000));
        // Whatever the platform holds, the extremes give an answer, not a panic.
        let _ = (Timestamp::MAX.to_system(), Timestamp::MIN.to_system());
    }

    #[test]
    fn chrono_and_rfc3339_round_trip() {
        let t = Timestamp::parse_rfc3339("2026-11-26T14:00:00Z").unwrap();
        assert_eq!(t, Timestamp::from_millis(DAY_MS));
        assert_eq!(t.to_rfc3339(), "2026-11-26T14:00:00Z");
        assert_eq!(t.to_string(), "2026-11-26T14:00:00Z");
        let ms = Timestamp::parse_rfc3339("2026-11-26T15:00:00.250+01:00").unwrap();
        assert_eq!(ms, Timestamp::from_millis(DAY_MS + 250));
        assert_eq!(ms.to_rfc3339(), "2026-11-26T14:00:00.250Z");
        assert_eq!(Timestamp::parse_rfc3339(&ms.to_rfc3339()), Ok(ms));
        let dt = ms.to_datetime().unwrap();
        assert_eq!(dt.timestamp_millis(), DAY_MS + 250);
        assert_eq!(Timestamp::from(dt), ms);
        assert_eq!(Timestamp::from_millis(-1).to_rfc3339(), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn bad_rfc3339_is_an_error_and_chronos_range_is_kept() {
        for bad in ["", "yesterday", "2026-11-26", "2026-13-01T00:00:00Z", "1795708800"] {
            assert_eq!(Timestamp::parse_rfc3339(bad), Err(TimeError::NotRfc3339(bad.into())), "{bad}");
        }
        assert_eq!(Timestamp::MAX.to_datetime(), None);
        assert_eq!(Timestamp::MIN.to_datetime(), None);
        assert_eq!(Timestamp::MAX.to_rfc3339(), DateTime::<Utc>::MAX_UTC.to_rfc3339_opts(SecondsFormat::AutoSi, true));
        assert!(Timestamp::MIN.to_rfc3339().starts_with('-'));
    }

    #[test]
    fn formats_in_utc_and_saturates() {
        let t = Timestamp::from_millis(DAY_MS + 23_999);
        assert_eq!(t.format_utc("%Y-%m-%d %H:%M:%S UTC"), "2026-11-26 14:00:23 UTC");
        assert_eq!(Timestamp::MAX.format_utc("%Y"), DateTime::<Utc>::MAX_UTC.format("%Y").to_string());
        assert_eq!(t.format_utc("%H:%M %Q"), "", "a bad format is no panic");
    }

    #[test]
    fn a_time_of_day_on_the_same_utc_day() {
        let nine = NaiveTime::from_hms_opt(9, 0, 0).unwrap();
        let t = Timestamp::parse_rfc3339("2026-11-26T23:59:59.999Z").unwrap();
        assert_eq!(t.on_utc_day_at(nine).to_rfc3339(), "2026-11-26T09:00:00Z");
        assert_eq!(Timestamp::from_millis(-1).on_utc_day_at(nine).to_rfc3339(), "1969-12-31T09:00:00Z");
        let _ = (Timestamp::MAX.on_utc_day_at(nine), Timestamp::MIN.on_utc_day_at(nine));
    }

    #[test]
    fn slacks_epoch_seconds_strings() {
        assert_eq!(Timestamp::parse_slack_secs("1795701600"), Ok(Timestamp::from_millis(DAY_MS)));
        assert_eq!(Timestamp::parse_slack_secs("1795701600.123456"), Ok(Timestamp::from_millis(DAY_MS + 123)));
        assert_eq!(Timestamp::parse_slack_secs("1795701600.5"), Ok(Timestamp::from_millis(DAY_MS + 500)));
        assert_eq!(Timestamp::parse_slack_secs("0"), Ok(Timestamp::EPOCH));
        for bad in ["", "garbage", "-5", "+5", "1.2.3", ".5", "12 ", "99999999999999999999", "9223372036854775807"] {
            assert_eq!(Timestamp::parse_slack_secs(bad), Err(TimeError::NotEpochSeconds(bad.into())), "{bad}");
        }
    }

    #[test]
    fn arithmetic_saturates_and_durations_never_go_negative() {
        let t = Timestamp::from_millis(DAY_MS);
        assert_eq!(t + Duration::from_millis(1500), Timestamp::from_millis(DAY_MS + 1500));
        assert_eq!(t - Duration::from_secs(1), Timestamp::from_millis(DAY_MS - 1000));
        assert_eq!(t + Duration::MAX, Timestamp::MAX);
        assert!(t - Duration::MAX < Timestamp::EPOCH);
        assert_eq!(Timestamp::MIN - Duration::from_secs(1), Timestamp::MIN);
        assert_eq!(Timestamp::MAX + Duration::from_secs(1), Timestamp::MAX);
        let later = t + Duration::from_secs(30);
        assert_eq!(later.duration_since(t), Duration::from_secs(30));
        assert_eq!(t.duration_since(later), Duration::ZERO);
        assert_eq!(t.checked_duration_since(later), None);
        assert_eq!(Timestamp::MAX.duration_since(Timestamp::MIN), Duration::from_millis(u64::MAX));
    }

    #[test]
    fn serde_reads_and_writes_rfc3339() {
        let t: Timestamp = serde_json::from_str(r#""2026-11-26T14:00:00.250Z""#).unwrap();
        assert_eq!(t, Timestamp::from_millis(DAY_MS + 250));
        assert_eq!(serde_json::to_string(&t).unwrap(), r#""2026-11-26T14:00:00.250Z""#);
        assert!(serde_json::from_str::<Timestamp>(r#""soon""#).is_err());
        assert!(serde_json::from_str::<Timestamp>("1795708800").is_err());
    }
}
