//! The post queue: posts made in turn, one channel at a time, by the
//! queue's consumer (`kinds::queued`) instead of the invocation that
//! decided them.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::message::Message;

use super::store::Slot;

/// A post and the notice it is: the consumer claims `key`'s `slot` before
/// posting, so a post queued twice is made once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedPost {
    pub key: String,
    pub slot: Slot,
    pub message: Message,
}

#[derive(Debug, thiserror::Error)]
#[error("post queue: {0}")]
pub struct OutboxError(pub String);

#[async_trait]
pub trait Outbox: Send + Sync {
    /// Queues `post` behind its channel's other posts. Posts to other
    /// channels do not wait behind them.
    async fn queue(&self, post: &QueuedPost) -> Result<(), OutboxError>;
}
