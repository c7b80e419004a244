//! CloudWatch Logs subscription deliveries: a job's lines at or above its
//! threshold, streamed into its task's thread as at most one reply per
//! delivery, at most `stream_logs_max_replies` per task, then one note.

use aws_lambda_events::cloudwatch_logs::LogData;
use serde::Serialize;
use tracing::{Instrument, debug, error, info, info_span};

use crate::claim::Notices;
use crate::error::NotifyError;
use crate::jobs::LogStream;
use crate::log_levels::{self, Threshold};
use crate::message::{self, StreamContext, links};
use crate::ports::{ClaimResult, FoundTask, Posted, Slot, TaskIndex};
use crate::subscription::{self, CONTROL_MESSAGE};
use crate::time::Timestamp;

/// What an invocation did with a delivery; also the Lambda's response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Handled {
    PostedLogLines {
        key: String,
        channel: String,
        ts: String,
        lines: usize,
    },
    /// The reply after the last one allowed: "further lines are in the log stream".
    PostedStreamEnd {
        key: String,
        channel: String,
        ts: String,
    },
    /// This delivery was streamed already, or is being streamed right now.
    Skipped {
        key: String,
        slot: &'static str,
    },
    Ignored {
        reason: String,
    },
}

pub struct LogStreams<'a> {
    pub notices: Notices<'a>,
    pub tasks: &'a dyn TaskIndex,
    /// A muted job's lines are not streamed: its head says.
    pub jobs: &'a dyn crate::ports::JobStore,
    pub settings: &'a crate::settings::Settings,
}

impl LogStreams<'_> {
    pub async fn handle(&self, data: &LogData, deadline: Timestamp) -> Result<Handled, NotifyError> {
        if data.message_type == CONTROL_MESSAGE {
            debug!(group = %data.log_group, "subscription control message");
            return Ok(ignored("a subscription's control message"));
        }
        let Some((task_id, _container)) = subscription::task_of_stream(&data.log_stream) else {
            debug!(group = %data.log_group, stream = %data.log_stream, "not an ECS awslogs stream");
            return Ok(ignored("the stream is not named {prefix}/{container}/{task id}"));
        };
        let span = info_span!("logs", task = task_id, events = data.log_events.len());
        async {
            let result = self.stream(data, task_id, deadline).await;
            match &result {
                Ok(Handled::Ignored { reason }) => debug!(reason, "ignored"),
                Ok(handled) => info!(action = ?handled, "decision"),
                Err(e) => error!(error = %e, "failed"),
            }
            result
        }
        .instrument(span)
        .await
    }

    async fn stream(&self, data: &LogData, task_id: &str, deadline: Timestamp) -> Result<Handled, NotifyError> {
        let Some(task) = self.tasks.find(task_id).await? else {
            return Ok(ignored("no start message was posted for this task"));
        };
        let FoundTask { key, facts, record, .. } = &task;
        if facts.stream_logs == Threshold::Off {
            return Ok(ignored("stream_logs is off for this job"));
        }
        let messages: Vec<&str> = data.log_events.iter().map(|e| e.message.as_str()).collect();
        let lines = log_levels::select(&messages, facts.stream_logs);
        if lines.is_empty() {
            return Ok(Handled::Ignored { reason: format!("no line at {} or above", facts.stream_logs.name()) });
        }
        let Some(thread) = &record.start.posted else {
            if record.start.in_flight(self.notices.clock.now()) {
                // The start message is being posted right now: Lambda's retry
                // of this delivery will find its thread.
                return Err(NotifyError::NotYet("the task's start message is being posted"));
            }
            return Ok(ignored("no start message was posted for this task"));
        };
        // The rule the task fell under says whether it can be muted at all.
        if let Some(spec) = &facts.spec {
            let job = self.settings.jobs.job(&spec.as_task());
            if crate::kinds::mute::mute_now(self.jobs, &job, self.notices.clock.now()).await.is_some() {
                return Ok(ignored("the job is muted"));
            }
        }
        // Event ids are unique: a redelivered batch has the same first one.
        let first_id = data.log_events.first().map_or("", |e| e.id.as_str());
        let batch = format!("logs#{task_id}#{first_id}");
        let claim = self.notices.claim_for(&batch, Slot::Once, deadline);
        if let ClaimResult::Taken(_) = self.notices.claim(&claim).await? {
            return Ok(Handled::Skipped { key: batch, slot: Slot::Once.name() });
        }
        let reply = match self.tasks.count_streamed(key, &batch, 1).await {
            Ok(n) => n,
            Err(e) => return Err(self.notices.released(&claim, e.into()).await),
        };
        let max = i64::from(facts.stream_logs_max_replies);
        if reply > max + 1 {
            self.notices.release(&claim).await;
            return Ok(Handled::Ignored { reason: format!("{max} replies were streamed for this task already") });
        }
        let stream_url = region_of(key).map(|region| {
            links::log_stream_url(region, &LogStream { group: data.log_group.clone(), stream: data.log_stream.clone() })
        });
        let ctx = StreamContext {
            job: &facts.job,
            channel: &thread.channel,
            thread_ts: &thread.ts,
            threshold: facts.stream_logs,
            stream_url: stream_url.as_deref(),
            reply: reply.try_into().unwrap_or(u32::MAX),
            max_replies: facts.stream_logs_max_replies,
        };
        let last = reply > max;
        let message = if last { message::stream_cap_message(&ctx) } else { message::log_lines_message(&ctx, &lines) };
        let posted = match self.notices.post(&claim, &message, deadline).await {
            Ok(posted) => posted,
            Err(e) => {
                // Best effort: the retry counts this reply again.
                let _ = self.tasks.count_streamed(key, &batch, -1).await;
                return Err(e);
            }
        };
        let Posted { channel, ts } = posted;
        Ok(if last {
            Handled::PostedStreamEnd { key: batch, channel, ts }
        } else {
            Handled::PostedLogLines { key: batch, channel, ts, lines: lines.len() }
        })
    }
}

fn ignored(reason: &str) -> Handled {
    Handled::Ignored { reason: reason.to_owned() }
}

/// The region of `task#arn:aws:ecs:REGION:…`.
fn region_of(key: &str) -> Option<&str> {
    key.split(':').nth(3).filter(|r| !r.is_empty())
}

#[cfg(test)]
mod tests;
