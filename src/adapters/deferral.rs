//! Deferral adapters: the function invokes itself asynchronously (Lambda
//! `Invoke`, `InvocationType` `Event`) with the deferred action; in
//! process, the actions are kept for a test (or a local run) to hand to a
//! handler after the answer.

use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;

use crate::ports::{DeferError, Deferral, Deferred};

/// Invokes `function` (this function: `AWS_LAMBDA_FUNCTION_NAME`) with
/// the action, asynchronously: Lambda queues it and answers 202 at once.
/// The client is built on first use: only a deferral pays for it.
pub struct LambdaDeferral {
    aws: Box<SdkConfig>,
    function: Option<String>,
    client: OnceLock<aws_sdk_lambda::Client>,
}

impl LambdaDeferral {
    pub fn new(aws: &SdkConfig, function: Option<String>) -> Self {
        LambdaDeferral { aws: Box::new(aws.clone()), function, client: OnceLock::new() }
    }
}

#[async_trait]
impl Deferral for LambdaDeferral {
    /// In Lambda, `AWS_LAMBDA_FUNCTION_NAME` is always set.
    fn available(&self) -> bool {
        self.function.is_some()
    }

    async fn defer(&self, action: &Deferred) -> Result<(), DeferError> {
        let function = self
            .function
            .as_deref()
            .ok_or_else(|| DeferError("no function to defer to (AWS_LAMBDA_FUNCTION_NAME)".into()))?;
        let client = self.client.get_or_init(|| aws_sdk_lambda::Client::new(&self.aws));
        let payload = serde_json::to_vec(&action.payload()).map_err(|e| DeferError(e.to_string()))?;
        client
            .invoke()
            .function_name(function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|e| DeferError(format!("Lambda Invoke: {}", crate::adapters::aws_error::describe(&e))))?;
        Ok(())
    }
}

/// Keeps deferred actions in process: `take` hands them over, as Lambda
/// would deliver them to a new invocation.
#[derive(Clone, Default)]
pub struct InProcessDeferral {
    queued: Arc<Mutex<Vec<Deferred>>>,
    fail: Arc<Mutex<Option<String>>>,
}

impl InProcessDeferral {
    /// The actions deferred so far, as the payloads an invocation gets.
    pub fn take(&self) -> Vec<serde_json::Value> {
        std::mem::take(&mut *self.queued.lock().unwrap_or_else(|e| e.into_inner()))
            .iter()
            .map(Deferred::payload)
            .collect()
    }

    pub fn len(&self) -> usize {
        self.queued.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The next deferral fails with `error`.
    pub fn fail_next(&self, error: &str) {
        *self.fail.lock().unwrap_or_else(|e| e.into_inner()) = Some(error.to_owned());
    }
}

#[async_trait]
impl Deferral for InProcessDeferral {
    async fn defer(&self, action: &Deferred) -> Result<(), DeferError> {
        if let Some(error) = self.fail.lock().unwrap_or_else(|e| e.into_inner()).take() {
            return Err(DeferError(error));
        }
        self.queued.lock().unwrap_or_else(|e| e.into_inner()).push(action.clone());
        Ok(())
    }
}

/// No deferral: for local runs and the replay.
pub struct NoDeferral;

#[async_trait]
impl Deferral for NoDeferral {
    fn available(&self) -> bool {
        false
    }

    async fn defer(&self, _action: &Deferred) -> Result<(), DeferError> {
        Err(DeferError("nothing can be finished after the answer here".into()))
    }
}
