//! Tools an agent's author defines as HTTP endpoints ("book_appointment" → POST to their
//! backend). The model's arguments go out as a JSON body; the answer comes back as text for the
//! next model turn.
//!
//! Failures the model can act on (bad arguments, the endpoint down, slow or answering an error)
//! come back as `Ok` with a JSON object `{"error": "..."}`: the model then apologises or asks
//! again instead of the call going silent. Only a misconfigured tool (bad URL or header, which
//! the model cannot fix) is an `Err`, so the operator sees it.

use std::sync::OnceLock;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::{Method, Url};
use serde_json::{json, Map, Value};

use super::openai::{error_chain, http_client};
use super::{LlmError, ToolSpec};

/// Longest response body handed to the model. Tool answers are meant to be short facts; a
/// whole web page would eat the context window and the latency budget.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024;

/// The HTTP method of a tool endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpMethod {
    /// Arguments as query parameters (a GET body is ignored by many servers).
    Get,
    #[default]
    Post,
    Put,
    Patch,
    Delete,
}

/// A function the model may call, served by an HTTP endpoint.
#[derive(Clone, PartialEq)]
pub struct HttpTool {
    /// `^[a-zA-Z0-9_-]{1,64}$`, the name the model calls.
    pub name: String,
    /// Tells the model when to call it.
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: Value,
    pub url: String,
    pub method: HttpMethod,
    /// Sent with every call (e.g. `Authorization`).
    pub headers: Vec<(String, String)>,
    /// Whole call limit, connection to last byte.
    pub timeout: Duration,
}

/// Header values usually carry credentials: only their names are shown.
impl std::fmt::Debug for HttpTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("HttpTool")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("parameters", &self.parameters)
            .field("url", &self.url)
            .field("method", &self.method)
            .field("headers", &header_names)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl HttpTool {
    /// A POST tool with no extra headers and a 5 s timeout.
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: Value,
        url: impl Into<String>,
    ) -> Self {
        HttpTool {
            name: name.into(),
            description: description.into(),
            parameters,
            url: url.into(),
            method: HttpMethod::Post,
            headers: Vec::new(),
            timeout: Duration::from_secs(5),
        }
    }

    /// How the model sees this tool.
    pub fn to_spec(&self) -> ToolSpec {
        ToolSpec {
            name: self.name.clone(),
            description: self.description.clone(),
            parameters: self.parameters.clone(),
        }
    }

    /// Checks what the model cannot fix: name, URL, headers, schema shape. Run it when the
    /// agent loads so a typo fails at startup rather than mid-call.
    pub fn validate(&self) -> Result<(), LlmError> {
        let name_ok = (1..=64).contains(&self.name.len())
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !name_ok {
            return Err(self.misconfigured("the name must match ^[a-zA-Z0-9_-]{1,64}$"));
        }
        if !self.parameters.is_object() {
            return Err(self.misconfigured("parameters must be a JSON Schema object"));
        }
        self.parsed_url()?;
        self.header_pairs()?;
        Ok(())
    }

    /// Calls the endpoint with the model's `arguments_json`; see the module docs for what is
    /// `Ok` and what is `Err`. Never panics.
    pub async fn call(&self, arguments_json: &str) -> Result<String, LlmError> {
        let arguments = match self.check_arguments(arguments_json) {
            Ok(arguments) => arguments,
            Err(problem) => return Ok(error_json(&problem)),
        };
        let mut url = self.parsed_url()?;
        let headers = self.header_pairs()?;
        let client = shared_client().map_err(|e| self.misconfigured(&e))?;

        let method = match self.method {
            HttpMethod::Get => Method::GET,
            HttpMethod::Post => Method::POST,
            HttpMethod::Put => Method::PUT,
            HttpMethod::Patch => Method::PATCH,
            HttpMethod::Delete => Method::DELETE,
        };
        if self.method == HttpMethod::Get {
            let mut query = url.query_pairs_mut();
            for (key, value) in &arguments {
                match value {
                    Value::String(text) => query.append_pair(key, text),
                    Value::Null => query.append_pair(key, ""),
                    other => query.append_pair(key, &other.to_string()),
                };
            }
        }
        let mut request = client.request(method, url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        if self.method != HttpMethod::Get {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(Value::Object(arguments).to_string());
        }

        let exchange = async {
            let mut response = request.send().await?;
            let status = response.status();
            let mut body = Vec::new();
            // One byte past the limit tells "exactly at the limit" from "cut".
            while let Some(chunk) = response.chunk().await? {
                let room = (MAX_RESPONSE_BYTES + 1).saturating_sub(body.len());
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if body.len() > MAX_RESPONSE_BYTES {
                    break;
                }
            }
            Ok::<_, reqwest::Error>((status, body))
        };
        let (status, body) = match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => {
                tracing::warn!(tool = %self.name, timeout = ?self.timeout, "tool timed out");
                return Ok(error_json(&format!(
                    "the {} service did not answer within {:?}",
                    self.name, self.timeout
                )));
            }
            Ok(Err(error)) => {
                // The details (host, OS error) go to the log, not to the model, which might
                // read them out to the caller.
                tracing::warn!(tool = %self.name, error = %error_chain(&error), "tool failed");
                return Ok(error_json(&format!(
                    "the {} service could not be reached",
                    self.name
                )));
            }
            Ok(Ok(answer)) => answer,
        };
        let text = truncated_text(&body);
        if !status.is_success() {
            tracing::warn!(tool = %self.name, %status, "tool answered an error");
            return Ok(json!({
                "error": format!("the {} service answered {status}", self.name),
                "status": status.as_u16(),
                "body": text,
            })
            .to_string());
        }
        if text.trim().is_empty() {
            return Ok(json!({"ok": true, "status": status.as_u16()}).to_string());
        }
        Ok(text)
    }

    /// The arguments as an object, or a sentence telling the model what is wrong.
    fn check_arguments(&self, arguments_json: &str) -> Result<Map<String, Value>, String> {
        // Servers send "" for a call without arguments.
        let text = if arguments_json.trim().is_empty() {
            "{}"
        } else {
            arguments_json
        };
        let arguments = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(arguments)) => arguments,
            Ok(_) => return Err("arguments must be a JSON object".into()),
            Err(error) => return Err(format!("arguments are not valid JSON: {error}")),
        };
        let missing: Vec<&str> = self
            .parameters
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|key| !arguments.contains_key(*key))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "missing required argument(s): {}",
                missing.join(", ")
            ));
        }
        Ok(arguments)
    }

    fn parsed_url(&self) -> Result<Url, LlmError> {
        let url = Url::parse(&self.url).map_err(|e| self.misconfigured(&format!("url: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(self.misconfigured("url: the scheme must be http or https"));
        }
        Ok(url)
    }

    fn header_pairs(&self) -> Result<Vec<(HeaderName, HeaderValue)>, LlmError> {
        self.headers
            .iter()
            .map(|(name, value)| {
                let header = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| self.misconfigured(&format!("invalid header name {name:?}")))?;
                let mut value = HeaderValue::from_str(value)
                    .map_err(|_| self.misconfigured(&format!("invalid value for header {name}")))?;
                // Tool headers usually carry credentials: keep them out of debug output.
                value.set_sensitive(true);
                Ok((header, value))
            })
            .collect()
    }

    fn misconfigured(&self, problem: &str) -> LlmError {
        LlmError::Backend(format!(
            "HTTP tool {:?} is misconfigured: {problem}",
            self.name
        ))
    }
}

