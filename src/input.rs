//! The one place that decides what a Lambda payload is. Its kind is read
//! from the keys that tell the kinds apart, and only then is it
//! deserialized, so an error speaks of the kind the payload was meant to be.

use serde_json::Value;

use crate::event::{self, EventError, Incoming};

/// A payload, by kind.
#[derive(Debug)]
pub enum Input {
    /// An EventBridge event, routed on its `detail-type`.
    Event(Incoming),
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(
        "payload is not an EventBridge event: missing field `detail-type` \
         (expected an EventBridge event, with `detail-type`)"
    )]
    Unrecognised,
    #[error(transparent)]
    Event(#[from] EventError),
}

impl InputError {
    /// The error type Lambda reports for the invocation.
    pub fn error_type(&self) -> &'static str {
        "InvalidEvent"
    }
}

pub fn route(payload: Value) -> Result<Input, InputError> {
    let is_object_with = |key: &str| payload.as_object().is_some_and(|map| map.contains_key(key));
    if is_object_with("detail-type") {
        return Ok(Input::Event(event::parse(payload)?));
    }
    Err(InputError::Unrecognised)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;
    use crate::testing::fixture;
    use serde_json::json;

    #[test]
    fn eventbridge_events_are_routed_by_detail_type() {
        let Input::Event(incoming) = route(fixture("events/ecs-task-running.json")).unwrap();
        assert!(matches!(incoming.kind, EventKind::EcsTask(_)));
        let Input::Event(incoming) = route(fixture("events/user-registered.json")).unwrap();
        assert!(matches!(incoming.kind, EventKind::UserRegistered(_)));
    }

    #[test]
    fn anything_else_is_one_error_naming_what_was_expected() {
        for payload in [json!({"hello": "world"}), json!([1, 2, 3]), json!("text"), json!(null)] {
            let err = route(payload.clone()).unwrap_err().to_string();
            assert!(err.starts_with("payload is not an EventBridge event: missing field `detail-type`"), "{err}");
            assert!(err.contains("expected an EventBridge event"), "{payload}: {err}");
        }
    }
}
