//! A stand-in for Lambda's Invoke API, as far as the notifier's deferral
//! uses it: `POST /2015-03-31/functions/{name}/invocations` with
//! `X-Amz-Invocation-Type: Event` is queued (recorded) and answered 202
//! with no body, as Lambda answers an asynchronous invocation. Any other
//! invocation type is refused, so a deferral that waited for the deferred
//! work would be seen.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;

/// One invocation as the stand-in received it.
#[derive(Debug, Clone)]
pub struct Invoked {
    /// The function name (or ARN) of the request's path.
    pub function: String,
    /// The SigV4 credential scope's service: `lambda` when signed for it.
    pub signed_for: String,
    pub payload: Bytes,
}

pub struct LambdaInvoke {
    /// Where Lambda's API is: the value for `AWS_ENDPOINT_URL_LAMBDA`.
    pub url: String,
    invoked: Arc<Mutex<Vec<Invoked>>>,
}

impl LambdaInvoke {
    pub async fn start() -> LambdaInvoke {
        let invoked: Arc<Mutex<Vec<Invoked>>> = Arc::default();
        let app =
            Router::new().route("/2015-03-31/functions/{name}/invocations", post(invoke)).with_state(invoked.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        LambdaInvoke { url, invoked }
    }

    /// The asynchronous invocations so far, in order; taken: as Lambda
    /// hands each to one execution.
    pub fn take(&self) -> Vec<Invoked> {
        std::mem::take(&mut *self.invoked.lock().unwrap())
    }
}

async fn invoke(
    State(invoked): State<Arc<Mutex<Vec<Invoked>>>>,
    Path(function): Path<String>,
    headers: HeaderMap,
    payload: Bytes,
) -> impl IntoResponse {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if header("x-amz-invocation-type") != "Event" {
        let body = r#"{"Type":"User","message":"this stand-in takes asynchronous invocations (Event) only"}"#;
        return (StatusCode::BAD_REQUEST, [("x-amzn-errortype", "InvalidParameterValueException")], body);
    }
    let signed_for = header("authorization")
        .split("Credential=")
        .nth(1)
        .and_then(|scope| scope.split('/').nth(3))
        .unwrap_or_default()
        .to_owned();
    invoked.lock().unwrap().push(Invoked { function, signed_for, payload });
    (StatusCode::ACCEPTED, [("x-amzn-requestid", "standin-1")], "")
}
