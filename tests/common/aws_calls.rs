//! The AWS calls a handler makes, recorded on their way out: an SDK
//! configuration whose HTTP client notes each request (every attempt, the
//! SDK's retries included) before sending it on. Per configuration, so a
//! test counts its own handler's calls whatever else shares moto.

use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// One request as it left for AWS.
#[derive(Debug, Clone)]
pub struct AwsCall {
    /// The SigV4 credential scope's service: `events`, `scheduler`, `ecs`…
    pub service: String,
    /// `X-Amz-Target` without its prefix (JSON protocols), else the REST
    /// operation as far as these tests need them.
    pub operation: String,
    pub method: String,
    /// Path and query, percent-decoded.
    pub path: String,
    pub body: Vec<u8>,
}

impl AwsCall {
    fn of(request: &HttpRequest) -> AwsCall {
        let header = |name: &str| request.headers().get(name).unwrap_or_default().to_owned();
        let service = header("authorization")
            .split("Credential=")
            .nth(1)
            .and_then(|scope| scope.split('/').nth(3))
            .unwrap_or_default()
            .to_owned();
        let uri = request.uri().to_owned();
        let path_and_query = uri.split_once("://").map_or(uri.as_str(), |(_, rest)| rest);
        let path_and_query = path_and_query.find('/').map_or("/", |at| &path_and_query[at..]);
        let path = percent_decode(path_and_query);
        let method = request.method().to_owned();
        let target = header("x-amz-target");
        let operation = match target.rsplit_once('.') {
            Some((_, operation)) => operation.to_owned(),
            None => rest_operation(&service, &method, &path),
        };
        let body = request.body().bytes().unwrap_or_default().to_vec();
        AwsCall { service, operation, method, path, body }
    }

    /// `service Operation`, e.g. `scheduler GetSchedule`.
    pub fn name(&self) -> String {
        format!("{} {}", self.service, self.operation)
    }
}

/// The REST operations of EventBridge Scheduler and Lambda these tests see.
fn rest_operation(service: &str, method: &str, path: &str) -> String {
    let bare = path.split('?').next().unwrap_or(path);
    match (service, method) {
        ("scheduler", "GET") if bare == "/schedules" => "ListSchedules".into(),
        ("scheduler", "GET") if bare.starts_with("/schedules/") => "GetSchedule".into(),
        ("lambda", "POST") if bare.ends_with("/invocations") => "Invoke".into(),
        _ => format!("{method} {bare}"),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1..i + 3)) {
            (b'%', Some(hex)) if std::str::from_utf8(hex).is_ok_and(|h| u8::from_str_radix(h, 16).is_ok()) => {
                out.push(u8::from_str_radix(std::str::from_utf8(hex).unwrap(), 16).unwrap());
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The calls made through one [`recording`] configuration.
#[derive(Clone, Debug, Default)]
pub struct AwsCalls(Arc<Mutex<Vec<AwsCall>>>);

impl AwsCalls {
    pub fn all(&self) -> Vec<AwsCall> {
        self.0.lock().unwrap().clone()
    }

    /// The calls to `service`, by name, in order.
    pub fn of(&self, service: &str) -> Vec<String> {
        self.all().iter().filter(|c| c.service == service).map(AwsCall::name).collect()
    }

    /// Forgets the calls so far.
    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}

#[derive(Debug, Clone)]
struct Recording {
    inner: SharedHttpClient,
    calls: AwsCalls,
}

#[derive(Debug)]
struct RecordingConnector {
    inner: SharedHttpConnector,
    calls: AwsCalls,
}

impl HttpClient for Recording {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        let inner = self.inner.http_connector(settings, components);
        SharedHttpConnector::new(RecordingConnector { inner, calls: self.calls.clone() })
    }
}

impl HttpConnector for RecordingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        self.calls.0.lock().unwrap().push(AwsCall::of(&request));
        self.inner.call(request)
    }
}

/// `aws` with every call recorded (plain HTTP, as moto and the stand-ins
/// speak it).
pub fn recording(aws: &SdkConfig) -> (SdkConfig, AwsCalls) {
    let calls = AwsCalls::default();
    let client = Recording { inner: aws_smithy_http_client::Builder::new().build_http(), calls: calls.clone() };
    (aws.to_builder().http_client(SharedHttpClient::new(client)).build(), calls)
}
