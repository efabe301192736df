//! Which speech providers a call uses: the server's defaults (`CALLPILOT_STT`, `CALLPILOT_TTS`)
//! or the agent's own `[speech]` choice, each with the local provider as its fallback.

use std::collections::BTreeMap;
use std::sync::Arc;

use speech::pool::SpeechPool;
use speech::{DeepgramConfig, LiveOptions, SpeakOptions, Stt, Tts};

/// Deepgram live transcription settings (STT name `deepgram`).
#[derive(Debug, Clone)]
pub struct DeepgramStreaming {
    pub config: DeepgramConfig,
    pub options: LiveOptions,
}

/// Every speech provider the server can use, by name.
#[derive(Clone)]
pub struct SpeechProviders {
    stt: BTreeMap<String, Arc<dyn Stt>>,
    tts: BTreeMap<String, Arc<dyn Tts>>,
    deepgram_live: Option<DeepgramStreaming>,
    deepgram_speak: Option<(DeepgramConfig, SpeakOptions)>,
    default_stt: String,
    default_tts: String,
}

/// Why a provider cannot be selected.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("unknown {kind} provider `{name}` (configured: {known})")]
    Unknown {
        kind: &'static str,
        name: String,
        known: String,
    },
}

/// STT name of the local model.
pub const LOCAL_STT: &str = "local";
/// TTS name of the local voice the pool was built with.
pub const LOCAL_TTS: &str = "piper";
/// STT name of Deepgram live transcription.
pub const DEEPGRAM: &str = "deepgram";

impl SpeechProviders {
    /// Only the pool's local providers (`local` STT, `piper` TTS), which are the defaults.
    pub fn local(pool: &SpeechPool) -> Self {
        let mut stt = BTreeMap::new();
        stt.insert(LOCAL_STT.to_owned(), pool.stt().clone());
        let mut tts = BTreeMap::new();
        tts.insert(LOCAL_TTS.to_owned(), pool.tts().clone());
        SpeechProviders {
            stt,
            tts,
            deepgram_live: None,
            deepgram_speak: None,
            default_stt: LOCAL_STT.to_owned(),
            default_tts: LOCAL_TTS.to_owned(),
        }
    }

    /// Makes an utterance-level STT available as `name` (e.g. `openai`).
    pub fn add_stt(&mut self, name: &str, stt: Arc<dyn Stt>) {
        self.stt.insert(name.to_owned(), stt);
    }

    /// Makes a voice available as `name` (e.g. `espeak`, `deepgram`, `openai`).
    pub fn add_tts(&mut self, name: &str, tts: Arc<dyn Tts>) {
        self.tts.insert(name.to_owned(), tts);
    }

    /// Makes Deepgram live transcription available as STT `deepgram`.
    pub fn set_deepgram_live(&mut self, streaming: DeepgramStreaming) {
        self.deepgram_live = Some(streaming);
    }

    /// Lets calls whose voice is `deepgram` speak over one Aura websocket per call (ordered
    /// sentences, `Clear` on barge-in); the `deepgram` TTS stays the per-sentence fallback.
    pub fn set_deepgram_speak(&mut self, config: DeepgramConfig, options: SpeakOptions) {
        self.deepgram_speak = Some((config, options));
    }

    /// Chooses the server-wide STT.
    pub fn set_default_stt(&mut self, name: &str) -> Result<(), ProviderError> {
        if !self.has_stt(name) {
            return Err(ProviderError::Unknown {
                kind: "STT",
                name: name.to_owned(),
                known: self.stt_names().join(", "),
            });
        }
        self.default_stt = name.to_owned();
        Ok(())
    }

    /// Chooses the server-wide TTS.
    pub fn set_default_tts(&mut self, name: &str) -> Result<(), ProviderError> {
        if !self.tts.contains_key(name) {
            return Err(ProviderError::Unknown {
                kind: "TTS",
                name: name.to_owned(),
                known: self.tts.keys().cloned().collect::<Vec<_>>().join(", "),
            });
        }
        self.default_tts = name.to_owned();
        Ok(())
    }

    fn has_stt(&self, name: &str) -> bool {
        self.stt.contains_key(name) || (name == DEEPGRAM && self.deepgram_live.is_some())
    }

    fn stt_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.stt.keys().cloned().collect();
        if self.deepgram_live.is_some() {
            names.push(DEEPGRAM.to_owned());
        }
        names
    }

    /// The default providers' names, for `/health` and logs.
    pub fn defaults(&self) -> (&str, &str) {
        (&self.default_stt, &self.default_tts)
    }

    /// What a call of `agent` uses. An agent naming a provider that is not configured gets the
    /// default (logged), so one agent file cannot take the line down.
    pub(crate) fn for_agent(&self, agent: &brain::AgentConfig) -> CallSpeech {
        let wanted_stt = agent.speech.stt.as_deref().unwrap_or(&self.default_stt);
        let stt_name = if self.has_stt(wanted_stt) {
            wanted_stt
        } else {
            tracing::warn!(agent = %agent.name, stt = wanted_stt, "agent STT is not configured; using the default");
            &self.default_stt
        };
        let wanted_tts = agent.speech.tts.as_deref().unwrap_or(&self.default_tts);
        let tts_name = if self.tts.contains_key(wanted_tts) {
            wanted_tts
        } else {
            tracing::warn!(agent = %agent.name, tts = wanted_tts, "agent TTS is not configured; using the default");
            &self.default_tts
        };
        let local_stt = self.stt[LOCAL_STT].clone();
        let local_tts = self.tts[LOCAL_TTS].clone();
        let stt = match (stt_name, &self.deepgram_live) {
            (DEEPGRAM, Some(live)) => SttChoice::DeepgramLive(live.clone()),
            _ => SttChoice::Utterance(self.stt[stt_name].clone()),
        };
        CallSpeech {
            stt,
            stt_fallback: (stt_name != LOCAL_STT).then_some(local_stt),
            speak_stream: match (tts_name, &self.deepgram_speak) {
                ("deepgram", Some(s)) => Some(s.clone()),
                _ => None,
            },
            tts: self.tts[tts_name].clone(),
            tts_fallback: (tts_name != LOCAL_TTS).then_some(local_tts),
        }
    }
}

/// How a call's caller audio becomes text.
#[derive(Clone)]
pub(crate) enum SttChoice {
    /// Whole utterances, cut by our own endpointing.
    Utterance(Arc<dyn Stt>),
    /// Audio streamed live to Deepgram, whose end-of-turn signals end the caller's turn.
    DeepgramLive(DeepgramStreaming),
}

/// The speech providers of one call.
#[derive(Clone)]
pub(crate) struct CallSpeech {
    pub(crate) stt: SttChoice,
    /// Used when the chosen STT fails (`None`: it is the local one already).
    pub(crate) stt_fallback: Option<Arc<dyn Stt>>,
    pub(crate) tts: Arc<dyn Tts>,
    /// Speak over one Deepgram websocket for the whole call (with `tts` as the fallback).
    pub(crate) speak_stream: Option<(DeepgramConfig, SpeakOptions)>,
    /// Used when the chosen voice fails (`None`: it is the local one already).
    pub(crate) tts_fallback: Option<Arc<dyn Tts>>,
}
