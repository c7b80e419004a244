//! CloudWatch Logs subscription deliveries: `{"awslogs": {"data": …}}`,
//! the data being base64 of gzip of the subscription JSON. Decoded here,
//! step by step, so that an error names the step that failed.

use std::io::Read;

use aws_lambda_events::cloudwatch_logs::LogData;
use base64::Engine;
use serde_json::Value;

/// More than any real delivery (CloudWatch Logs batches at most 1 MB of
/// events): a bound on what a hostile payload can make us inflate.
const MAX_DECODED_BYTES: u64 = 16 * 1024 * 1024;

pub const DATA_MESSAGE: &str = "DATA_MESSAGE";
pub const CONTROL_MESSAGE: &str = "CONTROL_MESSAGE";

#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error("invalid `awslogs` payload: expected {{\"awslogs\": {{\"data\": \"<base64 of gzip>\"}}}}")]
    Shape,
    #[error("invalid `awslogs.data`: not base64 ({0})")]
    Base64(base64::DecodeError),
    #[error("invalid `awslogs.data`: not gzip ({0})")]
    Gzip(std::io::Error),
    #[error("invalid `awslogs.data`: larger than {} MiB once decompressed", MAX_DECODED_BYTES / 1024 / 1024)]
    TooLarge,
    #[error("invalid `awslogs.data`: not a CloudWatch Logs subscription message ({0})")]
    Json(serde_json::Error),
}

/// Decodes a Logs subscription payload.
pub fn decode(payload: &Value) -> Result<LogData, SubscriptionError> {
    let data = payload.get("awslogs").and_then(|a| a.get("data")).and_then(Value::as_str);
    let data = data.ok_or(SubscriptionError::Shape)?;
    let compressed =
        base64::engine::general_purpose::STANDARD.decode(data.trim()).map_err(SubscriptionError::Base64)?;
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(compressed.as_slice())
        .take(MAX_DECODED_BYTES + 1)
        .read_to_end(&mut json)
        .map_err(SubscriptionError::Gzip)?;
    if json.len() as u64 > MAX_DECODED_BYTES {
        return Err(SubscriptionError::TooLarge);
    }
    serde_json::from_slice(&json).map_err(SubscriptionError::Json)
}

/// The payload CloudWatch Logs would deliver for `data`: for fixtures, tests
/// and the replay's previews.
pub fn encode(data: &Value) -> Value {
    use std::io::Write;
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let written = gzip.write_all(data.to_string().as_bytes()).and_then(|()| gzip.finish());
    let compressed = written.unwrap_or_default();
    serde_json::json!({"awslogs": {"data": base64::engine::general_purpose::STANDARD.encode(compressed)}})
}

/// The task id and container of an `awslogs` stream name,
/// `{prefix}/{container}/{task id}`. Task ids are 32 hex digits (UUIDs
/// with dashes in some stand-ins).
pub fn task_of_stream(stream: &str) -> Option<(&str, &str)> {
    let mut parts = stream.rsplitn(3, '/');
    let task_id = parts.next()?;
    let container = parts.next()?;
    let _prefix = parts.next()?;
    let hex = task_id.chars().filter(|c| *c != '-').count();
    let is_id = (hex == 32 || task_id.len() == 36)
        && task_id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
        && !container.is_empty();
    is_id.then_some((task_id, container))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/ecs/jobs",
            "logStream": "ecs/prices/9781c248b1ab4c5b9d5f0d7f1e2c3a4b", "subscriptionFilters": ["f"],
            "logEvents": [{"id": "1", "timestamp": 1795708800000_i64, "message": "WARNING x"}]
        })
    }

    #[test]
    fn decodes_what_it_encodes() {
        let data = decode(&encode(&sample())).unwrap();
        assert_eq!(data.log_group, "/ecs/jobs");
        assert_eq!(data.message_type, DATA_MESSAGE);
        assert_eq!(data.log_events[0].message, "WARNING x");
    }

    #[test]
    fn each_bad_step_is_named() {
        let gzip_of = |text: &[u8]| {
            use std::io::Write;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(text).unwrap();
            base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap())
        };
        let table = [
            (json!({"awslogs": 5}), "invalid `awslogs` payload"),
            (json!({"awslogs": {"data": "not base64!"}}), "not base64"),
            (json!({"awslogs": {"data": "aGVsbG8="}}), "not gzip"),
            (json!({"awslogs": {"data": gzip_of(b"[1, 2]")}}), "not a CloudWatch Logs subscription message"),
            (json!({"awslogs": {"data": gzip_of(br#"{"messageType": "DATA_MESSAGE"}"#)}}), "missing field"),
        ];
        for (payload, want) in table {
            let err = decode(&payload).unwrap_err().to_string();
            assert!(err.contains(want), "{payload}: {err}");
            assert!(err.contains("awslogs"), "{err}");
        }
    }

    #[test]
    fn a_gzip_bomb_is_refused() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![b' '; 1024 * 1024];
        for _ in 0..17 {
            gz.write_all(&zeros).unwrap();
        }
        let data = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
        let err = decode(&json!({"awslogs": {"data": data}})).unwrap_err().to_string();
        assert!(err.contains("larger than 16 MiB"), "{err}");
    }

    #[test]
    fn task_ids_come_from_awslogs_stream_names() {
        let table = [
            ("ecs/prices/9781c248b1ab4c5b9d5f0d7f1e2c3a4b", Some(("9781c248b1ab4c5b9d5f0d7f1e2c3a4b", "prices"))),
            ("jobs/app/2b5d3c1e-0f4a-4b6c-9d8e-7f6a5b4c3d2e", Some(("2b5d3c1e-0f4a-4b6c-9d8e-7f6a5b4c3d2e", "app"))),
            ("prices/9781c248b1ab4c5b9d5f0d7f1e2c3a4b", None),
            ("ecs/prices/not-a-task", None),
            ("2026/11/26/[$LATEST]abcdef", None),
        ];
        for (stream, want) in table {
            assert_eq!(task_of_stream(stream), want, "{stream}");
        }
    }
}
