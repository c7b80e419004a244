//! Log levels as jobs print them, and which lines of a batch reach a
//! threshold. Pure: the logs kind feeds it the lines of one delivery.
//!
//! Read forms: Python `logging` lines (`… WARNING name: msg`, and `WARN`,
//! `ERROR`, `CRITICAL`, `FATAL`, `INFO`, `DEBUG`), JSON lines with `level`,
//! `levelname` or `severity` (names, or pino/bunyan numbers), `[ERROR]` and
//! `level=error`. A Python traceback counts as ERROR and stays with the line
//! it follows. A line with no level is below `warning`.

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Debug,
    Info,
    Warning,
    Error,
    Critical,
}

/// The least level a line needs to be streamed, or `off`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Threshold {
    Debug,
    Info,
    #[default]
    Warning,
    Error,
    Critical,
    Off,
}

impl Threshold {
    pub fn least(self) -> Option<Level> {
        match self {
            Threshold::Debug => Some(Level::Debug),
            Threshold::Info => Some(Level::Info),
            Threshold::Warning => Some(Level::Warning),
            Threshold::Error => Some(Level::Error),
            Threshold::Critical => Some(Level::Critical),
            Threshold::Off => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Threshold::Debug => "debug",
            Threshold::Info => "info",
            Threshold::Warning => "warning",
            Threshold::Error => "error",
            Threshold::Critical => "critical",
            Threshold::Off => "off",
        }
    }

    pub fn from_name(name: &str) -> Option<Threshold> {
        serde_json::from_value(Value::String(name.to_owned())).ok()
    }
}

const TRACEBACK: &str = "Traceback (most recent call last):";
/// Lines that continue a Python traceback chain without indentation.
const CHAINED: [&str; 2] =
    ["During handling of the above exception", "The above exception was the direct cause of the following"];

/// The level of one log line, when it says.
pub fn level_of(line: &str) -> Option<Level> {
    let trimmed = line.trim_start();
    if trimmed.starts_with('{') {
        if let Some(level) = json_level(trimmed) {
            return Some(level);
        }
    }
    if trimmed.starts_with(TRACEBACK) {
        return Some(Level::Error);
    }
    keyed_level(line).or_else(|| word_level(line))
}

fn level_named(name: &str) -> Option<Level> {
    match name.to_ascii_uppercase().as_str() {
        "DEBUG" | "TRACE" => Some(Level::Debug),
        "INFO" | "NOTICE" => Some(Level::Info),
        "WARNING" | "WARN" => Some(Level::Warning),
        "ERROR" | "ERR" => Some(Level::Error),
        "CRITICAL" | "FATAL" | "ALERT" | "EMERGENCY" | "PANIC" => Some(Level::Critical),
        _ => None,
    }
}

/// `level`, `levelname` or `severity` of a JSON object line.
fn json_level(line: &str) -> Option<Level> {
    let object: serde_json::Map<String, Value> = serde_json::from_str(line).ok()?;
    ["level", "levelname", "severity", "log.level"].iter().find_map(|key| match object.get(*key)? {
        Value::String(name) => level_named(name),
        // pino and bunyan: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal.
        Value::Number(n) => match n.as_u64()? {
            0..=29 => Some(Level::Debug),
            30..=39 => Some(Level::Info),
            40..=49 => Some(Level::Warning),
            50..=59 => Some(Level::Error),
            _ => Some(Level::Critical),
        },
        _ => None,
    })
}

/// `level=error` (logfmt) and `[ERROR]`, in any case.
fn keyed_level(line: &str) -> Option<Level> {
    let lower = line.to_ascii_lowercase();
    if let Some(at) = lower.find("level=") {
        let value = lower[at + 6..].trim_start_matches('"');
        let end = value.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(value.len());
        if let Some(level) = level_named(&value[..end]) {
            return Some(level);
        }
    }
    let mut rest = line;
    while let Some(open) = rest.find('[') {
        let inside = &rest[open + 1..];
        let Some(close) = inside.find(']') else { break };
        if let Some(level) = level_named(inside[..close].trim()) {
            return Some(level);
        }
        rest = &inside[close + 1..];
    }
    None
}

