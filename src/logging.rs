//! The log subscriber: what `lambda_runtime::tracing::init_default_subscriber`
//! sets up, with a plain level filter in the usual case.
//!
//! The runtime's own subscriber always builds an `EnvFilter` (directives
//! per target, read from `RUST_LOG`), even when the level is all there is
//! to it, and that is part of the function's start-up (docs/performance.md,
//! "Clients on the first event"). Here:
//!
//! - `RUST_LOG` holding more than a level (`warn,aws_config=error`): those
//!   directives, through an `EnvFilter`, as before (the doctor sets one);
//! - `RUST_LOG` holding a level (`debug`): that level;
//! - otherwise `AWS_LAMBDA_LOG_LEVEL` (Lambda's logging config, `INFO` in
//!   the template), and `INFO` without it or when it is not a level.
//!
//! That is the order the runtime's subscriber applied in effect (its
//! `EnvFilter` reads `RUST_LOG` and uses the level only when `RUST_LOG`
//! gives no directive), so every setting filters as it did. One addition:
//! Lambda's `FATAL` is read as `ERROR` (the runtime's read it as `INFO`).
//! The lines are the same: no target, no time, `AWS_LAMBDA_LOG_FORMAT=JSON`
//! gives JSON, and the subscriber is installed when `init` is called, at
//! start-up, so the first invocation's lines carry the runtime's span.

use std::str::FromStr;

use lambda_runtime::tracing::subscriber::filter::{EnvFilter, LevelFilter};
use lambda_runtime::tracing::subscriber::fmt::MakeWriter;

/// The filter and the format, from the three variables' values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub filter: Filter,
    pub json: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// One level for every target.
    Level(LevelFilter),
    /// `RUST_LOG`'s directives, as `EnvFilter` reads them.
    Directives(String),
}

impl Choice {
    /// From this process's environment.
    pub fn from_env() -> Choice {
        let var = |name| std::env::var(name).ok();
        Choice::from_values(
            var("AWS_LAMBDA_LOG_LEVEL").as_deref(),
            var("RUST_LOG").as_deref(),
            var("AWS_LAMBDA_LOG_FORMAT").as_deref(),
        )
    }

    /// `AWS_LAMBDA_LOG_LEVEL`, `RUST_LOG` and `AWS_LAMBDA_LOG_FORMAT`.
    pub fn from_values(lambda_level: Option<&str>, rust_log: Option<&str>, format: Option<&str>) -> Choice {
        let filter = match set(rust_log) {
            Some(rust_log) => level(rust_log).map_or_else(|| Filter::Directives(rust_log.to_owned()), Filter::Level),
            None => Filter::Level(set(lambda_level).and_then(level).unwrap_or(LevelFilter::INFO)),
        };
        Choice { filter, json: set(format).is_some_and(|f| f.eq_ignore_ascii_case("json")) }
    }
}

/// A variable's value, unless it is empty or blank.
fn set(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// A bare level (`debug`, `WARN`, `3`), with Lambda's `FATAL` as `ERROR`.
fn level(value: &str) -> Option<LevelFilter> {
    if value.eq_ignore_ascii_case("fatal") {
        return Some(LevelFilter::ERROR);
    }
    LevelFilter::from_str(value).ok()
}

/// Installs the subscriber for this process's environment, writing to
/// `writer` (stdout for the function). Panics if one is installed already,
/// as the runtime's does.
pub fn init<W>(writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let Choice { filter, json } = Choice::from_env();
    let fmt = lambda_runtime::tracing::subscriber::fmt().with_target(false).without_time().with_writer(writer);
    match filter {
        Filter::Level(level) if json => fmt.with_max_level(level).json().init(),
        Filter::Level(level) => fmt.with_max_level(level).init(),
        Filter::Directives(directives) => {
            // Directives that do not parse are skipped (`lossy`); with none
            // left, INFO, as the runtime's subscriber did.
            let filter = EnvFilter::builder().with_default_directive(LevelFilter::INFO.into()).parse_lossy(directives);
            if json { fmt.with_env_filter(filter).json().init() } else { fmt.with_env_filter(filter).init() }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(lambda_level: Option<&str>, rust_log: Option<&str>) -> Filter {
        Choice::from_values(lambda_level, rust_log, None).filter
    }

    #[test]
    fn info_when_nothing_is_set() {
        assert_eq!(filter(None, None), Filter::Level(LevelFilter::INFO));
        assert_eq!(filter(Some(" "), Some("")), Filter::Level(LevelFilter::INFO));
    }

    #[test]
    fn lambdas_level_is_read_in_any_case() {
        assert_eq!(filter(Some("WARN"), None), Filter::Level(LevelFilter::WARN));
        assert_eq!(filter(Some("debug"), None), Filter::Level(LevelFilter::DEBUG));
        assert_eq!(filter(Some("TRACE"), None), Filter::Level(LevelFilter::TRACE));
        assert_eq!(filter(Some("FATAL"), None), Filter::Level(LevelFilter::ERROR));
    }

    #[test]
    fn a_level_that_is_not_one_is_info() {
        assert_eq!(filter(Some("LOUD"), None), Filter::Level(LevelFilter::INFO));
    }

    #[test]
    fn rust_log_as_a_level_is_a_level_and_comes_first() {
        assert_eq!(filter(None, Some("debug")), Filter::Level(LevelFilter::DEBUG));
        assert_eq!(filter(Some("INFO"), Some("warn")), Filter::Level(LevelFilter::WARN));
        assert_eq!(filter(Some("INFO"), Some(" Error ")), Filter::Level(LevelFilter::ERROR));
        assert_eq!(filter(None, Some("off")), Filter::Level(LevelFilter::OFF));
    }

    #[test]
    fn rust_log_with_targets_keeps_its_directives() {
        assert_eq!(filter(None, Some("warn,aws_config=error")), Filter::Directives("warn,aws_config=error".into()));
        assert_eq!(
            filter(Some("DEBUG"), Some("ecs_slack_notifier=debug")),
            Filter::Directives("ecs_slack_notifier=debug".into())
        );
    }

    #[test]
    fn json_only_when_asked_for() {
        let json = |format| Choice::from_values(None, None, format).json;
        assert!(json(Some("JSON")));
        assert!(json(Some("json")));
        assert!(!json(Some("Text")));
        assert!(!json(None));
    }
}
