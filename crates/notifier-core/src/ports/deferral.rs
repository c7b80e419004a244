//! Finishing a Slack request after its answer: what Slack gives 3 seconds
//! for and cannot be done in them is acknowledged, claimed, and handed
//! here, verified and parsed, to be done by another invocation.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

use super::store::{Claim, Slot};

/// The key a deferred action's payload has: how `input` knows one.
pub const DEFERRED_KEY: &str = "deferred_slack_action";

/// A claim taken before the acknowledgement, carried to the invocation
/// that finishes the action: it settles or releases it as its own. Its
/// lease outlasts the deferred invocation. Its times are epoch seconds,
/// as the payload has always carried them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldClaim {
    pub key: String,
    pub token: String,
    pub lease_until: i64,
    pub expires_at: i64,
}

impl HeldClaim {
    pub fn of(claim: &Claim) -> HeldClaim {
        HeldClaim {
            key: claim.key.clone(),
            token: claim.token.clone(),
            lease_until: claim.lease_until.secs(),
            expires_at: claim.expires_at.secs(),
        }
    }

    /// The claim again, as its owner: a claim with its own token finds its
    /// own write and holds, unless the action was done already.
    pub fn claim(&self, now: Timestamp) -> Claim {
        Claim {
            key: self.key.clone(),
            slot: Slot::Once,
            token: self.token.clone(),
            now,
            lease_until: Timestamp::from_secs(self.lease_until),
            expires_at: Timestamp::from_secs(self.expires_at),
            facts: None,
            job_start: None,
            run: None,
            earlier: Default::default(),
        }
    }
}

/// A Slack request's action, verified (its signature), parsed and claimed:
/// what is left to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Deferred {
    /// Stop (a button, or `/jobs stop`).
    Stop {
        task_arn: String,
        user: String,
        response_url: Option<String>,
        /// `/jobs stop`: the answer goes to the command's `response_url`.
        command: bool,
        claim: HeldClaim,
    },
    /// Re-run (a button).
    Rerun { task_arn: String, user: String, response_url: Option<String>, claim: HeldClaim },
    /// "👀 I'm on it" (a button): its stamps on the failure's messages.
    Ack { task_arn: String, user: String, response_url: Option<String>, claim: HeldClaim },
    /// `/jobs run <job>`.
    Run { job: String, user: String, channel: String, trigger: String, response_url: Option<String>, claim: HeldClaim },
}

impl Deferred {
    pub fn name(&self) -> &'static str {
        match self {
            Deferred::Stop { .. } => "stop",
            Deferred::Rerun { .. } => "rerun",
            Deferred::Ack { .. } => "ack",
            Deferred::Run { .. } => "run",
        }
    }

    /// The Lambda payload that carries it.
    pub fn payload(&self) -> serde_json::Value {
        serde_json::json!({ DEFERRED_KEY: self })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DeferError(pub String);

#[async_trait]
pub trait Deferral: Send + Sync {
    /// Whether actions can be handed over here at all. Without, a request's
    /// action is done before its answer, however long it takes (a local
    /// run, a test without a function to invoke).
    fn available(&self) -> bool {
        true
    }

    /// Hands the action to another invocation, which starts after this
    /// one has answered. Returns once it is handed over (not done).
    async fn defer(&self, action: &Deferred) -> Result<(), DeferError>;
}
