//! Links this package's executables as position-dependent (no PIE) on Linux.
//!
//! A PIE is loaded at a random address, so the dynamic loader applies one
//! relative relocation per pointer in its data (about 58,000 for the
//! function) before `main` runs: most of the data pages are touched at
//! every cold start. Linked at a fixed address, those pointers are final in
//! the file and the loader only binds the few symbols taken from glibc.
//! docs/performance.md, "Linked at a fixed address", says why this and
//! not static glibc or musl.
//!
//! `-no-pie` goes to the linker driver (cc, or cargo-lambda's zig) for this
//! package's binaries, examples and tests only, after rustc's own `-pie`,
//! which it overrides. It is set here rather than as rustflags in
//! `.cargo/config.toml` because there it would also reach the proc-macros
//! of a plain `cargo build` (host and target are one; `-no-pie` there turns
//! their shared objects into executables), and it would replace the
//! `build.rustflags` cargo-lambda sets (`-C target-cpu=neoverse-n1` for
//! arm64). Every build of the package picks it up: `cargo build`,
//! `cargo test`, `cargo lambda build` and `sam build` alike.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    // glibc targets only: musl's static-PIE start-up is another matter, untried.
    if os == "linux" && env == "gnu" {
        for kind in ["bins", "examples", "tests"] {
            println!("cargo::rustc-link-arg-{kind}=-no-pie");
        }
    }
}
