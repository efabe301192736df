//! `callpilot nlu`: one JSON line per stdin line with what the agent understood.

use std::io::{BufRead, Write};
use std::sync::Arc;

use anyhow::Context;
use brain::semantic_intent::IntentRecognizer;
use brain::sentiment::SentimentAnalyzer;

use crate::cli::NluArgs;

pub fn run(args: NluArgs) -> anyhow::Result<()> {
    let agent =
        brain::load(&args.agent).with_context(|| format!("loading {}", args.agent.display()))?;
    let embedder = crate::brain_setup::load_embedder(&args.models_dir);
    let recognizer = IntentRecognizer::for_agent(&agent, embedder.clone())?;
    let sentiment = SentimentAnalyzer::new(embedder)?;
    let _agent = Arc::new(agent);
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let text = line.context("reading stdin")?;
        if text.trim().is_empty() {
            continue;
        }
        let r = recognizer.recognize(&text);
        let s = sentiment.analyze(&text);
        let label = s.label.as_str();
        let json = serde_json::json!({
            "text": text,
            "intent": r.intent,
            "confidence": (r.confidence * 1000.0).round() / 1000.0,
            "sentiment": {"label": label, "score": (s.score * 1000.0).round() / 1000.0},
        });
        writeln!(out, "{json}")?;
    }
    Ok(())
}
