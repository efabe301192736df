//! `callpilot serve`.

use anyhow::Context;
use server::{AgentRegistry, AppState, ServerConfig};
use speech::pool::SpeechPool;

use crate::cli::ServeArgs;

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let resources = crate::brain_setup::resources(&args.models_dir, args.llm, args.llm_threads)?;
    let agents = AgentRegistry::load(&args.agent, &resources)
        .with_context(|| format!("loading agents (default {})", args.agent.display()))?;
    let store = store::Store::connect(&args.database_url)
        .await
        .with_context(|| format!("opening database {}", args.database_url))?;
    first_admin(&store, &args.listen).await;
    let models = speech::models::ModelDir::new(args.models_dir.clone());
    // Models load once per process and are shared by every call.
    let started = std::time::Instant::now();
    let overrides = speech::ModelOverrides {
        whisper_model: args.stt_model.clone(),
        piper_voice: args.tts_voice.clone(),
    };
    let (stt, tts) = speech::load_local_with(&models, args.stt_threads, &overrides)
        .context("loading local speech models (run `callpilot models install`)")?;
    tracing::info!(
        stt = stt.name(),
        tts = tts.name(),
        ms = started.elapsed().as_millis() as u64,
        "speech models loaded"
    );
    let pool = SpeechPool::new(stt, tts, args.stt_workers, args.tts_workers);
    let providers = crate::speech_setup::providers(&args.providers, &pool)?;
    let (default_stt, default_tts) = providers.defaults();
    tracing::info!(stt = default_stt, tts = default_tts, "speech engines");
    let config = ServerConfig {
        listen: args.listen,
        public_url: args.public_url.map(|u| u.trim_end_matches('/').to_string()),
        twilio_auth_token: args.twilio_auth_token.clone().filter(|t| !t.is_empty()),
    };
    if config.twilio_auth_token.is_none() {
        tracing::warn!("TWILIO_AUTH_TOKEN is not set: webhook signatures are NOT checked");
    }
    let public_url = config.public_url.clone();
    let mut state = AppState::new(config, store, agents, pool).with_speech_providers(providers);
    if let Some(token) = args.api_token.clone().filter(|t| !t.is_empty()) {
        state = state.with_api_token(token);
    }
    if let Some(dir) = &args.recordings_dir {
        tracing::info!(dir = %dir.display(), "recording calls");
        state = state.with_recordings(dir.clone());
    }
    match (
        args.twilio_account_sid.as_deref().filter(|s| !s.is_empty()),
        args.twilio_auth_token.as_deref().filter(|s| !s.is_empty()),
        args.twilio_from.as_deref(),
        public_url,
    ) {
        (Some(sid), Some(token), Some(from), Some(public_url)) => {
            let mut rest = telephony::rest::TwilioRestConfig::new(sid, token);
            rest.api_base = args.twilio_api_url.trim_end_matches('/').to_owned();
            rest.calls_per_second = args.twilio_calls_per_second;
            let rest = telephony::rest::TwilioRest::new(rest).context("Twilio REST client")?;
            let instance = format!(
                "{}:{}",
                std::env::var("HOSTNAME").unwrap_or_else(|_| "callpilot".into()),
                std::process::id()
            );
            tracing::info!(%from, "outbound dialing enabled: campaigns set to running are dialed");
            server::start_campaigns(
                &state,
                server::DialingConfig {
                    rest,
                    from: from.to_owned(),
                    public_url,
                    instance,
                    clock: std::sync::Arc::new(dialer::SystemClock),
                    reconcile_after: std::time::Duration::from_secs(args.dial_reconcile_s),
                },
            );
        }
        _ => tracing::info!(
            "outbound dialing off (needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, CALLPILOT_TWILIO_FROM and CALLPILOT_PUBLIC_URL)"
        ),
    }
    server::serve(state).await?;
    Ok(())
}

/// On the very first start there is nobody to sign in as: create `admin@localhost` with a random
/// password and print it once, so a newcomer can open the page and talk within a minute.
async fn first_admin(store: &store::Store, listen: &str) {
    match store.count_users().await {
        Ok(0) => {
            let password: String = {
                use rand::Rng;
                let mut rng = rand::rng();
                (0..16)
                    .map(|_| {
                        let chars = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
                        chars[rng.random_range(0..chars.len())] as char
                    })
                    .collect()
            };
            let created = match server::hash_password(&password) {
                Ok(hash) => store.add_user("admin@localhost", &hash, "admin").await,
                Err(e) => {
                    tracing::error!(error = %e, "could not hash the first admin's password");
                    return;
                }
            };
            match created {
                Ok(_) => {
                    let _ = store
                        .audit(
                            "system",
                            "user.add",
                            Some("user:admin@localhost"),
                            &serde_json::json!({"role": "admin", "first_start": true}),
                            None,
                        )
                        .await;
                    eprintln!(
                        "\n  First start: sign in at http://{listen}/login as admin@localhost with password {password}\n  (shown once; add your own users with `callpilot users add`)\n"
                    );
                }
                Err(e) => tracing::error!(error = %e, "could not create the first admin"),
            }
        }
        Ok(n) => tracing::info!(users = n, "sign in at http://{listen}/login"),
        Err(e) => tracing::warn!(error = %e, "could not count users"),
    }
}
