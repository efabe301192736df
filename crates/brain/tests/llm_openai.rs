//! The OpenAI-compatible client against a fake server speaking real SSE bytes: streaming,
//! tool-call assembly, compatible servers' quirks, retries, errors and timeouts.

#[path = "support/fake_openai.rs"]
mod fake_openai;

use std::time::{Duration, Instant};

use brain::llm::openai::{MaxTokensField, OpenAiClient, OpenAiConfig, OpenAiConfigError};
use brain::llm::{
    ChatMessage, ChatRequest, LlmBackend, LlmError, LlmEvent, Role, ToolCall, ToolSpec, Usage,
};
use fake_openai::{chunk, done, finish, text, usage, FakeServer, Part, Reply};
use futures_util::StreamExt;
use serde_json::json;

fn config(server: &FakeServer) -> OpenAiConfig {
    let mut config = OpenAiConfig::new(&server.base_url, "test-model");
    config.timeout_first_token = Duration::from_secs(2);
    config.stall_timeout = Duration::from_millis(300);
    config.retry_base_delay = Duration::from_millis(10);
    config
}

fn hello() -> ChatRequest {
    ChatRequest {
        messages: vec![ChatMessage::user("hello")],
        ..ChatRequest::default()
    }
}

async fn collect(config: OpenAiConfig, request: ChatRequest) -> Vec<Result<LlmEvent, LlmError>> {
    let client = OpenAiClient::new(config).expect("valid config");
    client.stream_chat(request).collect().await
}

async fn events(config: OpenAiConfig, request: ChatRequest) -> Vec<LlmEvent> {
    collect(config, request)
        .await
        .into_iter()
        .map(|item| item.expect("no error"))
        .collect()
}

fn delta(s: &str) -> LlmEvent {
    LlmEvent::TextDelta(s.into())
}

fn done_with(reason: &str) -> LlmEvent {
    LlmEvent::Done {
        finish_reason: reason.into(),
        usage: None,
    }
}

fn call(id: &str, name: &str, arguments: &str) -> LlmEvent {
    LlmEvent::ToolCall(ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: arguments.into(),
    })
}

#[tokio::test]
async fn streamed_text_arrives_as_deltas_in_order() {
    let server = FakeServer::start(vec![Reply::events(&[
        chunk(json!({"role": "assistant", "content": ""}), None),
        text("Sure"),
        text(", Friday"),
        text(" works."),
        finish("stop"),
        done(),
    ])])
    .await;
    let got = events(config(&server), hello()).await;
    assert_eq!(
        got,
        vec![
            delta("Sure"),
            delta(", Friday"),
            delta(" works."),
            done_with("stop")
        ]
    );
}

#[tokio::test]
async fn events_split_across_network_reads_are_reassembled() {
    let whole = format!(
        "data: {}\n\ndata: {}\n\ndata: [DONE]\n\n",
        text("héllo"),
        finish("stop")
    );
    // Cut inside the two-byte 'é' (so inside the JSON too); the pause forces two reads.
    let cut = whole.find('é').unwrap() + 1;
    let (a, b) = whole.as_bytes().split_at(cut);
    let parts = vec![
        Part::Bytes(a.to_vec()),
        Part::Pause(Duration::from_millis(20)),
        Part::Bytes(b.to_vec()),
    ];
    let server = FakeServer::start(vec![Reply::sse(parts)]).await;
    let got = events(config(&server), hello()).await;
    assert_eq!(got, vec![delta("héllo"), done_with("stop")]);
}

#[tokio::test]
async fn tool_call_arguments_split_across_chunks_are_assembled() {
    let server = FakeServer::start(vec![Reply::events(&[
        chunk(
            json!({"role": "assistant", "content": null, "tool_calls": [{"index": 0,
                "id": "call_abc", "type": "function",
                "function": {"name": "reschedule", "arguments": ""}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"da"}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "y\":\"fri"}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "day\"}"}}]}),
            None,
        ),
        finish("tool_calls"),
        done(),
    ])])
    .await;
    let got = events(config(&server), hello()).await;
    assert_eq!(
        got,
        vec![
            call("call_abc", "reschedule", r#"{"day":"friday"}"#),
            done_with("tool_calls")
        ]
    );
    let LlmEvent::ToolCall(tool_call) = &got[0] else {
        unreachable!()
    };
    let args: serde_json::Value = serde_json::from_str(&tool_call.arguments).unwrap();
    assert_eq!(args, json!({"day": "friday"}));
}

