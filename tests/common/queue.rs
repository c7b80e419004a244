//! The post queue in moto (SQS FIFO), and its consumer as Lambda's SQS
//! event source runs it: one message at a time, handed to the handler as
//! an SQS event, deleted unless the handler hands it back.

use aws_config::SdkConfig;
use ecs_slack_notifier::handler::{Handled, Handler};
use serde_json::json;

use super::{deadline, unique};

pub async fn create_fifo_queue(aws: &SdkConfig) -> String {
    let name = format!("{}.fifo", unique("posts"));
    aws_sdk_sqs::Client::new(aws)
        .create_queue()
        .queue_name(name)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, "60")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap()
}

/// What draining the queue did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Drained {
    pub delivered: usize,
    pub handed_back: usize,
}

/// Delivers every message, in turn, until the queue is empty; a message
/// handed back is delivered again (at most `attempts` deliveries in all).
pub async fn drain(aws: &SdkConfig, url: &str, handler: &Handler, attempts: usize) -> Drained {
    let sqs = aws_sdk_sqs::Client::new(aws);
    let mut drained = Drained::default();
    while drained.delivered < attempts {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(1)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)
            .send()
            .await
            .unwrap();
        let Some(message) = out.messages.unwrap_or_default().into_iter().next() else { return drained };
        drained.delivered += 1;
        let id = message.message_id.clone().unwrap();
        let group = message
            .attributes
            .as_ref()
            .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId))
            .cloned()
            .unwrap_or_default();
        let event = json!({"Records": [{
            "messageId": id, "receiptHandle": message.receipt_handle, "body": message.body,
            "attributes": {"MessageGroupId": group}, "messageAttributes": {},
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:posts.fifo",
            "awsRegion": "us-east-1"
        }]});
        let Handled::Queue(response) = handler.handle(event, deadline()).await.unwrap() else {
            panic!("not a queue outcome")
        };
        let receipt = message.receipt_handle.unwrap();
        if response.batch_item_failures.is_empty() {
            sqs.delete_message().queue_url(url).receipt_handle(receipt).send().await.unwrap();
        } else {
            drained.handed_back += 1;
            sqs.change_message_visibility()
                .queue_url(url)
                .receipt_handle(receipt)
                .visibility_timeout(0)
                .send()
                .await
                .unwrap();
        }
    }
    drained
}
