//! What the doctor reads of a setup: the deployed stack and its AWS
//! resources, and Slack. Read-only ports; the function crate's
//! `adapters::setup_aws` and `adapters::slack_http` implement them, the
//! doctor (`doctor::reads`) reads through them, and tests use fakes.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;

use crate::ports::{SlackError, SlackToken};
use crate::time::Timestamp;

/// A stack's outputs, and the physical ids of its EventBridge rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackInfo {
    pub outputs: BTreeMap<String, String>,
    pub rules: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionInfo {
    pub name: String,
    pub arn: String,
    pub environment: BTreeMap<String, String>,
}

/// A secret's string value. Never shown: `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(pub Option<String>);

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// `ACTIVE`, `CREATING`, …
    pub status: String,
    pub partition_key: Option<String>,
    /// `ENABLED`, `DISABLED`, `ENABLING`, …
    pub ttl_status: String,
    pub ttl_attribute: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    pub name: String,
    /// `ENABLED`, `DISABLED`, …
    pub state: String,
    /// The ARNs of its targets.
    pub targets: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    pub visible: u64,
    /// Received by someone and not yet deleted.
    pub in_flight: u64,
}

/// Who the token is (`auth.test`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub team: String,
    /// The bot user's name, as `/invite @name` takes it.
    pub user: String,
    pub user_id: String,
}

/// A channel as the bot sees it (`conversations.info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    pub id: String,
    pub name: String,
    pub is_private: bool,
    pub is_archived: bool,
    pub is_member: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The thing read does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The caller's credentials may not read it.
    #[error("access denied: {0}")]
    Denied(String),
    #[error("{0}")]
    Other(String),
}

/// Reads of the deployment's AWS resources, with the operator's
/// credentials. Nothing here writes.
#[async_trait]
pub trait AwsReads: Send + Sync {
    async fn stack(&self, name: &str) -> Result<StackInfo, ReadError>;
    /// A function by name or ARN: its configuration's environment.
    async fn function(&self, name: &str) -> Result<FunctionInfo, ReadError>;
    async fn secret(&self, id: &str) -> Result<SecretValue, ReadError>;
    async fn table(&self, name: &str) -> Result<TableInfo, ReadError>;
    /// A rule by name, or by a stack's physical id (`bus|name` off the
    /// default bus).
    async fn rule(&self, id: &str) -> Result<RuleInfo, ReadError>;
    async fn rules_targeting(&self, arn: &str) -> Result<Vec<String>, ReadError>;
    async fn queue_depth(&self, url: &str) -> Result<QueueDepth, ReadError>;
    /// The sum of the function's `Errors` metric from `since` to `until`.
    async fn function_errors(&self, name: &str, since: Timestamp, until: Timestamp) -> Result<f64, ReadError>;
}

/// Slack's read methods, with one token; never posts.
#[async_trait]
pub trait SlackReads: Send + Sync {
    async fn auth_test(&self, deadline: Timestamp) -> Result<Identity, SlackError>;
    async fn channel(&self, id: &str, deadline: Timestamp) -> Result<ChannelInfo, SlackError>;
}

/// Makes a Slack reader once the doctor has the token and the API's URL.
pub trait SlackConnect: Send + Sync {
    fn connect(&self, api_url: &str, token: SlackToken) -> Result<Box<dyn SlackReads>, SlackError>;
}
