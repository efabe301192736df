//! `callpilot simulate`: one scripted phone call through the local carrier.

use anyhow::Context;

use crate::cli::SimulateArgs;

pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let script = sim::CallerScript::load(&args.script)
        .with_context(|| format!("reading caller script {}", args.script.display()))?;
    let agent = args
        .agent
        .file_stem()
        .and_then(|s| s.to_str())
        .map(str::to_string);
    let models = speech::models::ModelDir::new(args.models_dir.clone());
    let (stt, tts) = speech::local::load_local(&models, 2).context(
        "loading local speech models for the simulated caller (run `callpilot models install`)",
    )?;
    let cfg = sim::SimConfig {
        server: args.server.trim_end_matches('/').to_string(),
        public_url: args.public_url.clone(),
        auth_token: args.twilio_auth_token.clone().filter(|t| !t.is_empty()),
        voice_path: {
            let path = match args.mode {
                sim::CallMode::MediaStream => "/twilio/voice",
                sim::CallMode::Relay => "/twilio/relay",
                sim::CallMode::Gather => "/twilio/gather",
            };
            match &agent {
                Some(a) => format!("{path}?agent={a}"),
                None => path.to_string(),
            }
        },
        ..sim::SimConfig::default()
    };
    let report = sim::run_call_in_mode(&cfg, args.mode, &script, tts, stt)
        .await
        .with_context(|| format!("simulated call to {}", cfg.server))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", report.render());
    }
    Ok(())
}
