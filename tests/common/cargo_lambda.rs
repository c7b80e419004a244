//! `cargo lambda watch`, run as docs/development.md shows it, for one test: found in
//! the venv `scripts/test.sh` creates (or on `PATH`), on a free loopback
//! port, and stopped with every process it started when dropped.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The directory holding the `cargo-lambda` binary, or `None` (and the
/// skip said straight to stderr, as libtest hides a passing test's output).
pub fn installed() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found =
        std::iter::once(venv).chain(std::env::split_paths(&path)).find(|dir| dir.join("cargo-lambda").is_file());
    if found.is_none() {
        let _ = writeln!(
            std::io::stderr(),
            "\nSKIPPED: tests/cargo_lambda.rs: cargo-lambda is not installed (not in .venv/bin or on PATH).\n\
             Run it with `scripts/test.sh` (it installs cargo-lambda into .venv), or\n\
             `.venv/bin/pip install cargo-lambda && cargo test --test cargo_lambda`.\n"
        );
    }
    found
}

/// `cargo`, with the directory of `cargo-lambda` first on `PATH` so that
/// `cargo lambda …` finds it.
fn cargo(tool_dir: &Path) -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    let path = std::env::var_os("PATH").unwrap_or_default();
    let paths = std::iter::once(tool_dir.to_path_buf()).chain(std::env::split_paths(&path));
    command.env("PATH", std::env::join_paths(paths).unwrap()).current_dir(env!("CARGO_MANIFEST_DIR"));
    command
}

pub struct Watch {
    tool_dir: PathBuf,
    pub port: u16,
    child: Child,
    log_path: PathBuf,
}

impl Watch {
    /// `cargo lambda watch --env-var …` with `env` as the environment it
    /// inherits (AWS credentials, region, endpoint). Returns once it
    /// accepts invocations; the function itself is built on the first.
    pub fn start(tool_dir: &Path, env_var: &str, env: &[(&str, &str)]) -> Watch {
        Watch::spawn(tool_dir, &["--env-var", env_var], env, &[])
    }

    /// `cargo lambda watch --env-file FILE`, with none of this process's
    /// AWS settings: everything the function gets is in the file.
    pub fn with_env_file(tool_dir: &Path, file: &Path) -> Watch {
        let aws =
            ["AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION"];
        Watch::spawn(tool_dir, &["--env-file", file.to_str().unwrap()], &[], &aws)
    }

    fn spawn(tool_dir: &Path, args: &[&str], env: &[(&str, &str)], remove: &[&str]) -> Watch {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log_path = std::env::temp_dir().join(format!("{}.log", super::unique("cargo-lambda-watch")));
        let log = std::fs::File::create(&log_path).unwrap();
        let mut command = cargo(tool_dir);
        command
            .args(["lambda", "watch", "--invoke-address", "127.0.0.1", "--invoke-port", &port.to_string()])
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for inherited in
            ["SLACK_TOKEN_SECRET_ID", "SLACK_BOT_TOKEN", "SLACK_DEFAULT_CHANNEL", "THREADS_TABLE", "JOBS_CONFIG"]
                .iter()
                .chain(remove)
        {
            command.env_remove(inherited);
        }
        let child = command.spawn().expect("start cargo lambda watch");
        let mut watch = Watch { tool_dir: tool_dir.to_path_buf(), port, child, log_path };
        let began = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = watch.child.try_wait() {
                panic!("cargo lambda watch exited with {status}:\n{}", watch.logs());
            }
            assert!(began.elapsed() < Duration::from_secs(60), "cargo lambda watch did not listen:\n{}", watch.logs());
            std::thread::sleep(Duration::from_millis(100));
        }
        watch
    }

    /// `cargo lambda invoke FUNCTION --data-file FILE` against this watch.
    pub fn invoke(&self, function: &str, data_file: &str, timeout: Duration) -> Output {
        let mut child = cargo(&self.tool_dir)
            .args(["lambda", "invoke", function, "--data-file", data_file])
            .args(["--invoke-address", "127.0.0.1", "--invoke-port", &self.port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run cargo lambda invoke");
        let began = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if began.elapsed() > timeout {
                let _ = child.kill();
                panic!("cargo lambda invoke {data_file} took over {timeout:?}:\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        child.wait_with_output().unwrap()
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for Watch {
    /// The watch runs cargo and the function in process groups of their
    /// own, so the whole tree is found first, then stopped: politely, then
    /// for good.
    fn drop(&mut self) {
        let root = self.child.id() as i32;
        let tree = process_tree(root);
        signal(&[root], libc::SIGTERM);
        let began = Instant::now();
        while began.elapsed() < Duration::from_secs(5) && tree.iter().any(|&pid| alive(pid)) {
            let _ = self.child.try_wait();
            std::thread::sleep(Duration::from_millis(50));
        }
        signal(&tree, libc::SIGKILL);
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log_path);
    }
}

fn signal(pids: &[i32], signal: i32) {
    for &pid in pids {
        // SAFETY: kill(2) with a pid this test started (or a descendant of it).
        unsafe { libc::kill(pid, signal) };
    }
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| state(&stat) != Some('Z'))
}

/// `root` and all its descendants, from `/proc`.
fn process_tree(root: i32) -> Vec<i32> {
    let parents: Vec<(i32, i32)> = std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
                .filter_map(|pid| Some((pid, parent(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)?)))
                .collect()
        })
        .unwrap_or_default();
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let pid = tree[i];
        tree.extend(parents.iter().filter(|(_, ppid)| *ppid == pid).map(|(child, _)| *child));
        i += 1;
    }
    tree
}

/// Fields after the command name, which is in parentheses and may hold
/// spaces: state, then parent pid.
fn after_name(stat: &str) -> Vec<&str> {
    stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default()
}

fn state(stat: &str) -> Option<char> {
    after_name(stat).first().and_then(|s| s.chars().next())
}

fn parent(stat: &str) -> Option<i32> {
    after_name(stat).get(1)?.parse().ok()
}
