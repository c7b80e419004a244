//! Test helpers: fixtures, and in-memory fakes of the ports so that the
//! handler's decisions are tested in-process, on a clock the test controls
//! (tokio's paused time), with no moto and no network.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::adapters::memory::MemoryStore;
use crate::event::EcsTask;
use crate::handler::Handler;
use crate::jobs::LogStream;
use crate::message::{Message, limit_violation};
use crate::ports::{
    Clock, FoundSchedule, LogError, LogSource, LogTail, Ports, Posted, ScheduleError, Schedules, SlackError,
    SlackPoster, TaskDefinition, TaskDefinitionError, TaskDefinitions,
};
use crate::settings::Settings;
use crate::time::Timestamp;

/// Reads a JSON file given relative to the crate root (`events/…`, `tests/fixtures/…`).
pub fn fixture(path: &str) -> Value {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// A sample task event moved to a task of its own.
pub fn task_event(path: &str, task_id: &str) -> Value {
    let mut event = fixture(path);
    let arn = format!("arn:aws:ecs:us-east-1:123456789012:task/market-pulse/{task_id}");
    event["detail"]["taskArn"] = Value::String(arn.clone());
    event["resources"] = serde_json::json!([arn]);
    event
}

/// The RUNNING and STOPPED events of a run of `family`'s task `task_id`,
/// started at `started` (RFC 3339) and taking `secs`, exiting `exit_code`.
pub fn run_events(task_id: &str, family: &str, started: &str, secs: i64, exit_code: i64) -> (Value, Value) {
    let start = Timestamp::parse_rfc3339(started).unwrap();
    let stop = Timestamp::from_millis(start.millis() + secs * 1000);
    let iso = Timestamp::to_rfc3339;
    let edit = |mut event: Value| {
        event["detail"]["group"] = Value::String(format!("family:{family}"));
        event["detail"]["startedAt"] = Value::String(iso(start));
        event["detail"]["createdAt"] = Value::String(iso(start - Duration::from_secs(30)));
        event["time"] = Value::String(iso(start));
        event
    };
    let running = edit(task_event("events/ecs-task-running.json", task_id));
    let mut stopped = edit(task_event("events/ecs-task-stopped-success.json", task_id));
    stopped["detail"]["stoppedAt"] = Value::String(iso(stop));
    stopped["detail"]["executionStoppedAt"] = Value::String(iso(stop));
    stopped["detail"]["containers"][0]["exitCode"] = serde_json::json!(exit_code);
    stopped["time"] = Value::String(iso(stop));
    (running, stopped)
}

/// The watch's event at `time` (RFC 3339).
pub fn scheduled_event(time: &str) -> Value {
    serde_json::json!({
        "version": "0", "id": format!("watch-{time}"), "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": time, "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/ecs-slack-notifier-watch"], "detail": {}
    })
}

/// A minimal valid message.
pub fn message_to(channel: &str) -> Message {
    Message {
        channel: channel.into(),
        text: "hello".into(),
        blocks: Vec::new(),
        thread_ts: None,
        reply_broadcast: false,
        unfurl_links: false,
        unfurl_media: false,
        metadata: None,
    }
}

/// The time of the sample events' day; tests run on tokio's paused clock
/// from here, so waits take no real time.
#[derive(Clone)]
pub struct TestClock {
    base: Timestamp,
    start: tokio::time::Instant,
}

impl TestClock {
    pub fn new() -> TestClock {
        TestClock::at(Timestamp::EPOCH + Duration::from_secs(1_795_708_800)) // 2026-11-26T14:00:00Z
    }

    pub fn at(base: Timestamp) -> TestClock {
        TestClock { base, start: tokio::time::Instant::now() }
    }
}

#[async_trait]
impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        self.base + self.start.elapsed()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await
    }
}

/// A message as the fake Slack keeps it.
#[derive(Debug, Clone)]
pub struct Sent {
    pub ts: String,
    pub message: Message,
    /// The message before `chat.update` replaced it, if it did.
    pub original: Option<Message>,
    pub updates: usize,
}

impl Sent {
    /// Everything a reader sees: the fallback text and every block.
    pub fn visible(&self) -> String {
        format!("{}\n{}", self.message.text, serde_json::to_string(&self.message.blocks).unwrap())
    }
}

#[derive(Default)]
struct SlackState {
    sent: Vec<Sent>,
    /// Answers posted to `response_url`s: the URL and the reply.
    responses: Vec<(String, crate::message::Reply)>,
    faults: VecDeque<SlackError>,
    update_faults: VecDeque<SlackError>,
    delay: Option<Duration>,
    update_delay: Option<Duration>,
    calls: usize,
    /// Looks for an earlier post (`find_posted`).
    finds: usize,
}

