//! A fake Slack Web API on loopback. It checks what real Slack checks for
//! `chat.postMessage` (bearer token, known channel the bot is in,
//! `thread_ts` of an existing message, Block Kit limits), answers the
//! read methods `auth.test` and `conversations.info` (form-encoded
//! arguments only, as Slack reads them), and fails on demand. With rate
//! limits on, it answers as Slack does past them: HTTP 429 with
//! `Retry-After`.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

pub const TOKEN: &str = "xoxb-test-0000-secret-token";
/// Channel IDs the fake workspace has, and their names.
pub const CHANNELS: [(&str, &str); 3] = [("C0JOBS", "jobs"), ("C0USERS", "users"), ("C0OPS", "ops")];
/// A private channel: one the bot is not in does not exist for it.
pub const PRIVATE_CHANNEL: (&str, &str) = ("G0PRIVATE", "private-ops");
/// Who the token is, as `auth.test` says.
pub const TEAM: &str = "Market Pulse";
pub const BOT_NAME: &str = "notifier";
pub const BOT_USER_ID: &str = "U0NOTIFIER";

/// A posted message as Slack stored it.
#[derive(Debug, Clone)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
    pub thread_ts: Option<String>,
    pub text: String,
    pub body: Value,
    pub reply_broadcast: bool,
    /// How many times `chat.update` replaced it, and its text before that.
    pub updates: usize,
    pub original_text: String,
}

impl Posted {
    /// Everything a reader sees: the fallback text and every block.
    pub fn visible(&self) -> String {
        format!("{}\n{}", self.text, self.body["blocks"])
    }
}

/// What the next request gets instead of the normal answer.
#[derive(Debug, Clone)]
pub enum Fault {
    Http {
        status: u16,
        retry_after: Option<u64>,
    },
    Api(&'static str),
    /// A slow answer: waits, then answers normally.
    Delay(Duration),
    /// Waits, then drops the connection without answering or posting.
    Hang(Duration),
    /// Drops the connection at once, without answering.
    Drop,
}

/// Slack's rate limits, optionally faster than real time.
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    /// `chat.postMessage`: about one message per second per channel, with
    /// a short burst allowed.
    pub post_interval: Duration,
    pub post_burst: u32,
    /// `chat.update` is Tier 3: about 50 a minute (per workspace).
    pub update_interval: Duration,
    pub update_burst: u32,
}

impl RateLimits {
    /// Slack's, `speed` times faster than real time.
    pub fn slack(speed: f64) -> RateLimits {
        RateLimits {
            post_interval: Duration::from_secs_f64(1.0 / speed),
            post_burst: 3,
            update_interval: Duration::from_secs_f64(60.0 / 50.0 / speed),
            update_burst: 5,
        }
    }
}

/// A token bucket: `burst` calls at once, then one per `interval`.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: std::time::Instant,
}

impl Bucket {
    /// Takes a token, or says how long until one is there.
    fn take(&mut self, interval: Duration, burst: u32) -> Result<(), Duration> {
        let now = std::time::Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() / interval.as_secs_f64();
        self.tokens = (self.tokens + refill).min(f64::from(burst));
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(interval.mul_f64(1.0 - self.tokens))
        }
    }
}

/// Calls accepted and refused with 429 by the rate limits, per method.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateCounts {
    pub posts_accepted: usize,
    pub posts_limited: usize,
    pub updates_accepted: usize,
    pub updates_limited: usize,
}

#[derive(Default)]
struct Inner {
    limits: Option<RateLimits>,
    buckets: std::collections::HashMap<String, Bucket>,
    rates: RateCounts,
    token: String,
    /// The app was uninstalled: its token is refused with `token_revoked`.
    revoked: bool,
    /// Channels the bot has been removed from (it starts in every one).
    left: HashSet<String>,
    posted: Vec<Posted>,
    faults: VecDeque<Fault>,
    /// Refuses this share of calls at random (503, 429, `internal_error`).
    refusals: Option<(f64, fastrand::Rng)>,
    refused: usize,
    requests: usize,
    methods: Vec<String>,
    next_ts: u64,
    /// Bodies posted to response URLs, in order.
    responses: Vec<Value>,
    /// Where response URLs redirect to, when they do.
    redirect: Option<String>,
    /// How long each call takes to be answered (Slack's own time).
    latency: Duration,
}

