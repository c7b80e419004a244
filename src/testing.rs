//! Helpers for the unit tests of the pure core.

use serde_json::Value;

/// Reads a JSON file given relative to the crate root (`events/…`, `tests/fixtures/…`).
pub fn fixture(path: &str) -> Value {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{full}: {e}"))
}
