//! New-user sign-ups: one message per user in the users channel, however
//! often the app or EventBridge delivers the event.

use serde::Serialize;
use tracing::{error, info};

use crate::claim::Notices;
use crate::error::NotifyError;
use crate::event::Registration;
use crate::message;
use crate::ports::{ClaimResult, Slot};
use crate::settings::Settings;
use crate::time::Timestamp;

/// What an invocation did with a sign-up; also the Lambda's response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Handled {
    PostedRegistration {
        key: String,
        channel: String,
        ts: String,
    },
    /// This user was announced already, or is being announced right now.
    Skipped {
        key: String,
        slot: &'static str,
    },
}

pub struct Registrations<'a> {
    pub settings: &'a Settings,
    pub notices: Notices<'a>,
}

impl Registrations<'_> {
    /// `time` is the event's; the log line names the user id, never the email.
    pub async fn handle(
        &self,
        reg: &Registration,
        time: Option<Timestamp>,
        event_id: Option<&str>,
        deadline: Timestamp,
    ) -> Result<Handled, NotifyError> {
        let result = self.announce(reg, time, deadline).await;
        match &result {
            Ok(handled) => info!(event_id, user = %reg.user_id, action = ?handled, "decision"),
            Err(e) => error!(event_id, user = %reg.user_id, error = %e, "failed"),
        }
        result
    }

    async fn announce(
        &self,
        reg: &Registration,
        time: Option<Timestamp>,
        deadline: Timestamp,
    ) -> Result<Handled, NotifyError> {
        // Keyed on the user, not the event id: an app that retries PutEvents
        // sends a new event id for the same sign-up.
        let key = format!("registration#{}", reg.user_id);
        let claim = self.notices.claim_for(&key, Slot::Once, deadline);
        if let ClaimResult::Taken(_) = self.notices.claim(&claim).await? {
            return Ok(Handled::Skipped { key, slot: Slot::Once.name() });
        }
        let channel = self.settings.users_channel();
        let message = message::labelled(
            self.settings.label(),
            message::registration_message(reg, time, &self.settings.environment, channel),
        );
        let posted = self.notices.post(&claim, &message, deadline).await?;
        Ok(Handled::PostedRegistration { key, channel: posted.channel, ts: posted.ts })
    }
}

#[cfg(test)]
mod tests;
