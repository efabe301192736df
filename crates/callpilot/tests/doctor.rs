//! `callpilot doctor` against a loopback Deepgram that speaks the real protocol: a good key
//! passes, a wrong one fails with a non-zero exit and a line saying what to fix.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use fakes::{FakeDeepgramListen, FakeListenConfig};

/// The doctor never sends audio, so the fake's transcriber is never asked.
struct NoSpeech;

impl speech::Stt for NoSpeech {
    fn transcribe(&self, _pcm: &[i16], _rate: u32) -> Result<String, speech::SpeechError> {
        Ok(String::new())
    }
    fn name(&self) -> &str {
        "none"
    }
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn models_dir() -> PathBuf {
    std::env::var_os("CALLPILOT_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("models"))
}

fn doctor(deepgram_url: &str, key: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_callpilot"))
        .current_dir(workspace_root())
        .args(["doctor", "--database-url", "sqlite::memory:"])
        .arg("--models-dir")
        .arg(models_dir())
        .env("CALLPILOT_STT", "deepgram")
        .env("DEEPGRAM_API_KEY", key)
        .env("CALLPILOT_DEEPGRAM_URL", deepgram_url)
        .env_remove("OPENAI_API_KEY")
        .env_remove("CALLPILOT_LLM_BASE_URL")
        .env_remove("TWILIO_ACCOUNT_SID")
        .env_remove("CALLPILOT_PUBLIC_URL")
        .output()
        .expect("run callpilot doctor");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn line<'a>(table: &'a str, check: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.starts_with(check))
        .unwrap_or_else(|| panic!("no {check} line in:\n{table}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_the_deepgram_key_with_a_real_request() {
    let fake = FakeDeepgramListen::start(FakeListenConfig::new("right-key", Arc::new(NoSpeech)))
        .await
        .unwrap();
    let url = fake.ws_url();

    let (ok, table) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || doctor(&url, "right-key")
    })
    .await
    .unwrap();
    println!("{table}");
    assert!(ok, "doctor failed with a good configuration:\n{table}");
    assert!(line(&table, "deepgram").contains(" ok "), "{table}");
    assert!(line(&table, "database").contains(" ok "), "{table}");
    assert!(line(&table, "speech engines").contains("CALLPILOT_STT=deepgram"));
    assert!(line(&table, "twilio account").contains("skipped"));
    assert_eq!(fake.connections(), 1, "one cheap request, no audio");

    let (ok, table) = tokio::task::spawn_blocking(move || doctor(&url, "wrong-key"))
        .await
        .unwrap();
    println!("{table}");
    assert!(!ok, "a wrong key must fail the doctor");
    let l = line(&table, "deepgram");
    assert!(l.contains("FAIL") && l.contains("DEEPGRAM_API_KEY"), "{l}");
}
