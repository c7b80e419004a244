//! The notifier's ports: where it keeps thread state and job history, how
//! it posts to Slack, where the Slack token, job logs, task definitions and
//! schedules come from, and what time it is. Adapters live in `adapters`; [`Ports`]
//! bundles one of each.
//!
//! Ports are trait objects: a new port is one field of [`Ports`], not a type
//! parameter on everything, and a caller can mix adapters (the replay keeps
//! threads in memory or in DynamoDB). Each call is a network round trip, so
//! the cost of a boxed future is nothing next to it.

mod clock;
mod deferral;
mod error;
mod groups;
mod history;
mod logs;
mod outbox;
mod schedules;
pub mod setup;
mod slack;
mod store;
mod task_control;
mod task_definitions;

use std::sync::Arc;

pub use clock::Clock;
pub use deferral::{DEFERRED_KEY, DeferError, Deferral, Deferred, HeldClaim};
pub use error::{StoreError, StoreErrorKind};
pub use groups::{GroupChange, GroupStore, TurnEnd, TurnTimes};
pub use history::{Acknowledged, HISTORY_RUNS, JobRun, JobStart, JobState, JobStore};
pub use logs::{LogError, LogSource, LogTail};
pub use outbox::{Outbox, OutboxError, QueuedPost};
pub use schedules::{Discovery, EcsTarget, FoundSchedule, Listed, ScheduleError, Schedules};
pub use slack::{SlackError, SlackPoster, SlackToken, TokenError, TokenSource};
pub use store::{
    ANSWERED, Claim, ClaimResult, FoundTask, Posted, Record, Slot, SlotState, StartClaim, TaskFacts, TaskIndex,
    ThreadStore,
};
pub use task_control::{ControlError, TaskControl};
pub use task_definitions::{AwsLogs, ContainerDefinition, TaskDefinition, TaskDefinitionError, TaskDefinitions};

/// One adapter for each port. `app` builds the Lambda's (DynamoDB, Slack
/// over HTTPS, CloudWatch Logs, EventBridge) and the local one (memory,
/// console, files).
pub struct Ports {
    pub store: Box<dyn ThreadStore>,
    pub tasks: Box<dyn TaskIndex>,
    pub jobs: Box<dyn JobStore>,
    pub groups: Box<dyn GroupStore>,
    /// The post queue, when there is one: without it, posts a burst would
    /// queue are made at once.
    pub outbox: Option<Box<dyn Outbox>>,
    pub slack: Box<dyn SlackPoster>,
    pub logs: Box<dyn LogSource>,
    /// Task definitions, read once per revision: which containers are
    /// essential (and, for `logs`, where they log). Shared with the log
    /// source, so one read serves both.
    pub task_definitions: Arc<dyn TaskDefinitions>,
    pub schedules: Box<dyn Schedules>,
    pub control: Box<dyn TaskControl>,
    /// Where what a Slack request cannot finish in time goes.
    pub deferral: Arc<dyn Deferral>,
    /// The Slack secrets: the bot token (the Slack client reads it too) and
    /// the signing secret that requests from Slack are checked with.
    pub secrets: Arc<dyn TokenSource>,
    pub clock: Arc<dyn Clock>,
}