/// Records what is posted and checks what Slack would: a thread reply needs
/// a top-level parent in the same channel, and blocks keep to the limits.
#[derive(Clone, Default)]
pub struct RecordingSlack {
    state: Arc<Mutex<SlackState>>,
}

impl RecordingSlack {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn posted(&self) -> Vec<Sent> {
        self.state.lock().unwrap().sent.clone()
    }

    pub fn responses(&self) -> Vec<(String, crate::message::Reply)> {
        self.state.lock().unwrap().responses.clone()
    }

    /// Looks for an earlier, unrecorded post.
    pub fn finds(&self) -> usize {
        self.state.lock().unwrap().finds
    }

    /// Calls made, failed ones included.
    pub fn calls(&self) -> usize {
        self.state.lock().unwrap().calls
    }

    pub fn fail_next(&self, error: SlackError) {
        self.state.lock().unwrap().faults.push_back(error);
    }

    pub fn fail_next_update(&self, error: SlackError) {
        self.state.lock().unwrap().update_faults.push_back(error);
    }

    /// The next post waits this long before Slack answers.
    pub fn delay_next(&self, delay: Duration) {
        self.state.lock().unwrap().delay = Some(delay);
    }

    /// The next `chat.update` takes this long, and lands at its end.
    pub fn delay_next_update(&self, delay: Duration) {
        self.state.lock().unwrap().update_delay = Some(delay);
    }

    fn begin(&self) -> Result<Option<Duration>, SlackError> {
        let mut state = self.state.lock().unwrap();
        state.calls += 1;
        match state.faults.pop_front() {
            Some(error) => Err(error),
            None => Ok(state.delay.take()),
        }
    }
}

#[async_trait]
impl SlackPoster for RecordingSlack {
    async fn post(&self, message: &Message, _deadline: Timestamp) -> Result<Posted, SlackError> {
        if let Some(delay) = self.begin()? {
            tokio::time::sleep(delay).await;
        }
        if let Some(problem) = limit_violation(&message.blocks) {
            return Err(SlackError::Api(format!("invalid_blocks: {problem}")));
        }
        let mut state = self.state.lock().unwrap();
        if let Some(parent) = &message.thread_ts {
            let exists = state
                .sent
                .iter()
                .any(|s| &s.ts == parent && s.message.channel == message.channel && s.message.thread_ts.is_none());
            if !exists {
                return Err(SlackError::Api("thread_not_found".into()));
            }
        }
        let ts = format!("1795700000.{:06}", state.sent.len() + 1);
        state.sent.push(Sent { ts: ts.clone(), message: message.clone(), original: None, updates: 0 });
        Ok(Posted { channel: message.channel.clone(), ts })
    }

    async fn update(&self, at: &Posted, message: &Message, _deadline: Timestamp) -> Result<(), SlackError> {
        let delay = self.state.lock().unwrap().update_delay.take();
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let mut state = self.state.lock().unwrap();
        state.calls += 1;
        if let Some(error) = state.update_faults.pop_front() {
            return Err(error);
        }
        let sent = state
            .sent
            .iter_mut()
            .find(|s| s.ts == at.ts && s.message.channel == at.channel)
            .ok_or_else(|| SlackError::Api("message_not_found".into()))?;
        sent.original.get_or_insert_with(|| sent.message.clone());
        // As Slack does: an update without metadata leaves the message's.
        let metadata = message.metadata.clone().or_else(|| sent.message.metadata.clone());
        // An update cannot move a message: a reply stays in its thread.
        let (thread_ts, reply_broadcast) = (sent.message.thread_ts.clone(), sent.message.reply_broadcast);
        sent.message = Message { channel: at.channel.clone(), thread_ts, reply_broadcast, metadata, ..message.clone() };
        sent.updates += 1;
        Ok(())
    }

    async fn respond(
        &self,
        response_url: &str,
        reply: &crate::message::Reply,
        _deadline: Timestamp,
    ) -> Result<(), SlackError> {
        let mut state = self.state.lock().unwrap();
        state.calls += 1;
        state.responses.push((response_url.to_owned(), reply.clone()));
        Ok(())
    }