#[derive(Clone)]
pub struct FakeSlack {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeSlack {
    pub async fn start() -> FakeSlack {
        let inner = Arc::new(Mutex::new(Inner { token: TOKEN.into(), next_ts: 1, ..Inner::default() }));
        let app = Router::new()
            .route("/api/chat.postMessage", post(|State(s), h, b| call(s, h, b, "chat.postMessage", post_message)))
            .route("/api/chat.update", post(|State(s), h, b| call(s, h, b, "chat.update", update_message)))
            .route("/api/auth.test", post(|State(s), h, b| read_call(s, h, b, "auth.test", auth_test)))
            .route(
                "/api/conversations.info",
                post(|State(s), h, b| read_call(s, h, b, "conversations.info", conversations_info)),
            )
            .route(
                "/api/conversations.history",
                post(|State(s), h, b| read_call(s, h, b, "conversations.history", conversations_history)),
            )
            .route(
                "/api/conversations.replies",
                post(|State(s), h, b| read_call(s, h, b, "conversations.replies", conversations_replies)),
            )
            .route("/hooks/{*rest}", post(|State(s), h, b| respond(s, h, b)))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeSlack { url, inner }
    }

    /// A response URL, as Slack puts in an interaction or a command.
    pub fn response_url(&self, id: &str) -> String {
        format!("{}actions/T0TEAM/{id}", self.response_url_prefix())
    }

    /// Where this fake's response URLs start (`SLACK_RESPONSE_URL_PREFIX`).
    pub fn response_url_prefix(&self) -> String {
        format!("{}/hooks/", self.url.trim_end_matches("/api"))
    }

    /// Answers to response URLs are redirected (307) to `location` from now on.
    pub fn redirect_responses_to(&self, location: &str) {
        self.inner.lock().unwrap().redirect = Some(location.to_owned());
    }

    /// The answers posted to response URLs.
    pub fn responses(&self) -> Vec<Value> {
        self.inner.lock().unwrap().responses.clone()
    }

    pub fn posted(&self) -> Vec<Posted> {
        self.inner.lock().unwrap().posted.clone()
    }

    /// From now on, answers 429 past Slack's rate limits.
    pub fn limit_rates(&self, limits: RateLimits) {
        self.inner.lock().unwrap().limits = Some(limits);
    }

    pub fn rate_counts(&self) -> RateCounts {
        self.inner.lock().unwrap().rates.clone()
    }

    pub fn requests(&self) -> usize {
        self.inner.lock().unwrap().requests
    }

    pub fn fail_next(&self, fault: Fault) {
        self.inner.lock().unwrap().faults.push_back(fault);
    }

    /// Refuses `rate` of the calls from now on, at random from `seed`, as
    /// an overloaded Slack does: HTTP 503, 429 with `Retry-After: 1`, or
    /// `internal_error`.
    pub fn refuse(&self, rate: f64, seed: u64) {
        self.inner.lock().unwrap().refusals = Some((rate, fastrand::Rng::with_seed(seed)));
    }

    /// Calls refused by `refuse`.
    pub fn refused(&self) -> usize {
        self.inner.lock().unwrap().refused
    }

    /// Ends an outage: faults not yet used are dropped.
    pub fn clear_faults(&self) {
        self.inner.lock().unwrap().faults.clear();
    }

    /// Rotates the workspace's token: the old one stops working.
    pub fn set_token(&self, token: &str) {
        self.inner.lock().unwrap().token = token.into();
    }

    /// Uninstalls the app: its token is refused from now on.
    pub fn revoke_token(&self) {
        self.inner.lock().unwrap().revoked = true;
    }

    /// Removes the bot from `channel` (as `/kick` would).
    /// Every call (Web API and response URLs) is answered `latency` late.
    pub fn set_latency(&self, latency: Duration) {
        self.inner.lock().unwrap().latency = latency;
    }

    pub fn remove_bot_from(&self, channel: &str) {
        self.inner.lock().unwrap().left.insert(channel.into());
    }

