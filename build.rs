//! Links this package's glibc executables at a fixed address (no PIE).
//!
//! What is deployed is built for musl and linked statically, with a static
//! relocation model (`.cargo/config.toml`, the Makefile): nothing is loaded
//! or relocated before `main`. A glibc build (a plain `cargo build`, the
//! tests, `cargo lambda watch`) cannot be linked that way: rustflags for the
//! host's triple also reach build scripts and proc-macros, which cannot be
//! linked statically ("cannot produce proc-macro"). So it stays dynamically
//! linked against glibc, but is not a position-independent executable: a
//! PIE is loaded at a random address, and the dynamic loader applies one
//! relative relocation per pointer in its data (about 58,000 for the
//! function) before `main` runs. Linked at a fixed address, those pointers
//! are final in the file and the loader only binds the symbols taken from
//! glibc. docs/performance.md, "Linked statically", says why.
//!
//! `-no-pie` goes to the linker driver for this package's binaries and
//! tests, after rustc's own `-pie`, which it overrides; not to build
//! scripts or proc-macros, whose shared objects it would turn into
//! executables, and not to the examples: the benchmark's echo floor is
//! built as the smallest Rust Lambda usually is.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        for kind in ["bins", "tests"] {
            println!("cargo::rustc-link-arg-{kind}=-no-pie");
        }
    }
}
