//! The one place that decides what a Lambda payload is. Its kind is read
//! from the keys that tell the kinds apart, and only then is it
//! deserialized, so an error speaks of the kind the payload was meant to be.

use aws_lambda_events::cloudwatch_logs::LogData;
use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use aws_lambda_events::sqs::SqsEvent;
use serde_json::Value;

use crate::event::{self, EventError, Incoming};
use crate::ports::{DEFERRED_KEY, Deferred};
use crate::subscription::{self, SubscriptionError};

/// A payload, by kind.
#[derive(Debug)]
pub enum Input {
    /// An EventBridge event, routed on its `detail-type`.
    Event(Incoming),
    /// A CloudWatch Logs subscription delivery, decoded.
    Logs(LogData),
    /// A request through the function's URL (payload format 2.0): Slack.
    FunctionUrl(Box<LambdaFunctionUrlRequest>),
    /// Messages of the post queue (SQS records).
    Queue(SqsEvent),
    /// A Slack request's action, finished after its answer: the function
    /// invoked itself with it (`ports::Deferred`).
    Deferred(Box<Deferred>),
}

impl Input {
    /// What it is, for errors and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Input::Event(_) => "an EventBridge event",
            Input::Logs(_) => "a CloudWatch Logs subscription delivery",
            Input::FunctionUrl(_) => "a Function URL request",
            Input::Queue(_) => "post queue messages",
            Input::Deferred(_) => "a deferred Slack action",
        }
    }

    /// Slack's: the Slack-requests function's inputs.
    pub fn is_slack(&self) -> bool {
        matches!(self, Input::FunctionUrl(_) | Input::Deferred(_))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(
        "payload is not an EventBridge event: missing field `detail-type` \
         (expected an EventBridge event, with `detail-type`, \
         a CloudWatch Logs subscription delivery, with `awslogs`, \
         a Function URL request, with `requestContext.http`, \
         or SQS messages, with `Records[].eventSource` `aws:sqs`)"
    )]
    Unrecognised,
    #[error("invalid Function URL request: {0}")]
    FunctionUrl(serde_json::Error),
    #[error("invalid deferred Slack action: {0}")]
    Deferred(serde_json::Error),
    #[error(
        "{kind} reached the {role} function: this function takes only {takes} (NOTIFIER_ROLE={role}); \
         check which function the trigger points at"
    )]
    WrongFunction { kind: &'static str, role: &'static str, takes: &'static str },
    #[error("invalid SQS event: {0}")]
    Queue(serde_json::Error),
    #[error("invalid queued post: {0}")]
    QueuedPost(serde_json::Error),
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Logs(#[from] SubscriptionError),
}

impl InputError {
    /// The error type Lambda reports for the invocation.
    pub fn error_type(&self) -> &'static str {
        "InvalidEvent"
    }
}