/// The first upper-case level word, as Python's `logging` and most
/// loggers print it: whole words only, so `ERRORS` or `TERROR` are not.
fn word_level(line: &str) -> Option<Level> {
    line.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|word| !word.is_empty() && word.chars().all(|c| c.is_ascii_uppercase()))
        .find_map(|word| match word {
            "DEBUG" | "INFO" | "WARNING" | "WARN" | "ERROR" | "CRITICAL" | "FATAL" => level_named(word),
            _ => None,
        })
}

/// One log event's text and its level, as streamed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    pub level: Level,
    /// Part of the entry before it: a traceback after its error line.
    pub joined: bool,
}

/// Where a line stands relative to a Python traceback.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Traceback {
    Outside,
    Inside,
    /// Just after its exception line: a chained traceback may follow.
    Ended,
}

/// The lines of a batch (oldest first) that reach `threshold`, with each
/// traceback kept with the line it follows. Lines of a traceback count as
/// ERROR; blank lines are never kept.
pub fn select(lines: &[&str], threshold: Threshold) -> Vec<Line> {
    let Some(least) = threshold.least() else { return Vec::new() };
    let mut selected = Vec::new();
    let mut state = Traceback::Outside;
    // Whether the last line that was not blank was kept: a traceback that
    // follows a kept line joins it, whatever the threshold.
    let mut previous_kept = false;
    for raw in lines {
        let text = raw.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        let starts = text.trim_start().starts_with(TRACEBACK) || text.contains(&format!("\n{TRACEBACK}"));
        let part_of_traceback = starts
            || match state {
                Traceback::Inside => text.starts_with([' ', '\t']) || is_exception_line(text) || is_chained(text),
                Traceback::Ended => is_chained(text),
                Traceback::Outside => false,
            };
        state = match (part_of_traceback, starts) {
            (false, _) => Traceback::Outside,
            _ if ends_traceback(text) => Traceback::Ended,
            (true, true) => Traceback::Inside,
            (true, false) if is_chained(text) => Traceback::Ended,
            (true, false) => state,
        };
        let level = if part_of_traceback { Level::Error } else { level_of(text).unwrap_or(Level::Debug) };
        let keep = level >= least || (part_of_traceback && previous_kept);
        if keep {
            selected.push(Line { text: text.to_owned(), level, joined: part_of_traceback && previous_kept });
        }
        previous_kept = keep;
    }
    selected
}

fn is_chained(line: &str) -> bool {
    CHAINED.iter().any(|c| line.starts_with(c))
}

fn ends_traceback(text: &str) -> bool {
    text.lines().last().is_some_and(is_exception_line)
}

