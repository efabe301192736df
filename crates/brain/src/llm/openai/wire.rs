//! The JSON of Chat Completions: the request body we send, the streamed chunks (and the
//! non-streamed completion some servers answer with anyway) we read, and error bodies.
//! Reading is lenient on purpose: compatible servers add, omit and mistype fields (spec §2).

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::MaxTokensField;
use crate::llm::{ChatMessage, ChatRequest, Role, Usage};

/// What decides the shape of the body besides the request itself.
pub(super) struct BodyOptions<'a> {
    pub model: &'a str,
    pub max_tokens_field: MaxTokensField,
    pub include_usage: bool,
}

/// Serializes `request` as a streamed Chat Completions body (spec §1.1).
pub(super) fn request_body(request: &ChatRequest, options: &BodyOptions<'_>) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), json!(options.model));
    let messages: Vec<Value> = request.messages.iter().map(message_json).collect();
    body.insert("messages".into(), Value::Array(messages));
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|tool| {
                json!({"type": "function", "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                }})
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
        // "auto" is the default when tools are given; saying it explicitly matters for vLLM,
        // whose auto tool choice is a server option that fails loudly if absent (spec §2).
        body.insert("tool_choice".into(), json!("auto"));
    }
    body.insert("stream".into(), json!(true));
    if options.include_usage {
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    if let Some(temperature) = request.temperature {
        body.insert("temperature".into(), f32_json(temperature));
    }
    if let Some(max_tokens) = request.max_tokens {
        let key = match options.max_tokens_field {
            MaxTokensField::MaxTokens => "max_tokens",
            MaxTokensField::MaxCompletionTokens => "max_completion_tokens",
        };
        body.insert(key.into(), json!(max_tokens));
    }
    Value::Object(body)
}

fn message_json(message: &ChatMessage) -> Value {
    let role = match message.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    let mut out = Map::new();
    out.insert("role".into(), json!(role));
    let calls_tools = message.role == Role::Assistant && !message.tool_calls.is_empty();
    let content = match &message.content {
        Some(text) => json!(text),
        // An assistant turn that only called tools has null content; every other role
        // requires a string.
        None if calls_tools => Value::Null,
        None => json!(""),
    };
    out.insert("content".into(), content);
    if calls_tools {
        let calls: Vec<Value> = message
            .tool_calls
            .iter()
            .map(|call| {
                json!({"id": call.id, "type": "function",
                       "function": {"name": call.name, "arguments": call.arguments}})
            })
            .collect();
        out.insert("tool_calls".into(), Value::Array(calls));
    }
    if message.role == Role::Tool {
        let id = message.tool_call_id.clone().unwrap_or_default();
        out.insert("tool_call_id".into(), json!(id));
    }
    Value::Object(out)
}

/// `serde_json` widens an `f32` to `f64`, turning 0.4 into 0.4000000059604645; going through
/// the shortest decimal text keeps the value the user wrote.
fn f32_json(value: f32) -> Value {
    value
        .to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// One `data:` payload of the stream (`chat.completion.chunk`). Unknown fields are ignored.
#[derive(Debug, Deserialize)]
pub(super) struct Chunk {
    #[serde(default)]
    pub choices: Option<Vec<ChunkChoice>>,
    #[serde(default)]
    pub usage: Option<WireUsage>,
    /// Groq reports usage here instead of in `usage`.
    #[serde(default)]
    pub x_groq: Option<GroqExtra>,
    /// A mid-stream failure (spec §1.2).
    #[serde(default)]
    pub error: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub(super) struct GroqExtra {
    #[serde(default)]
    pub usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ChunkChoice {
    #[serde(default)]
    pub delta: Option<Delta>,
    /// Non-streamed completions carry `message` instead of `delta`; same shape.
    #[serde(default)]
    pub message: Option<Delta>,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Delta {
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
}

/// One fragment of a tool call. Every field is optional: only OpenAI always sends `index`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ToolCallDelta {
    #[serde(default)]
    pub index: Option<u32>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub function: Option<FunctionDelta>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct FunctionDelta {
    #[serde(default)]
    pub name: Option<String>,
    /// A string fragment per OpenAI; some servers send the arguments as a JSON object.
    #[serde(default)]
    pub arguments: Option<Value>,
}

impl FunctionDelta {
    /// The arguments fragment as text, whatever JSON type the server used.
    pub fn arguments_text(&self) -> Option<String> {
        match self.arguments.as_ref()? {
            Value::Null => None,
            Value::String(text) => Some(text.clone()),
            other => Some(other.to_string()),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub(super) struct WireUsage {
    #[serde(default)]
    pub prompt_tokens: u32,
    #[serde(default)]
    pub completion_tokens: u32,
}

impl From<WireUsage> for Usage {
    fn from(usage: WireUsage) -> Self {
        Usage {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
        }
    }
}

impl Chunk {
    /// Usage, wherever this server put it.
    pub fn usage(&self) -> Option<Usage> {
        self.usage
            .or_else(|| self.x_groq.as_ref().and_then(|extra| extra.usage))
            .map(Usage::from)
    }
}

/// A short, readable message from an error body, whatever its shape (spec §2): an object with
/// `error` (an object with `message`, or a plain string), a top-level `message` (vLLM), an array
/// wrapping either (Gemini), else the raw text. `code`/`type` are appended when present so that
/// e.g. `insufficient_quota` is visible.
pub(super) fn error_message(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(value) => error_message_json(&value).unwrap_or_else(|| excerpt(body)),
        Err(_) => excerpt(body),
    }
}

/// The `error.code` (or `error.type`) of an error body, used to tell a retryable rate limit
/// from an exhausted quota.
pub(super) fn error_code(body: &str) -> Option<String> {
    let value: Value = serde_json::from_str(body).ok()?;
    let value = match &value {
        Value::Array(items) => items.first()?.clone(),
        other => other.clone(),
    };
    let error = value.get("error").unwrap_or(&value);
    ["code", "type"]
        .iter()
        .find_map(|key| error.get(key).and_then(Value::as_str).map(str::to_owned))
}

pub(super) fn error_message_json(value: &Value) -> Option<String> {
    match value {
        Value::Array(items) => items.first().and_then(error_message_json),
        Value::Object(object) => {
            let error = match object.get("error") {
                Some(Value::String(text)) => return Some(text.clone()),
                Some(error @ Value::Object(_)) => error,
                _ => value,
            };
            let message = error.get("message").and_then(Value::as_str)?;
            let code = ["code", "type"]
                .iter()
                .find_map(|key| match error.get(key) {
                    Some(Value::String(code)) if !code.is_empty() => Some(code.clone()),
                    Some(Value::Number(code)) => Some(code.to_string()),
                    _ => None,
                });
            Some(match code {
                Some(code) => format!("{message} ({code})"),
                None => message.to_owned(),
            })
        }
        _ => None,
    }
}

/// At most ~300 characters of a body, on one line, for error messages.
pub(super) fn excerpt(body: &str) -> String {
    const MAX: usize = 300;
    let flat: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= MAX {
        return flat;
    }
    let cut: String = flat.chars().take(MAX).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_shapes_of_compatible_servers() {
        let openai = r#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
        assert_eq!(
            error_message(openai),
            "Rate limit reached (rate_limit_exceeded)"
        );
        assert_eq!(error_code(openai).as_deref(), Some("rate_limit_exceeded"));
        let llama =
            r#"{"error":{"code":400,"message":"bad grammar","type":"invalid_request_error"}}"#;
        assert_eq!(error_message(llama), "bad grammar (400)");
        let vllm =
            r#"{"object":"error","message":"model not found","type":"NotFoundError","code":404}"#;
        assert_eq!(error_message(vllm), "model not found (404)");
        let gemini =
            r#"[{"error":{"code":400,"message":"API key not valid","status":"INVALID_ARGUMENT"}}]"#;
        assert_eq!(error_message(gemini), "API key not valid (400)");
        assert_eq!(error_message("upstream\n  exploded"), "upstream exploded");
        assert_eq!(error_message(r#"{"error":"nope"}"#), "nope");
    }

    #[test]
    fn temperature_keeps_its_decimal_value() {
        assert_eq!(f32_json(0.4).to_string(), "0.4");
    }
}
