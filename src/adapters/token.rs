//! Where the Slack secrets come from: Secrets Manager or, for local runs,
//! the environment. The secret holds the bot token and, for job control,
//! the app's signing secret.
//!
//! Read from Secrets Manager, the secret is cached per execution
//! environment: the bot token until Slack refuses it (then read again, for
//! a rotation), the signing secret for [`SIGNING_SECRET_TTL`], since no
//! refusal says it was rotated. A failed read is remembered for
//! [`FAILED_READ_TTL`], so that a flood of requests is not one
//! `GetSecretValue` each.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use tokio::sync::Mutex;
use tracing::warn;

use crate::ports::{Clock, SlackToken, TokenError, TokenSource};
use crate::signature::SigningSecret;
use crate::time::Timestamp;

/// How long a signing secret read from Secrets Manager is used before it
/// is read again: how long a rotated one takes to reach warm environments.
pub const SIGNING_SECRET_TTL: Duration = Duration::from_secs(5 * 60);
/// How long a failed read answers for the next ones.
pub const FAILED_READ_TTL: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub enum Tokens {
    Static(SlackToken, Option<SigningSecret>),
    SecretsManager(SecretToken),
    Missing,
}

#[async_trait]
impl TokenSource for Tokens {
    async fn token(&self) -> Result<SlackToken, TokenError> {
        match self {
            Tokens::Static(token, _) => Ok(token.clone()),
            Tokens::SecretsManager(secret) => Ok(secret.secrets(None).await?.token),
            Tokens::Missing => Err(TokenError::NotConfigured),
        }
    }

    async fn refresh(&self, stale: &SlackToken) -> Result<Option<SlackToken>, TokenError> {
        match self {
            Tokens::Static(..) => Ok(None),
            Tokens::SecretsManager(secret) => secret.refresh(stale).await,
            Tokens::Missing => Err(TokenError::NotConfigured),
        }
    }

    async fn signing_secret(&self) -> Result<Option<SigningSecret>, TokenError> {
        match self {
            Tokens::Static(_, signing) => Ok(signing.clone()),
            Tokens::SecretsManager(secret) => Ok(secret.secrets(Some(SIGNING_SECRET_TTL)).await?.signing_secret),
            Tokens::Missing => Ok(None),
        }
    }
}

/// What the secret holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secrets {
    pub token: SlackToken,
    pub signing_secret: Option<SigningSecret>,
}

/// The secret's text, as Secrets Manager gives it; tests give their own.
#[async_trait]
pub trait SecretRead: Send + Sync {
    async fn read(&self, secret_id: &str) -> Result<String, String>;
}

#[async_trait]
impl SecretRead for Client {
    async fn read(&self, secret_id: &str) -> Result<String, String> {
        let out = self
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| crate::adapters::aws_error::describe(&e))?;
        out.secret_string().map(str::to_owned).ok_or_else(|| "the secret has no string value".into())
    }
}

pub struct SecretToken {
    reader: Box<dyn SecretRead>,
    secret_id: String,
    clock: Box<dyn Clock>,
    /// Held across the read, so concurrent callers read the secret once.
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    /// The secrets last read, and when.
    read: Option<(Secrets, Timestamp)>,
    /// Why the last read failed, and when.
    failed: Option<(TokenError, Timestamp)>,
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretToken").field("secret_id", &self.secret_id).finish_non_exhaustive()
    }
}

/// Time since `then`; a clock that went back counts as long ago.
fn age(now: Timestamp, then: Timestamp) -> Duration {
    now.checked_duration_since(then).unwrap_or(Duration::MAX)
}

impl SecretToken {
    pub fn new(reader: impl SecretRead + 'static, secret_id: impl Into<String>, clock: impl Clock + 'static) -> Self {
        SecretToken {
            reader: Box::new(reader),
            secret_id: secret_id.into(),
            clock: Box::new(clock),
            cache: Mutex::new(Cache::default()),
        }
    }

    /// The cached secrets if read within `max_age` (`None`: ever), else
    /// read again. A read that fails leaves the cached secrets in place for
    /// callers that take them at any age.
    async fn secrets(&self, max_age: Option<Duration>) -> Result<Secrets, TokenError> {
        let mut cache = self.cache.lock().await;
        let now = self.clock.now();
        if let Some((secrets, at)) = &cache.read {
            if max_age.is_none_or(|max| age(now, *at) < max) {
                return Ok(secrets.clone());
            }
        }
        self.read_into(&mut cache, now).await
    }

    async fn refresh(&self, stale: &SlackToken) -> Result<Option<SlackToken>, TokenError> {
        let mut cache = self.cache.lock().await;
        if let Some((current, _)) = cache.read.as_ref().filter(|(current, _)| current.token != *stale) {
            // Another invocation's refresh got here first.
            return Ok(Some(current.token.clone()));
        }
        let fresh = self.read_into(&mut cache, self.clock.now()).await?;
        Ok((fresh.token != *stale).then_some(fresh.token))
    }

    async fn read_into(&self, cache: &mut Cache, now: Timestamp) -> Result<Secrets, TokenError> {
        if let Some((error, at)) = &cache.failed {
            if age(now, *at) < FAILED_READ_TTL {
                return Err(error.clone());
            }
        }
        match self.read().await {
            Ok(secrets) => {
                cache.read = Some((secrets.clone(), now));
                cache.failed = None;
                Ok(secrets)
            }
            Err(e) => {
                cache.failed = Some((e.clone(), now));
                Err(e)
            }
        }
    }

    async fn read(&self) -> Result<Secrets, TokenError> {
        let failed = |detail: String| TokenError::Secret { secret_id: self.secret_id.clone(), detail };
        let raw = self.reader.read(&self.secret_id).await.map_err(failed)?;
        let secrets = parse_secret(&raw).map_err(failed)?;
        if secrets.signing_secret.is_none() {
            warn!(
                secret = %self.secret_id,
                "the Slack secret has no \"signing_secret\": job control (buttons, /jobs) is off"
            );
        }
        Ok(secrets)
    }
}

/// The secret holds the bare token, or JSON with a `token` (or
/// `SLACK_BOT_TOKEN`) member and, for job control, `signing_secret`.
/// Errors never quote the secret.
pub fn parse_secret(raw: &str) -> Result<Secrets, String> {
    let raw = raw.trim();
    let (token, signing_secret) = if raw.starts_with('{') {
        let value: serde_json::Value =
            serde_json::from_str(raw).map_err(|_| "the secret looks like JSON but does not parse".to_owned())?;
        let member = |names: &[&str]| names.iter().find_map(|k| value.get(k).and_then(|v| v.as_str()));
        let token = member(&["token", "SLACK_BOT_TOKEN", "slack_bot_token"])
            .ok_or_else(|| "the secret's JSON has no string member \"token\"".to_owned())?;
        let signing = member(&["signing_secret", "SLACK_SIGNING_SECRET"]).map(str::trim).filter(|s| !s.is_empty());
        (token.trim().to_owned(), signing.map(SigningSecret::new))
    } else {
        (raw.to_owned(), None)
    };
    if token.is_empty() {
        return Err("the secret is empty".into());
    }
    Ok(Secrets { token: SlackToken::new(token), signing_secret })
}

#[cfg(test)]
mod tests;
