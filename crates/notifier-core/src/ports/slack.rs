//! Posting to Slack, and the bot token.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::message::{Message, NoticeMark, Reply};
use crate::signature::SigningSecret;
use crate::time::Timestamp;

use super::store::Posted;

#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    #[error("Slack API error: {0}")]
    Api(String),
    #[error(
        "Slack API error: {0} (the token was read again from Secrets Manager and is unchanged: fix or rotate the secret)"
    )]
    AuthUnchanged(String),
    #[error("Slack API rate limited (retry after {retry_after_secs:?} s)")]
    RateLimited { retry_after_secs: Option<u64> },
    #[error("Slack API HTTP {status}: {detail}")]
    Http { status: u16, detail: String },
    #[error("Slack API unreachable: {0}")]
    Transport(String),
    #[error(transparent)]
    Token(#[from] TokenError),
}

/// Posts to Slack, retrying what can be retried until `deadline` allows
/// no more (the invocation's own deadline).
#[async_trait]
pub trait SlackPoster: Send + Sync {
    async fn post(&self, message: &Message, deadline: Timestamp) -> Result<Posted, SlackError>;
    /// Replaces the message at `at` with `message` (`chat.update`).
    async fn update(&self, at: &Posted, message: &Message, deadline: Timestamp) -> Result<(), SlackError>;
    /// Answers an interaction through its `response_url` (ephemeral
    /// messages to the user who acted).
    async fn respond(&self, response_url: &str, reply: &Reply, deadline: Timestamp) -> Result<(), SlackError>;
    /// The message at `at` as Slack keeps it (its text and blocks), to
    /// change one part of it: a reply when `thread` (its parent's `ts`) is
    /// given, else a message of the channel (a failure reply in a thread is
    /// broadcast, so it is one too). `None`: not found.
    async fn message_at(
        &self,
        at: &Posted,
        thread: Option<&str>,
        deadline: Timestamp,
    ) -> Result<Option<Message>, SlackError>;
    /// The message marked as `mark`'s notice (`Message::marked`) in
    /// `channel` since `oldest` (asked of Slack in whole seconds): among a
    /// thread's replies when `thread` is given, else in the channel's
    /// history. What a claim that took over an earlier, unsettled attempt
    /// looks for before it posts, so that a message posted but never
    /// recorded is not posted twice.
    async fn find_posted(
        &self,
        channel: &str,
        thread: Option<&str>,
        mark: &NoticeMark,
        oldest: Timestamp,
        deadline: Timestamp,
    ) -> Result<Option<Posted>, SlackError>;
}

/// A Slack bot token. Its `Debug` and `Display` never show the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SlackToken(String);

impl SlackToken {
    pub fn new(token: impl Into<String>) -> SlackToken {
        SlackToken(token.into())
    }

    /// The secret itself, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SlackToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SlackToken(<redacted>)")
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenError {
    #[error("Slack bot token not configured: set SLACK_TOKEN_SECRET_ID or SLACK_BOT_TOKEN")]
    NotConfigured,
    #[error("reading Slack token secret {secret_id}: {detail}")]
    Secret { secret_id: String, detail: String },
}

#[async_trait]
pub trait TokenSource: Send + Sync {
    async fn token(&self) -> Result<SlackToken, TokenError>;
    /// Called when Slack refused `stale`: reads the token again and returns
    /// it if it changed (the secret was rotated), `None` if it did not.
    async fn refresh(&self, stale: &SlackToken) -> Result<Option<SlackToken>, TokenError>;
    /// The app's signing secret, when the secret holds one: without it,
    /// job control (buttons, `/jobs`) is off.
    async fn signing_secret(&self) -> Result<Option<SigningSecret>, TokenError>;
}

/// One token source shared: the Slack client and the request checks read
/// the secret once between them.
#[async_trait]
impl<T: TokenSource + ?Sized> TokenSource for Arc<T> {
    async fn token(&self) -> Result<SlackToken, TokenError> {
        (**self).token().await
    }

    async fn refresh(&self, stale: &SlackToken) -> Result<Option<SlackToken>, TokenError> {
        (**self).refresh(stale).await
    }

    async fn signing_secret(&self) -> Result<Option<SigningSecret>, TokenError> {
        (**self).signing_secret().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_debug_is_redacted() {
        let token = SlackToken::new("xoxb-very-secret");
        assert!(!format!("{token:?}").contains("secret"));
    }
}