    /// Every method called, in order (`chat.postMessage`, `auth.test`, …).
    pub fn methods(&self) -> Vec<String> {
        self.inner.lock().unwrap().methods.clone()
    }
}

fn slack_error(error: &str) -> Response {
    Json(json!({"ok": false, "error": error})).into_response()
}

/// Counts the request and applies the next fault, if any. Returns the
/// response to send instead of the normal one.
async fn apply_fault(inner: &Mutex<Inner>, method: &str) -> Option<Response> {
    let fault = {
        let mut inner = inner.lock().unwrap();
        inner.requests += 1;
        inner.methods.push(method.to_owned());
        let refused = inner.refusals.as_mut().and_then(|(rate, rng)| {
            (rng.f64() < *rate).then(|| match rng.u8(0..3) {
                0 => Fault::Http { status: 503, retry_after: None },
                1 => Fault::Http { status: 429, retry_after: Some(1) },
                _ => Fault::Api("internal_error"),
            })
        });
        if refused.is_some() {
            inner.refused += 1;
        }
        refused.or_else(|| inner.faults.pop_front())
    };
    match fault? {
        Fault::Http { status, retry_after } => {
            let mut response = (StatusCode::from_u16(status).unwrap(), "fault").into_response();
            if let Some(secs) = retry_after {
                response.headers_mut().insert("retry-after", secs.to_string().parse().unwrap());
            }
            Some(response)
        }
        Fault::Api(error) => Some(slack_error(error)),
        Fault::Delay(d) => {
            tokio::time::sleep(d).await;
            None
        }
        Fault::Hang(d) => {
            tokio::time::sleep(d).await;
            drop_connection()
        }
        Fault::Drop => drop_connection(),
    }
}

/// Unwinding out of the handler makes the server close the connection
/// with no response; `resume_unwind` skips the panic message.
fn drop_connection() -> ! {
    std::panic::resume_unwind(Box::new("fake Slack drops the connection"))
}

/// The bearer token every Web API method checks.
fn check_token(inner: &Inner, headers: &HeaderMap) -> Result<(), &'static str> {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    match auth.and_then(|a| a.strip_prefix("Bearer ")) {
        None => Err("not_authed"),
        Some(token) if token != inner.token => Err("invalid_auth"),
        Some(_) if inner.revoked => Err("token_revoked"),
        Some(_) => Ok(()),
    }
}

/// The checks every write method makes: token, JSON body, channel,
/// message limits. Errs with Slack's error code.
fn authorized_body(inner: &Inner, headers: &HeaderMap, body: &str) -> Result<(Value, String), &'static str> {
    check_token(inner, headers)?;
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !content_type.starts_with("application/json") {
        return Err("invalid_form_data");
    }
    let body: Value = serde_json::from_str(body).map_err(|_| "invalid_json")?;
    let channel = body["channel"].as_str().and_then(resolve_channel).ok_or("channel_not_found")?;
    let text = body["text"].as_str().unwrap_or_default();
    let blocks = body.get("blocks").cloned().unwrap_or(Value::Null);
    if text.is_empty() && blocks.is_null() {
        return Err("no_text");
    }
    if text.chars().count() > 40_000 {
        return Err("msg_too_long");
    }
    if let Err(problem) = check_blocks(&blocks) {
        eprintln!("fake Slack: invalid_blocks: {problem}");
        return Err("invalid_blocks");
    }
    Ok((body, channel))
}

/// A Web API method: the checked body and channel in, Slack's answer out.
type Method = fn(&mut Inner, Value, String) -> Result<Value, &'static str>;

async fn call(inner: Arc<Mutex<Inner>>, headers: HeaderMap, body: String, name: &str, method: Method) -> Response {
    let latency = inner.lock().unwrap().latency;
    tokio::time::sleep(latency).await;
    if let Some(response) = apply_fault(&inner, name).await {
        return response;
    }
    let mut inner = inner.lock().unwrap();
    let checked = authorized_body(&inner, &headers, &body);
    if let Ok((_, channel)) = &checked {
        if let Err(wait) = rate_limit(&mut inner, name, channel) {
            let mut response = (StatusCode::TOO_MANY_REQUESTS, "ratelimited").into_response();
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            response.headers_mut().insert("retry-after", secs.to_string().parse().unwrap());
            return response;
        }
    }
    match checked.and_then(|(body, channel)| method(&mut inner, body, channel)) {
        Ok(answer) => Json(answer).into_response(),
        Err(code) => slack_error(code),
    }
}

