//! The error of every store port (thread state, job records, groups): its
//! own file, so that those ports need not import each other for it.

#[derive(Debug, thiserror::Error)]
#[error("thread store: {0}")]
pub struct StoreError(pub String);
