//! Which of a task's containers decide its outcome: its task definition's
//! essential containers, read once per revision, with
//! `NON_ESSENTIAL_CONTAINERS` on top (and alone when the definition cannot
//! be read).

use tracing::warn;

use super::{LOG_READ_RESERVE, Tasks};
use crate::event::EcsTask;
use crate::jobs::Job;
use crate::lifecycle::{self, Decision};
use crate::time::Timestamp;

impl Tasks<'_> {
    /// The task with its essential containers from its task definition,
    /// when that matters and can be read within the read budget: a task of
    /// one container needs none, nor one that posts and records nothing.
    pub(super) async fn with_definition(&self, task: &EcsTask, job: &Job, deadline: Timestamp) -> EcsTask {
        let Some(arn) = task.task_definition_arn.as_deref().filter(|_| task.containers.len() > 1) else {
            return task.clone();
        };
        let non_essential = &self.settings.non_essential_containers;
        let include_services = self.settings.jobs.include_services;
        let needed = match lifecycle::decide(task, non_essential) {
            // How it ended, for its message or for its history alone.
            Decision::Finish(_) => self.has_history(job),
            // Its start message shows its main container.
            Decision::Start => {
                matches!(lifecycle::apply_policy(Decision::Start, job, include_services), Decision::Start)
            }
            Decision::Stopping(_) | Decision::Ignore(_) => false,
        };
        if !needed {
            return task.clone();
        }
        let left = deadline.duration_since(self.notices.clock.now()).saturating_sub(LOG_READ_RESERVE);
        let budget = self.settings.log_budget.min(left);
        let definition = match tokio::time::timeout(budget, self.definitions.definition(arn)).await {
            Ok(Ok(Some(definition))) => definition,
            Ok(Ok(None)) => return task.clone(),
            Ok(Err(e)) => {
                warn!(error = %e, "task definition not read: NON_ESSENTIAL_CONTAINERS alone says which containers are sidecars");
                return task.clone();
            }
            Err(_) => {
                warn!(
                    budget_ms = budget.as_millis() as u64,
                    "task definition not read in time: NON_ESSENTIAL_CONTAINERS alone says which containers are sidecars"
                );
                return task.clone();
            }
        };
        let mut known = task.clone();
        known.essential_containers = Some(definition.essential());
        lifecycle::with_overrides(&known, non_essential)
    }
}