/// Slack's limits: posts per channel, updates per workspace.
fn rate_limit(inner: &mut Inner, method: &str, channel: &str) -> Result<(), Duration> {
    let Some(limits) = inner.limits else { return Ok(()) };
    let (key, interval, burst) = match method {
        "chat.postMessage" => (format!("post#{channel}"), limits.post_interval, limits.post_burst),
        "chat.update" => ("update".to_owned(), limits.update_interval, limits.update_burst),
        _ => return Ok(()),
    };
    let bucket =
        inner.buckets.entry(key).or_insert_with(|| Bucket { tokens: f64::from(burst), at: std::time::Instant::now() });
    let taken = bucket.take(interval, burst);
    let rates = &mut inner.rates;
    let (accepted, limited) = match method {
        "chat.postMessage" => (&mut rates.posts_accepted, &mut rates.posts_limited),
        _ => (&mut rates.updates_accepted, &mut rates.updates_limited),
    };
    match taken {
        Ok(()) => *accepted += 1,
        Err(_) => *limited += 1,
    }
    taken
}

/// A read method: form-encoded arguments in, Slack's answer out.
type ReadMethod = fn(&Inner, &std::collections::HashMap<String, String>) -> Result<Value, &'static str>;

async fn read_call(
    inner: Arc<Mutex<Inner>>,
    headers: HeaderMap,
    body: String,
    name: &str,
    method: ReadMethod,
) -> Response {
    let latency = inner.lock().unwrap().latency;
    tokio::time::sleep(latency).await;
    if let Some(response) = apply_fault(&inner, name).await {
        return response;
    }
    let inner = inner.lock().unwrap();
    let answer = check_token(&inner, &headers).and_then(|()| {
        // Slack reads these methods' arguments from a form, not from JSON.
        let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !body.is_empty() && !content_type.starts_with("application/x-www-form-urlencoded") {
            return Err("invalid_arguments");
        }
        let args = serde_urlencoded::from_str(&body).map_err(|_| "invalid_form_data")?;
        method(&inner, &args)
    });
    match answer {
        Ok(answer) => Json(answer).into_response(),
        Err(code) => slack_error(code),
    }
}

fn auth_test(_: &Inner, _: &std::collections::HashMap<String, String>) -> Result<Value, &'static str> {
    Ok(json!({
        "ok": true,
        "url": "https://market-pulse.slack.com/",
        "team": TEAM,
        "user": BOT_NAME,
        "team_id": "T0MARKET",
        "user_id": BOT_USER_ID,
        "bot_id": "B0NOTIFIER",
    }))
}

fn conversations_info(inner: &Inner, args: &std::collections::HashMap<String, String>) -> Result<Value, &'static str> {
    let id = args.get("channel").ok_or("channel_not_found")?;
    let member = !inner.left.contains(id);
    let (name, private) = match CHANNELS.iter().find(|(c, _)| c == id) {
        Some((_, name)) => (*name, false),
        // A private channel the bot is not in does not exist for it.
        None if *id == PRIVATE_CHANNEL.0 && member => (PRIVATE_CHANNEL.1, true),
        None => return Err("channel_not_found"),
    };
    Ok(json!({
        "ok": true,
        "channel": {
            "id": id,
            "name": name,
            "is_channel": true,
            "is_private": private,
            "is_archived": false,
            "is_member": member,
        }
    }))
}

/// A message as `conversations.history` gives it: metadata only when asked.
fn history_entry(p: &Posted, metadata: bool) -> Value {
    let mut entry = json!({"type": "message", "ts": p.ts, "text": p.text});
    if let Some(thread) = &p.thread_ts {
        entry["thread_ts"] = json!(thread);
    }
    if let Some(blocks) = p.body.get("blocks") {
        entry["blocks"] = blocks.clone();
    }
    if metadata && p.body.get("metadata").is_some() {
        entry["metadata"] = p.body["metadata"].clone();
    }
    entry
}

/// The channel's messages, newest first: top-level ones and replies sent
/// to the channel too, as Slack lists them.
fn conversations_history(
    inner: &Inner,
    args: &std::collections::HashMap<String, String>,
) -> Result<Value, &'static str> {
    let channel = args.get("channel").ok_or("channel_not_found")?;
    if inner.left.contains(channel) {
        return Err("not_in_channel");
    }
    let metadata = args.get("include_all_metadata").is_some_and(|v| v == "true");
    let messages: Vec<Value> = inner
        .posted
        .iter()
        .rev()
        // The fake's ts are counters, not times: `oldest` selects nothing.
        .filter(|p| &p.channel == channel && (p.thread_ts.is_none() || p.reply_broadcast))
        .map(|p| history_entry(p, metadata))
        .collect();
    Ok(json!({"ok": true, "messages": messages, "has_more": false}))
}

