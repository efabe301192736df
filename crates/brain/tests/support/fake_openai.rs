//! A scripted HTTP server on 127.0.0.1 that speaks the real bytes of an OpenAI-compatible
//! server (SSE streams, JSON error bodies, Retry-After) and of tool endpoints. Each request is
//! recorded and answered with the next scripted [`Reply`].

#![allow(dead_code)] // Each test binary uses a different part of it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use futures_util::StreamExt;
use serde_json::{json, Value};

/// One piece of a streamed body.
#[derive(Debug, Clone)]
pub enum Part {
    /// Bytes written as one body frame (flushed at once).
    Text(String),
    /// Raw bytes, e.g. half of a UTF-8 character.
    Bytes(Vec<u8>),
    /// Nothing is written for this long.
    Pause(Duration),
    /// The connection breaks off mid-body (no chunked terminator).
    Abort,
}

/// How the server answers one request.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    /// Wait before sending the status line (a slow backend).
    delay: Duration,
    parts: Vec<Part>,
}

impl Reply {
    /// 200 `text/event-stream` with these parts.
    pub fn sse(parts: Vec<Part>) -> Self {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            delay: Duration::ZERO,
            parts,
        }
    }

    /// 200 `text/event-stream`, one frame per event: each payload as `data: …\n\n`.
    pub fn events(payloads: &[String]) -> Self {
        Self::sse(
            payloads
                .iter()
                .map(|p| Part::Text(format!("data: {p}\n\n")))
                .collect(),
        )
    }

    /// `status` with a JSON body.
    pub fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            delay: Duration::ZERO,
            parts: vec![Part::Text(body.to_string())],
        }
    }

    /// `status` with a plain-text body.
    pub fn text(status: u16, body: &str) -> Self {
        Reply {
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            delay: Duration::ZERO,
            parts: vec![Part::Text(body.into())],
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Default)]
struct Shared {
    replies: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<Recorded>>,
}

/// The running server; it stops with the test's runtime.
pub struct FakeServer {
    /// `http://127.0.0.1:PORT/v1`
    pub base_url: String,
    /// `http://127.0.0.1:PORT`
    pub origin: String,
    shared: Arc<Shared>,
}

impl FakeServer {
    /// Starts a server answering requests with `replies`, in order.
    pub async fn start(replies: Vec<Reply>) -> FakeServer {
        let shared = Arc::new(Shared {
            replies: Mutex::new(replies.into()),
            requests: Mutex::default(),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        FakeServer {
            base_url: format!("{origin}/v1"),
            origin,
            shared,
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.requests.lock().unwrap().push(Recorded {
        method,
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers,
        body,
    });
    let reply = shared.replies.lock().unwrap().pop_front();
    // 418, not 5xx: an unscripted request must not look retryable.
    let reply = reply.unwrap_or_else(|| Reply::text(418, "no reply scripted"));
    tokio::time::sleep(reply.delay).await;
    let frames = futures_util::stream::iter(reply.parts).filter_map(|part| async move {
        match part {
            Part::Text(text) => Some(Ok(Bytes::from(text))),
            Part::Bytes(bytes) => Some(Ok(Bytes::from(bytes))),
            Part::Abort => Some(Err(std::io::Error::other("scripted abort"))),
            Part::Pause(duration) => {
                tokio::time::sleep(duration).await;
                None
            }
        }
    });
    let mut response = Response::builder().status(StatusCode::from_u16(reply.status).unwrap());
    for (name, value) in &reply.headers {
        response = response.header(name, value);
    }
    response.body(Body::from_stream(frames)).unwrap()
}

/// A `chat.completion.chunk` with one choice carrying `delta` and `finish_reason`.
pub fn chunk(delta: Value, finish_reason: Option<&str>) -> String {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000,
        "model": "test-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    })
    .to_string()
}

/// A content delta chunk.
pub fn text(content: &str) -> String {
    chunk(json!({"content": content}), None)
}

/// The closing chunk of a choice.
pub fn finish(reason: &str) -> String {
    chunk(json!({}), Some(reason))
}

/// The `include_usage` chunk: no choices, only usage.
pub fn usage(prompt: u32, completion: u32) -> String {
    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [],
           "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                     "total_tokens": prompt + completion}})
    .to_string()
}

pub fn done() -> String {
    "[DONE]".to_owned()
}
