//! Which speech engines the server offers: the local models always (they are every cloud
//! engine's fallback), Deepgram and OpenAI-compatible speech when configured.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use server::{DeepgramStreaming, SpeechProviders};
use speech::pool::SpeechPool;

use crate::cli::ProviderArgs;

/// The Deepgram settings, when a key is configured.
pub fn deepgram_config(args: &ProviderArgs) -> Option<speech::DeepgramConfig> {
    let key = args.deepgram_api_key.as_deref().filter(|k| !k.is_empty())?;
    Some(speech::DeepgramConfig {
        base_url: args.deepgram_url.trim_end_matches('/').to_owned(),
        api_key: key.to_owned(),
        connect_timeout: Duration::from_secs(args.speech_timeout_s.max(1)),
    })
}

/// The OpenAI-compatible speech settings, when a key or a base URL (a self-hosted server) is set.
pub fn openai_config(args: &ProviderArgs) -> Option<speech::OpenAiSpeechConfig> {
    let key = args.openai_api_key.clone().filter(|k| !k.is_empty());
    if key.is_none() && args.openai_speech_url.is_none() {
        return None;
    }
    let mut cfg = speech::OpenAiSpeechConfig::default();
    if let Some(url) = &args.openai_speech_url {
        cfg.base_url = url.trim_end_matches('/').to_owned();
    }
    cfg.api_key = key.unwrap_or_default();
    cfg.voice = args.openai_voice.clone();
    cfg.timeout = Duration::from_secs(args.speech_timeout_s.max(1));
    Some(cfg)
}

/// Every engine the configuration enables, with the chosen defaults.
pub fn providers(args: &ProviderArgs, pool: &SpeechPool) -> anyhow::Result<SpeechProviders> {
    let mut p = SpeechProviders::local(pool);
    match speech::EspeakTts::new("en-us") {
        Ok(e) => p.add_tts("espeak", Arc::new(e)),
        Err(e) => tracing::debug!(error = %e, "espeak-ng voice unavailable"),
    }
    if let Some(cfg) = deepgram_config(args) {
        let options = speech::LiveOptions {
            model: args.deepgram_model.clone(),
            endpointing_ms: Some(args.deepgram_endpointing_ms),
            ..speech::LiveOptions::default()
        };
        p.set_deepgram_live(DeepgramStreaming {
            config: cfg.clone(),
            options,
        });
        p.set_deepgram_speak(
            cfg.clone(),
            speech::SpeakOptions {
                model: args.deepgram_voice.clone(),
                ..speech::SpeakOptions::default()
            },
        );
        let tts = speech::DeepgramTts::new(cfg)
            .context("Deepgram TTS client")?
            .with_model(args.deepgram_voice.clone())
            .with_timeout(Duration::from_secs(args.speech_timeout_s.max(1)));
        p.add_tts("deepgram", Arc::new(tts));
    }
    if let Some(cfg) = openai_config(args) {
        p.add_stt(
            "openai",
            Arc::new(speech::OpenAiStt::new(cfg.clone()).context("OpenAI STT client")?),
        );
        p.add_tts(
            "openai",
            Arc::new(speech::OpenAiTts::new(cfg).context("OpenAI TTS client")?),
        );
    }
    p.set_default_stt(&args.stt).with_context(|| {
        format!(
            "CALLPILOT_STT={}: set DEEPGRAM_API_KEY for deepgram, OPENAI_API_KEY or CALLPILOT_OPENAI_SPEECH_URL for openai",
            args.stt
        )
    })?;
    p.set_default_tts(&args.tts).with_context(|| {
        format!(
            "CALLPILOT_TTS={}: set DEEPGRAM_API_KEY for deepgram, OPENAI_API_KEY or CALLPILOT_OPENAI_SPEECH_URL for openai; espeak needs espeak-ng installed",
            args.tts
        )
    })?;
    Ok(p)
}
