//! Runs `callpilot-bench local` for one question against the real local models, when they are
//! installed (`make models`); otherwise it says so and passes without running.

use std::path::PathBuf;

use bench::local::{self, LocalConfig};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
#[ignore = "real models in real time: about 25 s (run with --ignored)"]
fn one_question_is_answered_and_split_with_the_local_models() {
    let models = std::env::var_os("CALLPILOT_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("models"));
    let missing = local::missing_models(&models);
    if !missing.is_empty() {
        eprintln!(
            "skipped: local models missing ({}); run `make models`",
            missing.join(", ")
        );
        return;
    }
    let cfg = LocalConfig {
        agent: workspace().join("agents/demo.toml"),
        time_limit: std::time::Duration::from_secs(120),
        ..LocalConfig::new(1, models)
    };
    let r = local::run(&cfg, |l| eprintln!("{l}")).expect("the benchmark runs");
    eprintln!("{}", local::report::markdown(&r, "test"));
    assert_eq!(r.error, None);
    assert_eq!(r.turns.len(), 1);
    let t = &r.turns[0];
    assert!(!t.timed_out && t.talked_over_ms == 0, "{t:?}");
    assert!(t.answer_audio_ms > 500, "the agent answered: {t:?}");
    let s = &t.split;
    let v2v = s.voice_to_voice_ms.expect("voice-to-voice");
    let (e, stt) = (s.endpointing_ms.unwrap(), s.stt_ms.unwrap());
    let (brain, tts) = (s.brain_ms.unwrap(), s.tts_ms.unwrap());
    // Whisper runs on the whole question: only after the caller has stopped.
    assert!(e > 0.0, "endpointing {e}");
    assert!(stt > 0.0 && tts > 0.0 && brain >= 0.0);
    assert!(v2v >= e + stt + brain + tts - 5.0, "{s:?}");
    // The caller's and the server's voice-to-voice end at the same frame; they start at the
    // last voiced frame as each side judges it (the engine's VAD still calls a few frames of
    // the silence after speech voiced).
    let engine = s.engine_voice_to_voice_ms.unwrap();
    assert!(
        (v2v - engine).abs() < 250.0,
        "caller {v2v} vs engine {engine}"
    );
    assert!(t
        .transcript
        .as_deref()
        .is_some_and(|x| !x.trim().is_empty()));
    assert_eq!(r.answered, 1);
}
