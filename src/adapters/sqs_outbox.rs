//! The post queue on SQS FIFO: one message group per channel, so SQS hands
//! the consumer one post of a channel at a time and other channels' posts
//! in parallel. The client is built on first use: only bursts queue posts.

use std::sync::OnceLock;

use async_trait::async_trait;
use aws_config::SdkConfig;
use sha2::{Digest, Sha256};

use crate::ports::{Outbox, OutboxError, QueuedPost};

pub struct SqsOutbox {
    aws: Box<SdkConfig>,
    queue_url: String,
    client: OnceLock<aws_sdk_sqs::Client>,
}

impl SqsOutbox {
    pub fn new(aws: &SdkConfig, queue_url: impl Into<String>) -> Self {
        SqsOutbox { aws: Box::new(aws.clone()), queue_url: queue_url.into(), client: OnceLock::new() }
    }

    fn client(&self) -> &aws_sdk_sqs::Client {
        self.client.get_or_init(|| aws_sdk_sqs::Client::new(&self.aws))
    }
}

/// The same notice queued twice within SQS's five-minute window is one
/// message; after it, the consumer's claim finds it posted. A digest, as
/// a task ARN can be longer than the 128 characters an id may have.
pub fn deduplication_id(post: &QueuedPost) -> String {
    let digest = Sha256::digest(format!("{}#{}", post.key, post.slot.name()).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[async_trait]
impl Outbox for SqsOutbox {
    async fn queue(&self, post: &QueuedPost) -> Result<(), OutboxError> {
        let body = serde_json::to_string(post).map_err(|e| OutboxError(format!("encoding the post: {e}")))?;
        self.client()
            .send_message()
            .queue_url(&self.queue_url)
            .message_group_id(&post.message.channel)
            .message_deduplication_id(deduplication_id(post))
            .message_body(body)
            .send()
            .await
            .map_err(|e| OutboxError(format!("SQS SendMessage: {}", crate::adapters::aws_error::describe(&e))))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::Slot;
    use crate::testing::message_to;

    #[test]
    fn one_notice_one_short_id() {
        let long = format!("task#arn:aws:ecs:eu-west-1:123456789012:task/{}/0123456789abcdef", "c".repeat(200));
        let post = |key: &str, slot| QueuedPost { key: key.into(), slot, message: message_to("C1") };
        let id = deduplication_id(&post(&long, Slot::Completion));
        assert_eq!(id.len(), 64);
        assert_eq!(id, deduplication_id(&post(&long, Slot::Completion)));
        assert_ne!(id, deduplication_id(&post(&long, Slot::Start)));
    }
}
