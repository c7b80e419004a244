//! Where the Slack secrets come from: Secrets Manager (read once per
//! execution environment) or, for local runs, the environment. The secret
//! holds the bot token and, for job control, the app's signing secret.

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use tokio::sync::Mutex;
use tracing::warn;

use crate::ports::{SlackToken, TokenError, TokenSource};
use crate::signature::SigningSecret;

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
            Tokens::SecretsManager(secret) => Ok(secret.secrets().await?.token),
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
            Tokens::SecretsManager(secret) => Ok(secret.secrets().await?.signing_secret),
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

#[derive(Debug)]
pub struct SecretToken {
    client: Client,
    secret_id: String,
    /// Held across the read, so concurrent callers read the secret once.
    cached: Mutex<Option<Secrets>>,
}

impl SecretToken {
    pub fn new(client: Client, secret_id: impl Into<String>) -> Self {
        SecretToken { client, secret_id: secret_id.into(), cached: Mutex::new(None) }
    }

    async fn secrets(&self) -> Result<Secrets, TokenError> {
        let mut cached = self.cached.lock().await;
        if let Some(secrets) = cached.as_ref() {
            return Ok(secrets.clone());
        }
        let secrets = self.read().await?;
        *cached = Some(secrets.clone());
        Ok(secrets)
    }

    async fn refresh(&self, stale: &SlackToken) -> Result<Option<SlackToken>, TokenError> {
        let mut cached = self.cached.lock().await;
        if let Some(current) = cached.as_ref().filter(|current| current.token != *stale) {
            // Another invocation's refresh got here first.
            return Ok(Some(current.token.clone()));
        }
        let fresh = self.read().await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok((token != *stale).then_some(token))
    }

    async fn read(&self) -> Result<Secrets, TokenError> {
        let failed = |detail: String| TokenError::Secret { secret_id: self.secret_id.clone(), detail };
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| failed(DisplayErrorContext(&e).to_string()))?;
        let raw = out.secret_string().ok_or_else(|| failed("the secret has no string value".into()))?;
        let secrets = parse_secret(raw).map_err(failed)?;
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
mod tests {
    use super::*;

    #[test]
    fn secret_formats() {
        let table = [
            ("xoxb-1-abc", Ok(("xoxb-1-abc", false))),
            ("  xoxb-1-abc\n", Ok(("xoxb-1-abc", false))),
            (r#"{"token": "xoxb-2"}"#, Ok(("xoxb-2", false))),
            (r#"{"token": "xoxb-2", "signing_secret": "8f74"}"#, Ok(("xoxb-2", true))),
            (r#"{"token": "xoxb-2", "signing_secret": " "}"#, Ok(("xoxb-2", false))),
            (r#"{"SLACK_BOT_TOKEN": "xoxb-3", "other": 1}"#, Ok(("xoxb-3", false))),
            (r#"{"tok": "xoxb-4"}"#, Err("no string member")),
            (r#"{"token": 5}"#, Err("no string member")),
            ("{xoxb-5", Err("does not parse")),
            ("", Err("empty")),
        ];
        for (raw, want) in table {
            match (parse_secret(raw), want) {
                (Ok(s), Ok((token, signing))) => {
                    assert_eq!((s.token.expose(), s.signing_secret.is_some()), (token, signing), "{raw}")
                }
                (Err(e), Err(w)) => {
                    assert!(e.contains(w), "{raw}: {e}");
                    assert!(!e.contains("xoxb"), "error quotes the secret: {e}");
                }
                (got, want) => panic!("{raw}: got {got:?}, want {want:?}"),
            }
        }
    }
}
