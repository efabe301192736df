//! One streamed completion: send (with retries), read SSE under the first-token and stall
//! timeouts, turn chunks into [`LlmEvent`]s.
//!
//! Retries happen only while nothing has been yielded: once the caller may have heard a word,
//! repeating the request would make the agent say it twice. Dropping the stream drops the HTTP
//! connection, which is how a barge-in cancels generation (spec §1.2).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use reqwest::header::{HeaderValue, ACCEPT, CONTENT_TYPE};
use tokio::time::{sleep, timeout_at, Instant};

use super::tool_calls::ToolCallAccumulator;
use super::wire::{self, Chunk};
use super::{backoff, error_chain, retry_delay, Inner};
use crate::llm::sse::SseParser;
use crate::llm::{LlmError, LlmEvent, LlmStream, Usage};

type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<Vec<u8>>> + Send>>;

/// Error bodies are read up to this size; the message is in the first few hundred bytes.
const ERROR_BODY_LIMIT: usize = 64 * 1024;
/// A non-streamed completion (server ignored `stream: true`) is read up to this size.
const JSON_BODY_LIMIT: usize = 8 * 1024 * 1024;

pub(super) struct Turn {
    inner: Arc<Inner>,
    body: Vec<u8>,
    /// The first text or tool call must arrive before this instant (retries included).
    first_token_deadline: Instant,
    attempts: u32,
    bytes: Option<ByteStream>,
    progress: Progress,
    pending: VecDeque<LlmEvent>,
    yielded: bool,
    finished: bool,
}

/// What one attempt has read so far; discarded when the attempt is retried.
#[derive(Default)]
struct Progress {
    sse: SseParser,
    tools: ToolCallAccumulator,
    finish_reason: Option<String>,
    usage: Option<Usage>,
}

enum Opened {
    Sse(ByteStream),
    /// Whole non-streamed completion body.
    Json(Vec<u8>),
}

impl Turn {
    pub fn new(inner: Arc<Inner>, body: Vec<u8>) -> Self {
        let first_token_deadline = Instant::now() + inner.config.timeout_first_token;
        Turn {
            inner,
            body,
            first_token_deadline,
            attempts: 0,
            bytes: None,
            progress: Progress::default(),
            pending: VecDeque::new(),
            yielded: false,
            finished: false,
        }
    }

    pub fn into_stream(self) -> LlmStream {
        Box::pin(futures_util::stream::unfold(self, |mut turn| async move {
            let item = turn.next_item().await?;
            Some((item, turn))
        }))
    }

    async fn next_item(&mut self) -> Option<Result<LlmEvent, LlmError>> {
        match self.advance().await {
            Ok(Some(event)) => {
                self.yielded = true;
                Some(Ok(event))
            }
            Ok(None) => None,
            Err(error) => {
                // After an error the stream is over; drop the connection now.
                self.finished = true;
                self.pending.clear();
                self.bytes = None;
                Some(Err(error))
            }
        }
    }

