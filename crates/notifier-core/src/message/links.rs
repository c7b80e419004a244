//! Links to the AWS console for a task and its logs.

use crate::event::EcsTask;
use crate::jobs::LogStream;

/// Percent-encodes everything but RFC 3986's unreserved characters, so no
/// value can end a Slack link (`|`, `>`) or change the URL's structure.
fn encode(component: &str) -> String {
    let mut out = String::with_capacity(component.len());
    for byte in component.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

pub fn ecs_task_url(task: &EcsTask) -> Option<String> {
    let region = encode(task.region()?);
    let cluster = encode(task.cluster_name()?);
    let id = encode(task.task_id());
    Some(format!(
        "https://{region}.console.aws.amazon.com/ecs/v2/clusters/{cluster}/tasks/{id}/configuration?region={region}"
    ))
}

/// The CloudWatch console escapes path parts twice, with `$` for `%`.
pub fn log_stream_url(region: &str, logs: &LogStream) -> String {
    let console = |s: &str| encode(s).replace('%', "$25");
    let region = encode(region);
    format!(
        "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logsV2:log-groups/log-group/{}/log-events/{}",
        console(&logs.group),
        console(&logs.stream)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_urls() {
        let task = EcsTask {
            task_arn: "arn:aws:ecs:us-east-1:123:task/market-pulse/9781c248".into(),
            cluster_arn: Some("arn:aws:ecs:us-east-1:123:cluster/market-pulse".into()),
            ..EcsTask::default()
        };
        assert_eq!(
            ecs_task_url(&task).unwrap(),
            "https://us-east-1.console.aws.amazon.com/ecs/v2/clusters/market-pulse/tasks/9781c248/configuration?region=us-east-1"
        );
        let logs = LogStream { group: "/ecs/market-pulse-etl".into(), stream: "ecs/etl/9781c248".into() };
        assert_eq!(
            log_stream_url("us-east-1", &logs),
            "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:log-groups/log-group/$252Fecs$252Fmarket-pulse-etl/log-events/ecs$252Fetl$252F9781c248"
        );
    }

    #[test]
    fn hostile_values_cannot_break_out_of_a_link() {
        let task = EcsTask {
            task_arn: "arn:aws:ecs:us-east-1:123:task/c/x|click here>".into(),
            cluster_arn: Some("arn:aws:ecs:us-east-1:123:cluster/<!channel>".into()),
            ..EcsTask::default()
        };
        let url = ecs_task_url(&task).unwrap();
        assert!(!url.contains(['|', '<', '>', ' ']), "{url}");
    }
}