    async fn message_at(
        &self,
        at: &Posted,
        _thread: Option<&str>,
        _deadline: Timestamp,
    ) -> Result<Option<Message>, SlackError> {
        let mut state = self.state.lock().unwrap();
        state.calls += 1;
        Ok(state.sent.iter().find(|s| s.ts == at.ts && s.message.channel == at.channel).map(|s| s.message.clone()))
    }

    async fn find_posted(
        &self,
        channel: &str,
        thread: Option<&str>,
        mark: &crate::message::NoticeMark,
        _oldest: Timestamp,
        _deadline: Timestamp,
    ) -> Result<Option<Posted>, SlackError> {
        let mut state = self.state.lock().unwrap();
        state.calls += 1;
        state.finds += 1;
        Ok(state
            .sent
            .iter()
            .filter(|s| s.message.channel == channel && s.message.thread_ts.as_deref() == thread)
            .find(|s| s.message.metadata.as_ref().is_some_and(|m| &m.event_payload == mark))
            .map(|s| Posted { channel: channel.to_owned(), ts: s.ts.clone() }))
    }
}

#[derive(Clone)]
pub enum LogBehaviour {
    NoStream,
    Lines(Vec<String>, Option<LogStream>),
    Fails(String),
    Hangs,
}

/// A log source that answers as told, for every task.
#[derive(Clone)]
pub struct FakeLogs {
    behaviour: Arc<Mutex<LogBehaviour>>,
}

impl FakeLogs {
    pub fn new() -> Self {
        FakeLogs { behaviour: Arc::new(Mutex::new(LogBehaviour::NoStream)) }
    }

    pub fn answer(&self, behaviour: LogBehaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }
}

#[async_trait]
impl LogSource for FakeLogs {
    async fn tail(&self, _task: &EcsTask, configured: Option<&LogStream>) -> Result<Option<LogTail>, LogError> {
        let behaviour = self.behaviour.lock().unwrap().clone();
        match behaviour {
            LogBehaviour::NoStream => Ok(None),
            LogBehaviour::Lines(lines, stream) => Ok(Some(LogTail { stream: stream.or(configured.cloned()), lines })),
            LogBehaviour::Fails(error) => Err(LogError(error)),
            LogBehaviour::Hangs => std::future::pending().await,
        }
    }
}

/// Task definitions as the test registers them, counting the reads; an
/// ARN not registered is an error (as ECS would answer it).
#[derive(Clone, Default)]
pub struct FakeTaskDefinitions {
    known: Arc<Mutex<std::collections::HashMap<String, Arc<TaskDefinition>>>>,
    reads: Arc<std::sync::atomic::AtomicUsize>,
}

impl FakeTaskDefinitions {
    pub fn register(&self, arn: &str, definition: TaskDefinition) {
        self.known.lock().unwrap().insert(arn.to_owned(), Arc::new(definition));
    }

    pub fn reads(&self) -> usize {
        self.reads.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[async_trait]
impl TaskDefinitions for FakeTaskDefinitions {
    async fn definition(&self, arn: &str) -> Result<Option<Arc<TaskDefinition>>, TaskDefinitionError> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match self.known.lock().unwrap().get(arn) {
            Some(definition) => Ok(Some(definition.clone())),
            None => Err(TaskDefinitionError(format!("ClientException: Unable to describe task definition {arn}"))),
        }
    }
}

/// Schedules found in the account, as the test sets them; `fail` makes the
/// next listing fail. It records what it was asked, as the AWS calls an
/// adapter would make: `discover`, `ListTargetsByRule NAME`, `GetSchedule
/// GROUP/NAME`, `ListSchedules PREFIX`.
#[derive(Clone, Default)]
pub struct FakeSchedules {
    found: Arc<Mutex<Vec<FoundSchedule>>>,
    fail: Arc<Mutex<Option<String>>>,
    cut_short: Arc<Mutex<Option<String>>>,
    asked: Arc<Mutex<Vec<String>>>,
}

impl FakeSchedules {
    /// What it was asked so far.
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }

    fn ask(&self, what: String) {
        self.asked.lock().unwrap().push(what);
    }

    /// Every discovery from now on stops short, saying `why`.
    pub fn cut_short(&self, why: &str) {
        *self.cut_short.lock().unwrap() = Some(why.to_owned());
    }

    pub fn set(&self, found: Vec<FoundSchedule>) {
        *self.found.lock().unwrap() = found;
    }

    pub fn fail(&self, error: &str) {
        *self.fail.lock().unwrap() = Some(error.to_owned());
    }
}