/// `ValueError: bad`, `KeyError`, `requests.exceptions.HTTPError: 503`.
fn is_exception_line(line: &str) -> bool {
    let name = line.split(':').next().unwrap_or_default();
    !line.starts_with([' ', '\t'])
        && !name.is_empty()
        && !name.contains(' ')
        && name.rsplit('.').next().is_some_and(|n| {
            ["Error", "Exception", "Warning", "Interrupt", "Exit"].iter().any(|suffix| n.ends_with(suffix))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_as_jobs_print_them() {
        let table = [
            ("2026-11-26 14:00:01,123 WARNING jobs.prices: stale quote for AAPL", Some(Level::Warning)),
            ("WARNING:root:stale quote", Some(Level::Warning)),
            ("2026-11-26 14:00:01 - prices - ERROR - provider quota", Some(Level::Error)),
            ("WARN provider slow", Some(Level::Warning)),
            ("CRITICAL database gone", Some(Level::Critical)),
            ("FATAL out of disk", Some(Level::Critical)),
            ("INFO fetched 503 tickers, 0 ERROR rows", Some(Level::Info)),
            ("DEBUG raw payload", Some(Level::Debug)),
            (r#"{"level": "warning", "msg": "stale"}"#, Some(Level::Warning)),
            (r#"{"levelname": "ERROR", "message": "quota"}"#, Some(Level::Error)),
            (r#"{"severity": "CRITICAL", "message": "x"}"#, Some(Level::Critical)),
            (r#"{"level": 50, "msg": "pino error"}"#, Some(Level::Error)),
            (r#"{"level": 30, "msg": "pino info"}"#, Some(Level::Info)),
            ("time=2026-11-26T14:00:00Z level=error msg=\"boom\"", Some(Level::Error)),
            ("level=\"warn\" msg=slow", Some(Level::Warning)),
            ("[ERROR] provider returned 503", Some(Level::Error)),
            ("[2026-11-26 14:00:00] [warning] low disk", Some(Level::Warning)),
            ("Traceback (most recent call last):", Some(Level::Error)),
            ("an error occurred, said in prose", None),
            ("TERRORS and ERRORS are not levels", None),
            ("plain progress: 40%", None),
            ("", None),
        ];
        for (line, want) in table {
            assert_eq!(level_of(line), want, "{line:?}");
        }
    }

    #[test]
    fn thresholds_parse_from_their_names() {
        assert_eq!(Threshold::from_name("warning"), Some(Threshold::Warning));
        assert_eq!(Threshold::from_name("off"), Some(Threshold::Off));
        assert_eq!(Threshold::from_name("loud"), None);
        assert_eq!(Threshold::default(), Threshold::Warning);
    }

    fn texts(selected: &[Line]) -> Vec<&str> {
        selected.iter().map(|l| l.text.as_str()).collect()
    }

    #[test]
    fn the_default_threshold_keeps_warnings_and_worse() {
        let lines = ["INFO start", "WARNING stale quote", "some progress", "ERROR quota", "DEBUG x", "CRITICAL gone"];
        assert_eq!(texts(&select(&lines, Threshold::Warning)), ["WARNING stale quote", "ERROR quota", "CRITICAL gone"]);
        assert_eq!(texts(&select(&lines, Threshold::Error)), ["ERROR quota", "CRITICAL gone"]);
        assert_eq!(select(&lines, Threshold::Info).len(), 4);
        assert_eq!(select(&lines, Threshold::Debug).len(), 6, "unlevelled lines count as debug");
        assert!(select(&lines, Threshold::Off).is_empty());
    }

    #[test]
    fn a_traceback_stays_with_the_error_it_follows_and_counts_as_error() {
        let lines = [
            "INFO fetching",
            "ERROR:root:fetch failed",
            "Traceback (most recent call last):",
            "  File \"/app/jobs/prices.py\", line 12, in main",
            "    raise ValueError(\"bad quote\")",
            "ValueError: bad quote",
            "INFO carrying on",
        ];
        let selected = select(&lines, Threshold::Error);
        assert_eq!(texts(&selected), &lines[1..6]);
        assert!(selected.iter().all(|l| l.level == Level::Error));
        let joined: Vec<bool> = selected.iter().map(|l| l.joined).collect();
        assert_eq!(joined, [false, true, true, true, true], "one entry: the error and its traceback");
    }

    #[test]
    fn a_bare_or_chained_traceback_is_an_error_and_ends_at_its_exception() {
        let lines = [
            "Traceback (most recent call last):",
            "  File \"a.py\", line 1, in <module>",
            "KeyError: 'x'",
            "",
            "During handling of the above exception, another exception occurred:",
            "",
            "Traceback (most recent call last):",
            "  File \"a.py\", line 3, in <module>",
            "requests.exceptions.HTTPError: 503 Server Error",
            "progress 50%",
        ];
        let selected = select(&lines, Threshold::Warning);
        let want: Vec<&str> = lines[..9].iter().copied().filter(|l| !l.is_empty()).collect();
        assert_eq!(texts(&selected), want, "blank lines dropped, the chain kept");
    }

    #[test]
    fn a_traceback_in_one_multi_line_event_is_one_error() {
        let event = "ERROR job failed\nTraceback (most recent call last):\n  File \"a.py\", line 1\nValueError: x";
        let selected = select(&[event, "INFO next"], Threshold::Error);
        assert_eq!(texts(&selected), [event]);
    }
}
