//! Where the Slack token comes from: Secrets Manager (read once per
//! execution environment) or, for local runs, the environment.

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use tokio::sync::Mutex;

use crate::ports::{SlackToken, TokenError, TokenSource};

#[derive(Debug)]
pub enum Tokens {
    Static(SlackToken),
    SecretsManager(SecretToken),
    Missing,
}

#[async_trait]
impl TokenSource for Tokens {
    async fn token(&self) -> Result<SlackToken, TokenError> {
        match self {
            Tokens::Static(token) => Ok(token.clone()),
            Tokens::SecretsManager(secret) => secret.token().await,
            Tokens::Missing => Err(TokenError::NotConfigured),
        }
    }

    async fn refresh(&self, stale: &SlackToken) -> Result<Option<SlackToken>, TokenError> {
        match self {
            Tokens::Static(_) => Ok(None),
            Tokens::SecretsManager(secret) => secret.refresh(stale).await,
            Tokens::Missing => Err(TokenError::NotConfigured),
        }
    }
}

#[derive(Debug)]
pub struct SecretToken {
    client: Client,
    secret_id: String,
    /// Held across the read, so concurrent callers read the secret once.
    cached: Mutex<Option<SlackToken>>,
}

impl SecretToken {
    pub fn new(client: Client, secret_id: impl Into<String>) -> Self {
        SecretToken { client, secret_id: secret_id.into(), cached: Mutex::new(None) }
    }

    async fn token(&self) -> Result<SlackToken, TokenError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref() {
            return Ok(token.clone());
        }
        let token = self.read().await?;
        *cached = Some(token.clone());
        Ok(token)
    }

    async fn refresh(&self, stale: &SlackToken) -> Result<Option<SlackToken>, TokenError> {
        let mut cached = self.cached.lock().await;
        if let Some(current) = cached.as_ref().filter(|current| *current != stale) {
            // Another invocation's refresh got here first.
            return Ok(Some(current.clone()));
        }
        let fresh = self.read().await?;
        *cached = Some(fresh.clone());
        Ok((&fresh != stale).then_some(fresh))
    }

    async fn read(&self) -> Result<SlackToken, TokenError> {
        let failed = |detail: String| TokenError::Secret { secret_id: self.secret_id.clone(), detail };
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| failed(DisplayErrorContext(&e).to_string()))?;
        let raw = out.secret_string().ok_or_else(|| failed("the secret has no string value".into()))?;
        parse_secret(raw).map_err(failed)
    }
}

/// The secret holds the bare token, or JSON with a `token` (or
/// `SLACK_BOT_TOKEN`) member. Errors never quote the secret.
pub fn parse_secret(raw: &str) -> Result<SlackToken, String> {
    let raw = raw.trim();
    let token = if raw.starts_with('{') {
        let value: serde_json::Value =
            serde_json::from_str(raw).map_err(|_| "the secret looks like JSON but does not parse".to_owned())?;
        ["token", "SLACK_BOT_TOKEN", "slack_bot_token"]
            .iter()
            .find_map(|k| value.get(k).and_then(|v| v.as_str()))
            .ok_or_else(|| "the secret's JSON has no string member \"token\"".to_owned())?
            .trim()
            .to_owned()
    } else {
        raw.to_owned()
    };
    if token.is_empty() {
        return Err("the secret is empty".into());
    }
    Ok(SlackToken::new(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_formats() {
        let table = [
            ("xoxb-1-abc", Ok("xoxb-1-abc")),
            ("  xoxb-1-abc\n", Ok("xoxb-1-abc")),
            (r#"{"token": "xoxb-2"}"#, Ok("xoxb-2")),
            (r#"{"SLACK_BOT_TOKEN": "xoxb-3", "other": 1}"#, Ok("xoxb-3")),
            (r#"{"tok": "xoxb-4"}"#, Err("no string member")),
            (r#"{"token": 5}"#, Err("no string member")),
            ("{xoxb-5", Err("does not parse")),
            ("", Err("empty")),
        ];
        for (raw, want) in table {
            match (parse_secret(raw), want) {
                (Ok(t), Ok(w)) => assert_eq!(t.expose(), w),
                (Err(e), Err(w)) => {
                    assert!(e.contains(w), "{raw}: {e}");
                    assert!(!e.contains("xoxb"), "error quotes the secret: {e}");
                }
                (got, want) => panic!("{raw}: got {got:?}, want {want:?}"),
            }
        }
    }
}
