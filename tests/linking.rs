//! How the function is linked, and that what it needs at run time works
//! linked so. What is deployed is built for musl and linked statically with
//! no PIE (the Makefile, `.cargo/config.toml`): nothing is loaded or
//! relocated before `main`. A glibc build, as cargo builds it for these
//! tests, is linked dynamically at a fixed address (build.rs): only the
//! symbols taken from glibc are bound at start-up, no relative relocations
//! applied. docs/performance.md, "Linked statically", says why.
//!
//! The run-time checks: host names resolved by the libc's `getaddrinfo`,
//! TLS with the compiled-in roots, and the AWS SDK's credential chain as
//! Lambda feeds it. They run the binary cargo built for the tests, or
//! another one: `NOTIFIER_BINARY=PATH` with `NOTIFIER_LINKED=static` for the
//! deployed kind (scripts/test.sh runs them so against a musl build), and
//! the arm64 `bootstrap` under `NOTIFIER_RUNNER=qemu-aarch64`
//! (tests/common/runtime_api.rs).

#![cfg(all(target_os = "linux", target_env = "gnu"))]

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use common::elf;
use common::runtime_api::{DeadlineHeader, Function, Invocation, RuntimeApi, notifier_binary};
use common::{Stack, task_event, unique};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// `127.0.0.1` in a URL or address replaced by a name that only the
/// resolver can turn into an address.
fn by_name(address: &str) -> String {
    assert!(address.contains("127.0.0.1"), "{address}");
    address.replace("127.0.0.1", "localhost")
}

fn running() -> Vec<u8> {
    serde_json::to_vec(&task_event("events/ecs-task-running.json", &unique("task")).0).unwrap()
}

/// How the binary under test must be linked: `NOTIFIER_LINKED=static` for
/// the deployed build, otherwise as cargo links a glibc build.
fn static_expected() -> bool {
    match std::env::var("NOTIFIER_LINKED").as_deref() {
        Ok("static") => true,
        Ok("" | "fixed") | Err(_) => false,
        Ok(other) => panic!("NOTIFIER_LINKED={other}: give `static` or `fixed`"),
    }
}

#[test]
fn the_function_is_linked_as_expected_with_no_relative_relocations() {
    let path = notifier_binary();
    let found = elf::relocations(&path).unwrap();
    assert!(!found.pie, "{}: a position-independent executable: {found:?}", path.display());
    assert_eq!(found.relative, 0, "{}: {found:?}", path.display());
    if static_expected() {
        // Nothing for a loader to do: there is none.
        assert!(!found.dynamic, "{}: has a program interpreter: {found:?}", path.display());
        assert_eq!(found.total, 0, "{}: {found:?}", path.display());
    } else {
        // What is left: the symbols bound in glibc (and libgcc_s), bound once at load.
        assert!(found.dynamic, "{}: {found:?}", path.display());
        assert!(found.total < 1_000, "{}: {found:?}", path.display());
    }
}

#[test]
fn these_tests_are_linked_at_a_fixed_address_as_the_function_is_for_glibc() {
    let path = std::env::current_exe().unwrap();
    let found = elf::relocations(&path).unwrap();
    assert!(!found.pie && found.dynamic && found.relative == 0, "{}: {found:?}", path.display());
}

#[tokio::test]
async fn the_function_resolves_host_names_for_the_runtime_api_aws_and_slack() {
    let Some(stack) = Stack::new().await else { return };
    let api = RuntimeApi::start().await;
    let mut env = stack.env();
    // The runtime client, the AWS SDK (and its loopback check, below) and
    // reqwest each resolve through getaddrinfo on a blocking thread.
    env.insert("AWS_LAMBDA_RUNTIME_API".into(), by_name(&api.address));
    env.insert("SLACK_API_URL".into(), by_name(&stack.slack.url));
    let function = Function::spawn(&api, &by_name(&stack.moto), &env);
    match api.invoke(running()).await {
        Invocation::Response(body) => assert_eq!(body["action"], "posted_start", "{body}"),
        other => panic!("{other:?}\n{}", function.logs()),
    }
    assert_eq!(stack.slack.posted().len(), 1);
}