#[tokio::test]
async fn parallel_tool_calls_are_yielded_in_index_order() {
    let first = |i: u32, id: &str, name: &str| {
        chunk(
            json!({"tool_calls": [{"index": i, "id": id, "type": "function",
                "function": {"name": name, "arguments": ""}}]}),
            None,
        )
    };
    let args = |i: u32, a: &str| {
        chunk(
            json!({"tool_calls": [{"index": i, "function": {"arguments": a}}]}),
            None,
        )
    };
    let server = FakeServer::start(vec![Reply::events(&[
        first(0, "call_a", "check_slot"),
        first(1, "call_b", "lookup_customer"),
        args(1, "{\"phone\":"),
        args(0, "{\"day\":\"monday\"}"),
        args(1, "\"+15550100\"}"),
        finish("tool_calls"),
        done(),
    ])])
    .await;
    let got = events(config(&server), hello()).await;
    assert_eq!(
        got,
        vec![
            call("call_a", "check_slot", r#"{"day":"monday"}"#),
            call("call_b", "lookup_customer", r#"{"phone":"+15550100"}"#),
            done_with("tool_calls"),
        ]
    );
}

#[tokio::test]
async fn comments_and_data_without_space_are_accepted() {
    let body = format!(
        ": OPENROUTER PROCESSING\n\n:keep-alive\ndata:{}\n\nevent: message\ndata: {}\n\r\ndata:{}\n\ndata:[DONE]\n\n",
        text("Hi"),
        text(" there"),
        finish("stop")
    );
    let server = FakeServer::start(vec![Reply::sse(vec![Part::Text(body)])]).await;
    let got = events(config(&server), hello()).await;
    assert_eq!(got, vec![delta("Hi"), delta(" there"), done_with("stop")]);
}

#[tokio::test]
async fn usage_chunk_with_empty_choices_is_reported_in_done() {
    let server = FakeServer::start(vec![Reply::events(&[
        text("Ok."),
        finish("stop"),
        usage(50, 12),
        done(),
    ])])
    .await;
    let mut config = config(&server);
    config.include_usage = true;
    let got = events(config, hello()).await;
    assert_eq!(
        got,
        vec![
            delta("Ok."),
            LlmEvent::Done {
                finish_reason: "stop".into(),
                usage: Some(Usage {
                    prompt_tokens: 50,
                    completion_tokens: 12
                }),
            }
        ]
    );
    let body = server.requests()[0].json();
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
}

#[tokio::test]
async fn compatible_server_gets_no_stream_options_by_default() {
    let server = FakeServer::start(vec![Reply::events(&[finish("stop"), done()])]).await;
    events(config(&server), hello()).await;
    assert!(server.requests()[0].json().get("stream_options").is_none());
}

#[tokio::test]
async fn rate_limit_is_retried_after_retry_after() {
    let server = FakeServer::start(vec![
        Reply::json(
            429,
            json!({"error": {"message": "Rate limit reached", "type": "requests",
                              "param": null, "code": "rate_limit_exceeded"}}),
        )
        .header("retry-after", "0"),
        Reply::events(&[text("Hello"), finish("stop"), done()]),
    ])
    .await;
    let got = events(config(&server), hello()).await;
    assert_eq!(got, vec![delta("Hello"), done_with("stop")]);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn server_error_is_retried_then_succeeds() {
    let server = FakeServer::start(vec![
        Reply::json(
            500,
            json!({"error": {"message": "The server had an error"}}),
        ),
        Reply::text(503, "upstream overloaded"),
        Reply::events(&[text("Back."), finish("stop"), done()]),
    ])
    .await;
    let got = events(config(&server), hello()).await;
    assert_eq!(got, vec![delta("Back."), done_with("stop")]);
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn retries_stop_after_max_retries_with_the_last_error() {
    let overloaded = Reply::json(503, json!({"error": {"message": "overloaded"}}));
    let server = FakeServer::start(vec![overloaded; 5]).await;
    let mut config = config(&server);
    config.max_retries = 2;
    let got = collect(config, hello()).await;
    assert_eq!(got.len(), 1);
    match &got[0] {
        Err(LlmError::Status {
            status: 503,
            message,
        }) => assert_eq!(message, "overloaded"),
        other => panic!("expected 503, got {other:?}"),
    }
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn bad_request_fails_at_once_with_the_server_message() {
    let server = FakeServer::start(vec![
        Reply::json(
            400,
            json!({"error": {"message": "Unsupported parameter: 'max_tokens'",
                              "type": "invalid_request_error", "param": "max_tokens",
                              "code": "unsupported_parameter"}}),
        ),
        Reply::events(&[text("never"), finish("stop"), done()]),
    ])
    .await;
    let got = collect(config(&server), hello()).await;
    assert_eq!(got.len(), 1);
    let error = got.into_iter().next().unwrap().unwrap_err();
    assert!(matches!(error, LlmError::Status { status: 400, .. }));
    assert_eq!(
        error.to_string(),
        "LLM server answered 400: Unsupported parameter: 'max_tokens' (unsupported_parameter)"
    );
    assert_eq!(server.requests().len(), 1, "a 400 is not retried");
}

#[tokio::test]
async fn exhausted_quota_is_not_retried() {
    let server = FakeServer::start(vec![Reply::json(
        429,
        json!({"error": {"message": "You exceeded your current quota",
                          "type": "insufficient_quota", "code": "insufficient_quota"}}),
    )
    .header("retry-after", "0")])
    .await;
    let got = collect(config(&server), hello()).await;
    assert!(matches!(got[0], Err(LlmError::Status { status: 429, .. })));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn stalled_stream_times_out_within_the_stall_timeout() {
    let server = FakeServer::start(vec![Reply::sse(vec![
        Part::Text(format!("data: {}\n\n", text("Let me check"))),
        Part::Pause(Duration::from_secs(30)),
    ])])
    .await;
    let started = Instant::now();
    let got = collect(config(&server), hello()).await;
    let elapsed = started.elapsed();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].as_ref().unwrap(), &delta("Let me check"));
    assert!(matches!(got[1], Err(LlmError::Timeout(d)) if d == Duration::from_millis(300)));
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
    assert_eq!(server.requests().len(), 1, "no retry once text was yielded");
}

#[tokio::test]
async fn silent_server_hits_the_first_token_timeout() {
    // Headers and a keep-alive comment, then nothing: the model never starts.
    let server = FakeServer::start(vec![Reply::sse(vec![
        Part::Text(": processing\n\n".into()),
        Part::Pause(Duration::from_secs(30)),
    ])])
    .await;
    let mut config = config(&server);
    config.timeout_first_token = Duration::from_millis(400);
    let started = Instant::now();
    let got = collect(config, hello()).await;
    assert!(matches!(got[..], [Err(LlmError::Timeout(d))] if d == Duration::from_millis(400)));
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn connection_closed_mid_answer_is_an_error_not_a_retry() {
    let server = FakeServer::start(vec![
        Reply::events(&[text("Your appointment")]),
        Reply::events(&[text("Your appointment is moved."), finish("stop"), done()]),
    ])
    .await;
    let got = collect(config(&server), hello()).await;
    assert_eq!(got[0].as_ref().unwrap(), &delta("Your appointment"));
    assert!(matches!(got[1], Err(LlmError::Protocol(_))), "{:?}", got[1]);
    assert_eq!(got.len(), 2);
    assert_eq!(
        server.requests().len(),
        1,
        "text already yielded must not repeat"
    );
}

#[tokio::test]
async fn stream_broken_before_the_first_token_is_retried() {
    let server = FakeServer::start(vec![
        Reply::sse(vec![Part::Text(": warming up\n\n".into()), Part::Abort]),
        // Closed cleanly but before any finish_reason: also incomplete.
        Reply::sse(vec![Part::Text(format!(
            "data: {}\n\n",
            chunk(json!({"role": "assistant"}), None)
        ))]),
        Reply::events(&[text("Hello."), finish("stop"), done()]),
    ])
    .await;
    let got = events(config(&server), hello()).await;
    assert_eq!(got, vec![delta("Hello."), done_with("stop")]);
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn stream_broken_after_text_is_an_http_error() {
    let server = FakeServer::start(vec![
        // The pause lets "Sure" leave the server before the abort (hyper drops unsent bytes).
        Reply::sse(vec![
            Part::Text(format!("data: {}\n\n", text("Sure"))),
            Part::Pause(Duration::from_millis(50)),
            Part::Abort,
        ]),
        Reply::events(&[text("Sure"), finish("stop"), done()]),
    ])
    .await;
    let got = collect(config(&server), hello()).await;
    assert_eq!(got[0].as_ref().unwrap(), &delta("Sure"));
    assert!(matches!(got[1], Err(LlmError::Http(_))), "{got:?}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn data_lines_without_blank_separators_are_still_split() {
    // The spec's tool-call example writes events back to back without blank lines.
    let body = format!(
        "data: {}\ndata: {}\ndata: [DONE]\n\n",
        text("One"),
        finish("stop")
    );
    let server = FakeServer::start(vec![Reply::sse(vec![Part::Text(body)])]).await;
    let got = events(config(&server), hello()).await;
    assert_eq!(got, vec![delta("One"), done_with("stop")]);
}

#[tokio::test]
async fn error_object_mid_stream_fails_the_turn() {
    let server = FakeServer::start(vec![Reply::events(&[
        text("Hm"),
        json!({"error": {"message": "The model is overloaded", "type": "server_error"}})
            .to_string(),
    ])])
    .await;
    let got = collect(config(&server), hello()).await;
    assert_eq!(got[0].as_ref().unwrap(), &delta("Hm"));
    let error = got[1].as_ref().unwrap_err().to_string();
    assert!(error.contains("The model is overloaded"), "{error}");
}

#[tokio::test]
async fn gemini_style_tool_call_without_index_and_stop_reason() {
    // Whole call in one delta, no index, empty id, finish_reason "stop" (spec §2 quirks).
    let server = FakeServer::start(vec![Reply::events(&[
        chunk(
            json!({"role": "assistant", "tool_calls": [{"id": "", "type": "function",
                "function": {"name": "end_call", "arguments": "{\"reason\":\"done\"}"}}]}),
            Some("stop"),
        ),
        done(),
    ])])
    .await;
    let got = events(config(&server), hello()).await;
    assert_eq!(
        got,
        vec![
            call("call_1", "end_call", r#"{"reason":"done"}"#),
            done_with("stop")
        ]
    );
}

#[tokio::test]
async fn server_ignoring_stream_flag_still_answers() {
    let server = FakeServer::start(vec![Reply::json(
        200,
        json!({"id": "chatcmpl-9", "object": "chat.completion",
               "choices": [{"index": 0, "finish_reason": "stop",
                            "message": {"role": "assistant", "content": "Hello!"}}],
               "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}),
    )])
    .await;
    let got = events(config(&server), hello()).await;
    assert_eq!(got[0], delta("Hello!"));
    assert!(matches!(&got[1], LlmEvent::Done { usage: Some(u), .. } if u.completion_tokens == 2));
}

#[tokio::test]
async fn unreachable_server_is_an_http_error() {
    // A port that was just free: connecting is refused at once.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut config = OpenAiConfig::new(format!("http://127.0.0.1:{port}/v1"), "m");
    config.retry_base_delay = Duration::from_millis(5);
    config.max_retries = 1;
    let got = collect(config, hello()).await;
    assert!(matches!(got[..], [Err(LlmError::Http(_))]), "{got:?}");
}

#[tokio::test]
async fn request_body_follows_the_wire_format() {
    let server = FakeServer::start(vec![Reply::events(&[finish("stop"), done()])]).await;
    let mut config = config(&server);
    config.api_key = Some("sk-test".into());
    config.extra_headers = vec![("OpenAI-Project".into(), "proj_1".into())];
    let assistant = ChatMessage {
        role: Role::Assistant,
        content: None,
        tool_calls: vec![ToolCall {
            id: "call_abc".into(),
            name: "reschedule".into(),
            arguments: r#"{"day":"friday"}"#.into(),
        }],
        tool_call_id: None,
    };
    let parameters = json!({"type": "object",
        "properties": {"day": {"type": "string", "enum": ["monday", "friday"]}},
        "required": ["day"], "additionalProperties": false});
    let request = ChatRequest {
        messages: vec![
            ChatMessage::system("You are a phone agent."),
            ChatMessage::user("Can I move my appointment to Friday?"),
            assistant,
            ChatMessage::tool_result("call_abc", r#"{"ok":true}"#),
        ],
        tools: vec![ToolSpec {
            name: "reschedule".into(),
            description: "Move the caller's appointment".into(),
            parameters: parameters.clone(),
        }],
        temperature: Some(0.4),
        max_tokens: Some(200),
    };
    events(config, request).await;

    let recorded = &server.requests()[0];
    assert_eq!(recorded.path, "/v1/chat/completions");
    assert_eq!(recorded.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(recorded.header("openai-project"), Some("proj_1"));
    assert_eq!(recorded.header("content-type"), Some("application/json"));
    let expected = json!({
        "model": "test-model",
        "messages": [
            {"role": "system", "content": "You are a phone agent."},
            {"role": "user", "content": "Can I move my appointment to Friday?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_abc", "type": "function",
                 "function": {"name": "reschedule", "arguments": "{\"day\":\"friday\"}"}}]},
            {"role": "tool", "tool_call_id": "call_abc", "content": "{\"ok\":true}"}
        ],
        "tools": [{"type": "function", "function": {
            "name": "reschedule", "description": "Move the caller's appointment",
            "parameters": parameters}}],
        "tool_choice": "auto",
        "stream": true,
        "temperature": 0.4,
        "max_tokens": 200
    });
    assert_eq!(recorded.json(), expected);
}

#[tokio::test]
async fn max_completion_tokens_is_sent_when_configured() {
    let server = FakeServer::start(vec![Reply::events(&[finish("stop"), done()])]).await;
    let mut config = config(&server);
    config.max_tokens_field = MaxTokensField::MaxCompletionTokens;
    let request = ChatRequest {
        max_tokens: Some(64),
        ..hello()
    };
    events(config, request).await;
    let body = server.requests()[0].json();
    assert_eq!(body["max_completion_tokens"], json!(64));
    assert!(body.get("max_tokens").is_none());
    assert!(body.get("tools").is_none() && body.get("tool_choice").is_none());
}

#[test]
fn config_from_environment_variables() {
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    };
    let openai = OpenAiConfig::from_vars(vars(&[("OPENAI_API_KEY", "sk-1")])).unwrap();
    assert_eq!(openai.base_url, "https://api.openai.com/v1");
    assert_eq!(openai.model, "gpt-4o-mini");
    assert_eq!(openai.api_key.as_deref(), Some("sk-1"));
    assert_eq!(openai.max_tokens_field, MaxTokensField::MaxCompletionTokens);

    let ollama = OpenAiConfig::from_vars(vars(&[
        ("CALLPILOT_LLM_BASE_URL", "http://localhost:11434/v1"),
        ("CALLPILOT_LLM_MODEL", "llama3.1:8b"),
        ("CALLPILOT_LLM_API_KEY", "ollama"),
        ("OPENAI_API_KEY", "sk-ignored"),
    ]))
    .unwrap();
    assert_eq!(ollama.model, "llama3.1:8b");
    assert_eq!(ollama.api_key.as_deref(), Some("ollama"));
    assert_eq!(ollama.max_tokens_field, MaxTokensField::MaxTokens);
    assert!(!ollama.include_usage);

    assert!(matches!(
        OpenAiConfig::from_vars(vars(&[])),
        Err(OpenAiConfigError::MissingVar("OPENAI_API_KEY"))
    ));
    assert!(matches!(
        OpenAiConfig::from_vars(vars(&[(
            "CALLPILOT_LLM_BASE_URL",
            "http://localhost:8080/v1"
        )])),
        Err(OpenAiConfigError::MissingVar("CALLPILOT_LLM_MODEL"))
    ));
}

#[test]
fn client_rejects_bad_base_url_and_names_itself() {
    let bad = OpenAiClient::new(OpenAiConfig::new("localhost:8080", "m"));
    assert!(matches!(bad, Err(OpenAiConfigError::BaseUrl { .. })));
    let client = OpenAiClient::new(OpenAiConfig::new("http://localhost:8080/v1", "qwen")).unwrap();
    assert_eq!(client.name(), "openai-compatible:qwen@localhost:8080");
    let openai = OpenAiClient::new(OpenAiConfig::new(
        "https://api.openai.com/v1",
        "gpt-4o-mini",
    ));
    assert_eq!(openai.unwrap().name(), "openai:gpt-4o-mini");
}
