//! The one claim protocol, used by every kind that posts: claim the notice,
//! post it once, then settle (record where it landed) or release (so the
//! event's retry can post). The rules of a claim are the store's
//! (`ports::ThreadStore`); this module is the order of the steps.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tracing::{error, info, warn};

use crate::error::NotifyError;
use crate::message::Message;
use crate::ports::{Claim, ClaimResult, Clock, Posted, Record, SlackPoster, Slot, StartClaim, StoreError, ThreadStore};
use crate::time::Timestamp;

pub use crate::ports::ANSWERED;

/// How long a claim outlives the invocation's deadline: a clock-skew margin.
const LEASE_MARGIN: Duration = Duration::from_secs(10);

/// The ports a claimed post needs, and how long its record is kept.
#[derive(Clone, Copy)]
pub struct Notices<'a> {
    pub store: &'a dyn ThreadStore,
    pub slack: &'a dyn SlackPoster,
    pub clock: &'a dyn Clock,
    pub record_ttl: Duration,
}

impl Notices<'_> {
    /// A claim on `key`'s `slot` for this attempt, held until shortly after
    /// the invocation's deadline.
    pub fn claim_for(&self, key: &str, slot: Slot, deadline: Timestamp) -> Claim {
        let now = self.clock.now();
        Claim {
            key: key.to_owned(),
            slot,
            token: claim_token(now),
            now,
            lease_until: deadline.max(now) + LEASE_MARGIN,
            expires_at: now + self.record_ttl,
            facts: None,
            job_start: None,
            run: None,
            earlier: Default::default(),
        }
    }

    pub async fn claim(&self, claim: &Claim) -> Result<ClaimResult, StoreError> {
        let result = self.store.claim(claim).await?;
        if let ClaimResult::Claimed(record) = &result {
            note_earlier(claim, record);
        }
        Ok(result)
    }

    /// A start claim that may open or join its job's group.
    pub async fn claim_start(&self, claim: &Claim, burst: &crate::group::Grouping) -> Result<StartClaim, StoreError> {
        let result = self.store.claim_start(claim, burst).await?;
        if let StartClaim::Claimed(record) = &result {
            note_earlier(claim, record);
        }
        Ok(result)
    }

    /// An earlier attempt that claimed this notice and never recorded it
    /// may have posted it (the post went out, the record failed; or Slack
    /// took a post whose answer was lost): look for its message, by its
    /// mark, before posting another. `None`: post.
    async fn earlier_post(&self, claim: &Claim, message: &Message, deadline: Timestamp) -> Option<Posted> {
        let since = claim.earlier()?;
        let mark = crate::message::NoticeMark { key: claim.key.clone(), slot: claim.slot.name().into() };
        // Slack's clock and ours differ a little; a minute covers it.
        let oldest = since - Duration::from_secs(60);
        match self.slack.find_posted(&message.channel, message.thread_ts.as_deref(), &mark, oldest, deadline).await {
            Ok(found) => found,
            Err(e) => {
                warn!(key = %claim.key, error = %e, "could not look for an earlier attempt's message; posting");
                None
            }
        }
    }

    /// Posts under a held claim: on failure the claim is released so the
    /// event's retry can post; on success it is settled.
    pub async fn post(&self, claim: &Claim, message: &Message, deadline: Timestamp) -> Result<Posted, NotifyError> {
        if let Some(found) = self.earlier_post(claim, message, deadline).await {
            info!(key = %claim.key, slot = claim.slot.name(), "found the message an earlier attempt posted; not posting again");
            if let Err(e) = self.store.settle(claim, &found).await {
                error!(key = %claim.key, error = %e, "found the earlier message but could not record it");
            }
            return Ok(found);
        }
        let message = message.marked(&claim.key, claim.slot.name());
        let posted = match self.slack.post(&message, deadline).await {
            Ok(posted) => posted,
            Err(e) => return Err(self.released(claim, e.into()).await),
        };
        // The message is out. Failing now would make the retry post it
        // again, so a lost write is logged, not returned.
        if let Err(e) = self.store.settle(claim, &posted).await {
            error!(key = %claim.key, slot = claim.slot.name(), error = %e, "posted but could not record it; a redelivery may post again");
        }
        Ok(posted)
    }

    /// Marks a claimed action done when what it did was not a post (an
    /// answer to a slash command): it is done once all the same.
    pub async fn done(&self, claim: &Claim, channel: &str) {
        let answered = Posted { channel: channel.to_owned(), ts: ANSWERED.to_owned() };
        if let Err(e) = self.store.settle(claim, &answered).await {
            error!(key = %claim.key, error = %e, "done but could not record it; a repeat may do it again");
        }
    }

    /// Releases the claim and hands back `cause`, for `return Err(…)`.
    pub async fn released(&self, claim: &Claim, cause: NotifyError) -> NotifyError {
        self.release(claim).await;
        cause
    }

    /// Best effort: a claim that cannot be released lapses with its lease.
    pub async fn release(&self, claim: &Claim) {
        if let Err(e) = self.store.release(claim).await {
            warn!(key = %claim.key, error = %e, "could not release claim; it lapses with its lease");
        }
    }
}

