//! Recovery: when a job succeeds after failures, its failure messages since
//! the last success (the replies, the start messages showing ❌, a group's
//! message) are edited to say so, linking the run that recovered.

use std::collections::HashSet;
use std::time::Duration;

use tracing::{debug, info, warn};

use super::Tasks;
use crate::health::{self, Run};
use crate::message::Message;
use crate::message::recovery::{RECOVERY_EDITS, message_url, recovered_blocks, recovered_note};
use crate::ports::{FoundTask, Posted};
use crate::time::Timestamp;

/// Kept free before the deadline: an edit is cosmetic, the invocation's
/// answer is not.
const EDIT_RESERVE: Duration = Duration::from_secs(3);

impl Tasks<'_> {
    /// Best effort, after the success is posted: the failures since the
    /// last success (at most `RECOVERY_EDITS`), one edit at a time through
    /// the one Slack client (which waits out Slack's `Retry-After`), while
    /// the deadline allows. Returns how many messages were edited.
    pub(super) async fn resolve(
        &self,
        history: &[&Run],
        success: &Posted,
        at: Timestamp,
        deadline: Timestamp,
    ) -> usize {
        let failed = health::failures_since_success(history, RECOVERY_EDITS);
        if failed.is_empty() {
            return 0;
        }
        let note = recovered_note(at, message_url(&success.channel, &success.ts).as_deref());
        let mut seen = HashSet::new();
        let mut edited = 0;
        for task_id in failed {
            let places = match self.tasks.find(task_id).await {
                Ok(Some(found)) => self.failure_places(&found).await,
                Ok(None) => continue,
                Err(e) => {
                    warn!(task = task_id, error = %e, "a failed run was not found: its messages keep saying it failed");
                    continue;
                }
            };
            for (place, thread) in places {
                if !seen.insert(place.ts.clone()) {
                    continue;
                }
                if self.notices.clock.now().saturating_add(EDIT_RESERVE) > deadline {
                    info!(edited, "recovery edits stopped at the deadline");
                    return edited;
                }
                edited += usize::from(self.mark_recovered(&place, thread.as_deref(), &note, deadline).await);
            }
        }
        info!(edited, "failure messages marked recovered");
        edited
    }

    /// Where a failed run's failure shows, with the thread each is in: its
    /// reply and its start message, or its group's message.
    async fn failure_places(&self, found: &FoundTask) -> Vec<(Posted, Option<String>)> {
        let record = match found.record.group.as_deref().filter(|anchor| *anchor != found.key) {
            Some(anchor) => match self.notices.store.get(anchor).await {
                Ok(record) => record,
                Err(e) => {
                    warn!(error = %e, "a group's record was not read: its message keeps saying it failed");
                    return Vec::new();
                }
            },
            None => found.record.clone(),
        };
        record.failure_places()
    }

    async fn mark_recovered(&self, at: &Posted, thread: Option<&str>, note: &str, deadline: Timestamp) -> bool {
        let message = match self.notices.slack.message_at(at, thread, deadline).await {
            Ok(Some(message)) => message,
            Ok(None) => return false,
            Err(e) => {
                warn!(error = %e, "a failure message was not read: not marked recovered");
                return false;
            }
        };
        let Some(blocks) = recovered_blocks(&message.blocks, note) else {
            debug!(ts = %at.ts, "marked recovered already");
            return false;
        };
        match self.notices.slack.update(at, &Message { blocks, ..message }, deadline).await {
            Ok(_) => true,
            Err(e) => {
                warn!(error = %e, "a failure message was not marked recovered");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests;
