//! moto's server for the tests of one test binary.
//!
//! - `MOTO_ENDPOINT` set (as `scripts/test.sh` does): that server.
//! - Else, when the venv `scripts/test.sh` creates is there: a server
//!   started here, one per test binary, which exits when this process does.
//! - Else: none, and the tests that need it are skipped, with the reason
//!   and the command that runs them printed once.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub fn endpoint() -> Option<String> {
    static ENDPOINT: OnceLock<Option<String>> = OnceLock::new();
    ENDPOINT.get_or_init(find_or_start).clone()
}

fn find_or_start() -> Option<String> {
    if let Some(endpoint) = std::env::var("MOTO_ENDPOINT").ok().filter(|e| !e.is_empty()) {
        return Some(endpoint);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python");
    if !python.exists() {
        skipped("moto's server is not set up (no .venv)");
        return None;
    }
    match start(&python, root) {
        Ok(endpoint) => Some(endpoint),
        Err(e) => {
            skipped(&format!("moto's server did not start from .venv: {e}"));
            None
        }
    }
}

/// Straight to stderr: libtest captures `eprintln!` of passing tests, and
/// a skip must never be silent.
fn skipped(why: &str) {
    let binary = std::env::args().next().unwrap_or_default();
    let binary = Path::new(&binary).file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // Cargo names test binaries `{target}-{hash}`.
    let target = binary.rsplit_once('-').map_or(binary.as_str(), |(target, _)| target);
    let _ = writeln!(
        std::io::stderr(),
        "\nSKIPPED: the tests in tests/{target}.rs that need AWS stand-ins: {why}.\n\
         Run them with `scripts/test.sh` (it creates .venv with moto and starts its server),\n\
         or set MOTO_ENDPOINT to a running moto_server.\n"
    );
}

fn start(python: &Path, root: &Path) -> Result<String, String> {
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
    let mut child = Command::new(python)
        .arg(root.join("scripts/moto_server_serial.py"))
        .arg(port.to_string())
        .arg("--exit-with")
        .arg(std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let began = Instant::now();
    while began.elapsed() < Duration::from_secs(30) {
        if answers(port) {
            return Ok(format!("http://127.0.0.1:{port}"));
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited with {status}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    Err("it did not answer within 30 s".into())
}

fn answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut status = [0u8; 12];
    stream.write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_ok()
        && stream.read_exact(&mut status).is_ok()
        && status.starts_with(b"HTTP/1.")
        && &status[9..12] == b"200"
}
