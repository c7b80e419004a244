//! Job schedules in AWS's syntax, `rate(15 minutes)` or
//! `cron(0 6 * * ? *)`, in a time zone, and when a run was due. Pure: the
//! watch gives it the time ("now" is the scheduled event's) and the runs.

use std::fmt;
use std::time::Duration;

use chrono::Utc;
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::time::Timestamp;

/// A run that starts this much before its due time still counts for it.
const EARLY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct Schedule {
    /// As written, e.g. `cron(0 6 * * ? *)`.
    pub expression: String,
    pub time_zone: Tz,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Rate(Duration),
    Cron(Box<Cron>),
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.expression == other.expression && self.time_zone == other.time_zone
    }
}

impl Eq for Schedule {}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.time_zone {
            Tz::UTC => f.write_str(&self.expression),
            zone => write!(f, "{} {}", self.expression, zone.name()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(String);

impl Schedule {
    /// `rate(N minute|minutes|hour|hours|day|days)` or `cron(6 fields)` as
    /// EventBridge takes them; `time_zone` an IANA name, UTC when absent.
    pub fn parse(expression: &str, time_zone: Option<&str>) -> Result<Schedule, ScheduleError> {
        let expression = expression.trim();
        let time_zone = match time_zone {
            None => Tz::UTC,
            Some(name) => name.parse::<Tz>().map_err(|_| {
                ScheduleError(format!("unknown time zone {name:?} (use an IANA name like Europe/Berlin)"))
            })?,
        };
        let kind = if let Some(body) = inner(expression, "rate") {
            Kind::Rate(parse_rate(body)?)
        } else if let Some(body) = inner(expression, "cron") {
            Kind::Cron(Box::new(parse_cron(body)?))
        } else {
            return Err(ScheduleError(format!(
                "{expression:?} is not a schedule: use rate(15 minutes) or cron(0 6 * * ? *)"
            )));
        };
        Ok(Schedule { expression: expression.to_owned(), time_zone, kind })
    }

    /// The last time a run was due at or before `t`, for a cron schedule;
    /// a rate has no due times of its own (see [`Schedule::missed`]).
    fn cron_due_at_or_before(&self, cron: &Cron, t: Timestamp) -> Option<Timestamp> {
        let local = t.to_datetime()?.with_timezone(&self.time_zone);
        cron.find_previous_occurrence(&local, true).ok().map(|d| Timestamp::from(d.with_timezone(&Utc)))
    }

    fn cron_due_after(&self, cron: &Cron, t: Timestamp) -> Option<Timestamp> {
        let local = t.to_datetime()?.with_timezone(&self.time_zone);
        cron.find_next_occurrence(&local, false).ok().map(|d| Timestamp::from(d.with_timezone(&Utc)))
    }

    /// The runs that were due, with their grace, by `now` and did not
    /// start: the first and last such due times and how many. `started`
    /// is the latest start the job has (None: never seen); due times before
    /// `watching_since` are not judged (the notifier was not watching).
    pub fn missed(
        &self,
        now: Timestamp,
        grace: Duration,
        started: Option<Timestamp>,
        watching_since: Timestamp,
    ) -> Option<Missed> {
        let judged_until = now - grace;
        // Runs due after this were not started: the latest start covers
        // what was due up to just after it.
        let covered_until = started.map_or(watching_since, |s| (s + EARLY).max(watching_since));
        match &self.kind {
            Kind::Cron(cron) => {
                let last = self.cron_due_at_or_before(cron, judged_until)?;
                if last <= covered_until {
                    return None;
                }
                let first = self.cron_due_after(cron, covered_until)?;
                let mut count = 0;
                let mut due = Some(first);
                while let Some(t) = due.filter(|t| *t <= last && count < MAX_COUNTED) {
                    count += 1;
                    due = self.cron_due_after(cron, t);
                }
                Some(Missed { first, last, count })
            }
            Kind::Rate(period) => {
                let anchor = started.unwrap_or(watching_since);
                let first = anchor + *period;
                if first > judged_until {
                    return None;
                }
                let count = (judged_until.duration_since(anchor).as_secs() / period.as_secs().max(1)).max(1);
                let count = u32::try_from(count).unwrap_or(MAX_COUNTED).min(MAX_COUNTED);
                Some(Missed { first, last: anchor + period.saturating_mul(count), count })
            }
        }
    }

    /// How many runs due in `[from, to]` did not start within their grace,
    /// given the job's run starts: the digest's "missed".
    pub fn missed_between(&self, from: Timestamp, to: Timestamp, grace: Duration, starts: &[Timestamp]) -> u32 {
        let mut starts = starts.to_vec();
        starts.sort_unstable();
        match &self.kind {
            Kind::Cron(cron) => {
                let Some(mut due) = self.cron_due_after(cron, from - Duration::from_secs(1)) else {
                    return 0;
                };
                let mut missed = 0;
                while due + grace <= to && missed < MAX_COUNTED {
                    if !starts.iter().any(|s| (due - EARLY..=due + grace).contains(s)) {
                        missed += 1;
                    }
                    match self.cron_due_after(cron, due) {
                        Some(next) => due = next,
                        None => break,
                    }
                }
                missed
            }
            Kind::Rate(period) => {
                let period = (*period).max(Duration::from_secs(1)).as_millis();
                // Due times follow each start by a period; gaps count theirs.
                let anchor = starts.iter().rev().find(|s| **s < from).copied().unwrap_or(from);
                let mut missed = 0u128;
                let mut previous = anchor;
                for start in starts.iter().copied().filter(|s| *s >= from && *s <= to).chain([to]) {
                    missed += start.checked_duration_since(previous + grace).map_or(0, |gap| gap.as_millis() / period);
                    previous = start;
                }
                u32::try_from(missed).unwrap_or(MAX_COUNTED).min(MAX_COUNTED)
            }
        }
    }

    /// A due time as the schedule's readers think of it: `06:00`, in its
    /// own time zone (with the zone when it is not UTC).
    pub fn local_time(&self, t: Timestamp) -> String {
        let local = t.to_datetime().unwrap_or_default().with_timezone(&self.time_zone);
        match self.time_zone {
            Tz::UTC => local.format("%H:%M UTC").to_string(),
            _ => local.format("%H:%M %Z").to_string(),
        }
    }
}

/// Missed runs are counted up to this many.
pub const MAX_COUNTED: u32 = 1000;

/// Runs that were due and did not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Missed {
    pub first: Timestamp,
    pub last: Timestamp,
    pub count: u32,
}

fn inner<'a>(expression: &'a str, name: &str) -> Option<&'a str> {
    expression.strip_prefix(name)?.trim_start().strip_prefix('(')?.strip_suffix(')').map(str::trim)
}

