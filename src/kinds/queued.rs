//! The post queue's consumer: posts that a burst queued (SQS FIFO, one
//! message group per channel), made one at a time per channel with a
//! pause after each, so a channel gets about one post a second however
//! many execution environments produced them.

use std::time::Duration;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use serde::Serialize;
use tracing::{error, info};

use crate::claim::Notices;
use crate::error::NotifyError;
use crate::input::InputError;
use crate::ports::{ClaimResult, QueuedPost};
use crate::time::Timestamp;

/// The pause after each post, before SQS hands over the channel's next:
/// Slack takes about one message per second per channel.
pub const SPACING: Duration = Duration::from_millis(1100);
/// How long a post claimed elsewhere (the same notice posted by its own
/// event's retry) is waited for before the message is handed back.
const CLAIMED_WAIT: Duration = Duration::from_secs(2);

/// The Lambda's answer to SQS: the messages to hand back (they come again
/// after the queue's visibility timeout, and after `maxReceiveCount`
/// attempts go to its dead-letter queue).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemFailure {
    pub item_identifier: String,
}

pub struct QueuedPosts<'a> {
    pub notices: Notices<'a>,
}

/// What became of one queued post.
#[derive(Debug, PartialEq, Eq)]
enum Made {
    Posted,
    AlreadyPosted,
}

impl QueuedPosts<'_> {
    /// Posts each message in order. After one fails, the rest are handed
    /// back too: a channel's posts keep their order.
    pub async fn handle(&self, event: &SqsEvent, deadline: Timestamp) -> BatchResponse {
        let mut response = BatchResponse::default();
        for record in &event.records {
            let id = record.message_id.clone().unwrap_or_default();
            if response.batch_item_failures.is_empty() {
                match self.post(record, deadline).await {
                    Ok(made) => {
                        info!(message = %id, made = ?made, "queued post");
                        continue;
                    }
                    Err(e) => error!(message = %id, error = %e, "queued post failed; SQS hands it back"),
                }
            }
            response.batch_item_failures.push(ItemFailure { item_identifier: id });
        }
        response
    }

    async fn post(&self, record: &SqsMessage, deadline: Timestamp) -> Result<Made, NotifyError> {
        let body = record.body.as_deref().unwrap_or_default();
        // Handed back, not dropped: after the queue's receive count it
        // waits in the dead-letter queue for someone to look.
        let post: QueuedPost = serde_json::from_str(body).map_err(|e| NotifyError::Input(InputError::QueuedPost(e)))?;
        let clock = self.notices.clock;
        let give_up = clock.now() + CLAIMED_WAIT;
        let claim = loop {
            let claim = self.notices.claim_for(&post.key, post.slot, deadline);
            match self.notices.claim(&claim).await? {
                ClaimResult::Claimed(_) => break claim,
                ClaimResult::Taken(Some(record)) if record.slot(post.slot).posted.is_some() => {
                    return Ok(Made::AlreadyPosted);
                }
                ClaimResult::Taken(_) if clock.now() < give_up => clock.sleep(Duration::from_millis(250)).await,
                ClaimResult::Taken(_) => return Err(NotifyError::NotYet("the post is claimed elsewhere")),
            }
        };
        self.notices.post(&claim, &post.message, deadline).await?;
        clock.sleep(SPACING).await;
        Ok(Made::Posted)
    }
}

#[cfg(test)]
mod tests;
