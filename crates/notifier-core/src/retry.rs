//! When to try a Slack call again, and after how long, within the
//! invocation's deadline. Pure: the caller supplies the clock and jitter.

use std::time::Duration;

use crate::ports::{SlackError, StoreErrorKind};
use crate::time::Timestamp;

/// What kind of failure a Slack error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Rate limited: wait as long as Slack asked.
    RateLimited(Duration),
    /// Outage, overload, timeout, dropped connection: back off and retry.
    Transient,
    /// The token was refused: it may have been rotated.
    Auth,
    /// Retrying cannot help (unknown channel, bad blocks, …).
    Permanent,
}

/// Slack's own words for a call that may succeed later.
const TRANSIENT_API_ERRORS: [&str; 4] = ["internal_error", "fatal_error", "service_unavailable", "request_timeout"];
const RATE_LIMITED_API_ERRORS: [&str; 2] = ["ratelimited", "rate_limited"];
const AUTH_API_ERRORS: [&str; 3] = ["invalid_auth", "token_revoked", "account_inactive"];
/// When Slack says "rate limited" without a `Retry-After`.
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);

pub fn classify(error: &SlackError) -> Class {
    match error {
        SlackError::RateLimited { retry_after_secs } => {
            Class::RateLimited(retry_after_secs.map_or(DEFAULT_RATE_LIMIT_WAIT, Duration::from_secs))
        }
        SlackError::Api(code) if RATE_LIMITED_API_ERRORS.contains(&code.as_str()) => {
            Class::RateLimited(DEFAULT_RATE_LIMIT_WAIT)
        }
        SlackError::Api(code) if TRANSIENT_API_ERRORS.contains(&code.as_str()) => Class::Transient,
        SlackError::Api(code) if AUTH_API_ERRORS.contains(&code.as_str()) => Class::Auth,
        SlackError::Http { status, .. } if *status >= 500 || *status == 408 => Class::Transient,
        SlackError::Transport(_) => Class::Transient,
        _ => Class::Permanent,
    }
}

/// A store error's class: what heals is retried with backoff.
pub fn classify_store(kind: StoreErrorKind) -> Class {
    if kind.transient() { Class::Transient } else { Class::Permanent }
}

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
    /// Kept free before the deadline: to release the claim and answer.
    pub reserve: Duration,
    /// The least time worth starting an attempt with.
    pub min_attempt: Duration,
    pub max_attempt: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_attempts: 8,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(5),
            reserve: Duration::from_secs(2),
            min_attempt: Duration::from_millis(500),
            max_attempt: Duration::from_secs(10),
        }
    }
}

impl Policy {
    /// For the store (DynamoDB): answers in milliseconds, throttles clear
    /// in tens to hundreds of them, so the backoff starts small and is
    /// capped at 1 s; it keeps trying until the deadline less the reserve
    /// (releasing a claim and answering), not for a set number of tries.
    pub fn store() -> Policy {
        Policy {
            max_attempts: 64,
            base: Duration::from_millis(25),
            cap: Duration::from_secs(1),
            reserve: Duration::from_millis(1500),
            min_attempt: Duration::from_millis(100),
            max_attempt: Duration::from_secs(3),
        }
    }

    /// How long to wait before attempt `attempt + 1` after a failure of
    /// class `class`, or `None` to give up now. `jitter` is in `[0, 1)`.
    pub fn next_delay(
        &self,
        class: Class,
        attempt: u32,
        now: Timestamp,
        deadline: Timestamp,
        jitter: f64,
    ) -> Option<Duration> {
        let delay = match class {
            Class::Permanent | Class::Auth => return None,
            Class::RateLimited(wait) => wait,
            // "Full jitter": spreads out retries of many invocations.
            Class::Transient => {
                self.base.saturating_mul(1 << attempt.min(16)).min(self.cap).mul_f64(jitter.clamp(0.0, 1.0))
            }
        };
        let starts_in_time = now + delay + self.min_attempt + self.reserve <= deadline;
        (attempt + 1 < self.max_attempts && starts_in_time).then_some(delay)
    }