fn parse_rate(body: &str) -> Result<Duration, ScheduleError> {
    let bad = || ScheduleError(format!("rate({body}): expected a whole number and minute(s), hour(s) or day(s)"));
    let (value, unit) = body.split_once(char::is_whitespace).ok_or_else(bad)?;
    let value: u64 = value.trim().parse().map_err(|_| bad())?;
    let unit_secs = match (value, unit.trim()) {
        (1, "minute") | (2.., "minutes") => 60,
        (1, "hour") | (2.., "hours") => 3600,
        (1, "day") | (2.., "days") => 86400,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs(value * unit_secs))
}

/// AWS's six fields (minutes hours day-of-month month day-of-week year),
/// with seconds added in front: croner with Quartz weekdays (SUN=1) and
/// `0/15` steps, as EventBridge reads them.
fn parse_cron(body: &str) -> Result<Cron, ScheduleError> {
    let fields: Vec<&str> = body.split_whitespace().collect();
    if fields.len() != 6 {
        return Err(ScheduleError(format!(
            "cron({body}): AWS cron takes 6 fields (minutes hours day-of-month month day-of-week year), not {}",
            fields.len()
        )));
    }
    check_cron_fields(&fields).map_err(|e| ScheduleError(format!("cron({body}): {e}")))?;
    let parser = CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Required)
        .alternative_weekdays(true)
        .sloppy_ranges(true)
        .build();
    parser.parse(&format!("0 {body}")).map_err(|e| ScheduleError(format!("cron({body}): {e}")))
}