/// One TLS handshake as the server saw it: the name the client asked for,
/// and how it ended.
#[derive(Debug, Clone)]
struct Handshake {
    server_name: Option<String>,
    outcome: String,
}

/// A TLS server on loopback with a certificate for `localhost` that no
/// public CA signed (tests/fixtures/tls): the one a proxy re-signing
/// Slack's TLS with a private CA would show.
fn private_ca_server() -> (String, Arc<Mutex<Vec<Handshake>>>) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");
    let certs: Vec<CertificateDer> =
        CertificateDer::pem_file_iter(format!("{dir}/localhost.crt")).unwrap().map(Result::unwrap).collect();
    let key = PrivateKeyDer::from_pem_file(format!("{dir}/localhost.key")).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}/api", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for mut socket in listener.incoming().map_while(Result::ok) {
            let _ = socket.set_read_timeout(Some(Duration::from_secs(10)));
            let mut tls = rustls::ServerConnection::new(config.clone()).unwrap();
            let outcome = loop {
                match tls.complete_io(&mut socket) {
                    Ok((0, 0)) => break "closed".to_owned(),
                    Ok(_) if !tls.is_handshaking() => {
                        // Not expected: answer anything, so a client that
                        // trusted us fails the test on what it got.
                        let mut request = [0u8; 4096];
                        let _ = tls.reader().read(&mut request);
                        let _ =
                            tls.writer().write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n");
                        let _ = tls.complete_io(&mut socket);
                        break "handshake completed".to_owned();
                    }
                    Ok(_) => continue,
                    Err(e) => break e.to_string(),
                }
            };
            record.lock().unwrap().push(Handshake { server_name: tls.server_name().map(str::to_owned), outcome });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn tls_to_slack_verifies_against_the_compiled_in_roots() {
    let Some(stack) = Stack::new().await else { return };
    let (url, handshakes) = private_ca_server();
    // A real deadline, 5 s ahead: the Slack client retries a failed
    // connection within it, then the invocation fails.
    let api = RuntimeApi::with_deadline(DeadlineHeader::In(Duration::from_secs(5))).await;
    let mut env = stack.env();
    env.insert("SLACK_API_URL".into(), by_name(&url));
    let function = Function::spawn(&api, &stack.moto, &env);
    match api.invoke(running()).await {
        Invocation::Error(body) => {
            let message = body["errorMessage"].as_str().unwrap_or_default();
            assert!(message.contains("invalid peer certificate: UnknownIssuer"), "{message}");
        }
        other => panic!("{other:?}\n{}", function.logs()),
    }
    let handshakes = handshakes.lock().unwrap().clone();
    assert!(!handshakes.is_empty(), "no TLS connection was made\n{}", function.logs());
    for handshake in &handshakes {
        // The client offered TLS for the name it resolved, checked the
        // certificate against its roots and refused the unknown issuer.
        assert_eq!(handshake.server_name.as_deref(), Some("localhost"), "{handshakes:?}");
        assert!(handshake.outcome.contains("UnknownCA"), "{handshakes:?}");
    }
    assert!(stack.slack.posted().is_empty());
}

/// AWS requests as they reached moto: the key id each was signed with, and
/// its session token.
#[derive(Clone, Default)]
struct Signatures(Arc<Mutex<Vec<(String, String)>>>);