    async fn advance(&mut self) -> Result<Option<LlmEvent>, LlmError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(Some(event));
            }
            if self.finished {
                return Ok(None);
            }
            let Some(bytes) = self.bytes.as_mut() else {
                match self.open().await? {
                    Opened::Sse(stream) => self.bytes = Some(stream),
                    Opened::Json(body) => self.handle_json_body(&body)?,
                }
                continue;
            };
            let (wait_until, limit) = if self.yielded {
                let stall = self.inner.config.stall_timeout;
                (Instant::now() + stall, stall)
            } else {
                let first = self.inner.config.timeout_first_token;
                (self.first_token_deadline, first)
            };
            let next = timeout_at(wait_until, bytes.next()).await;
            match next {
                Err(_) => return Err(LlmError::Timeout(limit)),
                Ok(Some(Ok(chunk))) => {
                    let events = self
                        .progress
                        .sse
                        .push(&chunk)
                        .map_err(|e| LlmError::Protocol(e.to_string()))?;
                    for data in events {
                        self.handle_data(&data)?;
                        if self.finished {
                            break;
                        }
                    }
                }
                Ok(Some(Err(error))) => {
                    let error = LlmError::Http(format!(
                        "reading the stream failed: {}",
                        error_chain(&error)
                    ));
                    self.retry_unless_started(error).await?;
                }
                Ok(None) => {
                    if let Err(error) = self.end_of_body() {
                        self.retry_unless_started(error).await?;
                    }
                }
            }
        }
    }

    /// The body broke off. While nothing has reached the caller the request is simply sent
    /// again (within the retry count and the first-token deadline); afterwards it is an error.
    async fn retry_unless_started(&mut self, error: LlmError) -> Result<(), LlmError> {
        if self.yielded || self.attempts > self.inner.config.max_retries {
            return Err(error);
        }
        let delay = backoff(&self.inner.config, self.attempts);
        if Instant::now() + delay >= self.first_token_deadline {
            return Err(error);
        }
        tracing::warn!(backend = %self.inner.name, %error, ?delay, "retrying");
        self.bytes = None;
        self.progress = Progress::default();
        self.pending.clear();
        sleep(delay).await;
        Ok(())
    }

    /// The server closed the body without `[DONE]`.
    fn end_of_body(&mut self) -> Result<(), LlmError> {
        if let Some(data) = self.progress.sse.finish() {
            self.handle_data(&data)?;
            if self.finished {
                return Ok(());
            }
        }
        // Without a finish_reason the answer (or a tool call's arguments) may be cut short.
        if self.progress.finish_reason.is_none() {
            return Err(LlmError::Protocol(
                "the server closed the stream before the completion finished".into(),
            ));
        }
        // A finish_reason arrived: the answer is complete, only the terminator is missing.
        self.complete()
    }

    /// Sends the request, retrying per spec §1.3 until a success, a final error or the
    /// first-token deadline.
    async fn open(&mut self) -> Result<Opened, LlmError> {
        let config = &self.inner.config;
        let first_token = config.timeout_first_token;
        loop {
            self.attempts += 1;
            let request = self
                .inner
                .http
                .post(self.inner.endpoint.clone())
                .headers(self.inner.headers.clone())
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .header(ACCEPT, HeaderValue::from_static("text/event-stream"))
                .body(self.body.clone());
            let sent = timeout_at(self.first_token_deadline, request.send()).await;
            let (error, delay) = match sent {
                Err(_) => return Err(LlmError::Timeout(first_token)),
                Ok(Err(error)) => {
                    let retry = !error.is_builder();
                    let delay = retry.then(|| backoff(config, self.attempts));
                    (LlmError::Http(error_chain(&error)), delay)
                }
                Ok(Ok(response)) if response.status().is_success() => {
                    let is_json = response
                        .headers()
                        .get(CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.starts_with("application/json"));
                    if is_json {
                        let body = Self::read_limited(
                            response,
                            JSON_BODY_LIMIT,
                            self.first_token_deadline,
                            first_token,
                        )
                        .await?;
                        return Ok(Opened::Json(body));
                    }
                    let stream = response.bytes_stream().map(|r| r.map(|b| b.to_vec()));
                    return Ok(Opened::Sse(Box::pin(stream)));
                }
                Ok(Ok(response)) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    let body = Self::read_limited(
                        response,
                        ERROR_BODY_LIMIT,
                        self.first_token_deadline,
                        first_token,
                    )
                    .await?;
                    let body = String::from_utf8_lossy(&body);
                    let code = wire::error_code(&body);
                    let delay =
                        retry_delay(config, status, &headers, code.as_deref(), self.attempts);
                    let mut message = wire::error_message(&body);
                    if message.is_empty() {
                        message = status.canonical_reason().unwrap_or("no reason").to_owned();
                    }
                    let status = status.as_u16();
                    (LlmError::Status { status, message }, delay)
                }
            };
            let Some(delay) = delay else {
                return Err(error);
            };
            if self.attempts > config.max_retries
                || Instant::now() + delay >= self.first_token_deadline
            {
                return Err(error);
            }
            tracing::warn!(backend = %self.inner.name, %error, ?delay, "retrying");
            sleep(delay).await;
        }
    }

    /// Reads a whole response body (error or non-streamed completion), bounded in size and by
    /// the first-token deadline.
    /// (Takes no `&self`: the byte stream field is not `Sync`, so a `&Turn` held across an
    /// await would make the whole stream non-`Send`.)
    async fn read_limited(
        mut response: reqwest::Response,
        limit: usize,
        deadline: Instant,
        first_token: Duration,
    ) -> Result<Vec<u8>, LlmError> {
        let mut body = Vec::new();
        let read = async {
            while let Some(chunk) = response.chunk().await? {
                let room = limit.saturating_sub(body.len());
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if body.len() >= limit {
                    break;
                }
            }
            Ok::<_, reqwest::Error>(())
        };
        match timeout_at(deadline, read).await {
            Err(_) => Err(LlmError::Timeout(first_token)),
            Ok(Err(error)) => Err(LlmError::Http(error_chain(&error))),
            Ok(Ok(())) => Ok(body),
        }
    }

    /// One SSE `data` payload.
    fn handle_data(&mut self, data: &str) -> Result<(), LlmError> {
        let data = data.trim();
        if data == "[DONE]" {
            return self.complete();
        }
        if data.is_empty() {
            return Ok(());
        }
        match serde_json::from_str::<Chunk>(data) {
            Ok(chunk) => self.handle_chunk(chunk),
            Err(error) => {
                // Servers that put several `data:` lines back to back without the blank line
                // between events get them joined with '\n' by the SSE rules: split them again.
                if data.contains('\n') {
                    for line in data.lines() {
                        self.handle_data(line)?;
                        if self.finished {
                            break;
                        }
                    }
                    return Ok(());
                }
                Err(LlmError::Protocol(format!(
                    "invalid JSON in stream ({error}): {}",
                    wire::excerpt(data)
                )))
            }
        }
    }

    fn handle_chunk(&mut self, chunk: Chunk) -> Result<(), LlmError> {
        if let Some(error) = &chunk.error {
            let message = wire::error_message_json(&serde_json::json!({ "error": error }))
                .unwrap_or_else(|| error.to_string());
            return Err(LlmError::Backend(format!(
                "server reported an error mid-stream: {message}"
            )));
        }
        if let Some(usage) = chunk.usage() {
            self.progress.usage = Some(usage);
        }
        for choice in chunk.choices.unwrap_or_default() {
            if let Some(delta) = choice.delta.or(choice.message) {
                if let Some(text) = delta.content.filter(|text| !text.is_empty()) {
                    self.pending.push_back(LlmEvent::TextDelta(text));
                }
                for fragment in delta.tool_calls.unwrap_or_default() {
                    self.progress.tools.push(fragment);
                }
            }
            if let Some(reason) = choice.finish_reason.filter(|r| !r.is_empty()) {
                self.progress.finish_reason = Some(reason);
                // The calls are complete once the choice finishes, whatever the reason says
                // (Gemini says "stop" after tool calls); hand them over without waiting for
                // the usage chunk.
                self.flush_tool_calls()?;
            }
        }
        Ok(())
    }

    fn flush_tool_calls(&mut self) -> Result<(), LlmError> {
        let calls = self.progress.tools.drain()?;
        self.pending
            .extend(calls.into_iter().map(LlmEvent::ToolCall));
        Ok(())
    }

    /// The completion is over: emit the remaining calls and `Done`, then stop reading (some
    /// servers keep the connection open after `[DONE]`).
    fn complete(&mut self) -> Result<(), LlmError> {
        self.flush_tool_calls()?;
        let finish_reason = self.progress.finish_reason.take().unwrap_or_else(|| {
            if self
                .pending
                .iter()
                .any(|e| matches!(e, LlmEvent::ToolCall(_)))
            {
                "tool_calls".into()
            } else {
                "stop".into()
            }
        });
        self.pending.push_back(LlmEvent::Done {
            finish_reason,
            usage: self.progress.usage,
        });
        self.finished = true;
        self.bytes = None;
        Ok(())
    }

    /// A server that ignored `stream: true` answered with one `chat.completion` object.
    fn handle_json_body(&mut self, body: &[u8]) -> Result<(), LlmError> {
        let chunk: Chunk = serde_json::from_slice(body).map_err(|error| {
            LlmError::Protocol(format!(
                "invalid completion JSON ({error}): {}",
                wire::excerpt(&String::from_utf8_lossy(body))
            ))
        })?;
        self.handle_chunk(chunk)?;
        self.complete()
    }
}
