//! `callpilot-bench`: the load generator (`load`) and the turn-taking benchmark (`turns`).
//! Results go to `--out` (default `docs/benchmarks/`) as JSON, markdown and a PNG chart.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bench::chart::{latency_vs_calls, Series};
use bench::load::{self, LoadConfig};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "callpilot-bench", about = "callpilot's benchmarks")]
struct Cli {
    /// Folder for the results (JSON, markdown, PNG).
    #[arg(long, default_value = "docs/benchmarks", global = true)]
    out: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// N concurrent simulated Twilio calls against the real server with fake Deepgram engines.
    Load {
        /// Concurrent calls per level, comma-separated (each at most 1000).
        #[arg(long, value_delimiter = ',', default_value = "1,10,100")]
        calls: Vec<usize>,
        /// Seconds each caller keeps talking (at most 600).
        #[arg(long, default_value_t = 30)]
        duration_s: u64,
        /// The fake STT's wait before each final transcript.
        #[arg(long, default_value_t = 150)]
        stt_delay_ms: u64,
        /// The fake TTS's wait before each sentence's audio.
        #[arg(long, default_value_t = 100)]
        tts_delay_ms: u64,
        /// Deepgram endpointing (caller silence before the end of the turn).
        #[arg(long, default_value_t = 300)]
        endpointing_ms: u32,
        /// Agent answering the calls.
        #[arg(long, default_value = "agents/demo.toml")]
        agent: PathBuf,
        /// Stop after a level where more than this share of calls failed.
        #[arg(long, default_value_t = 0.05)]
        max_failed_share: f64,
    },
    /// Endpointing sweep on the labelled caller turns (espeak-ng voice), on a virtual clock.
    Turns {
        /// Shortest end_of_turn_silence tried.
        #[arg(long, default_value_t = 200)]
        from_ms: u64,
        /// Longest end_of_turn_silence tried.
        #[arg(long, default_value_t = 1000)]
        to_ms: u64,
        /// Step between settings.
        #[arg(long, default_value_t = 100)]
        step_ms: u64,
        /// Most cut-offs (share of all turns) the recommended setting may have.
        #[arg(long, default_value_t = 0.05)]
        max_cut_off: f64,
    },
}

fn write(dir: &Path, name: &str, contents: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let p = dir.join(name);
    std::fs::write(&p, contents)?;
    Ok(p)
}

fn run_load(out: &Path, cfg: LoadConfig) -> Result<(), Box<dyn std::error::Error>> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let report = load::run(&cfg, |line| println!("{line}"))?;
    let md = load::report::markdown(&report, &command);
    println!("\n{md}");
    write(
        out,
        "load.json",
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    write(out, "load.md", md.as_bytes())?;
    let series = |name: &str, pick: fn(&bench::stats::Summary) -> f64, overhead: bool| Series {
        name: name.to_owned(),
        points: report
            .levels
            .iter()
            .filter_map(|l| {
                let s = if overhead {
                    l.overhead_ms
                } else {
                    l.voice_to_voice_ms
                };
                s.map(|s| (l.calls as f64, pick(&s)))
            })
            .collect(),
    };
    let png = out.join("load-latency.png");
    latency_vs_calls(
        &png,
        "voice-to-voice latency vs concurrent calls",
        &[
            series("voice-to-voice p50", |s| s.p50, false),
            series("voice-to-voice p95", |s| s.p95, false),
            series("overhead p50", |s| s.p50, true),
            series("overhead p95", |s| s.p95, true),
        ],
    )?;
    println!(
        "wrote {}/load.json, load.md, load-latency.png",
        out.display()
    );
    Ok(())
}

fn run_turns(
    out: &Path,
    settings: Vec<u64>,
    max_cut_off: f64,
) -> Result<(), Box<dyn std::error::Error>> {
    use std::fmt::Write as _;
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let tts = speech::EspeakTts::new("en-us")?;
    let set = bench::turns::corpus::build(&tts, 42)?;
    let results = bench::turns::sweep(&set, &settings);
    let mut md = String::new();
    writeln!(md, "Command: `{command}`\n")?;
    writeln!(
        md,
        "{} caller turns (espeak-ng en-us, 8 kHz): {} with a pause of 300–900 ms inside, {} read digit by digit, {} short answers, {} under noise (seed 42).\n",
        set.len(),
        set.iter().filter(|t| t.kind == bench::turns::corpus::Kind::Hesitation).count(),
        set.iter().filter(|t| t.kind == bench::turns::corpus::Kind::Digits).count(),
        set.iter().filter(|t| t.kind == bench::turns::corpus::Kind::ShortAnswer).count(),
        set.iter().filter(|t| t.noisy).count(),
    )?;
    writeln!(md, "| end_of_turn_silence ms | end-of-turn delay p50 / p95 ms | cut-off (all turns) | cut-off (turns with pauses) | cut: hesitation / digits | missed |")?;
    writeln!(md, "|---|---|---|---|---|---|")?;
    for r in &results {
        writeln!(
            md,
            "| {} | {} | {:.1} % | {:.1} % | {} / {} | {} |",
            r.end_of_turn_silence_ms,
            r.end_of_turn_delay_ms
                .map_or("–".into(), |s| format!("{:.0} / {:.0}", s.p50, s.p95)),
            r.cut_off_rate_all * 100.0,
            r.cut_off_rate * 100.0,
            r.cut_offs_hesitation,
            r.cut_offs_digits,
            r.missed
        )?;
    }
    match bench::turns::recommend(&results, max_cut_off) {
        Some(r) => writeln!(
            md,
            "\nRecommended default: **{} ms** (fastest setting with at most {:.0} % cut-offs).",
            r.end_of_turn_silence_ms,
            max_cut_off * 100.0
        )?,
        None => writeln!(
            md,
            "\nNo setting stays within {:.0} % cut-offs.",
            max_cut_off * 100.0
        )?,
    }
    println!("{md}");
    write(
        out,
        "turns.json",
        serde_json::to_string_pretty(&results)?.as_bytes(),
    )?;
    write(out, "turns.md", md.as_bytes())?;
    println!("wrote {}/turns.json, turns.md", out.display());
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Load {
            calls,
            duration_s,
            stt_delay_ms,
            tts_delay_ms,
            endpointing_ms,
            agent,
            max_failed_share,
        } => run_load(
            &cli.out,
            LoadConfig {
                calls,
                duration_s,
                stt_delay_ms,
                tts_delay_ms,
                endpointing_ms,
                agent,
                utterances_ms: vec![800, 1600, 1000, 1400],
                max_failed_share,
            },
        ),
        Command::Turns {
            from_ms,
            to_ms,
            step_ms,
            max_cut_off,
        } => run_turns(
            &cli.out,
            (from_ms..=to_ms)
                .step_by(step_ms.max(20) as usize)
                .collect(),
            max_cut_off,
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("callpilot-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
