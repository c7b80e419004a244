//! The allocator of the deployed build.
//!
//! The function is deployed linked statically against musl, with no PIE,
//! so that nothing is loaded or relocated before `main`
//! (docs/performance.md, "Linked statically"). musl's own allocator is
//! slow: the pure path of an event takes half as long again with it. So a
//! musl build allocates with mimalloc, built without transparent huge
//! pages: with them, its first allocation faults in a 2 MiB page, half a
//! millisecond of every cold start. A glibc build (local runs, the tests)
//! keeps glibc's.
//!
//! It lives in the library so that everything built on it for musl, the
//! function and the pure-path benchmark alike, allocates the same way.

#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
