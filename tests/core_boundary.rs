//! The core crate's boundary, as the compiler sees it: `notifier-core`
//! depends on no AWS SDK, async runtime, HTTP stack or Lambda runtime, so
//! no decision in it can do I/O. Checked on cargo's own view of the tree
//! (normal, build and dev edges: the core's tests are held to it too).

use std::process::Command;

/// Crates the core must never reach, by name or by prefix.
const FORBIDDEN: [&str; 8] =
    ["aws-sdk-", "aws-config", "aws-smithy-", "tokio", "reqwest", "hyper", "lambda_runtime", "lambda-runtime"];

fn tree(package: &str) -> Vec<String> {
    let output = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "-p", package, "-e", "normal,build,dev", "--prefix", "none", "--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(output.status.success(), "cargo tree -p {package}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .collect()
}

fn forbidden(crates: &[String]) -> Vec<&String> {
    let mut found: Vec<&String> = crates.iter().filter(|name| FORBIDDEN.iter().any(|f| name.starts_with(f))).collect();
    found.sort();
    found.dedup();
    found
}

#[test]
fn the_core_depends_on_no_sdk_runtime_http_or_lambda_crate() {
    let crates = tree("notifier-core");
    assert!(crates.iter().any(|c| c == "notifier-core"), "the tree names the core itself: {crates:?}");
    assert!(crates.iter().any(|c| c == "serde_json"), "and what it does use: {crates:?}");
    assert_eq!(forbidden(&crates), Vec::<&String>::new(), "the core reaches crates it must not");
}

#[test]
fn the_check_sees_those_crates_where_they_are() {
    // The function's own tree has every one of them: the check can fail.
    let crates = tree("ecs-slack-notifier");
    let found = forbidden(&crates);
    for name in ["aws-sdk-dynamodb", "aws-config", "tokio", "reqwest", "hyper", "lambda_runtime"] {
        assert!(found.iter().any(|c| *c == name), "{name} not found in the function's tree: {found:?}");
    }
}
