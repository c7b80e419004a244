//! Slack Web API over HTTPS (`chat.postMessage`).

use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;

use crate::message::Message;
use crate::ports::{Posted, SlackError, SlackPoster, TokenSource};

pub const DEFAULT_API_URL: &str = "https://slack.com/api";

#[derive(Debug, Clone)]
pub struct SlackHttp<T> {
    http: reqwest::Client,
    api_url: String,
    tokens: T,
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

impl<T: TokenSource> SlackHttp<T> {
    /// Builds the HTTP client once per execution environment; it opens no
    /// connection until the first post.
    pub fn new(api_url: &str, tokens: T) -> Result<Self, SlackError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| SlackError::Transport(format!("building HTTP client: {e}")))?;
        Ok(SlackHttp {
            http,
            api_url: api_url.trim_end_matches('/').to_owned(),
            tokens,
        })
    }
}

impl<T: TokenSource> SlackPoster for SlackHttp<T> {
    async fn post(&self, message: &Message) -> Result<Posted, SlackError> {
        let token = self.tokens.token().await?;
        let response = self
            .http
            .post(format!("{}/chat.postMessage", self.api_url))
            .bearer_auth(token.expose())
            .json(message)
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
            return Err(SlackError::Http {
                status: status.as_u16(),
                detail: detail.chars().take(200).collect(),
            });
        }
        let body: ApiResponse = response
            .json()
            .await
            .map_err(|e| SlackError::Transport(format!("unreadable response: {}", e.without_url())))?;
        if !body.ok {
            return Err(SlackError::Api(body.error.unwrap_or_else(|| "unknown_error".into())));
        }
        match (body.channel, body.ts) {
            (Some(channel), Some(ts)) => Ok(Posted { channel, ts }),
            _ => Err(SlackError::Api("response without channel or ts".into())),
        }
    }
}
