//! The load report for people: one line per level while running, a markdown table at the end.

use std::fmt::Write as _;

use crate::load::{LevelResult, LoadReport};
use crate::stats::Summary;

fn pct(s: &Option<Summary>) -> String {
    match s {
        Some(s) => format!("{:.0} / {:.0} / {:.0}", s.p50, s.p95, s.p99),
        None => "–".to_owned(),
    }
}

/// One line summarizing a finished level.
pub fn level_line(l: &LevelResult) -> String {
    format!(
        "{} calls: v2v p50/p95/p99 {} ms, overhead {} ms, {} failed, {} unanswered turns, \
         {:.3} server CPU-s per call-minute, {:.0} KiB RSS per call, jitter p95 {} ms, {} underruns",
        l.calls,
        pct(&l.voice_to_voice_ms),
        pct(&l.overhead_ms),
        l.failed_calls,
        l.unanswered_turns,
        l.server_cpu_s_per_call_minute,
        l.rss_growth_per_call_kib,
        l.outbound
            .jitter_ms
            .map_or("–".to_owned(), |j| format!("{:.1}", j.p95)),
        l.outbound.underruns,
    )
}

/// The whole run as markdown: settings, a table, the machine's state per level.
pub fn markdown(r: &LoadReport, command: &str) -> String {
    let c = &r.config;
    let mut s = String::new();
    let _ = writeln!(s, "Command: `{command}`\n");
    let _ = writeln!(
        s,
        "Fakes: Deepgram live STT (endpointing {} ms, reply delay {} ms) and Aura TTS (reply \
         delay {} ms); configured waits in total {} ms, subtracted for *overhead*. Callers talk \
         for {} s each, utterances of {:?} ms.\n",
        c.endpointing_ms,
        c.stt_delay_ms,
        c.tts_delay_ms,
        r.fake_delays_ms,
        c.duration_s,
        c.utterances_ms
    );
    let _ = writeln!(
        s,
        "| calls | failed | turns (unanswered) | voice-to-voice p50/p95/p99 ms | overhead p50/p95/p99 ms | server CPU-s per call-min | RSS growth per call | outbound jitter p50/p95/p99 ms | underruns / frames | max caller send lag ms |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|");
    for l in &r.levels {
        let _ = writeln!(
            s,
            "| {} | {} | {} ({}) | {} | {} | {:.3} | {:.0} KiB | {} | {} / {} | {:.0} |",
            l.calls,
            l.failed_calls,
            l.answered_turns + l.unanswered_turns,
            l.unanswered_turns,
            pct(&l.voice_to_voice_ms),
            pct(&l.overhead_ms),
            l.server_cpu_s_per_call_minute,
            l.rss_growth_per_call_kib,
            l.outbound.jitter_ms.map_or("–".to_owned(), |j| format!(
                "{:.1} / {:.1} / {:.1}",
                j.p50, j.p95, j.p99
            )),
            l.outbound.underruns,
            l.outbound.frames,
            l.max_caller_send_lag_ms,
        );
    }
    let _ = writeln!(s);
    for l in &r.levels {
        let _ = writeln!(
            s,
            "- {} calls: at start {}; callers used {:.1} CPU-s, fakes {:.1} CPU-s; RSS {:.1} → {:.1} MiB{}",
            l.calls,
            l.machine_at_start,
            l.load_generator_cpu_s,
            l.fakes_cpu_s,
            l.rss_before_mib,
            l.rss_peak_mib,
            if l.sample_errors.is_empty() {
                String::new()
            } else {
                format!("; errors: {}", l.sample_errors.join(" | "))
            }
        );
    }
    if let Some(why) = &r.stopped_early {
        let _ = writeln!(s, "\nStopped early: {why}.");
    }
    s
}