pub fn route(payload: Value) -> Result<Input, InputError> {
    let is_object_with = |key: &str| payload.as_object().is_some_and(|map| map.contains_key(key));
    if let Some(deferred) = payload.get(DEFERRED_KEY) {
        let deferred = serde_json::from_value(deferred.clone()).map_err(InputError::Deferred)?;
        return Ok(Input::Deferred(Box::new(deferred)));
    }
    if payload.get("requestContext").and_then(|c| c.get("http")).is_some() {
        let request = serde_json::from_value(payload).map_err(InputError::FunctionUrl)?;
        return Ok(Input::FunctionUrl(Box::new(request)));
    }
    let first_record_source = payload.get("Records").and_then(|r| r.get(0)).and_then(|r| r.get("eventSource"));
    if first_record_source.and_then(Value::as_str) == Some("aws:sqs") {
        return serde_json::from_value(payload).map(Input::Queue).map_err(InputError::Queue);
    }
    if is_object_with("awslogs") {
        return Ok(Input::Logs(subscription::decode(&payload)?));
    }
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
        let Ok(Input::Event(incoming)) = route(fixture("events/ecs-task-running.json")) else { panic!() };
        assert!(matches!(incoming.kind, EventKind::EcsTask(_)));
        let Ok(Input::Event(incoming)) = route(fixture("events/user-registered.json")) else { panic!() };
        assert!(matches!(incoming.kind, EventKind::UserRegistered(_)));
    }

    #[test]
    fn logs_subscriptions_are_decoded_by_their_awslogs_key() {
        let Ok(Input::Logs(data)) = route(fixture("events/logs-subscription.json")) else { panic!() };
        assert_eq!(data.message_type, crate::subscription::DATA_MESSAGE);
        let err = route(json!({"awslogs": {"data": "%%%"}})).unwrap_err().to_string();
        assert!(err.starts_with("invalid `awslogs.data`: not base64"), "{err}");
    }

    #[test]
    fn function_url_requests_are_known_by_their_request_context() {
        let request = json!({"version": "2.0", "rawPath": "/", "headers": {"x-slack-signature": "v0=1"},
            "requestContext": {"http": {"method": "POST", "path": "/"}, "timeEpoch": 0},
            "body": "command=%2Fjobs", "isBase64Encoded": false});
        let Ok(Input::FunctionUrl(request)) = route(request) else { panic!() };
        assert_eq!(request.body.as_deref(), Some("command=%2Fjobs"));
        // Keys of other kinds do not make it one of them.
        let Ok(Input::FunctionUrl(_)) = route(
            json!({"requestContext": {"http": {}, "timeEpoch": 0}, "detail-type": "x", "isBase64Encoded": false}),
        ) else {
            panic!()
        };
    }

    #[test]
    fn sqs_messages_are_known_by_their_event_source() {
        let event = json!({"Records": [{"messageId": "m1", "body": "{}", "eventSource": "aws:sqs",
            "attributes": {"MessageGroupId": "C1"}, "messageAttributes": {}}]});
        let Ok(Input::Queue(event)) = route(event) else { panic!() };
        assert_eq!(event.records[0].body.as_deref(), Some("{}"));
        let sns = json!({"Records": [{"EventSource": "aws:sns"}]});
        assert!(matches!(route(sns), Err(InputError::Unrecognised)));
    }

    #[test]
    fn a_deferred_slack_action_is_known_by_its_key_and_comes_back_whole() {
        use crate::ports::{Deferred, HeldClaim};
        let claim = HeldClaim { key: "command#t1".into(), token: "tok".into(), lease_until: 10, expires_at: 20 };
        let action = Deferred::Run {
            job: "collect_stock_prices".into(),
            user: "U1".into(),
            channel: "C1".into(),
            trigger: "t1".into(),
            response_url: Some("https://hooks.slack.com/commands/x".into()),
            claim,
        };
        let Ok(Input::Deferred(back)) = route(action.payload()) else { panic!() };
        assert_eq!(*back, action);
        assert!(Input::Deferred(back).is_slack());
        let err = route(json!({"deferred_slack_action": {"action": "deploy"}})).unwrap_err().to_string();
        assert!(err.starts_with("invalid deferred Slack action"), "{err}");
    }

    #[test]
    fn anything_else_is_one_error_naming_what_was_expected() {
        for payload in [json!({"hello": "world"}), json!([1, 2, 3]), json!("text"), json!(null)] {
            let err = route(payload.clone()).unwrap_err().to_string();
            assert!(err.starts_with("payload is not an EventBridge event: missing field `detail-type`"), "{err}");
            assert!(err.contains("expected an EventBridge event"), "{payload}: {err}");
            assert!(err.contains("CloudWatch Logs subscription delivery, with `awslogs`"), "{payload}: {err}");
            assert!(err.contains("Function URL request, with `requestContext.http`"), "{payload}: {err}");
            assert!(err.contains("SQS messages"), "{payload}: {err}");
        }
    }
}
