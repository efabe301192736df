//! Local-stack latency (issue 8, item 3): the real server in this process with the embedded
//! models the product ships (Whisper tiny.en STT, Piper TTS, the intent brain and optionally the
//! embedded LLM), one simulated Twilio call asking spoken questions in real time, and per turn
//! the caller's voice-to-voice split into endpointing, STT, brain and TTS.
//!
//! Where each figure comes from:
//! - voice-to-voice: the caller ([`caller`]), end of its last voiced frame → first agent frame;
//! - STT and Piper compute: stopwatches around the model calls ([`timed`]);
//! - endpointing: the caller's end of speech → Whisper starting (same process, same clock);
//! - brain (transcript → first reply text) and TTS (first reply text → first audio): the
//!   engine's `TurnTimings` as the server stored them in the call's turns.
//!
//! Bounded: at most [`MAX_QUESTIONS`] questions, a hard time limit, loopback only.

pub mod caller;
pub mod report;
pub mod split;
pub mod timed;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use speech::Tts;

use crate::proc_stats::machine_load;
use caller::{CallOutcome, CallerPlan, Question};
use split::{AskedMs, SpanMs, SplitSummary, StoredAgentTurn, TurnSplit};
use timed::{Span, SpanLog, TimedStt, TimedTts};

/// Most questions one run may ask.
pub const MAX_QUESTIONS: usize = 100;
/// Longest a run may take, whatever `time_limit` says.
pub const MAX_TIME_LIMIT: Duration = Duration::from_secs(3600);
/// How far (ms) a stored turn's first audio may be from the frame the caller received and still
/// count as the same turn (frames cross loopback in well under a millisecond; the slack covers
/// a starved runtime on a busy machine).
const MATCH_TOLERANCE_MS: f64 = 250.0;

/// What the caller asks, cycled. Price and plan questions are answered by intents with a
/// product; the others have no intent in agents/demo.toml, so they measure the fallback (or
/// the LLM with `--llm local`). No two fallbacks follow each other (the agent would offer a
/// person), and nothing ends or transfers the call.
pub const QUESTIONS: &[&str] = &[
    "How much is the premium plan?",
    "What are your opening hours?",
    "What does the basic plan cost?",
    "Do you ship to Canada?",
    "What's included in enterprise?",
    "Hello, is anyone there?",
    "How expensive is enterprise?",
    "Do you have a free trial?",
    "Tell me more about the basic plan.",
    "Can you repeat that?",
    "What's the monthly fee for premium?",
    "How much do you charge?",
];

/// The brain's language model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LlmChoice {
    /// Intents and extractive answers only (the product's default without an LLM configured).
    None,
    /// The embedded llama.cpp model (SmolLM2-135M) for what no intent answers.
    Local,
}

/// What to run.
#[derive(Debug, Clone, Serialize)]
pub struct LocalConfig {
    pub questions: usize,
    pub llm: LlmChoice,
    /// The agent answering (TOML file).
    pub agent: PathBuf,
    /// Where `callpilot models install` put the models.
    pub models_dir: PathBuf,
    /// Threads per Whisper transcription (the product's default is 2).
    pub stt_threads: usize,
    /// The whole run (models, call, read-back) stops after this.
    pub time_limit: Duration,
    /// The caller moves on when the agent has not started answering within this time...
    pub answer_timeout: Duration,
    /// ...or has not finished a started answer within `answer_timeout` + this.
    pub max_answer: Duration,
    /// The answer counts as finished after this much agent silence.
    pub agent_quiet: Duration,
}