/// A proxy in front of moto recording who signed each request.
async fn signing_proxy(moto: &str) -> (String, Signatures) {
    #[derive(Clone)]
    struct Proxy {
        upstream: String,
        client: reqwest::Client,
        seen: Signatures,
    }
    async fn forward(State(proxy): State<Proxy>, request: Request) -> Response {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let key_id = header("authorization")
            .split_once("Credential=")
            .map(|(_, rest)| rest.split('/').next().unwrap_or_default().to_owned())
            .unwrap_or_default();
        proxy.seen.0.lock().unwrap().push((key_id, header("x-amz-security-token")));
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut upstream = proxy.client.request(parts.method.clone(), format!("{}{path}", proxy.upstream)).body(body);
        for (name, value) in &parts.headers {
            if name != "host" && name != "content-length" {
                upstream = upstream.header(name, value);
            }
        }
        let answer = upstream.send().await.unwrap();
        let status = answer.status();
        let mut headers = HeaderMap::new();
        for (name, value) in answer.headers() {
            if name != "content-length" && name != "transfer-encoding" && name != "connection" {
                headers.append(name, value.clone());
            }
        }
        let body = answer.bytes().await.unwrap();
        (status, headers, Body::from(body)).into_response()
    }
    let seen = Signatures::default();
    let proxy = Proxy { upstream: moto.to_owned(), client: reqwest::Client::new(), seen: seen.clone() };
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

/// Runs one RUNNING event through the function with the AWS credentials
/// in `env` only, and returns who signed its AWS requests.
async fn signed_by(stack: &Stack, credentials: HashMap<String, String>) -> Vec<(String, String)> {
    let (proxy, signatures) = signing_proxy(&stack.moto).await;
    let api = RuntimeApi::start().await;
    let mut env = stack.env();
    env.extend(credentials);
    let unset = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"];
    let unset: Vec<&str> = unset.into_iter().filter(|name| !env.contains_key(*name)).collect();
    let function = Function::spawn_without(&api, &proxy, &env, &unset);
    match api.invoke(running()).await {
        Invocation::Response(body) => assert_eq!(body["action"], "posted_start", "{body}\n{}", function.logs()),
        other => panic!("{other:?}\n{}", function.logs()),
    }
    let signatures = signatures.0.lock().unwrap().clone();
    // At least the secret's read, the claim and the settle.
    assert!(signatures.len() >= 3, "{signatures:?}");
    signatures
}

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[tokio::test]
async fn aws_requests_are_signed_with_the_environments_credentials_as_lambda_sets_them() {
    let Some(stack) = Stack::new().await else { return };
    let signatures = signed_by(
        &stack,
        vars(&[
            ("AWS_ACCESS_KEY_ID", "ASIAENVIRONMENT"),
            ("AWS_SECRET_ACCESS_KEY", "environment-secret"),
            ("AWS_SESSION_TOKEN", "environment-session"),
        ]),
    )
    .await;
    let want = ("ASIAENVIRONMENT".to_owned(), "environment-session".to_owned());
    assert!(signatures.iter().all(|s| *s == want), "{signatures:?}");
}

#[tokio::test]
async fn aws_requests_are_signed_with_container_credentials_from_a_loopback_endpoint() {
    let Some(stack) = Stack::new().await else { return };
    // The container credentials endpoint, as Lambda runs one (SnapStart):
    // a full URI on loopback and an authorization token.
    let requests: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = requests.clone();
    let app = axum::Router::new().route(
        "/credentials",
        axum::routing::get(move |headers: HeaderMap| async move {
            let token = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            seen.lock().unwrap().push(token.clone());
            if token != "container-authorization" {
                return (StatusCode::FORBIDDEN, String::new());
            }
            let body = serde_json::json!({
                "AccessKeyId": "ASIACONTAINER",
                "SecretAccessKey": "container-secret",
                "Token": "container-session",
                "Expiration": "2099-01-01T00:00:00Z",
            });
            (StatusCode::OK, body.to_string())
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/credentials", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let signatures = signed_by(
        &stack,
        vars(&[
            // By name: the SDK resolves it and takes plain HTTP only to loopback.
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &by_name(&endpoint)),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-authorization"),
        ]),
    )
    .await;
    let want = ("ASIACONTAINER".to_owned(), "container-session".to_owned());
    assert!(signatures.iter().all(|s| *s == want), "{signatures:?}");
    let requests = requests.lock().unwrap().clone();
    assert!(!requests.is_empty() && requests.iter().all(|t| t == "container-authorization"), "{requests:?}");
}
