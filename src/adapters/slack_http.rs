//! Slack Web API over HTTPS (`chat.postMessage`, `chat.update`, the
//! doctor's reads `auth.test` and `conversations.info`, and answers to an
//! interaction's `response_url`), with the retry policy of `retry` inside
//! the invocation's deadline.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::adapters::token::Tokens;
use crate::message::{Message, Reply};
use crate::ports::setup::{ChannelInfo, Identity, SlackConnect, SlackReads};
use crate::ports::{Posted, SlackError, SlackPoster, SlackToken, TokenSource};
use crate::retry::{self, Class, Policy};
use crate::settings::DEFAULT_SLACK_RESPONSE_URL_PREFIX;
use crate::time::Timestamp;
use crate::tls;

#[derive(Debug, Clone)]
pub struct SlackHttp<T> {
    http: reqwest::Client,
    api_url: String,
    /// Where `response_url`s may point: they come in a request's body.
    response_url_prefix: String,
    tokens: T,
    policy: Policy,
}

/// A Web API answer: `ok`, and Slack's `error` code when it is false.
/// Each method's answer is a struct of the fields it needs, so the rest
/// is skipped, not parsed.
trait Answer: DeserializeOwned {
    fn status(&self) -> (bool, Option<&str>);
}

macro_rules! answers {
    ($($answer:ty),*) => {$(
        impl Answer for $answer {
            fn status(&self) -> (bool, Option<&str>) {
                (self.ok, self.error.as_deref())
            }
        }
    )*};
}

answers!(PostAnswer, AuthAnswer, ChannelAnswer, ResponseAnswer, HistoryAnswer);

/// A `response_url`'s answer: `{"ok": true}`, or plain `ok`.
#[derive(Debug, Deserialize)]
struct ResponseAnswer {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
}

/// Where a call goes: a Web API method, with the bot token; or an
/// interaction's `response_url`, which carries its own authority.
#[derive(Debug, Clone, Copy)]
enum Endpoint<'a> {
    Method(&'a str),
    ResponseUrl(&'a str),
}

impl Endpoint<'_> {
    fn name(&self) -> &str {
        match self {
            Endpoint::Method(method) => method,
            Endpoint::ResponseUrl(_) => "response_url",
        }
    }
}

/// `chat.postMessage` and `chat.update`.
#[derive(Debug, Deserialize)]
struct PostAnswer {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    ts: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AuthAnswer {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    team: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    user_id: String,
}

/// `conversations.history` and `conversations.replies`: the messages, with
/// their metadata.
#[derive(Debug, Deserialize)]
struct HistoryAnswer {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    messages: Vec<HistoryMessage>,
}

#[derive(Debug, Deserialize)]
struct HistoryMessage {
    #[serde(default)]
    ts: String,
    #[serde(default)]
    text: String,
    /// As Slack gives them back: read as the notifier's own blocks only
    /// when a message is to be changed (`message_at`).
    #[serde(default)]
    blocks: Vec<serde_json::Value>,
    #[serde(default)]
    metadata: Option<crate::message::Metadata>,
}

/// `conversations.info`.
#[derive(Debug, Deserialize)]
struct ChannelAnswer {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    channel: Option<ChannelFields>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ChannelFields {
    id: String,
    name: String,
    is_private: bool,
    is_archived: bool,
    is_member: bool,
}

/// How a method takes its arguments: write methods take JSON; read
/// methods such as `conversations.info` only form-encoded arguments.
enum Args<'a, B: ?Sized> {
    Json(&'a B),
    Form(&'a B),
}

// By hand: a derive would require `B: Copy`, and `B` may be a slice.
impl<B: ?Sized> Clone for Args<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<B: ?Sized> Copy for Args<'_, B> {}

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
            // Slack's Web API answers without redirects, and a redirected
            // `response_url` would carry an answer off Slack.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SlackError::Transport(format!("building HTTP client: {e}")))?;
        Ok(SlackHttp {
            http,
            api_url: api_url.trim_end_matches('/').to_owned(),
            response_url_prefix: DEFAULT_SLACK_RESPONSE_URL_PREFIX.to_owned(),
            tokens,
            policy: Policy::default(),
        })
    }

    /// Answers go only to `response_url`s under `prefix` (tests: a fake Slack).
    pub fn with_response_url_prefix(mut self, prefix: &str) -> Self {
        prefix.clone_into(&mut self.response_url_prefix);
        self
    }

    /// Calls `method` until it succeeds, fails for good, or the deadline
    /// leaves no room for another attempt.
    async fn call<B: Serialize + ?Sized + Sync, R: Answer>(
        &self,
        method: &str,
        args: Args<'_, B>,
        deadline: Timestamp,
    ) -> Result<R, SlackError> {
        self.send(Endpoint::Method(method), args, deadline).await
    }

