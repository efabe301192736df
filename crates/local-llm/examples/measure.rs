//! Measures the embedded model on a phone-agent prompt: load time, first-token latency cold and
//! with the system prompt's KV cache reused, generation speed, resident memory.
//!
//! `cargo run --release -p local-llm --example measure [-- THREADS]`
//! (models from `$CALLPILOT_MODELS_DIR`, else `./models`; installed when missing).

use std::path::PathBuf;
use std::time::Instant;

use brain::llm::{ChatMessage, ChatRequest, LlmBackend, LlmEvent};
use futures_util::StreamExt;
use local_llm::{install_model, LlamaBackend, LlamaConfig, TurnStats};

const SYSTEM: &str = include_str!("../tests/data/phone_agent_system.txt");

/// A `/proc/self/status` field in MB (Linux only; 0 elsewhere).
fn proc_status_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn turn(backend: &LlamaBackend, label: &str, messages: Vec<ChatMessage>) -> String {
    let started = Instant::now();
    let mut stream = backend.stream_chat(ChatRequest {
        messages,
        ..ChatRequest::default()
    });
    let mut text = String::new();
    let mut first_delta = None;
    while let Some(event) = stream.next().await {
        match event.expect("stream event") {
            LlmEvent::TextDelta(delta) => {
                first_delta.get_or_insert_with(|| started.elapsed());
                text.push_str(&delta);
            }
            LlmEvent::Done { .. } => break,
            LlmEvent::ToolCall(_) => unreachable!("the local backend never calls tools"),
        }
    }
    let s: TurnStats = backend.last_turn().expect("stats");
    let gen = s.total.saturating_sub(s.first_token).as_secs_f64();
    let tps = if gen > 0.0 {
        f64::from(s.completion_tokens.saturating_sub(1)) / gen
    } else {
        0.0
    };
    println!(
        "{label:<22} prompt {:>3} tok (reused {:>3}) | prompt eval {:>5.0} ms | first token {:>5.0} ms \
         (first text {:>5.0} ms) | {:>3} tok at {:>5.1} tok/s | total {:>5.0} ms",
        s.prompt_tokens,
        s.reused_tokens,
        s.prompt_eval.as_secs_f64() * 1e3,
        s.first_token.as_secs_f64() * 1e3,
        first_delta.unwrap_or_default().as_secs_f64() * 1e3,
        s.completion_tokens,
        tps,
        s.total.as_secs_f64() * 1e3,
    );
    println!("{:<22} -> {:?}", "", text.trim());
    text
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let threads = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2);
    let models = std::env::var_os("CALLPILOT_MODELS_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from("./models"), PathBuf::from);
    let gguf = install_model(&models).expect("install model");
    let rss_before = proc_status_mb("VmRSS:");
    let backend = LlamaBackend::load(
        &gguf,
        LlamaConfig {
            threads,
            ..LlamaConfig::default()
        },
    )
    .expect("load");
    println!(
        "model {} | threads {threads} | load {:.0} ms | RSS {:.0} MB -> {:.0} MB after load",
        gguf.display(),
        backend.load_time().as_secs_f64() * 1e3,
        rss_before,
        proc_status_mb("VmRSS:"),
    );

    let q1 = "How much is the premium plan?";
    let a1 = turn(
        &backend,
        "cold (call 1, turn 1)",
        vec![ChatMessage::system(SYSTEM), ChatMessage::user(q1)],
    )
    .await;
    let q2 = "And is the router included?";
    turn(
        &backend,
        "reuse (call 1, turn 2)",
        vec![
            ChatMessage::system(SYSTEM),
            ChatMessage::user(q1),
            ChatMessage::assistant(a1),
            ChatMessage::user(q2),
        ],
    )
    .await;
    for (i, q) in [
        "How much is the basic plan?",
        "When are you open on Saturday?",
        "How much is the premium plan?",
    ]
    .iter()
    .enumerate()
    {
        turn(
            &backend,
            &format!("reuse (call {}, turn 1)", i + 2),
            vec![ChatMessage::system(SYSTEM), ChatMessage::user(*q)],
        )
        .await;
    }
    println!(
        "RSS now {:.0} MB, peak {:.0} MB",
        proc_status_mb("VmRSS:"),
        proc_status_mb("VmHWM:")
    );
}