#[async_trait]
impl Schedules for FakeSchedules {
    async fn schedules(&self) -> Result<Vec<FoundSchedule>, ScheduleError> {
        if let Some(error) = self.fail.lock().unwrap().take() {
            return Err(ScheduleError(error));
        }
        Ok(self.found.lock().unwrap().clone())
    }

    async fn discover(&self, _until: Timestamp) -> Result<crate::ports::Discovery, ScheduleError> {
        self.ask("discover".into());
        let found = self.schedules().await?;
        Ok(crate::ports::Discovery { found, cut_short: self.cut_short.lock().unwrap().clone() })
    }

    async fn rule(&self, name: &str) -> Result<Vec<FoundSchedule>, ScheduleError> {
        self.ask(format!("ListTargetsByRule {name}"));
        let source = format!("rule {name}");
        Ok(self.schedules().await?.into_iter().filter(|f| f.source == source).collect())
    }

    async fn schedule(&self, group: &str, name: &str) -> Result<Option<FoundSchedule>, ScheduleError> {
        self.ask(format!("GetSchedule {group}/{name}"));
        let source = format!("schedule {group}/{name}");
        Ok(self.schedules().await?.into_iter().find(|f| f.source == source))
    }

    async fn named(&self, prefix: &str, _until: Timestamp) -> Result<crate::ports::Listed, ScheduleError> {
        self.ask(format!("ListSchedules {prefix}"));
        let found = self.schedules().await?;
        let schedules = found.iter().filter_map(FoundSchedule::listed).filter(|l| l.name.starts_with(prefix)).collect();
        Ok(crate::ports::Listed { schedules, cut_short: None })
    }
}

/// What ECS was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum EcsCall {
    Run(Box<crate::job_control::RunRequest>),
    Stop { cluster: String, task: String, reason: String },
}

/// An ECS that starts task `new0`, `new1`… and stops anything, or fails
/// as told; it records what it was asked.
#[derive(Clone, Default)]
pub struct FakeControl {
    calls: Arc<Mutex<Vec<EcsCall>>>,
    fail: Arc<Mutex<Option<String>>>,
    delay: Arc<Mutex<Duration>>,
}

impl FakeControl {
    /// Every call takes `delay` (on tokio's clock) before ECS has it.
    pub fn slow(&self, delay: Duration) {
        *self.delay.lock().unwrap() = delay;
    }

    pub fn calls(&self) -> Vec<EcsCall> {
        self.calls.lock().unwrap().clone()
    }

    pub fn fail_next(&self, error: &str) {
        *self.fail.lock().unwrap() = Some(error.to_owned());
    }
}

#[async_trait]
impl crate::ports::TaskControl for FakeControl {
    async fn run_task(&self, request: &crate::job_control::RunRequest) -> Result<String, crate::ports::ControlError> {
        let delay = *self.delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        if let Some(error) = self.fail.lock().unwrap().take() {
            return Err(crate::ports::ControlError(error));
        }
        let mut calls = self.calls.lock().unwrap();
        calls.push(EcsCall::Run(Box::new(request.clone())));
        Ok(format!("{}/task/new{:030}", request.cluster.replace(":cluster/", ":task/"), calls.len()))
    }

    async fn stop_task(&self, cluster: &str, task: &str, reason: &str) -> Result<(), crate::ports::ControlError> {
        let delay = *self.delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        if let Some(error) = self.fail.lock().unwrap().take() {
            return Err(crate::ports::ControlError(error));
        }
        let call = EcsCall::Stop { cluster: cluster.into(), task: task.into(), reason: reason.into() };
        self.calls.lock().unwrap().push(call);
        Ok(())
    }
}

pub const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

/// The Slack secret: a token, and the signing secret unless `without_signing`;
/// after `unreadable`, every read fails.
#[derive(Clone, Default)]
pub struct FakeSecrets {
    without_signing: Arc<std::sync::atomic::AtomicBool>,
    unreadable: Arc<std::sync::atomic::AtomicBool>,
}

