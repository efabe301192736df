//! The benchmark command line shared by `callpilot-bench` and `callpilot bench`: the load
//! generator (`load`), the turn-taking sweep (`turns`) and the local-model latency (`local`).
//! Results go to `--out` (default `docs/benchmarks/`) as JSON, markdown and PNG charts.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::chart::{latency_vs_calls, Series};
use crate::load::{self, LoadConfig};

/// `callpilot bench …` / `callpilot-bench …`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Folder for the results (JSON, markdown, PNG).
    #[arg(long, default_value = "docs/benchmarks", global = true)]
    pub out: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

/// One benchmark.
#[derive(Debug, Subcommand)]
pub enum Command {
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
    Turns(TurnsArgs),
    /// Voice-to-voice latency with the embedded local models (Whisper, Piper), split into
    /// endpointing, STT, brain and TTS: one call asking spoken questions in real time.
    Local {
        /// Questions the caller asks (at most 100), one after each finished answer.
        #[arg(long, default_value_t = 12)]
        questions: usize,
        /// The brain's language model for what no intent answers.
        #[arg(long, value_enum, default_value = "none")]
        llm: crate::local::LlmChoice,
        /// Agent answering the call.
        #[arg(long, default_value = "agents/demo.toml")]
        agent: PathBuf,
        /// Where `callpilot models install` put the models.
        #[arg(long, env = "CALLPILOT_MODELS_DIR", default_value = "models")]
        models_dir: PathBuf,
        /// Threads per Whisper transcription (and for the local LLM).
        #[arg(long, default_value_t = 2)]
        stt_threads: usize,
        /// Hard limit on the whole run, seconds (at most 3600).
        #[arg(long, default_value_t = 900)]
        time_limit_s: u64,
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
    let series = |name: &str, pick: fn(&crate::stats::Summary) -> f64, overhead: bool| Series {
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

/// `turns`: the endpointing settings and completion judges to compare.
#[derive(Debug, Args)]
pub struct TurnsArgs {
    /// end_of_turn_silence values tried without preemption (ms).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "200,300,400,500,600,700,800,900,1000"
    )]
    pub plain_ms: Vec<u64>,
    /// preemptive_silence values tried (ms).
    #[arg(long, value_delimiter = ',', default_value = "120,160,200,300")]
    pub preemptive_ms: Vec<u64>,
    /// end_of_turn_silence values tried with preemption (ms).
    #[arg(long, value_delimiter = ',', default_value = "600,700,800,900,1000")]
    pub commit_ms: Vec<u64>,
    /// Virtual STT latencies tried with preemption (ms).
    #[arg(long, value_delimiter = ',', default_value = "0,150")]
    pub stt_ms: Vec<u64>,
    /// Commitment → the answer's first audio, for the audible cut-off rate (ms).
    #[arg(long, default_value_t = 300)]
    pub answer_ms: u64,
    /// Completion judges compared with preemption: lexical, model (SmolLM2 end-of-turn
    /// probability), both.
    #[arg(long, value_delimiter = ',', default_value = "lexical,model,both")]
    pub judges: Vec<String>,
    /// The model's probability at or above which a turn counts as finished.
    #[arg(long, default_value_t = 0.1)]
    pub lm_threshold: f32,
    /// Where `callpilot models install` put the models (the chat model for `model`).
    #[arg(long, env = "CALLPILOT_MODELS_DIR", default_value = "models")]
    pub models_dir: PathBuf,
    /// Most cut-offs (share of all turns) the recommended setting may have.
    #[arg(long, default_value_t = 0.05)]
    pub max_cut_off: f64,
}

fn turns_table(
    md: &mut String,
    results: &[crate::turns::SettingResult],
) -> Result<(), std::fmt::Error> {
    use std::fmt::Write as _;
    writeln!(md, "| judge | preemptive ms | end_of_turn_silence ms | STT ms | delay p50 / p95 ms | cut-off (all turns) | cut-off (turns with pauses) | cut: hesitation / digits | audible cut-off | answers thrown away | missed |")?;
    writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|")?;
    for r in results {
        writeln!(
            md,
            "| {} | {} | {} | {} | {} | {:.1} % | {:.1} % | {} / {} | {:.1} % | {} | {} |",
            r.judge,
            r.setting
                .preemptive_silence_ms
                .map_or("–".into(), |p| p.to_string()),
            r.setting.end_of_turn_silence_ms,
            r.stt_ms,
            r.end_of_turn_delay_ms
                .map_or("–".into(), |s| format!("{:.0} / {:.0}", s.p50, s.p95)),
            r.cut_off_rate_all * 100.0,
            r.cut_off_rate * 100.0,
            r.cut_offs_hesitation,
            r.cut_offs_digits,
            r.audible_cut_off_rate * 100.0,
            r.superseded,
            r.missed
        )?;
    }
    Ok(())
}

fn run_turns(out: &Path, args: TurnsArgs) -> Result<(), Box<dyn std::error::Error>> {
    use crate::turns as bench_turns;
    use crate::turns::judges as bench_model;
    use crate::turns::{corpus::Kind, recommend, sweep, Judge, Setting};
    use std::fmt::Write as _;
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let tts = speech::EspeakTts::new("en-us")?;
    let set = crate::turns::corpus::build(&tts, 42)?;
    let count = |k: Kind| set.iter().filter(|t| t.kind == k).count();
    let mut md = String::new();
    writeln!(md, "Command: `{command}`\n")?;
    writeln!(
        md,
        "{} caller turns (espeak-ng en-us, 8 kHz): {} plain questions, {} with a pause of 300–900 ms inside, {} read digit by digit, {} short answers, {} under noise (seed 42).\n",
        set.len(),
        count(Kind::Plain),
        count(Kind::Hesitation),
        count(Kind::Digits),
        count(Kind::ShortAnswer),
        set.iter().filter(|t| t.noisy).count(),
    )?;
    let plain: Vec<Setting> = args
        .plain_ms
        .iter()
        .map(|&ms| Setting {
            preemptive_silence_ms: None,
            end_of_turn_silence_ms: ms,
        })
        .collect();
    let plain_results = sweep(&set, &plain, 0, args.answer_ms, &Judge::Lexical);
    writeln!(md, "### Silence timer only (no preemption)\n")?;
    turns_table(&mut md, &plain_results)?;
    let mut model = None;
    let mut judges = Vec::new();
    for name in &args.judges {
        let mut model = || -> Result<bench_model::SharedModel, Box<dyn std::error::Error>> {
            if model.is_none() {
                let gguf = local_llm::model_path(&args.models_dir).ok_or(
                    "the local chat model is not installed (`callpilot models install --llm`)",
                )?;
                model = Some(bench_model::load_model(&gguf)?);
            }
            Ok(model.clone().expect("loaded above"))
        };
        judges.push(match name.as_str() {
            "lexical" => Judge::Lexical,
            "model" => Judge::Model(model()?, args.lm_threshold),
            "both" => Judge::Both(model()?, args.lm_threshold),
            other => return Err(format!("unknown judge {other:?} (lexical, model, both)").into()),
        });
    }
    let mut pre_results = Vec::new();
    for judge in &judges {
        for &stt in &args.stt_ms {
            let grid: Vec<Setting> = args
                .preemptive_ms
                .iter()
                .flat_map(|&p| {
                    args.commit_ms
                        .iter()
                        .filter(move |&&c| c >= p)
                        .map(move |&c| Setting {
                            preemptive_silence_ms: Some(p),
                            end_of_turn_silence_ms: c,
                        })
                })
                .collect();
            pre_results.extend(sweep(&set, &grid, stt, args.answer_ms, judge));
        }
    }
    writeln!(
        md,
        "\n### Preemptive turns (transcripts from an ideal STT after STT ms)\n"
    )?;
    turns_table(&mut md, &pre_results)?;
    let mut families: Vec<(String, Vec<bench_turns::SettingResult>)> =
        vec![("silence timer only".into(), plain_results.clone())];
    for judge in &judges {
        let name = judge.name();
        families.push((
            format!("preemptive, {name} judge, STT 0 ms"),
            pre_results
                .iter()
                .filter(|r| r.stt_ms == 0 && r.judge == name)
                .cloned()
                .collect(),
        ));
    }
    for (name, results) in &families {
        match recommend(results, args.max_cut_off) {
            Some(r) => writeln!(
                md,
                "\nFastest setting with at most {:.0} % cut-offs, {name}: **preemptive {} / end of turn {} ms**, delay p50 {:.0} ms, cut-offs {:.1} %.",
                args.max_cut_off * 100.0,
                r.setting.preemptive_silence_ms.map_or("–".into(), |p| format!("{p} ms")),
                r.setting.end_of_turn_silence_ms,
                r.end_of_turn_delay_ms.map_or(f64::NAN, |s| s.p50),
                r.cut_off_rate_all * 100.0,
            )?,
            None => writeln!(
                md,
                "\nNo setting stays within {:.0} % cut-offs ({name}).",
                args.max_cut_off * 100.0
            )?,
        }
    }
    println!("{md}");
    let all: Vec<_> = plain_results.iter().chain(&pre_results).collect();
    write(
        out,
        "turns.json",
        serde_json::to_string_pretty(&all)?.as_bytes(),
    )?;
    write(out, "turns.md", md.as_bytes())?;
    // The trade-off: median delay against cut-off rate, one curve per family of settings.
    let curve = |name: String, rs: Vec<&crate::turns::SettingResult>| Series {
        name,
        points: rs
            .iter()
            .filter_map(|r| Some((r.cut_off_rate_all * 100.0, r.end_of_turn_delay_ms?.p50)))
            .collect(),
    };
    let mut series = vec![curve(
        "silence timer (200..1000 ms)".into(),
        plain_results.iter().collect(),
    )];
    // One curve per judge at the default preemptive silence (or the nearest tried), STT 0.
    let shown = args
        .preemptive_ms
        .iter()
        .copied()
        .min_by_key(|p| p.abs_diff(160))
        .unwrap_or(160);
    for judge in &judges {
        let name = judge.name();
        series.push(curve(
            format!(
                "preemptive {shown} ms, {name} (end of turn {:?} ms)",
                args.commit_ms
            ),
            pre_results
                .iter()
                .filter(|r| {
                    r.setting.preemptive_silence_ms == Some(shown)
                        && r.stt_ms == 0
                        && r.judge == name
                })
                .collect(),
        ));
    }
    crate::chart::line_chart(
        &out.join("turns-tradeoff.png"),
        "end-of-turn delay vs cut-offs",
        (
            "callers cut off mid-sentence, % of turns",
            "median end-of-turn delay, ms",
        ),
        false,
        &series,
    )?;
    println!(
        "wrote {}/turns.json, turns.md, turns-tradeoff.png",
        out.display()
    );
    Ok(())
}

/// Runs the benchmark `args` asks for.
pub fn run(args: BenchArgs) -> Result<(), Box<dyn std::error::Error>> {
    match args.command {
        Command::Load {
            calls,
            duration_s,
            stt_delay_ms,
            tts_delay_ms,
            endpointing_ms,
            agent,
            max_failed_share,
        } => run_load(
            &args.out,
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
        Command::Turns(turns) => run_turns(&args.out, turns),
        Command::Local {
            questions,
            llm,
            agent,
            models_dir,
            stt_threads,
            time_limit_s,
        } => crate::local::run_and_write(
            &args.out,
            &crate::local::LocalConfig {
                llm,
                agent,
                stt_threads,
                time_limit: std::time::Duration::from_secs(time_limit_s),
                ..crate::local::LocalConfig::new(questions, models_dir)
            },
        ),
    }
}