    /// The timeout for an attempt starting at `now`, or `None` when there
    /// is no time left for one.
    pub fn attempt_timeout(&self, now: Timestamp, deadline: Timestamp) -> Option<Duration> {
        let left = deadline.checked_duration_since(now)?.checked_sub(self.reserve)?;
        (left >= self.min_attempt).then(|| left.min(self.max_attempt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: &str) -> SlackError {
        SlackError::Api(code.into())
    }

    #[test]
    fn classification() {
        let table = [
            (SlackError::RateLimited { retry_after_secs: Some(3) }, Class::RateLimited(Duration::from_secs(3))),
            (SlackError::RateLimited { retry_after_secs: None }, Class::RateLimited(Duration::from_secs(1))),
            (api("ratelimited"), Class::RateLimited(Duration::from_secs(1))),
            (api("rate_limited"), Class::RateLimited(Duration::from_secs(1))),
            (api("internal_error"), Class::Transient),
            (SlackError::Http { status: 503, detail: String::new() }, Class::Transient),
            (SlackError::Http { status: 400, detail: String::new() }, Class::Permanent),
            (SlackError::Transport("connection reset".into()), Class::Transient),
            (api("invalid_auth"), Class::Auth),
            (api("token_revoked"), Class::Auth),
            (api("account_inactive"), Class::Auth),
            (api("channel_not_found"), Class::Permanent),
            (api("not_in_channel"), Class::Permanent),
            (api("is_archived"), Class::Permanent),
            (api("invalid_blocks"), Class::Permanent),
            (api("msg_too_long"), Class::Permanent),
        ];
        for (error, want) in table {
            assert_eq!(classify(&error), want, "{error}");
        }
    }

    #[test]
    fn backoff_grows_with_jitter_and_stops_before_the_deadline() {
        let policy = Policy::default();
        let now = Timestamp::EPOCH + Duration::from_secs(1_000_000);
        let far = now + Duration::from_secs(60);
        let delays: Vec<Option<Duration>> =
            (0..8).map(|attempt| policy.next_delay(Class::Transient, attempt, now, far, 0.999_999)).collect();
        let millis: Vec<u128> = delays.iter().map(|d| d.map_or(0, |d| d.as_millis())).collect();
        assert_eq!(millis, [199, 399, 799, 1599, 3199, 4999, 4999, 0], "capped at 5 s, 8 attempts in all");
        assert_eq!(policy.next_delay(Class::Transient, 3, now, far, 0.0), Some(Duration::ZERO));

        let near = now + Duration::from_secs(3);
        assert_eq!(policy.next_delay(Class::Transient, 0, now, near, 0.5), Some(Duration::from_millis(100)));
        assert_eq!(policy.next_delay(Class::RateLimited(Duration::from_secs(1)), 0, now, near, 0.5), None);
        assert_eq!(
            policy.next_delay(Class::RateLimited(Duration::from_secs(30)), 0, now, far, 0.5),
            Some(Duration::from_secs(30))
        );
        assert_eq!(policy.next_delay(Class::Permanent, 0, now, far, 0.5), None);
        assert_eq!(policy.next_delay(Class::Auth, 0, now, far, 0.5), None);
    }

    #[test]
    fn the_store_retries_what_heals_until_the_deadline_less_its_reserve() {
        use StoreErrorKind::*;
        for kind in [Throttled, Unavailable, Conflict] {
            assert_eq!(classify_store(kind), Class::Transient, "{kind:?}");
        }
        for kind in [TooLarge, Invalid, Other] {
            assert_eq!(classify_store(kind), Class::Permanent, "{kind:?}");
        }
        let policy = Policy::store();
        let now = Timestamp::EPOCH + Duration::from_secs(1_000_000);
        let deadline = now + Duration::from_secs(30);
        let delays: Vec<u128> = (0..8)
            .map(|attempt| policy.next_delay(Class::Transient, attempt, now, deadline, 0.999_999).unwrap().as_millis())
            .collect();
        assert_eq!(delays, [24, 49, 99, 199, 399, 799, 999, 999], "grows to 1 s");
        assert!(policy.next_delay(Class::Transient, 40, now, deadline, 0.5).is_some(), "not a set number of tries");
        let near = now + Duration::from_millis(1700);
        assert_eq!(policy.next_delay(Class::Transient, 0, now, near, 0.4), Some(Duration::from_millis(10)));
        let nearer = now + Duration::from_millis(1550);
        assert_eq!(policy.next_delay(Class::Transient, 0, now, nearer, 0.4), None, "the reserve is kept");
        assert_eq!(policy.next_delay(Class::Permanent, 0, now, deadline, 0.5), None);
    }

    #[test]
    fn attempt_timeouts_leave_the_reserve() {
        let policy = Policy::default();
        let now = Timestamp::EPOCH + Duration::from_secs(1_000_000);
        let table = [(60_000, Some(10_000)), (5_000, Some(3_000)), (2_400, None), (0, None)];
        for (left_ms, want_ms) in table {
            let got = policy.attempt_timeout(now, now + Duration::from_millis(left_ms));
            assert_eq!(got, want_ms.map(Duration::from_millis), "{left_ms} ms left");
        }
        assert_eq!(policy.attempt_timeout(now + Duration::from_secs(1), now), None, "past the deadline");
    }
}