fn note_earlier(claim: &Claim, record: &Record) {
    if let Some(earlier) = record.slot(claim.slot).earlier {
        claim.earlier.store(earlier.millis().max(1), Ordering::Relaxed);
    }
}

/// Unique per attempt across execution environments: a per-process random
/// value (std's hasher seed), the time and a counter.
fn claim_token(now: Timestamp) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static PROCESS: OnceLock<u64> = OnceLock::new();
    let process = PROCESS.get_or_init(|| RandomState::new().build_hasher().finish());
    let nanos = u64::try_from(now.millis()).unwrap_or(0).saturating_mul(1_000_000);
    format!("{process:016x}-{nanos:x}-{:x}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryStore;
    use crate::testing::{RecordingSlack, TestClock, message_to};

    fn notices<'a>(store: &'a MemoryStore, slack: &'a RecordingSlack, clock: &'a TestClock) -> Notices<'a> {
        Notices { store, slack, clock, record_ttl: Duration::from_secs(86400) }
    }

    #[tokio::test(start_paused = true)]
    async fn a_claim_is_a_lease_past_the_deadline_with_a_unique_token() {
        let (store, slack, clock) = (MemoryStore::new(), RecordingSlack::new(), TestClock::new());
        let n = notices(&store, &slack, &clock);
        let deadline = clock.now() + Duration::from_secs(30);
        let (a, b) = (n.claim_for("k", Slot::Once, deadline), n.claim_for("k", Slot::Once, deadline));
        assert_ne!(a.token, b.token);
        assert_eq!(a.lease_until, deadline + LEASE_MARGIN);
        assert_eq!(a.expires_at, clock.now() + Duration::from_secs(86400));
        let past = n.claim_for("k", Slot::Once, clock.now() - Duration::from_secs(60));
        assert_eq!(past.lease_until, clock.now() + LEASE_MARGIN, "never before now");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_post_releases_so_the_retry_posts_and_a_good_one_settles() {
        let (store, slack, clock) = (MemoryStore::new(), RecordingSlack::new(), TestClock::new());
        let n = notices(&store, &slack, &clock);
        let deadline = clock.now() + Duration::from_secs(30);
        let claim = n.claim_for("k", Slot::Once, deadline);
        assert!(matches!(n.claim(&claim).await.unwrap(), ClaimResult::Claimed(_)));
        slack.fail_next(crate::ports::SlackError::Api("channel_not_found".into()));
        let err = n.post(&claim, &message_to("C1"), deadline).await.unwrap_err();
        assert_eq!(err.to_string(), "Slack API error: channel_not_found");
        assert_eq!(store.get("k").await.unwrap().once.claimed_until, None, "released");

        let retry = n.claim_for("k", Slot::Once, deadline);
        assert!(matches!(n.claim(&retry).await.unwrap(), ClaimResult::Claimed(_)));
        let posted = n.post(&retry, &message_to("C1"), deadline).await.unwrap();
        assert_eq!(store.get("k").await.unwrap().once.posted, Some(posted));
        let again = n.claim_for("k", Slot::Once, deadline);
        assert!(matches!(n.claim(&again).await.unwrap(), ClaimResult::Taken(_)), "settled: posted once");
        assert_eq!(slack.posted().len(), 1);
    }
}
