//! Long-lived services: `<Connect>` with `<Stream>` / `<ConversationRelay>` (+ `<Language>`),
//! and unidirectional `<Start>`/`<Stop>` streams.

use super::Element;

builder!(
    /// `<Connect>`: hand the call to a long-lived service (`<Stream>`, `<ConversationRelay>`).
    Connect
);
impl Connect {
    /// A connect without `action`: Twilio continues with the next verb when it ends.
    pub fn new() -> Self {
        Self(Element::new("Connect"))
    }
}
impl Default for Connect {
    fn default() -> Self {
        Self::new()
    }
}
setters!(Connect {
    action: str = "action",
    method: str = "method"
});
child_adders!(Connect { stream(Stream), conversation_relay(ConversationRelay) });

builder!(
    /// `<Stream>`: a Media Stream (bidirectional in `<Connect>`, a fork in `<Start>`).
    Stream
);
impl Stream {
    /// A stream to `url` (`wss://`, no query string: pass data with `parameter`).
    pub fn new(url: impl Into<String>) -> Self {
        Self(Element::new("Stream").attr("url", url))
    }
    /// A stream addressed by name only, as used in `<Stop>`.
    pub fn named(name: impl Into<String>) -> Self {
        Self(Element::new("Stream").attr("name", name))
    }
}
setters!(Stream {
    name: str = "name",
    track: str = "track",
    status_callback: str = "statusCallback",
    status_callback_method: str = "statusCallbackMethod",
});
parameter_adder!(Stream);

builder!(
    /// `<ConversationRelay>`: Twilio runs STT/TTS and exchanges text with us (spec 5).
    ConversationRelay
);
impl ConversationRelay {
    /// A relay session to `url` (`wss://`).
    pub fn new(url: impl Into<String>) -> Self {
        Self(Element::new("ConversationRelay").attr("url", url))
    }
    /// Appends a `<Language>` option (for mid-call language switches).
    pub fn language_option(self, language: Language) -> Self {
        Self(self.0.child(language))
    }
}
setters!(ConversationRelay {
    welcome_greeting: str = "welcomeGreeting",
    welcome_greeting_interruptible: str = "welcomeGreetingInterruptible",
    language: str = "language",
    tts_language: str = "ttsLanguage",
    transcription_language: str = "transcriptionLanguage",
    tts_provider: str = "ttsProvider",
    voice: str = "voice",
    transcription_provider: str = "transcriptionProvider",
    speech_model: str = "speechModel",
    interruptible: str = "interruptible",
    interrupt_sensitivity: str = "interruptSensitivity",
    report_input_during_agent_speech: str = "reportInputDuringAgentSpeech",
    preemptible: bool = "preemptible",
    dtmf_detection: bool = "dtmfDetection",
    partial_prompts: bool = "partialPrompts",
    hints: str = "hints",
    profanity_filter: bool = "profanityFilter",
    intelligence_service: str = "intelligenceService",
    debug: str = "debug",
});
parameter_adder!(ConversationRelay);

builder!(
    /// `<Language>` inside `<ConversationRelay>`: settings for one extra language.
    Language
);
impl Language {
    /// Settings for language `code` (BCP-47, e.g. `es-MX`).
    pub fn new(code: impl Into<String>) -> Self {
        Self(Element::new("Language").attr("code", code))
    }
}
setters!(Language {
    tts_provider: str = "ttsProvider",
    voice: str = "voice",
    transcription_provider: str = "transcriptionProvider",
    speech_model: str = "speechModel",
    hints: str = "hints",
});

builder!(
    /// `<Start>`: start a unidirectional stream; the document continues immediately.
    Start
);
impl Start {
    /// An empty `<Start>`; add the stream with [`Start::stream`].
    pub fn new() -> Self {
        Self(Element::new("Start"))
    }
}
impl Default for Start {
    fn default() -> Self {
        Self::new()
    }
}
child_adders!(Start { stream(Stream) });

builder!(
    /// `<Stop>`: stop a stream started with `<Start>` (address it with [`Stream::named`]).
    Stop
);
impl Stop {
    /// An empty `<Stop>`; add the stream with [`Stop::stream`].
    pub fn new() -> Self {
        Self(Element::new("Stop"))
    }
}
impl Default for Stop {
    fn default() -> Self {
        Self::new()
    }
}
child_adders!(Stop { stream(Stream) });