    async fn send<B: Serialize + ?Sized + Sync, R: Answer>(
        &self,
        endpoint: Endpoint<'_>,
        args: Args<'_, B>,
        deadline: Timestamp,
    ) -> Result<R, SlackError> {
        let method = endpoint.name();
        let mut token_refreshed = false;
        let mut attempt = 0;
        loop {
            let token = match endpoint {
                Endpoint::Method(_) => Some(self.tokens.token().await?),
                Endpoint::ResponseUrl(_) => None,
            };
            let timeout = self.policy.attempt_timeout(Timestamp::now(), deadline).ok_or_else(|| {
                SlackError::Transport(format!("no time left before the invocation deadline to call {method}"))
            })?;
            let error = match self.call_once(endpoint, args, token.as_ref(), timeout).await {
                Ok(response) => return Ok(response),
                Err(error) => error,
            };
            let class = retry::classify(&error);
            if let (Class::Auth, Some(token)) = (class, &token) {
                if token_refreshed {
                    return Err(error);
                }
                token_refreshed = true;
                match self.tokens.refresh(token).await? {
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
            let Some(delay) = self.policy.next_delay(class, attempt, Timestamp::now(), deadline, fastrand::f64())
            else {
                return Err(error);
            };
            warn!(method, attempt = attempt + 1, error = %error, retry_in_ms = delay.as_millis() as u64, "Slack call failed; retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn call_once<B: Serialize + ?Sized + Sync, R: Answer>(
        &self,
        endpoint: Endpoint<'_>,
        args: Args<'_, B>,
        token: Option<&SlackToken>,
        timeout: Duration,
    ) -> Result<R, SlackError> {
        let url = match endpoint {
            Endpoint::Method(method) => format!("{}/{method}", self.api_url),
            Endpoint::ResponseUrl(url) => url.to_owned(),
        };
        let mut request = self.http.post(url).timeout(timeout);
        if let Some(token) = token {
            request = request.bearer_auth(token.expose());
        }
        let request = match args {
            Args::Json(body) => request.json(body),
            Args::Form(body) => request.form(body),
        };
        let response = request.send().await.map_err(|e| SlackError::Transport(super::with_causes(&e.without_url())))?;
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
        let text = response
            .text()
            .await
            .map_err(|e| SlackError::Transport(format!("unreadable response: {}", e.without_url())))?;
        let body: R = match (serde_json::from_str(&text), endpoint) {
            (Ok(body), _) => body,
            // A response_url may answer a bare `ok`.
            (Err(_), Endpoint::ResponseUrl(_)) if text.trim().eq_ignore_ascii_case("ok") => {
                serde_json::from_str(r#"{"ok": true}"#).map_err(|e| SlackError::Transport(e.to_string()))?
            }
            (Err(e), _) => return Err(SlackError::Transport(format!("unreadable response: {e}"))),
        };
        match body.status() {
            (true, _) => Ok(body),
            (false, error) => Err(SlackError::Api(error.unwrap_or("unknown_error").to_owned())),
        }
    }
}

/// Whether answers may go to `url`: under `prefix`, on the prefix's own
/// scheme, host and port.
fn response_url_allowed(url: &str, prefix: &str) -> bool {
    match (reqwest::Url::parse(url), reqwest::Url::parse(prefix)) {
        (Ok(parsed), Ok(allowed)) => {
            url.starts_with(prefix) && parsed.origin() == allowed.origin() && parsed.path().starts_with(allowed.path())
        }
        _ => false,
    }
}

#[async_trait]
impl<T: TokenSource> SlackPoster for SlackHttp<T> {
    async fn post(&self, message: &Message, deadline: Timestamp) -> Result<Posted, SlackError> {
        let body: PostAnswer = self.call("chat.postMessage", Args::Json(message), deadline).await?;
        match (body.channel, body.ts) {
            (Some(channel), Some(ts)) => Ok(Posted { channel, ts }),
            _ => Err(SlackError::Api("response without channel or ts".into())),
        }
    }

    async fn update(&self, at: &Posted, message: &Message, deadline: Timestamp) -> Result<(), SlackError> {
        let mut message = message.clone();
        message.channel.clone_from(&at.channel);
        message.thread_ts = None;
        let update = Update { message: &message, ts: &at.ts };
        self.call::<_, PostAnswer>("chat.update", Args::Json(&update), deadline).await.map(drop)
    }

    async fn respond(&self, response_url: &str, reply: &Reply, deadline: Timestamp) -> Result<(), SlackError> {
        if !response_url_allowed(response_url, &self.response_url_prefix) {
            // The URL came from the internet: it is not logged.
            warn!(allowed = %self.response_url_prefix, "not answering: the response_url is not Slack's");
            return Ok(());
        }
        let endpoint = Endpoint::ResponseUrl(response_url);
        self.send::<_, ResponseAnswer>(endpoint, Args::Json(reply), deadline).await.map(drop)
    }

    async fn message_at(
        &self,
        at: &Posted,
        thread: Option<&str>,
        deadline: Timestamp,
    ) -> Result<Option<Message>, SlackError> {
        let mut args = vec![
            ("channel", at.channel.as_str()),
            ("oldest", at.ts.as_str()),
            ("latest", at.ts.as_str()),
            ("inclusive", "true"),
            ("limit", "2"),
        ];
        let method = match thread {
            Some(ts) => {
                args.push(("ts", ts));
                "conversations.replies"
            }
            None => "conversations.history",
        };
        let body: HistoryAnswer = self.call(method, Args::Form(&args[..]), deadline).await?;
        let Some(found) = body.messages.into_iter().find(|m| m.ts == at.ts) else { return Ok(None) };
        let blocks = serde_json::Value::Array(found.blocks);
        let blocks = serde_json::from_value(blocks)
            .map_err(|e| SlackError::Api(format!("the message's blocks are not the notifier's: {e}")))?;
        Ok(Some(Message {
            channel: at.channel.clone(),
            text: found.text,
            blocks,
            thread_ts: None,
            reply_broadcast: false,
            unfurl_links: false,
            unfurl_media: false,
            metadata: None,
        }))
    }

    async fn find_posted(
        &self,
        channel: &str,
        thread: Option<&str>,
        mark: &crate::message::NoticeMark,
        oldest: Timestamp,
        deadline: Timestamp,
    ) -> Result<Option<Posted>, SlackError> {
        let oldest = oldest.secs().max(0).to_string();
        let mut args = vec![("channel", channel), ("oldest", oldest.as_str()), ("limit", "200")];
        args.push(("include_all_metadata", "true"));
        let method = match thread {
            Some(ts) => {
                args.push(("ts", ts));
                "conversations.replies"
            }
            None => "conversations.history",
        };
        let body: HistoryAnswer = self.call(method, Args::Form(&args[..]), deadline).await?;
        let found = body.messages.into_iter().find(|m| {
            m.metadata
                .as_ref()
                .is_some_and(|md| md.event_type == crate::message::NOTICE_EVENT && &md.event_payload == mark)
        });
        Ok(found.map(|m| Posted { channel: channel.to_owned(), ts: m.ts }))
    }
}

#[async_trait]
impl<T: TokenSource> SlackReads for SlackHttp<T> {
    async fn auth_test(&self, deadline: Timestamp) -> Result<Identity, SlackError> {
        let no_args: [(&str, &str); 0] = [];
        let body: AuthAnswer = self.call("auth.test", Args::Form(&no_args[..]), deadline).await?;
        Ok(Identity { team: body.team, user: body.user, user_id: body.user_id })
    }

    async fn channel(&self, id: &str, deadline: Timestamp) -> Result<ChannelInfo, SlackError> {
        let body: ChannelAnswer = self.call("conversations.info", Args::Form(&[("channel", id)][..]), deadline).await?;
        let channel = body.channel.ok_or_else(|| SlackError::Api("response without channel".into()))?;
        Ok(ChannelInfo {
            id: channel.id,
            name: channel.name,
            is_private: channel.is_private,
            is_archived: channel.is_archived,
            is_member: channel.is_member,
        })
    }
}

/// Slack readers over HTTPS with a token the caller already holds.
pub struct SlackHttpConnect;

impl SlackConnect for SlackHttpConnect {
    fn connect(&self, api_url: &str, token: SlackToken) -> Result<Box<dyn SlackReads>, SlackError> {
        Ok(Box::new(SlackHttp::new(api_url, Tokens::Static(token, None))?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_go_only_under_the_prefix() {
        let prefix = DEFAULT_SLACK_RESPONSE_URL_PREFIX;
        for ok in ["https://hooks.slack.com/actions/T1/2/abc", "https://hooks.slack.com/commands/T1/2/def?x=1"] {
            assert!(response_url_allowed(ok, prefix), "{ok}");
        }
        for bad in [
            "https://hooks.slack.com.evil.example/actions/T1",
            "https://hooks.slack.com@evil.example/actions/T1",
            "http://hooks.slack.com/actions/T1",
            "https://hooks.slack.com:8443/actions/T1",
            "https://evil.example/https://hooks.slack.com/",
            "https://hooks.slack.com",
            "//hooks.slack.com/actions",
            "",
        ] {
            assert!(!response_url_allowed(bad, prefix), "{bad}");
        }
        assert!(response_url_allowed("http://127.0.0.1:4000/hooks/a", "http://127.0.0.1:4000/hooks/"));
        assert!(!response_url_allowed("http://127.0.0.1:4000/api/chat.postMessage", "http://127.0.0.1:4000/hooks/"));
    }
}
