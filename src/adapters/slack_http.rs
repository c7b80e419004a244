//! Slack Web API over HTTPS (`chat.postMessage`, `chat.update`), with the
//! retry policy of `retry` inside the invocation's deadline.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::message::Message;
use crate::ports::{Posted, SlackError, SlackPoster, SlackToken, TokenSource};
use crate::retry::{self, Class, Policy};
use crate::tls;

#[derive(Debug, Clone)]
pub struct SlackHttp<T> {
    http: reqwest::Client,
    api_url: String,
    tokens: T,
    policy: Policy,
}

#[derive(Debug, Deserialize)]
struct ApiResponse {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    ts: Option<String>,
}

/// A `chat.update` body: the new message and the `ts` it replaces.
#[derive(Serialize)]
struct Update<'a> {
    #[serde(flatten)]
    message: &'a Message,
    ts: &'a str,
}

impl<T: TokenSource> SlackHttp<T> {
    /// Builds the HTTP client once per execution environment; it opens no
    /// connection until the first call.
    pub fn new(api_url: &str, tokens: T) -> Result<Self, SlackError> {
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(
                tls::slack_client_config().map_err(|e| SlackError::Transport(format!("TLS configuration: {e}")))?,
            )
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| SlackError::Transport(format!("building HTTP client: {e}")))?;
        Ok(SlackHttp { http, api_url: api_url.trim_end_matches('/').to_owned(), tokens, policy: Policy::default() })
    }

    /// Calls `method` until it succeeds, fails for good, or the deadline
    /// leaves no room for another attempt.
    async fn call(&self, method: &str, body: &impl Serialize, deadline: SystemTime) -> Result<ApiResponse, SlackError> {
        let mut token_refreshed = false;
        let mut attempt = 0;
        loop {
            let token = self.tokens.token().await?;
            let timeout = self.policy.attempt_timeout(SystemTime::now(), deadline).ok_or_else(|| {
                SlackError::Transport(format!("no time left before the invocation deadline to call {method}"))
            })?;
            let error = match self.call_once(method, body, &token, timeout).await {
                Ok(response) => return Ok(response),
                Err(error) => error,
            };
            let class = retry::classify(&error);
            if class == Class::Auth {
                if token_refreshed {
                    return Err(error);
                }
                token_refreshed = true;
                match self.tokens.refresh(&token).await? {
                    Some(_) => {
                        warn!(method, error = %error, "Slack refused the token; retrying with the rotated one");
                        continue;
                    }
                    None => {
                        return Err(match error {
                            SlackError::Api(code) => SlackError::AuthUnchanged(code),
                            other => other,
                        });
                    }
                }
            }
            let Some(delay) = self.policy.next_delay(class, attempt, SystemTime::now(), deadline, fastrand::f64())
            else {
                return Err(error);
            };
            warn!(method, attempt = attempt + 1, error = %error, retry_in_ms = delay.as_millis() as u64, "Slack call failed; retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn call_once(
        &self,
        method: &str,
        body: &impl Serialize,
        token: &SlackToken,
        timeout: Duration,
    ) -> Result<ApiResponse, SlackError> {
        let response = self
            .http
            .post(format!("{}/{method}", self.api_url))
            .bearer_auth(token.expose())
            .timeout(timeout)
            .json(body)
            .send()
            .await
            .map_err(|e| SlackError::Transport(e.without_url().to_string()))?;
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let retry_after_secs = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok());
            return Err(SlackError::RateLimited { retry_after_secs });
        }
        if !status.is_success() {
            let detail = response.text().await.unwrap_or_default();
            return Err(SlackError::Http { status: status.as_u16(), detail: detail.chars().take(200).collect() });
        }
        let body: ApiResponse = response
            .json()
            .await
            .map_err(|e| SlackError::Transport(format!("unreadable response: {}", e.without_url())))?;
        if !body.ok {
            return Err(SlackError::Api(body.error.unwrap_or_else(|| "unknown_error".into())));
        }
        Ok(body)
    }
}

#[async_trait]
impl<T: TokenSource> SlackPoster for SlackHttp<T> {
    async fn post(&self, message: &Message, deadline: SystemTime) -> Result<Posted, SlackError> {
        let body = self.call("chat.postMessage", message, deadline).await?;
        match (body.channel, body.ts) {
            (Some(channel), Some(ts)) => Ok(Posted { channel, ts }),
            _ => Err(SlackError::Api("response without channel or ts".into())),
        }
    }

    async fn update(&self, at: &Posted, message: &Message, deadline: SystemTime) -> Result<(), SlackError> {
        let mut message = message.clone();
        message.channel.clone_from(&at.channel);
        message.thread_ts = None;
        self.call("chat.update", &Update { message: &message, ts: &at.ts }, deadline).await.map(drop)
    }
}