/// A thread: its parent, then its replies, oldest first.
fn conversations_replies(
    inner: &Inner,
    args: &std::collections::HashMap<String, String>,
) -> Result<Value, &'static str> {
    let channel = args.get("channel").ok_or("channel_not_found")?;
    let ts = args.get("ts").ok_or("thread_not_found")?;
    let metadata = args.get("include_all_metadata").is_some_and(|v| v == "true");
    let messages: Vec<Value> = inner
        .posted
        .iter()
        .filter(|p| &p.channel == channel && (&p.ts == ts || p.thread_ts.as_ref() == Some(ts)))
        .map(|p| history_entry(p, metadata))
        .collect();
    if messages.is_empty() {
        return Err("thread_not_found");
    }
    Ok(json!({"ok": true, "messages": messages, "has_more": false}))
}

fn post_message(inner: &mut Inner, body: Value, channel: String) -> Result<Value, &'static str> {
    if inner.left.contains(&channel) {
        return Err("not_in_channel");
    }
    let thread_ts = match body.get("thread_ts") {
        None | Some(Value::Null) => None,
        Some(Value::String(ts)) => {
            let parent = inner.posted.iter().any(|p| p.channel == channel && &p.ts == ts && p.thread_ts.is_none());
            if !parent {
                return Err("thread_not_found");
            }
            Some(ts.clone())
        }
        Some(_) => return Err("invalid_arguments"),
    };
    let reply_broadcast = body["reply_broadcast"].as_bool().unwrap_or(false);
    if reply_broadcast && thread_ts.is_none() {
        return Err("invalid_arguments");
    }
    let ts = format!("1795700000.{:06}", inner.next_ts);
    inner.next_ts += 1;
    let text = body["text"].as_str().unwrap_or_default().to_owned();
    inner.posted.push(Posted {
        channel: channel.clone(),
        ts: ts.clone(),
        thread_ts,
        original_text: text.clone(),
        text,
        body,
        reply_broadcast,
        updates: 0,
    });
    Ok(json!({"ok": true, "channel": channel, "ts": ts}))
}

fn update_message(inner: &mut Inner, mut body: Value, channel: String) -> Result<Value, &'static str> {
    let ts = body["ts"].as_str().map(str::to_owned).ok_or("invalid_arguments")?;
    let message = inner.posted.iter_mut().find(|p| p.channel == channel && p.ts == ts).ok_or("message_not_found")?;
    message.text = body["text"].as_str().unwrap_or_default().to_owned();
    // As Slack does: an update without metadata leaves the message's.
    if body.get("metadata").is_none() && message.body.get("metadata").is_some() {
        body["metadata"] = message.body["metadata"].clone();
    }
    message.body = body;
    message.updates += 1;
    Ok(json!({"ok": true, "channel": channel, "ts": ts}))
}

/// Slack accepts a channel ID or a channel name, with or without `#`.
fn resolve_channel(given: &str) -> Option<String> {
    let name = given.trim_start_matches('#');
    CHANNELS.iter().find(|(id, n)| *id == given || *n == name).map(|(id, _)| id.to_string())
}

