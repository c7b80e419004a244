//! A Lambda Runtime API emulator on loopback, to run the real function
//! binary as Lambda does: a process that polls for invocations.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use ecs_slack_notifier::time::Timestamp;

#[derive(Debug)]
pub enum Invocation {
    Response(Value),
    /// The function reported an error: the body and `Lambda-Runtime-Function-Error-Type`.
    Error(Value),
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Invocation>>>>;

#[derive(Clone)]
struct Shared {
    queue: Arc<tokio::sync::Mutex<mpsc::Receiver<(String, Bytes)>>>,
    pending: Pending,
    init_errors: Arc<Mutex<Vec<Value>>>,
    deadline: DeadlineHeader,
}

/// What the emulator sends as `Lambda-Runtime-Deadline-Ms`.
#[derive(Clone)]
pub enum DeadlineHeader {
    /// Epoch milliseconds this long after the invocation is handed out, as
    /// Lambda sends it.
    In(Duration),
    /// This value for every invocation, as some emulators send.
    Fixed(String),
}

pub struct RuntimeApi {
    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    sender: mpsc::Sender<(String, Bytes)>,
    shared: Shared,
    next_id: Mutex<u64>,
}

impl RuntimeApi {
    /// Deadlines 30 s after each invocation starts: the template's timeout.
    pub async fn start() -> RuntimeApi {
        Self::with_deadline(DeadlineHeader::In(Duration::from_secs(30))).await
    }

    pub async fn with_deadline(deadline: DeadlineHeader) -> RuntimeApi {
        let (sender, receiver) = mpsc::channel(64);
        let shared = Shared {
            queue: Arc::new(tokio::sync::Mutex::new(receiver)),
            pending: Pending::default(),
            init_errors: Arc::default(),
            deadline,
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        RuntimeApi { address, sender, shared, next_id: Mutex::new(0) }
    }

    /// Sends one invocation and waits for the function's answer.
    pub async fn invoke(&self, payload: impl Into<Bytes>) -> Invocation {
        let id = {
            let mut n = self.next_id.lock().unwrap();
            *n += 1;
            format!("req-{n}")
        };
        let (tx, rx) = oneshot::channel();
        self.shared.pending.lock().unwrap().insert(id.clone(), tx);
        self.sender.send((id, payload.into())).await.unwrap();
        tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .expect("the function did not answer within 60 s")
            .expect("runtime API dropped the invocation")
    }

    pub fn init_errors(&self) -> Vec<Value> {
        self.shared.init_errors.lock().unwrap().clone()
    }
}

async fn next(State(shared): State<Shared>) -> impl IntoResponse {
    let (id, body) = shared.queue.lock().await.recv().await.expect("runtime API closed");
    let deadline = match &shared.deadline {
        DeadlineHeader::In(left) => (Timestamp::now() + *left).millis().to_string(),
        DeadlineHeader::Fixed(value) => value.clone(),
    };
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
    headers.insert("lambda-runtime-deadline-ms", deadline.parse().unwrap());
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:notifier".parse().unwrap(),
    );
    headers.insert("lambda-runtime-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793".parse().unwrap());
    headers.insert("content-type", "application/json".parse().unwrap());
    (headers, body)
}

fn settle(shared: &Shared, id: &str, outcome: Invocation) {
    if let Some(tx) = shared.pending.lock().unwrap().remove(id) {
        let _ = tx.send(outcome);
    }
}

fn json_or_string(body: &Bytes) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

async fn response(State(shared): State<Shared>, Path(id): Path<String>, body: Bytes) -> impl IntoResponse {
    settle(&shared, &id, Invocation::Response(json_or_string(&body)));
    axum::http::StatusCode::ACCEPTED
}

async fn error(State(shared): State<Shared>, Path(id): Path<String>, body: Bytes) -> impl IntoResponse {
    settle(&shared, &id, Invocation::Error(json_or_string(&body)));
    axum::http::StatusCode::ACCEPTED
}

async fn init_error(State(shared): State<Shared>, body: Bytes) -> impl IntoResponse {
    shared.init_errors.lock().unwrap().push(json_or_string(&body));
    axum::http::StatusCode::ACCEPTED
}

/// The function binary, started as Lambda starts it, with its output
/// captured so tests can read the logs.
pub struct Function {
    pub child: tokio::process::Child,
    log_path: std::path::PathBuf,
}

impl Function {
    /// The function against moto at `moto`, with `env` on top.
    pub fn spawn(api: &RuntimeApi, moto: &str, env: &HashMap<String, String>) -> Function {
        Self::spawn_without(api, moto, env, &[])
    }

    /// The same, with the variables in `unset` left out of its environment
    /// (e.g. the static AWS credentials, to test the others).
    ///
    /// The binary is the one cargo built for the tests, or `NOTIFIER_BINARY`
    /// when set (e.g. `target/bench/lambda/ecs-slack-notifier/bootstrap`, or
    /// the arm64 `bootstrap` of `sam build`), run through `NOTIFIER_RUNNER`
    /// when set: a command and its arguments, split on whitespace (e.g.
    /// `qemu-aarch64`, for that static arm64 binary).
    pub fn spawn_without(api: &RuntimeApi, moto: &str, env: &HashMap<String, String>, unset: &[&str]) -> Function {
        let log_path = std::env::temp_dir().join(format!("{}.log", super::unique("function")));
        let log = std::fs::File::create(&log_path).unwrap();
        let mut command = notifier_command();
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", &api.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", "notifier")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test-stream")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/notifier")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_ENDPOINT_URL", moto)
            .envs(env);
        for name in unset {
            command.env_remove(name);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("start the function binary");
        Function { child, log_path }
    }

    /// Still running (not crashed)?
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_file(&self.log_path);
    }
}

/// The path of the function binary these tests run (see `Function::spawn_without`).
pub fn notifier_binary() -> std::path::PathBuf {
    if let Some(path) = std::env::var_os("NOTIFIER_BINARY").filter(|p| !p.is_empty()) {
        return path.into();
    }
    // Set for integration tests; the burst benchmark shares this module but spawns no binary.
    let Some(binary) = option_env!("CARGO_BIN_EXE_ecs-slack-notifier") else {
        panic!("the notifier binary is built for integration tests only")
    };
    binary.into()
}

fn notifier_command() -> tokio::process::Command {
    let binary = notifier_binary();
    let runner = std::env::var("NOTIFIER_RUNNER").unwrap_or_default();
    let mut runner = runner.split_whitespace();
    match runner.next() {
        Some(program) => {
            let mut command = tokio::process::Command::new(program);
            command.args(runner).arg(binary);
            command
        }
        None => tokio::process::Command::new(binary),
    }
}
