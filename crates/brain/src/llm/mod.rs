//! Language models behind one streaming interface: any OpenAI-compatible Chat Completions server
//! ([`openai`]) or an embedded model (the `local-llm` crate). The brain only sees [`LlmBackend`].

pub mod http_tool;
pub mod openai;
pub mod sse;

use std::pin::Pin;

use futures_util::Stream;
use serde::{Deserialize, Serialize};

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

/// A tool call requested by the model (arguments are the raw JSON text it produced).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// One message of the conversation sent to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: Role,
    /// Text content (None for an assistant message that only called tools).
    pub content: Option<String>,
    /// Tool calls made by the assistant in this message.
    pub tool_calls: Vec<ToolCall>,
    /// For `Role::Tool`: which call this result answers.
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    pub fn system(text: impl Into<String>) -> Self {
        Self::text(Role::System, text)
    }
    pub fn user(text: impl Into<String>) -> Self {
        Self::text(Role::User, text)
    }
    pub fn assistant(text: impl Into<String>) -> Self {
        Self::text(Role::Assistant, text)
    }
    pub fn tool_result(call_id: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: Role::Tool,
            content: Some(content.into()),
            tool_calls: Vec::new(),
            tool_call_id: Some(call_id.into()),
        }
    }
    fn text(role: Role, text: impl Into<String>) -> Self {
        ChatMessage {
            role,
            content: Some(text.into()),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: serde_json::Value,
}

/// One request for a streamed completion.
#[derive(Debug, Clone, Default)]
pub struct ChatRequest {
    pub messages: Vec<ChatMessage>,
    pub tools: Vec<ToolSpec>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
}

/// Token usage reported at the end of a stream, when the backend knows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

/// What a streamed completion yields, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum LlmEvent {
    /// More reply text.
    TextDelta(String),
    /// A complete tool call (fragments already assembled).
    ToolCall(ToolCall),
    /// The completion ended (`finish_reason` as the server said: "stop", "tool_calls", "length"...).
    Done {
        finish_reason: String,
        usage: Option<Usage>,
    },
}

/// Why a completion failed.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("LLM request failed: {0}")]
    Http(String),
    #[error("LLM server answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("LLM stream stalled or timed out after {0:?}")]
    Timeout(std::time::Duration),
    #[error("LLM stream is malformed: {0}")]
    Protocol(String),
    #[error("LLM backend failed: {0}")]
    Backend(String),
}

/// A stream of [`LlmEvent`]s.
pub type LlmStream = Pin<Box<dyn Stream<Item = Result<LlmEvent, LlmError>> + Send>>;

/// A chat model that streams its answer.
pub trait LlmBackend: Send + Sync {
    /// Name for logs and call events (e.g. "openai:gpt-4o-mini", "llama.cpp:smollm2-135m").
    fn name(&self) -> &str;
    /// Starts a streamed completion. Errors may arrive as the first stream item.
    fn stream_chat(&self, request: ChatRequest) -> LlmStream;
}
