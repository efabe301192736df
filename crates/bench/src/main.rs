//! `callpilot-bench`: callpilot's benchmarks (the same as `callpilot bench`).

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "callpilot-bench", about = "callpilot's benchmarks")]
struct Cli {
    #[command(flatten)]
    args: bench::cli::BenchArgs,
}

fn main() -> ExitCode {
    match bench::cli::run(Cli::parse().args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("callpilot-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
