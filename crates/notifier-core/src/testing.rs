//! Fixtures for the core's own tests: the sample events and configuration
//! at the repository's root, read from here so both crates test the same
//! files.

use serde_json::Value;

use crate::event::EcsTask;

/// Reads a JSON file given relative to the repository root (`events/…`, `config/…`).
pub fn fixture(path: &str) -> Value {
    let full = format!("{}/{path}", crate::REPO_ROOT);
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// The task of a sample task event.
pub fn ecs_task(path: &str) -> EcsTask {
    let crate::event::EventKind::EcsTask(task) = crate::event::parse(fixture(path)).unwrap().kind else {
        panic!("{path} is not a task event")
    };
    *task
}