impl LocalConfig {
    /// The defaults of `callpilot-bench local` for `questions` questions and `models_dir`.
    pub fn new(questions: usize, models_dir: PathBuf) -> Self {
        LocalConfig {
            questions,
            llm: LlmChoice::None,
            agent: PathBuf::from("agents/demo.toml"),
            models_dir,
            stt_threads: 2,
            time_limit: Duration::from_secs(900),
            answer_timeout: Duration::from_secs(20),
            max_answer: Duration::from_secs(60),
            agent_quiet: Duration::from_millis(1500),
        }
    }
}

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("--questions must be 1..={MAX_QUESTIONS}, got {0}")]
    Questions(usize),
    #[error("the time limit must be 1..={} s", MAX_TIME_LIMIT.as_secs())]
    TimeLimit,
    #[error("models missing (run `make models` or `callpilot models install`): {}", .0.join(", "))]
    ModelsMissing(Vec<String>),
    #[error("speech: {0}")]
    Speech(#[from] speech::SpeechError),
    #[error("espeak-ng produced no audible speech for {0:?}")]
    Silent(String),
    #[error("local LLM: {0}")]
    Llm(#[from] local_llm::LocalLlmError),
    #[error("agent {0}: {1}")]
    Agent(String, String),
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    #[error("runtime: {0}")]
    Io(#[from] std::io::Error),
    #[error("call: {0}")]
    Call(String),
}

/// One question's record.
#[derive(Debug, Clone, Serialize)]
pub struct TurnResult {
    pub question: String,
    /// What Whisper heard (the stored caller turn before the answer).
    pub transcript: Option<String>,
    /// The intent the brain recognised in it, when it recorded one.
    pub intent: Option<String>,
    /// What the agent said (as far as it was heard).
    pub reply: Option<String>,
    /// Agent audio received for this question, ms.
    pub answer_audio_ms: u64,
    /// Agent audio that arrived while the caller was still asking (answer to a fragment).
    pub talked_over_ms: u64,
    /// The caller moved on before the answer finished (or started).
    pub timed_out: bool,
    #[serde(flatten)]
    pub split: TurnSplit,
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct LocalReport {
    pub config: LocalConfig,
    /// `nproc`, `/proc/loadavg` and running processes when the run started.
    pub nproc: usize,
    pub load_average_at_start: String,
    pub machine_at_start: String,
    pub cpu: String,
    pub stt: String,
    pub tts: String,
    /// Sentence embeddings for intents (lexical matching without them).
    pub embedder: bool,
    pub llm: Option<String>,
    pub models_load_ms: f64,
    pub greeting_audio_ms: u64,
    pub turns: Vec<TurnResult>,
    pub answered: usize,
    pub summary: SplitSummary,
    /// Components by median, largest first.
    pub ranked: Vec<(&'static str, f64)>,
    /// Worst lateness of a caller frame (high: the caller itself was starved of CPU).
    pub max_caller_send_lag_ms: f64,
    pub wall_s: f64,
    pub error: Option<String>,
}

/// The model files the benchmark needs that `models_dir` lacks (empty when all are there).
pub fn missing_models(models_dir: &Path) -> Vec<String> {
    let dir = speech::ModelDir::new(models_dir);
    [
        dir.whisper_ggml(),
        dir.piper_onnx(),
        dir.piper_json(),
        dir.onnxruntime_lib(),
    ]
    .into_iter()
    .filter(|p| !p.is_file())
    .map(|p| p.display().to_string())
    .collect()
}

/// The frames of `pcm8k` from its first to its last voiced frame (RMS ≥ 250, about −42 dBFS):
/// the question ends exactly with the caller's last voiced frame.
pub fn voiced_frames(pcm8k: &[i16]) -> Vec<audio::Frame> {
    const VOICED_RMS: f32 = 250.0;
    let frames = audio::frame::split_frames(pcm8k);
    let first = frames.iter().position(|f| f.rms() >= VOICED_RMS);
    let last = frames.iter().rposition(|f| f.rms() >= VOICED_RMS);
    match (first, last) {
        (Some(a), Some(b)) => frames[a..=b].to_vec(),
        _ => Vec::new(),
    }
}

/// The first `n` questions of [`QUESTIONS`] (cycled), spoken by espeak-ng at 8 kHz.
pub fn synthesize_questions(n: usize) -> Result<Vec<Question>, LocalError> {
    let tts = speech::EspeakTts::new("en-us")?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let text = QUESTIONS[i % QUESTIONS.len()];
        let a = tts.synthesize(text)?;
        let pcm = audio::resample_i16(&a.samples, a.sample_rate, audio::SAMPLE_RATE_8K);
        let frames = voiced_frames(&pcm);
        if frames.is_empty() {
            return Err(LocalError::Silent(text.to_owned()));
        }
        out.push(Question {
            text: text.to_owned(),
            frames,
        });
    }
    Ok(out)
}

fn brain_resources(cfg: &LocalConfig) -> Result<brain::BrainResources, LocalError> {
    // As `callpilot serve` does (crates/callpilot/src/brain_setup.rs, a binary crate): the
    // embeddings when installed, else lexical matching.
    let embedder = brain::model_install::embedding_model_dir(&cfg.models_dir)
        .and_then(|d| brain::embedding::MiniLmEmbedder::load(&d).ok())
        .map(|e| Arc::new(e) as Arc<dyn brain::embedding::Embedder>);
    let llm = match cfg.llm {
        LlmChoice::None => None,
        LlmChoice::Local => {
            // No install here: the benchmark never downloads.
            let path = local_llm::model_path(&cfg.models_dir).ok_or_else(|| {
                LocalError::ModelsMissing(vec![format!(
                    "the local LLM ({}) under {}",
                    local_llm::MODEL_PACKAGE.0,
                    cfg.models_dir.display()
                )])
            })?;
            let config = local_llm::LlamaConfig {
                threads: u32::try_from(cfg.stt_threads).unwrap_or(2),
                ..local_llm::LlamaConfig::default()
            };
            Some(Arc::new(local_llm::LlamaBackend::load(&path, config)?)
                as Arc<dyn brain::llm::LlmBackend>)
        }
    };
    Ok(brain::BrainResources {
        embedder,
        llm,
        knowledge_cache: Some(cfg.models_dir.join("knowledge-cache")),
    })
}

fn runtime(prefix: &str, workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name(format!("{prefix}rt"))
        .enable_all()
        .build()
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_default()
}

/// Runs the benchmark; `progress` gets one line per step worth telling.
pub fn run(cfg: &LocalConfig, mut progress: impl FnMut(&str)) -> Result<LocalReport, LocalError> {
    if cfg.questions == 0 || cfg.questions > MAX_QUESTIONS {
        return Err(LocalError::Questions(cfg.questions));
    }
    if cfg.time_limit.is_zero() || cfg.time_limit > MAX_TIME_LIMIT {
        return Err(LocalError::TimeLimit);
    }
    let missing = missing_models(&cfg.models_dir);
    if !missing.is_empty() {
        return Err(LocalError::ModelsMissing(missing));
    }
    let started = Instant::now();
    let deadline = started + cfg.time_limit;
    let machine_at_start = machine_load();
    let load_average_at_start = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_owned();
    progress(&machine_at_start);

    // The caller's voice first, so espeak-ng does not compete with the models' loading.
    let questions = synthesize_questions(cfg.questions)?;
    let load_started = Instant::now();
    let (stt, tts) = speech::load_local_with(
        &speech::ModelDir::new(&cfg.models_dir),
        cfg.stt_threads,
        &speech::ModelOverrides::default(),
    )?;
    let (stt_log, tts_log) = (SpanLog::default(), SpanLog::default());
    let (stt_name, tts_name) = (stt.name().to_owned(), tts.name().to_owned());
    let stt: Arc<dyn speech::Stt> = Arc::new(TimedStt::new(stt, stt_log.clone()));
    let tts: Arc<dyn speech::Tts> = Arc::new(TimedTts::new(tts, tts_log.clone()));
    let resources = brain_resources(cfg)?;
    let embedder = resources.embedder.is_some();
    let llm = resources.llm.as_ref().map(|l| l.name().to_owned());
    let agents = server::AgentRegistry::load(&cfg.agent, &resources)
        .map_err(|e| LocalError::Agent(cfg.agent.display().to_string(), e.to_string()))?;
    let models_load_ms = load_started.elapsed().as_secs_f64() * 1000.0;
    progress(&format!(
        "models loaded in {models_load_ms:.0} ms: {stt_name}, {tts_name}, embeddings {}, llm {}",
        if embedder { "on" } else { "off" },
        llm.as_deref().unwrap_or("none")
    ));

    let _ = rustls::crypto::ring::default_provider().install_default();
    // The caller runs on a runtime of its own, so that the server's work never delays its
    // 20 ms clock (it can still be starved of CPU; `max_caller_send_lag_ms` says so).
    let srv_rt = runtime("srv-", 2)?;
    let caller_rt = runtime("caller-", 1)?;
    let (addr, state) = srv_rt.block_on(async {
        let store = store::Store::connect("sqlite::memory:").await?;
        // The product's wiring: one transcription and one synthesis at a time
        // (CALLPILOT_STT_WORKERS / CALLPILOT_TTS_WORKERS default 1), the local engines the defaults.
        let pool = speech::pool::SpeechPool::new(stt, tts, 1, 1);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let config = server::ServerConfig {
            listen: addr.to_string(),
            public_url: None,
            twilio_auth_token: None,
        };
        let state = server::AppState::new(config, store, agents, pool);
        let app = server::router(state.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("bench server stopped: {e}");
            }
        });
        Ok::<_, LocalError>((addr, state))
    })?;
    progress(&format!(
        "server on {addr}; asking {} question(s)",
        questions.len()
    ));

    let origin = Instant::now();
    let plan = CallerPlan {
        server: format!("http://{addr}"),
        call_sid: format!("CA{:032x}", std::process::id()),
        agent_quiet: cfg.agent_quiet,
        answer_timeout: cfg.answer_timeout,
        max_answer: cfg.max_answer,
        deadline,
    };
    let outcome: CallOutcome = caller_rt.block_on(async {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| LocalError::Call(e.to_string()))?;
        let limit = deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(2);
        tokio::time::timeout(limit, caller::run_call(&http, &plan, &questions))
            .await
            .map_err(|_| LocalError::Call("time limit".into()))
    })?;

    // The turns are written by the call's own task after the stream closes.
    let detail = srv_rt.block_on(async {
        let until = Instant::now() + Duration::from_secs(10);
        while state.active_calls() > 0 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The writer task drains its queue after the call ends: give it a moment.
        tokio::time::sleep(Duration::from_millis(300)).await;
        state.store.get_call(&plan.call_sid).await
    })?;

    let ms = |t: Instant| t.saturating_duration_since(origin).as_secs_f64() * 1000.0;
    let spans = |log: &SpanLog| -> Vec<SpanMs> {
        log.spans()
            .iter()
            .map(|s: &Span| SpanMs {
                start_ms: ms(s.start),
                end_ms: ms(s.end),
            })
            .collect()
    };
    let (stt_spans, tts_spans) = (spans(&stt_log), spans(&tts_log));
    let stored = detail.as_ref().map(|d| d.turns.as_slice()).unwrap_or(&[]);
    let agent_turns: Vec<(usize, StoredAgentTurn)> = stored
        .iter()
        .enumerate()
        .filter(|(_, t)| t.speaker == store::Speaker::Agent)
        .map(|(i, t)| {
            (
                i,
                StoredAgentTurn {
                    at_ms: t.at_ms,
                    timings: t.timings,
                },
            )
        })
        .collect();
    let only_turns: Vec<StoredAgentTurn> = agent_turns.iter().map(|(_, t)| t.clone()).collect();
    // The greeting is the first agent turn; it fixes the server clock against ours.
    let offset = match (outcome.greeting_first_frame, agent_turns.first()) {
        (Some(f), Some((_, g))) => Some(split::clock_offset(ms(f), g.at_ms)),
        _ => None,
    };

    let mut turns = Vec::with_capacity(outcome.asked.len());
    for a in &outcome.asked {
        let asked = AskedMs {
            speech_start_ms: ms(a.speech_start),
            end_of_speech_ms: ms(a.end_of_speech),
            first_agent_frame_ms: a.first_agent_frame.map(ms),
            done_ms: ms(a.done),
        };
        let matched = match (asked.first_agent_frame_ms, offset) {
            (Some(f), Some(off)) => {
                split::match_agent_turn(f, off, &only_turns, MATCH_TOLERANCE_MS)
            }
            _ => None,
        };
        let (reply, transcript, intent) = match matched {
            Some(k) => {
                let idx = agent_turns[k].0;
                let caller = stored[..idx]
                    .iter()
                    .rev()
                    .find(|t| t.speaker == store::Speaker::Caller);
                (
                    Some(stored[idx].text.clone()),
                    caller.map(|c| c.text.clone()),
                    caller.and_then(|c| c.intent.clone()),
                )
            }
            None => (None, None, None),
        };
        turns.push(TurnResult {
            question: a.text.clone(),
            transcript,
            intent,
            reply,
            answer_audio_ms: a.answer_audio_ms,
            talked_over_ms: a.talked_over_ms,
            timed_out: a.timed_out,
            split: split::split(
                &asked,
                &stt_spans,
                &tts_spans,
                matched.map(|k| &only_turns[k]),
            ),
        });
    }
    // A question the agent answered while it was still being asked (a reply to a fragment)
    // measures something else: left out.
    let clean: Vec<TurnSplit> = turns
        .iter()
        .filter(|t| t.talked_over_ms == 0)
        .map(|t| t.split)
        .collect();
    let summary = split::summarise(&clean);
    let error = match (&outcome.error, &detail) {
        (Some(e), _) => Some(e.clone()),
        (None, None) => Some("the call was not recorded in the store".into()),
        (None, Some(_)) if offset.is_none() => {
            Some("no greeting heard: stored timings could not be lined up".into())
        }
        _ => None,
    };
    Ok(LocalReport {
        config: cfg.clone(),
        nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average_at_start,
        machine_at_start,
        cpu: cpu_model(),
        stt: stt_name,
        tts: tts_name,
        embedder,
        llm,
        models_load_ms,
        greeting_audio_ms: outcome.greeting_audio_ms,
        answered: clean
            .iter()
            .filter(|t| t.voice_to_voice_ms.is_some())
            .count(),
        ranked: split::ranked_components(&summary),
        summary,
        turns,
        max_caller_send_lag_ms: outcome.max_send_lag_ms,
        wall_s: started.elapsed().as_secs_f64(),
        error,
    })
}