fn error_json(message: &str) -> String {
    json!({ "error": message }).to_string()
}

/// The body as text, cut at [`MAX_RESPONSE_BYTES`] on a character boundary, with a marker so
/// the model knows it did not see everything.
fn truncated_text(body: &[u8]) -> String {
    if body.len() <= MAX_RESPONSE_BYTES {
        return String::from_utf8_lossy(body).into_owned();
    }
    let mut text = String::from_utf8_lossy(&body[..MAX_RESPONSE_BYTES]).into_owned();
    // A multi-byte character cut at the limit decodes as U+FFFD: drop it.
    if text.ends_with('\u{fffd}') {
        text.pop();
    }
    text.push_str(" …[truncated]");
    text
}

/// One client for all tools: connections to the same backend are reused across calls.
fn shared_client() -> Result<reqwest::Client, String> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| http_client(Duration::from_secs(5)))
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool() -> HttpTool {
        HttpTool::new(
            "reschedule",
            "Move the appointment",
            json!({"type": "object", "properties": {"day": {"type": "string"}}, "required": ["day"]}),
            "http://127.0.0.1:9/tool",
        )
    }

    #[test]
    fn arguments_must_be_an_object_with_required_keys() {
        let t = tool();
        assert!(t.check_arguments(r#"{"day":"friday"}"#).is_ok());
        assert_eq!(
            t.check_arguments("{}").unwrap_err(),
            "missing required argument(s): day"
        );
        assert_eq!(
            t.check_arguments("[1]").unwrap_err(),
            "arguments must be a JSON object"
        );
        assert!(t
            .check_arguments("{\"day\":")
            .unwrap_err()
            .starts_with("arguments are not valid JSON"));
    }

    #[test]
    fn validate_rejects_bad_names_urls_and_headers() {
        assert!(tool().validate().is_ok());
        let mut t = tool();
        t.name = "book appointment".into();
        assert!(t.validate().is_err());
        let mut t = tool();
        t.url = "file:///etc/passwd".into();
        assert!(t.validate().is_err());
        let mut t = tool();
        t.headers = vec![("Bad Header".into(), "x".into())];
        assert!(t.validate().is_err());
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        // The limit falls inside a two-byte character.
        let body = format!("a{}", "é".repeat(MAX_RESPONSE_BYTES));
        let text = truncated_text(body.as_bytes());
        assert!(text.ends_with(" …[truncated]"));
        assert!(!text.contains('\u{fffd}'));
        assert!(text.len() <= MAX_RESPONSE_BYTES + " …[truncated]".len());
    }
}
