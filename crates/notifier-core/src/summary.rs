//! Job summaries: a job reports its stats by printing one line,
//! `JOB_SUMMARY {"success": 100, "failed": 5}`, and the notifier finds it at
//! the end of the task's log. Nothing to install in the job.

use serde_json::{Map, Value};

pub const MARKER: &str = "JOB_SUMMARY";
/// More keys than this are left out: a summary is a glance, not a report.
pub const MAX_KEYS: usize = 20;

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Keys and values in the order the job printed them.
    pub stats: Vec<(String, String)>,
    /// The `failed` count, when the job reported one.
    pub failed: Option<u64>,
    /// The keys whose values are whole numbers, in order: what the
    /// zero-count check compares from run to run.
    pub counts: Vec<(String, u64)>,
}

/// What the notifier learned from the task's log, for the completion.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobLog {
    pub summary: Option<Summary>,
    /// The log's last lines, oldest first; shown when the job failed.
    pub last_lines: Vec<String>,
    /// Why the log could not be read, when it could not.
    pub note: Option<String>,
}

/// What reading the log's end found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Findings {
    pub summary: Option<Summary>,
    /// Summary lines that were not a JSON object, newest first.
    pub malformed: Vec<String>,
}

/// Finds the last well-formed summary line among `lines` (oldest first).
/// The marker may follow a logger's prefix (time, level); the JSON object
/// must follow the marker and a space.
pub fn find(lines: &[String]) -> Findings {
    let mut findings = Findings::default();
    for line in lines.iter().rev() {
        let Some(at) = line.find(MARKER) else { continue };
        let rest = line[at + MARKER.len()..].trim();
        match serde_json::from_str::<Map<String, Value>>(rest) {
            Ok(object) => {
                findings.summary = Some(summary(object));
                break;
            }
            Err(_) => findings.malformed.push(line.clone()),
        }
    }
    findings
}

fn summary(object: Map<String, Value>) -> Summary {
    let failed = object.get("failed").and_then(Value::as_u64);
    let counts = object.iter().take(MAX_KEYS).filter_map(|(k, v)| Some((k.clone(), v.as_u64()?))).collect();
    let stats = object
        .into_iter()
        .take(MAX_KEYS)
        .map(|(key, value)| {
            let shown = match value {
                Value::String(s) => s,
                Value::Number(n) => n.as_u64().map_or_else(|| n.to_string(), crate::message::text::thousands),
                other => other.to_string(),
            };
            (key, shown)
        })
        .collect();
    Summary { stats, failed, counts }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn the_last_well_formed_summary_wins() {
        let log = lines(
            "starting\n\
             JOB_SUMMARY {\"success\": 1}\n\
             2026-11-26T14:04:20Z INFO JOB_SUMMARY {\"success\": 100, \"failed\": 5, \"tickers\": 503, \"note\": \"ok\"}\n\
             JOB_SUMMARY {not json\n\
             done",
        );
        let found = find(&log);
        let summary = found.summary.unwrap();
        assert_eq!(summary.failed, Some(5));
        let stats: Vec<(&str, &str)> = summary.stats.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(stats, [("success", "100"), ("failed", "5"), ("tickers", "503"), ("note", "ok")]);
        assert_eq!(found.malformed, ["JOB_SUMMARY {not json"]);
    }

    #[test]
    fn no_summary() {
        let table = ["", "just logs\nmore logs", "JOB_SUMMARY", "JOB_SUMMARY [1, 2]", "JOB_SUMMARY \"text\""];
        for log in table {
            assert_eq!(find(&lines(log)).summary, None, "{log:?}");
        }
    }

    #[test]
    fn values_read_well() {
        let found =
            find(&lines(r#"JOB_SUMMARY {"rows": 1234567, "ratio": 0.5, "neg": -3, "tags": ["a"], "none": null}"#));
        let summary = found.summary.unwrap();
        let stats = &summary.stats;
        let shown: Vec<&str> = stats.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(shown, ["1,234,567", "0.5", "-3", "[\"a\"]", "null"]);
        assert_eq!(summary.counts, [("rows".to_owned(), 1_234_567)], "whole numbers only");
    }

    #[test]
    fn keys_are_capped() {
        let object: Vec<String> = (0..50).map(|i| format!("\"k{i:02}\": {i}")).collect();
        let found = find(&[format!("JOB_SUMMARY {{{}}}", object.join(", "))]);
        assert_eq!(found.summary.unwrap().stats.len(), MAX_KEYS);
    }
}