/// AWS's fields: name, least and greatest value, the names it takes.
const CRON_FIELDS: [(&str, u32, u32, &[&str]); 6] = [
    ("minutes", 0, 59, &[]),
    ("hours", 0, 23, &[]),
    ("day-of-month", 1, 31, &[]),
    ("month", 1, 12, &["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]),
    ("day-of-week", 1, 7, &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]),
    ("year", 1970, 2199, &[]),
];

/// What EventBridge refuses, said with the field it is in: a value out of
/// its field's range, and a day given both ways (one of day-of-month and
/// day-of-week must be `?`).
fn check_cron_fields(fields: &[&str]) -> Result<(), String> {
    for (&field, &(name, min, max, names)) in fields.iter().zip(CRON_FIELDS.iter()) {
        let day = name.starts_with("day-");
        for item in field.split(',') {
            if item == "?" && !day {
                return Err(format!("{name}: ? is only for day-of-month or day-of-week"));
            }
            let (range, step) = item.split_once('/').map_or((item, None), |(r, s)| (r, Some(s)));
            if let Some(step) = step {
                if !step.parse::<u32>().is_ok_and(|n| n >= 1) {
                    return Err(format!("{name}: the step in {item:?} must be a whole number of 1 or more"));
                }
            }
            let range = match range.split_once('#') {
                Some((weekday, nth)) if name == "day-of-week" => {
                    if !nth.parse::<u32>().is_ok_and(|n| (1..=5).contains(&n)) {
                        return Err(format!("{name}: the week in {item:?} must be 1 to 5"));
                    }
                    weekday
                }
                _ => range,
            };
            for value in range.split('-') {
                // `L` (last) and `W` (nearest weekday) are read by the parser.
                let value = if day { value.trim_end_matches(['L', 'W']) } else { value };
                if value.is_empty()
                    || value == "*"
                    || value == "?"
                    || names.iter().any(|n| n.eq_ignore_ascii_case(value))
                {
                    continue;
                }
                match value.parse::<u32>() {
                    Ok(n) if (min..=max).contains(&n) => {}
                    Ok(n) => return Err(format!("{name}: {n} is out of range ({min}-{max})")),
                    Err(_) => return Err(format!("{name}: {value:?} is not a value it takes")),
                }
            }
        }
    }
    match (fields[2] == "?", fields[4] == "?") {
        (false, false) => Err("AWS requires ? in day-of-month or day-of-week: a day given both ways is refused \
             (e.g. cron(0 6 * * ? *): every day at 06:00)"
            .into()),
        (true, true) => Err("only one of day-of-month and day-of-week can be ?".into()),
        _ => Ok(()),
    }
}

/// `90s`, `5m`, `2h`, `1d`, or combinations like `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, ScheduleError> {
    let bad = || ScheduleError(format!("{text:?} is not a duration: use 90s, 5m, 2h or 1h30m"));
    let mut total = 0u64;
    let mut digits = String::new();
    for c in text.trim().chars() {
        match c {
            '0'..='9' => digits.push(c),
            's' | 'm' | 'h' | 'd' if !digits.is_empty() => {
                let n: u64 = digits.parse().map_err(|_| bad())?;
                let unit = match c {
                    's' => 1,
                    'm' => 60,
                    'h' => 3600,
                    _ => 86400,
                };
                total = total.checked_add(n.checked_mul(unit).ok_or_else(bad)?).ok_or_else(bad)?;
                digits.clear();
            }
            _ => return Err(bad()),
        }
    }
    if !digits.is_empty() || text.trim().is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    const GRACE: Duration = Duration::from_secs(300);

    #[test]
    fn parses_what_eventbridge_takes_and_names_what_it_does_not() {
        for ok in [
            "rate(1 minute)",
            "rate(15 minutes)",
            "rate(2 hours)",
            "rate(1 day)",
            "cron(0 6 * * ? *)",
            "cron(0/15 * * * ? *)",
            "cron(0 9 ? * MON-FRI *)",
            "cron(0 12 ? * 2#1 *)",
            "cron(0 0 L * ? *)",
            "cron(0 0 LW * ? *)",
            "cron(0 0 15W * ? *)",
            "cron(0 18 ? * 6L *)",
            "cron(0 8 1 JAN,JUL ? 2026-2030)",
            "cron(15,45 8-17/2 ? * SUN-SAT *)",
        ] {
            assert!(Schedule::parse(ok, None).is_ok(), "{ok}");
        }
        let table = [
            ("rate(1 minutes)", "expected a whole number and minute(s)"),
            ("rate(0 minutes)", "expected a whole number"),
            ("rate(5 weeks)", "expected a whole number"),
            ("cron(0 6 * * *)", "AWS cron takes 6 fields"),
            ("cron(0 25 * * ? *)", "cron(0 25 * * ? *): hours: 25 is out of range (0-23)"),
            ("cron(60 6 * * ? *)", "minutes: 60 is out of range (0-59)"),
            ("cron(0 6 32 * ? *)", "day-of-month: 32 is out of range (1-31)"),
            ("cron(0 6 ? 13 MON *)", "month: 13 is out of range (1-12)"),
            ("cron(0 6 ? * 8 *)", "day-of-week: 8 is out of range (1-7)"),
            ("cron(0 6 ? * MON#6 *)", "day-of-week: the week in \"MON#6\" must be 1 to 5"),
            ("cron(0/0 6 * * ? *)", "minutes: the step in \"0/0\" must be a whole number"),
            ("cron(0 6 * * ? 1900)", "year: 1900 is out of range (1970-2199)"),
            ("cron(0 6 * * ? FOO)", "year: \"FOO\" is not a value it takes"),
            ("cron(? 6 * * ? *)", "minutes: ? is only for day-of-month or day-of-week"),
            ("cron(0 6 * * * *)", "cron(0 6 * * * *): AWS requires ? in day-of-month or day-of-week"),
            ("cron(0 6 1 * MON *)", "AWS requires ? in day-of-month or day-of-week"),
            ("cron(0 6 ? * ? *)", "only one of day-of-month and day-of-week can be ?"),
            ("every day", "is not a schedule"),
        ];
        for (bad, want) in table {
            let err = Schedule::parse(bad, None).unwrap_err().to_string();
            assert!(err.contains(want), "{bad}: {err}");
        }
        let err = Schedule::parse("rate(1 day)", Some("Mars/Olympus")).unwrap_err().to_string();
        assert!(err.contains("unknown time zone \"Mars/Olympus\""), "{err}");
    }

    #[test]
    fn durations() {
        let table = [("90s", 90), ("5m", 300), ("2h", 7200), ("1d", 86400), ("1h30m", 5400)];
        for (text, secs) in table {
            assert_eq!(parse_duration(text).unwrap(), Duration::from_secs(secs), "{text}");
        }
        for bad in ["", "5", "m", "5 minutes", "-5m", "5x"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_cron_run_is_missed_after_its_grace_and_only_if_nothing_started_since() {
        let daily = Schedule::parse("cron(0 6 * * ? *)", None).unwrap();
        let since = at("2026-11-20T00:00:00Z");
        let yesterday = Some(at("2026-11-26T06:00:31Z"));
        // Within the grace: not yet.
        assert_eq!(daily.missed(at("2026-11-27T06:04:59Z"), GRACE, yesterday, since), None);
        let missed = daily.missed(at("2026-11-27T06:05:00Z"), GRACE, yesterday, since).unwrap();
        assert_eq!(
            (missed.first, missed.last, missed.count),
            (at("2026-11-27T06:00:00Z"), at("2026-11-27T06:00:00Z"), 1)
        );
        // Started on time (even a few seconds early): not missed.
        for start in ["2026-11-27T06:00:40Z", "2026-11-27T05:59:50Z"] {
            assert_eq!(daily.missed(at("2026-11-27T07:00:00Z"), GRACE, Some(at(start)), since), None, "{start}");
        }
        // Two days without a run: two missed, the first and the last named.
        let missed = daily.missed(at("2026-11-28T09:00:00Z"), GRACE, yesterday, since).unwrap();
        assert_eq!(
            (missed.first, missed.last, missed.count),
            (at("2026-11-27T06:00:00Z"), at("2026-11-28T06:00:00Z"), 2)
        );
        // Due before the notifier was watching: not judged.
        assert_eq!(daily.missed(at("2026-11-27T07:00:00Z"), GRACE, None, at("2026-11-27T06:30:00Z")), None);
        assert!(daily.missed(at("2026-11-28T07:00:00Z"), GRACE, None, at("2026-11-27T06:30:00Z")).is_some());
    }

    #[test]
    fn a_rate_run_is_due_one_period_after_the_last_start() {
        let every5 = Schedule::parse("rate(5 minutes)", None).unwrap();
        let since = at("2026-11-27T00:00:00Z");
        let last = Some(at("2026-11-27T06:00:20Z"));
        let grace = Duration::from_secs(120);
        assert_eq!(every5.missed(at("2026-11-27T06:07:19Z"), grace, last, since), None);
        let missed = every5.missed(at("2026-11-27T06:07:20Z"), grace, last, since).unwrap();
        assert_eq!((missed.first, missed.count), (at("2026-11-27T06:05:20Z"), 1));
        let missed = every5.missed(at("2026-11-27T06:32:20Z"), grace, last, since).unwrap();
        assert_eq!(
            (missed.first, missed.last, missed.count),
            (at("2026-11-27T06:05:20Z"), at("2026-11-27T06:30:20Z"), 6)
        );
        // Never seen: due one period after the watch began.
        let missed = every5.missed(at("2026-11-27T00:07:00Z"), grace, None, since).unwrap();
        assert_eq!(missed.first, at("2026-11-27T00:05:00Z"));
    }

    #[test]
    fn a_time_zone_keeps_local_time_across_daylight_saving() {
        let berlin = Schedule::parse("cron(0 6 * * ? *)", Some("Europe/Berlin")).unwrap();
        let since = at("2026-03-01T00:00:00Z");
        // 06:00 in Berlin is 05:00 UTC in winter and 04:00 UTC from 29 March.
        let winter = berlin.missed(at("2026-03-28T05:06:00Z"), GRACE, Some(at("2026-03-27T05:00:30Z")), since).unwrap();
        assert_eq!(winter.first, at("2026-03-28T05:00:00Z"));
        let summer = berlin.missed(at("2026-03-29T04:06:00Z"), GRACE, Some(at("2026-03-28T05:00:30Z")), since).unwrap();
        assert_eq!(summer.first, at("2026-03-29T04:00:00Z"));
        assert_eq!(berlin.local_time(summer.first), "06:00 CEST");
        assert_eq!(berlin.to_string(), "cron(0 6 * * ? *) Europe/Berlin");
        // The UTC schedule is not fooled: at 04:06 UTC nothing is due yet.
        let utc_daily = Schedule::parse("cron(0 6 * * ? *)", None).unwrap();
        assert_eq!(utc_daily.missed(at("2026-03-29T04:06:00Z"), GRACE, Some(at("2026-03-28T06:00:30Z")), since), None);
        assert_eq!(utc_daily.local_time(at("2026-03-29T06:00:00Z")), "06:00 UTC");
    }

    #[test]
    fn a_days_missed_runs_for_the_digest() {
        let t = at;
        let hourly = Schedule::parse("cron(0 * * * ? *)", None).unwrap();
        let starts: Vec<Timestamp> = (0..24)
            .filter(|h| ![3, 4, 17].contains(h))
            .map(|h| t("2026-11-26T09:00:20Z") + Duration::from_secs(h * 3600))
            .collect();
        let missed = hourly.missed_between(t("2026-11-26T09:00:00Z"), t("2026-11-27T09:00:00Z"), GRACE, &starts);
        assert_eq!(missed, 3, "three gaps; 09:00 today is still within its grace");
        let every5 = Schedule::parse("rate(5 minutes)", None).unwrap();
        let starts = [t("2026-11-27T08:00:00Z"), t("2026-11-27T08:05:00Z"), t("2026-11-27T08:25:00Z")];
        let missed = every5.missed_between(
            t("2026-11-27T08:00:00Z"),
            t("2026-11-27T08:30:00Z"),
            Duration::from_secs(60),
            &starts,
        );
        assert_eq!(missed, 3, "08:10, 08:15, 08:20");
    }

    #[test]
    fn weekday_schedules_skip_weekends() {
        let weekdays = Schedule::parse("cron(0 9 ? * MON-FRI *)", None).unwrap();
        // Friday 27 Nov ran; Saturday and Sunday nothing is due.
        let friday = Some(at("2026-11-27T09:00:30Z"));
        let since = at("2026-11-01T00:00:00Z");
        assert_eq!(weekdays.missed(at("2026-11-29T23:00:00Z"), GRACE, friday, since), None);
        let monday = weekdays.missed(at("2026-11-30T09:10:00Z"), GRACE, friday, since).unwrap();
        assert_eq!((monday.first, monday.count), (at("2026-11-30T09:00:00Z"), 1));
    }
}