impl FakeSecrets {
    pub fn without_signing(&self) {
        self.without_signing.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn unreadable(&self) {
        self.unreadable.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn read(&self) -> Result<(), crate::ports::TokenError> {
        match self.unreadable.load(std::sync::atomic::Ordering::Relaxed) {
            true => Err(crate::ports::TokenError::Secret {
                secret_id: "slack/bot-token".into(),
                detail: "AccessDeniedException".into(),
            }),
            false => Ok(()),
        }
    }
}

#[async_trait]
impl crate::ports::TokenSource for FakeSecrets {
    async fn token(&self) -> Result<crate::ports::SlackToken, crate::ports::TokenError> {
        self.read()?;
        Ok(crate::ports::SlackToken::new("xoxb-test"))
    }

    async fn refresh(
        &self,
        _stale: &crate::ports::SlackToken,
    ) -> Result<Option<crate::ports::SlackToken>, crate::ports::TokenError> {
        Ok(None)
    }

    async fn signing_secret(&self) -> Result<Option<crate::signature::SigningSecret>, crate::ports::TokenError> {
        self.read()?;
        let off = self.without_signing.load(std::sync::atomic::Ordering::Relaxed);
        Ok((!off).then(|| crate::signature::SigningSecret::new(SIGNING_SECRET)))
    }
}

/// The post queue: keeps what is queued, for a test to hand to the
/// handler as SQS would (`take_as_sqs_event`).
#[derive(Clone, Default)]
pub struct FakeOutbox {
    queued: Arc<Mutex<Vec<crate::ports::QueuedPost>>>,
}

impl FakeOutbox {
    pub fn queued(&self) -> Vec<crate::ports::QueuedPost> {
        self.queued.lock().unwrap().clone()
    }

    /// Everything queued so far, as one SQS event, emptying the queue.
    pub fn take_as_sqs_event(&self) -> Value {
        let posts = std::mem::take(&mut *self.queued.lock().unwrap());
        sqs_event(&posts)
    }
}

/// SQS's event for these posts, one record each.
pub fn sqs_event(posts: &[crate::ports::QueuedPost]) -> Value {
    let records: Vec<Value> = posts
        .iter()
        .enumerate()
        .map(|(i, post)| {
            serde_json::json!({
                "messageId": format!("m{i}"), "receiptHandle": format!("r{i}"),
                "body": serde_json::to_string(post).unwrap(),
                "attributes": {"MessageGroupId": post.message.channel}, "messageAttributes": {},
                "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:posts.fifo",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    serde_json::json!({ "Records": records })
}

#[async_trait]
impl crate::ports::Outbox for FakeOutbox {
    async fn queue(&self, post: &crate::ports::QueuedPost) -> Result<(), crate::ports::OutboxError> {
        self.queued.lock().unwrap().push(post.clone());
        Ok(())
    }
}

/// Shared fake backends. Each `handler()` is a new execution environment:
/// nothing cached, the same store, Slack and logs.
pub struct Fakes {
    pub store: MemoryStore,
    pub schedules: FakeSchedules,
    pub control: FakeControl,
    pub secrets: FakeSecrets,
    pub slack: RecordingSlack,
    pub logs: FakeLogs,
    pub task_definitions: FakeTaskDefinitions,
    pub outbox: FakeOutbox,
    pub deferral: crate::adapters::deferral::InProcessDeferral,
    pub clock: TestClock,
}

impl Fakes {
    /// Call inside a `#[tokio::test(start_paused = true)]`.
    pub fn new() -> Fakes {
        Fakes {
            store: MemoryStore::new(),
            schedules: FakeSchedules::default(),
            control: FakeControl::default(),
            secrets: FakeSecrets::default(),
            slack: RecordingSlack::new(),
            logs: FakeLogs::new(),
            task_definitions: FakeTaskDefinitions::default(),
            outbox: FakeOutbox::default(),
            deferral: Default::default(),
            clock: TestClock::new(),
        }
    }

    pub fn ports(&self) -> Ports {
        Ports {
            store: Box::new(self.store.clone()),
            tasks: Box::new(self.store.clone()),
            jobs: Box::new(self.store.clone()),
            groups: Box::new(self.store.clone()),
            outbox: Some(Box::new(self.outbox.clone())),
            schedules: Box::new(self.schedules.clone()),
            control: Box::new(self.control.clone()),
            deferral: Arc::new(self.deferral.clone()),
            secrets: Arc::new(self.secrets.clone()),
            slack: Box::new(self.slack.clone()),
            logs: Box::new(self.logs.clone()),
            task_definitions: Arc::new(self.task_definitions.clone()),
            clock: Arc::new(self.clock.clone()),
        }
    }

    pub fn handler(&self, settings: Settings) -> Handler {
        Handler::new(settings, self.ports())
    }

    /// The handler with the test settings: channel C0JOBS, environment test.
    pub fn default_handler(&self) -> Handler {
        self.handler(test_settings())
    }

    pub fn deadline(&self) -> Timestamp {
        self.clock.now() + Duration::from_secs(30)
    }
}

pub fn test_settings() -> Settings {
    let mut settings = Settings::new("C0JOBS");
    settings.environment = "test".into();
    settings
}