/// Runs the benchmark and writes `local.json` and `local.md` into `out`, printing the summary.
pub fn run_and_write(out: &Path, cfg: &LocalConfig) -> Result<(), Box<dyn std::error::Error>> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let r = run(cfg, |line| println!("{line}"))?;
    let md = report::markdown(&r, &command);
    println!("\n{md}");
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("local.json"), serde_json::to_string_pretty(&r)?)?;
    std::fs::write(out.join("local.md"), md)?;
    println!("wrote {}/local.json, local.md", out.display());
    if let Some(e) = &r.error {
        return Err(format!("the run was incomplete: {e}").into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voiced_frames_trim_leading_and_trailing_silence() {
        let mut pcm = vec![0i16; 160 * 3];
        pcm.extend(std::iter::repeat_n(2000i16, 160 * 2));
        pcm.extend(vec![0i16; 80]);
        pcm.extend(std::iter::repeat_n(-2000i16, 160));
        pcm.extend(vec![0i16; 160 * 4]);
        let f = voiced_frames(&pcm);
        // Frames 3, 4 (loud), 5 and 6 (half loud: voiced), nothing after.
        assert_eq!(f.len(), 4);
        assert!(f.last().unwrap().rms() >= 250.0);
        assert!(voiced_frames(&[0; 1600]).is_empty());
    }

    #[test]
    fn invalid_bounds_are_refused_before_anything_loads() {
        let mut cfg = LocalConfig::new(0, PathBuf::from("/nonexistent"));
        assert!(matches!(run(&cfg, |_| {}), Err(LocalError::Questions(0))));
        cfg.questions = MAX_QUESTIONS + 1;
        assert!(matches!(run(&cfg, |_| {}), Err(LocalError::Questions(_))));
        cfg.questions = 1;
        cfg.time_limit = MAX_TIME_LIMIT + Duration::from_secs(1);
        assert!(matches!(run(&cfg, |_| {}), Err(LocalError::TimeLimit)));
        cfg.time_limit = Duration::from_secs(10);
        match run(&cfg, |_| {}) {
            Err(LocalError::ModelsMissing(m)) => assert_eq!(m.len(), 4),
            other => panic!("expected missing models, got {:?}", other.map(|_| ())),
        }
    }
}
