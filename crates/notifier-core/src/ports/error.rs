//! The error of every store port (thread state, job records, groups): its
//! own file, so that those ports need not import each other for it.
//!
//! An error keeps its kind, so that the one retry policy (`retry`) can
//! tell a throttle, which heals in milliseconds, from an item too large,
//! which never heals; and its cause, for the log.

use std::fmt;

/// What kind of failure a store call met, as the store answered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// Throttled (`ThrottlingException`, `ProvisionedThroughputExceededException`,
    /// `RequestLimitExceeded`): heals with backoff.
    Throttled,
    /// The store failed or could not be reached (HTTP 500/503, a timeout,
    /// a dropped connection): heals with backoff. A write that met this
    /// may have been applied.
    Unavailable,
    /// Another transaction holds the item (`TransactionConflictException`,
    /// or a transaction cancelled for `TransactionConflict`): heals with
    /// backoff.
    Conflict,
    /// The item would exceed the store's item size: never heals.
    TooLarge,
    /// The request was malformed or names what does not exist (a
    /// validation error, a missing table or index): never heals.
    Invalid,
    /// Anything else: not retried within the invocation.
    Other,
}

impl StoreErrorKind {
    /// Whether trying again soon can succeed.
    pub fn transient(self) -> bool {
        matches!(self, StoreErrorKind::Throttled | StoreErrorKind::Unavailable | StoreErrorKind::Conflict)
    }

    /// Whether no retry, now or by Lambda later, can succeed.
    pub fn permanent(self) -> bool {
        matches!(self, StoreErrorKind::TooLarge | StoreErrorKind::Invalid)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    pub kind: StoreErrorKind,
    /// What failed and why, with the store's own words.
    pub message: String,
}

impl StoreError {
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> StoreError {
        StoreError { kind, message: message.into() }
    }

    /// An error of kind `Other`: a broken invariant or an unclassified failure.
    pub fn other(message: impl Into<String>) -> StoreError {
        StoreError::new(StoreErrorKind::Other, message)
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "thread store: {}", self.message)
    }
}

impl std::error::Error for StoreError {}
