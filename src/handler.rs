//! The handler: routes each payload to its kind (`input`) and hands it to
//! that kind's module with the ports it needs.

use serde::Serialize;
use serde_json::Value;
use tracing::{Instrument, debug, info_span, warn};

use crate::adapters::retrying::{self, Retrying};
use crate::claim::Notices;
use crate::error::NotifyError;
use crate::event::{EventKind, Incoming};
use crate::input::{self, Input, InputError};
use crate::kinds::logs::{self, LogStreams};
use crate::kinds::queued::{BatchResponse, QueuedPosts};
use crate::kinds::registration::{self, Registrations};
use crate::kinds::slack_request::{Finished, HttpResponse, SlackRequests};
use crate::kinds::task::{self, Tasks};
use crate::kinds::watch::{Watch, Watched};
use crate::ports::Ports;
use crate::settings::Settings;
use crate::time::Timestamp;

/// What an invocation did: the kind's own outcome, which is also the
/// Lambda's response body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Handled {
    Task(task::Handled),
    Registration(registration::Handled),
    Logs(logs::Handled),
    Watched(Watched),
    /// The answer to a Function URL request.
    Http(HttpResponse),
    /// A deferred Slack action, finished.
    Deferred(Finished),
    /// The post queue's messages to hand back.
    Queue(BatchResponse),
    Ignored(Ignored),
}

/// An EventBridge event this notifier has no message for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename = "ignored")]
pub struct Ignored {
    pub reason: String,
}

pub struct Handler {
    settings: Settings,
    ports: Ports,
}

impl Handler {
    /// The store ports go behind the one retry policy here, whatever
    /// their adapters: every kind's store calls retry what heals.
    pub fn new(settings: Settings, mut ports: Ports) -> Self {
        let clock = ports.clock.clone();
        ports.store = Box::new(Retrying::new(ports.store, clock.clone()));
        ports.tasks = Box::new(Retrying::new(ports.tasks, clock.clone()));
        ports.jobs = Box::new(Retrying::new(ports.jobs, clock.clone()));
        ports.groups = Box::new(Retrying::new(ports.groups, clock));
        Handler { settings, ports }
    }

    /// Handles one Lambda payload. `deadline` is the invocation's deadline:
    /// store calls retry until shortly before it.
    pub async fn handle(&self, payload: Value, deadline: Timestamp) -> Result<Handled, NotifyError> {
        retrying::within(deadline, self.route(payload, deadline)).await
    }

    async fn route(&self, payload: Value, deadline: Timestamp) -> Result<Handled, NotifyError> {
        // A rejected payload is the invocation's error, logged once by who
        // is handed it (the Lambda runtime, the replay): not here too.
        let input = input::route(payload)?;
        let role = self.settings.role;
        if input.is_slack() && !role.takes_slack() || !input.is_slack() && !role.takes_events() {
            let takes = if role.takes_slack() {
                "Slack's requests (its Function URL) and its own deferred actions"
            } else {
                "EventBridge events, log deliveries and post queue messages"
            };
            return Err(InputError::WrongFunction { kind: input.kind(), role: role.name(), takes }.into());
        }
        match input {
            Input::Event(event) => self.event(event, deadline).instrument(span("event")).await,
            Input::Logs(data) => self.logs().handle(&data, deadline).instrument(span("logs")).await.map(Handled::Logs),
            Input::FunctionUrl(request) => Ok(Handled::Http(self.slack_requests().handle(&request, deadline).await)),
            Input::Deferred(action) => {
                let done = self.slack_requests().finish(&action, deadline).instrument(span("deferred")).await;
                Ok(Handled::Deferred(done))
            }
            Input::Queue(event) => {
                let queued = QueuedPosts { notices: self.notices() };
                Ok(Handled::Queue(queued.handle(&event, deadline).instrument(span("queue")).await))
            }
        }
    }

    async fn event(&self, event: Incoming, deadline: Timestamp) -> Result<Handled, NotifyError> {
        match &event.kind {
            EventKind::EcsTask(task) => self.tasks().handle(task, deadline).await.map(Handled::Task),
            EventKind::UserRegistered(reg) => {
                let registrations = Registrations { settings: &self.settings, notices: self.notices() };
                registrations.handle(reg, event.time, event.id.as_deref(), deadline).await.map(Handled::Registration)
            }
            EventKind::Scheduled => self.watch().handle(self.now(&event), deadline).await.map(Handled::Watched),
            EventKind::Unhandled => {
                debug!(detail_type = %event.detail_type, source = %event.source, "ignored: no message for this detail-type");
                Ok(Handled::Ignored(Ignored { reason: format!("no message for detail-type {:?}", event.detail_type) }))
            }
        }
    }

    fn tasks(&self) -> Tasks<'_> {
        let ports = &self.ports;
        Tasks {
            settings: &self.settings,
            notices: self.notices(),
            logs: &*ports.logs,
            jobs: &*ports.jobs,
            groups: &*ports.groups,
            outbox: ports.outbox.as_deref(),
            secrets: &*ports.secrets,
            definitions: &*ports.task_definitions,
            tasks: &*ports.tasks,
        }
    }

    fn slack_requests(&self) -> SlackRequests<'_> {
        let ports = &self.ports;
        SlackRequests {
            settings: &self.settings,
            notices: self.notices(),
            secrets: &*ports.secrets,
            tasks: &*ports.tasks,
            jobs: &*ports.jobs,
            schedules: &*ports.schedules,
            control: &*ports.control,
            deferral: &*ports.deferral,
            clock: &*ports.clock,
        }
    }

    fn watch(&self) -> Watch<'_> {
        let ports = &self.ports;
        Watch {
            settings: &self.settings,
            notices: self.notices(),
            jobs: &*ports.jobs,
            tasks: &*ports.tasks,
            schedules: &*ports.schedules,
            secrets: &*ports.secrets,
        }
    }

    /// The event's time: what "now" is for the watch, so that replays are
    /// deterministic.
    fn now(&self, event: &Incoming) -> Timestamp {
        event.time.unwrap_or_else(|| {
            warn!("scheduled event without a time: using the clock's");
            self.ports.clock.now()
        })
    }

    fn logs(&self) -> LogStreams<'_> {
        LogStreams {
            notices: self.notices(),
            tasks: &*self.ports.tasks,
            jobs: &*self.ports.jobs,
            settings: &self.settings,
        }
    }

    fn notices(&self) -> Notices<'_> {
        Notices {
            store: &*self.ports.store,
            slack: &*self.ports.slack,
            clock: &*self.ports.clock,
            record_ttl: self.settings.record_ttl,
        }
    }
}

fn span(kind: &'static str) -> tracing::Span {
    info_span!("invocation", kind)
}
