//! Starting and stopping ECS tasks (`RunTask`, `StopTask`) for job control
//! from Slack. The client is built on first use: only Slack's requests
//! need it, never the notices.

use std::sync::OnceLock;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, CapacityProviderStrategyItem, ContainerOverride, KeyValuePair, LaunchType,
    NetworkConfiguration, TaskOverride,
};

use crate::event::Overrides;
use crate::job_control::RunRequest;
use crate::ports::{ControlError, TaskControl};

pub struct EcsControl {
    aws: Box<SdkConfig>,
    client: OnceLock<aws_sdk_ecs::Client>,
}

impl EcsControl {
    pub fn new(aws: &SdkConfig) -> Self {
        EcsControl { aws: Box::new(aws.clone()), client: OnceLock::new() }
    }

    fn client(&self) -> &aws_sdk_ecs::Client {
        self.client.get_or_init(|| aws_sdk_ecs::Client::new(&self.aws))
    }
}

fn overrides(overrides: &Overrides) -> Result<TaskOverride, ControlError> {
    let containers = overrides
        .container_overrides
        .iter()
        .map(|c| {
            let mut container = ContainerOverride::builder().name(&c.name).set_command(c.command.clone());
            for kv in &c.environment {
                container = container.environment(KeyValuePair::builder().name(&kv.name).value(&kv.value).build());
            }
            let int = |v: Option<i64>| v.and_then(|v| i32::try_from(v).ok());
            container.set_cpu(int(c.cpu)).set_memory(int(c.memory)).build()
        })
        .collect();
    Ok(TaskOverride::builder()
        .set_container_overrides(Some(containers))
        .set_cpu(overrides.cpu.clone())
        .set_memory(overrides.memory.clone())
        .build())
}

#[async_trait]
impl TaskControl for EcsControl {
    async fn run_task(&self, request: &RunRequest) -> Result<String, ControlError> {
        let mut run = self
            .client()
            .run_task()
            .cluster(&request.cluster)
            .task_definition(&request.task_definition)
            .count(1)
            .started_by(&request.started_by)
            .client_token(&request.client_token)
            .set_platform_version(request.platform_version.clone())
            .set_group(request.group.clone())
            .set_launch_type(request.launch_type.as_deref().map(LaunchType::from));
        for provider in &request.capacity_providers {
            run = run.capacity_provider_strategy(
                CapacityProviderStrategyItem::builder()
                    .capacity_provider(provider)
                    .weight(1)
                    .build()
                    .map_err(|e| ControlError(e.to_string()))?,
            );
        }
        if let Some(o) = &request.overrides {
            run = run.overrides(overrides(o)?);
        }
        if let Some(network) = &request.network {
            let vpc = AwsVpcConfiguration::builder()
                .set_subnets(Some(network.subnets.clone()))
                .set_security_groups((!network.security_groups.is_empty()).then(|| network.security_groups.clone()))
                .set_assign_public_ip(
                    network
                        .assign_public_ip
                        .map(|on| if on { AssignPublicIp::Enabled } else { AssignPublicIp::Disabled }),
                )
                .build()
                .map_err(|e| ControlError(e.to_string()))?;
            run = run.network_configuration(NetworkConfiguration::builder().awsvpc_configuration(vpc).build());
        }
        let out = run
            .send()
            .await
            .map_err(|e| ControlError(format!("ECS RunTask: {}", crate::adapters::aws_error::describe(&e))))?;
        if let Some(task) = out.tasks().first().and_then(|t| t.task_arn()) {
            return Ok(task.to_owned());
        }
        let why: Vec<String> = out
            .failures()
            .iter()
            .map(|f| format!("{} ({})", f.reason().unwrap_or("unknown"), f.detail().unwrap_or_default()))
            .collect();
        Err(ControlError(format!("ECS RunTask started nothing: {}", why.join("; "))))
    }

    async fn stop_task(&self, cluster: &str, task: &str, reason: &str) -> Result<(), ControlError> {
        self.client()
            .stop_task()
            .cluster(cluster)
            .task(task)
            .reason(reason.chars().take(255).collect::<String>())
            .send()
            .await
            .map_err(|e| ControlError(format!("ECS StopTask: {}", crate::adapters::aws_error::describe(&e))))?;
        Ok(())
    }
}

/// No job control: for local runs.
pub struct NoControl;

#[async_trait]
impl TaskControl for NoControl {
    async fn run_task(&self, _request: &RunRequest) -> Result<String, ControlError> {
        Err(ControlError("job control is not available here".into()))
    }

    async fn stop_task(&self, _cluster: &str, _task: &str, _reason: &str) -> Result<(), ControlError> {
        Err(ControlError("job control is not available here".into()))
    }
}
