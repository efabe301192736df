//! The `callpilot` binary: thin command-line glue over the library crates.

mod accounts_cmd;
mod brain_setup;
mod chat_cmd;
mod cli;
mod doctor_cmd;
mod logging;
mod models_cmd;
mod nlu_cmd;
mod outbound_cmd;
mod serve_cmd;
mod simulate_cmd;
mod speech_setup;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // A `.env` file in the working directory fills in variables that aren't already set.
    let _ = dotenvy::dotenv();
    // HTTP clients (LLM, tools, the local carrier) use rustls with the `ring` provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = cli::Cli::parse();
    logging::init(cli.log_format, cli.verbose);
    // The benchmarks run their own runtimes (server, fakes and callers apart, for CPU figures).
    let cli = match cli.command {
        cli::Command::Bench(args) => {
            return match bench::cli::run(args) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::ExitCode::FAILURE
                }
            };
        }
        command => cli::Cli { command, ..cli },
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            cli::Command::Serve(args) => serve_cmd::run(*args).await,
            cli::Command::Doctor(args) => doctor_cmd::run(*args).await,
            cli::Command::Contacts(args) => outbound_cmd::contacts(args).await,
            cli::Command::Campaign(args) => outbound_cmd::campaign(args).await,
            cli::Command::Call(args) => outbound_cmd::call(args).await,
            cli::Command::Users(args) => accounts_cmd::users(args).await,
            cli::Command::ApiKeys(args) => accounts_cmd::api_keys(args).await,
            cli::Command::Simulate(args) => simulate_cmd::run(args).await,
            cli::Command::Models(args) => models_cmd::run(args),
            cli::Command::Chat(args) => chat_cmd::run(args).await,
            cli::Command::Nlu(args) => nlu_cmd::run(args),
            cli::Command::Bench(_) => unreachable!("handled before the runtime starts"),
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
