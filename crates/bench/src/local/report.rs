//! The local-stack report for people: a table of components (median / p95) and one row per
//! question.

use std::fmt::Write as _;

use crate::local::LocalReport;
use crate::stats::Summary;

fn cell(s: &Option<Summary>) -> String {
    match s {
        Some(s) => format!("{:.0} / {:.0} | {:.0} | {}", s.p50, s.p95, s.max, s.count),
        None => "– | – | 0".to_owned(),
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or("–".to_owned(), |v| format!("{v:.0}"))
}

fn quote(s: &Option<String>) -> String {
    match s {
        Some(s) => format!("“{}”", s.replace('|', "/")),
        None => "–".to_owned(),
    }
}

/// The whole run as markdown.
pub fn markdown(r: &LocalReport, command: &str) -> String {
    let c = &r.config;
    let s = &r.summary;
    let mut m = String::new();
    let _ = writeln!(m, "Command: `{command}`\n");
    let _ = writeln!(
        m,
        "Machine: `nproc` = {}, CPU `{}`; at start `/proc/loadavg` = `{}` ({}).\n",
        r.nproc, r.cpu, r.load_average_at_start, r.machine_at_start
    );
    let _ = writeln!(
        m,
        "Stack: STT `{}` ({} threads, 1 worker), TTS `{}` (1 worker), embeddings {}, LLM {}; \
         agent `{}`; models loaded in {:.0} ms. One call: the greeting ({:.1} s of audio), then \
         {} question(s) spoken by espeak-ng (8 kHz, trimmed to the voiced frames), each after \
         the previous answer had been quiet for {} ms. Wall time {:.0} s; worst caller frame \
         lateness {:.0} ms.\n",
        r.stt,
        c.stt_threads,
        r.tts,
        if r.embedder {
            "on"
        } else {
            "off (lexical intents)"
        },
        r.llm.as_deref().unwrap_or("none"),
        c.agent.display(),
        r.models_load_ms,
        r.greeting_audio_ms as f64 / 1000.0,
        c.questions,
        c.agent_quiet.as_millis(),
        r.wall_s,
        r.max_caller_send_lag_ms,
    );
    if let Some(e) = &r.error {
        let _ = writeln!(m, "**Incomplete run:** {e}\n");
    }
    let _ = writeln!(
        m,
        "Answered: {} of {} (left out: no answer, or an answer that started while the question was still being asked).\n",
        r.answered,
        r.turns.len()
    );
    let _ = writeln!(m, "| component | p50 / p95 ms | max ms | n |");
    let _ = writeln!(m, "|---|---|---|---|");
    for (name, v) in [
        (
            "**voice-to-voice** (caller: last voiced frame → first agent frame)",
            &s.voice_to_voice_ms,
        ),
        (
            "endpointing (end of speech → Whisper starts)",
            &s.endpointing_ms,
        ),
        ("STT (Whisper on the utterance)", &s.stt_ms),
        ("brain (transcript → first reply text)", &s.brain_ms),
        (
            "TTS (first reply text → first audio: Piper + queue + resampling)",
            &s.tts_ms,
        ),
        (
            "other (the rest: a held preemptive answer, hand-offs, transport)",
            &s.other_ms,
        ),
        ("— Piper alone, first sentence", &s.piper_ms),
        (
            "— engine: end of speech → transcript (stored)",
            &s.engine_speech_to_transcript_ms,
        ),
        (
            "— engine: voice-to-voice (stored)",
            &s.engine_voice_to_voice_ms,
        ),
        (
            "— engine's end of speech after the caller's (caller − engine voice-to-voice)",
            &s.engine_eos_lag_ms,
        ),
    ] {
        let _ = writeln!(m, "| {name} | {} |", cell(v));
    }
    if !r.ranked.is_empty() {
        let _ = writeln!(
            m,
            "\nBy median: {}.",
            r.ranked
                .iter()
                .map(|(n, v)| format!("{n} {v:.0} ms"))
                .collect::<Vec<_>>()
                .join(" > ")
        );
    }
    let _ = writeln!(
        m,
        "\n| # | question | Whisper heard | intent | reply | v2v | endpointing | STT | brain | TTS | Piper | other | answer s | note |"
    );
    let _ = writeln!(
        m,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for (i, t) in r.turns.iter().enumerate() {
        let x = &t.split;
        let mut note = Vec::new();
        if t.timed_out {
            note.push("answer timed out".to_owned());
        }
        if t.talked_over_ms > 0 {
            note.push(format!("agent talked over {} ms", t.talked_over_ms));
        }
        if x.stt_calls > 1 {
            note.push(format!("{} STT calls", x.stt_calls));
        }
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {} |",
            i + 1,
            t.question,
            quote(&t.transcript),
            t.intent.as_deref().unwrap_or("–"),
            quote(&t.reply),
            opt(x.voice_to_voice_ms),
            opt(x.endpointing_ms),
            opt(x.stt_ms),
            opt(x.brain_ms),
            opt(x.tts_ms),
            opt(x.piper_ms),
            opt(x.other_ms),
            t.answer_audio_ms as f64 / 1000.0,
            note.join("; ")
        );
    }
    m
}