/// Block Kit limits, checked on the raw JSON, independently of the crate's
/// own block types.
fn check_blocks(blocks: &Value) -> Result<(), String> {
    let blocks = match blocks {
        Value::Null => return Ok(()),
        Value::Array(blocks) => blocks,
        _ => return Err("blocks is not an array".into()),
    };
    if blocks.len() > 50 {
        return Err(format!("{} blocks", blocks.len()));
    }
    let text_of = |t: &Value, kinds: &[&str], max: usize| -> Result<(), String> {
        let kind = t["type"].as_str().unwrap_or_default();
        if !kinds.contains(&kind) {
            return Err(format!("text object of type {kind:?}"));
        }
        let n = t["text"].as_str().ok_or("text object without text")?.chars().count();
        if n == 0 || n > max {
            return Err(format!("{kind} text of {n} characters (max {max})"));
        }
        Ok(())
    };
    for block in blocks {
        match block["type"].as_str() {
            Some("header") => text_of(&block["text"], &["plain_text"], 150)?,
            Some("section") => {
                let fields = block.get("fields").and_then(Value::as_array);
                if block.get("text").is_none() && fields.is_none() {
                    return Err("section without text or fields".into());
                }
                if let Some(text) = block.get("text") {
                    text_of(text, &["plain_text", "mrkdwn"], 3000)?;
                }
                if let Some(fields) = fields {
                    if fields.is_empty() || fields.len() > 10 {
                        return Err(format!("section with {} fields", fields.len()));
                    }
                    for field in fields {
                        text_of(field, &["plain_text", "mrkdwn"], 2000)?;
                    }
                }
            }
            Some("context") => {
                let elements = block["elements"].as_array().ok_or("context without elements")?;
                if elements.is_empty() || elements.len() > 10 {
                    return Err(format!("context with {} elements", elements.len()));
                }
                for element in elements {
                    text_of(element, &["plain_text", "mrkdwn"], 3000)?;
                }
            }
            Some("divider") => {}
            Some("actions") => {
                let elements = block["elements"].as_array().ok_or("actions without elements")?;
                if elements.is_empty() || elements.len() > 25 {
                    return Err(format!("actions with {} elements", elements.len()));
                }
                for button in elements {
                    if button["type"] == "overflow" {
                        // Slack's overflow menu: 2 to 5 options, text 75, value 150.
                        let options = button["options"].as_array().ok_or("overflow without options")?;
                        if !(2..=5).contains(&options.len()) {
                            return Err(format!("overflow with {} options", options.len()));
                        }
                        let action_id = button["action_id"].as_str().ok_or("overflow without action_id")?;
                        if action_id.is_empty() || action_id.len() > 255 {
                            return Err(format!("overflow action_id {}", action_id.len()));
                        }
                        for option in options {
                            text_of(&option["text"], &["plain_text"], 75)?;
                            let value = option["value"].as_str().ok_or("option without value")?;
                            if value.is_empty() || value.chars().count() > 150 {
                                return Err(format!("option value of {} characters", value.chars().count()));
                            }
                        }
                        continue;
                    }
                    if button["type"] != "button" {
                        return Err(format!("actions element of type {}", button["type"]));
                    }
                    text_of(&button["text"], &["plain_text"], 75)?;
                    let action_id = button["action_id"].as_str().ok_or("button without action_id")?;
                    let value = button["value"].as_str().unwrap_or_default();
                    if action_id.is_empty() || action_id.len() > 255 || value.chars().count() > 2000 {
                        return Err(format!("button action_id {} / value {} characters", action_id.len(), value.len()));
                    }
                    if let Some(confirm) = button.get("confirm") {
                        text_of(&confirm["title"], &["plain_text"], 100)?;
                        text_of(&confirm["text"], &["plain_text", "mrkdwn"], 300)?;
                        text_of(&confirm["confirm"], &["plain_text"], 30)?;
                        text_of(&confirm["deny"], &["plain_text"], 30)?;
                    }
                }
            }
            other => return Err(format!("unknown block type {other:?}")),
        }
    }
    Ok(())
}

/// A response URL: JSON, no token (the URL is the authority), at most a
/// reply's limits; answers `{"ok": true}`.
async fn respond(inner: Arc<Mutex<Inner>>, headers: HeaderMap, body: String) -> Response {
    let latency = inner.lock().unwrap().latency;
    tokio::time::sleep(latency).await;
    if let Some(location) = inner.lock().unwrap().redirect.clone() {
        return (StatusCode::TEMPORARY_REDIRECT, [("location", location)]).into_response();
    }
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !content_type.starts_with("application/json") {
        return (StatusCode::BAD_REQUEST, "invalid_payload").into_response();
    }
    let Ok(reply) = serde_json::from_str::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "invalid_payload").into_response();
    };
    if !matches!(reply["response_type"].as_str(), Some("ephemeral" | "in_channel")) || reply["text"].as_str().is_none()
    {
        return (StatusCode::BAD_REQUEST, "invalid_payload").into_response();
    }
    if let Err(problem) = check_blocks(reply.get("blocks").unwrap_or(&Value::Null)) {
        eprintln!("fake Slack: invalid_blocks in a response: {problem}");
        return (StatusCode::BAD_REQUEST, "invalid_blocks").into_response();
    }
    inner.lock().unwrap().responses.push(reply);
    Json(json!({"ok": true})).into_response()
}
