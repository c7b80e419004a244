//! Task definitions from ECS (`DescribeTaskDefinition`), each revision read
//! once and kept for the life of the execution environment: a revision
//! never changes. One read serves both the essential flags and the log
//! settings (`cloudwatch_logs` reads through this).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_config::SdkConfig;

use crate::ports::{AwsLogs, ContainerDefinition, TaskDefinition, TaskDefinitionError, TaskDefinitions};

/// A failed read is not tried again for this long: without the
/// permission, every event would otherwise pay for a refused call.
const RETRY_AFTER: Duration = Duration::from_secs(60);

pub struct EcsTaskDefinitions {
    aws: Box<SdkConfig>,
    /// Built on first use: single-container tasks never need it.
    client: OnceLock<aws_sdk_ecs::Client>,
    read: Mutex<HashMap<String, Arc<TaskDefinition>>>,
    failed: Mutex<HashMap<String, (Instant, TaskDefinitionError)>>,
    /// `DescribeTaskDefinition` calls made.
    calls: AtomicUsize,
}

impl EcsTaskDefinitions {
    pub fn new(aws: &SdkConfig) -> Self {
        EcsTaskDefinitions {
            aws: Box::new(aws.clone()),
            client: OnceLock::new(),
            read: Mutex::default(),
            failed: Mutex::default(),
            calls: AtomicUsize::new(0),
        }
    }

    /// How many `DescribeTaskDefinition` calls it made.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    fn client(&self) -> &aws_sdk_ecs::Client {
        self.client.get_or_init(|| aws_sdk_ecs::Client::new(&self.aws))
    }

    async fn describe(&self, arn: &str) -> Result<TaskDefinition, TaskDefinitionError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let out = self.client().describe_task_definition().task_definition(arn).send().await.map_err(|e| {
            TaskDefinitionError(format!("ECS DescribeTaskDefinition: {}", crate::adapters::aws_error::describe(&e)))
        })?;
        let containers = out.task_definition().map(|d| d.container_definitions()).unwrap_or_default();
        Ok(TaskDefinition {
            containers: containers
                .iter()
                .map(|c| ContainerDefinition {
                    name: c.name().unwrap_or_default().to_owned(),
                    // ECS's default: a container is essential unless it says not.
                    essential: c.essential().unwrap_or(true),
                    awslogs: c.log_configuration().and_then(|config| {
                        if config.log_driver().as_str() != "awslogs" {
                            return None;
                        }
                        let options = config.options()?;
                        Some(AwsLogs {
                            group: options.get("awslogs-group")?.clone(),
                            stream_prefix: options.get("awslogs-stream-prefix")?.clone(),
                        })
                    }),
                })
                .collect(),
        })
    }
}

#[async_trait]
impl TaskDefinitions for EcsTaskDefinitions {
    async fn definition(&self, arn: &str) -> Result<Option<Arc<TaskDefinition>>, TaskDefinitionError> {
        let poisoned = || TaskDefinitionError("task definition cache poisoned".into());
        if let Some(known) = self.read.lock().map_err(|_| poisoned())?.get(arn) {
            return Ok(Some(known.clone()));
        }
        if let Some((at, error)) = self.failed.lock().map_err(|_| poisoned())?.get(arn) {
            if at.elapsed() < RETRY_AFTER {
                return Err(error.clone());
            }
        }
        match self.describe(arn).await {
            Ok(definition) => {
                let definition = Arc::new(definition);
                self.read.lock().map_err(|_| poisoned())?.insert(arn.to_owned(), definition.clone());
                self.failed.lock().map_err(|_| poisoned())?.remove(arn);
                Ok(Some(definition))
            }
            Err(error) => {
                self.failed.lock().map_err(|_| poisoned())?.insert(arn.to_owned(), (Instant::now(), error.clone()));
                Err(error)
            }
        }
    }
}

/// No task definitions: local runs, where essential containers come from
/// `NON_ESSENTIAL_CONTAINERS` alone.
pub struct NoTaskDefinitions;

#[async_trait]
impl TaskDefinitions for NoTaskDefinitions {
    async fn definition(&self, _arn: &str) -> Result<Option<Arc<TaskDefinition>>, TaskDefinitionError> {
        Ok(None)
    }
}
