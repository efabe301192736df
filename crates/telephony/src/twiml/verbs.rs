//! Prompt and control verbs: `<Say>`, `<Play>`, `<Pause>`, `<Gather>`, `<Redirect>`,
//! `<Hangup>`, `<Reject>`.

use super::Element;

builder!(
    /// `<Say>`: text-to-speech.
    Say
);
impl Say {
    /// Speaks `text`.
    pub fn new(text: impl Into<String>) -> Self {
        Self(Element::new("Say").text(text))
    }
    /// Appends an SSML element (e.g. `<break time="500ms"/>`) after the text so far.
    pub fn ssml(self, element: Element) -> Self {
        Self(self.0.child(element))
    }
    /// Appends more text (after SSML children, for interleaving).
    pub fn then_text(self, text: impl Into<String>) -> Self {
        Self(self.0.text(text))
    }
}
setters!(Say {
    voice: str = "voice",
    language: str = "language",
    loop_count: u32 = "loop"
});

builder!(
    /// `<Play>`: play an audio URL, or DTMF digits.
    Play
);
impl Play {
    /// Plays the audio at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self(Element::new("Play").text(url))
    }
    /// Plays DTMF tones instead of audio (`w` = 0.5 s pause).
    pub fn digits(digits: impl Into<String>) -> Self {
        Self(Element::new("Play").attr("digits", digits))
    }
}
setters!(Play {
    loop_count: u32 = "loop"
});

builder!(
    /// `<Pause>`: silence.
    Pause
);
impl Pause {
    /// One second of silence unless `length` is set.
    pub fn new() -> Self {
        Self(Element::new("Pause"))
    }
}
impl Default for Pause {
    fn default() -> Self {
        Self::new()
    }
}
setters!(Pause {
    length: u32 = "length"
});

builder!(
    /// `<Gather>`: collect speech and/or DTMF while nested prompts play.
    Gather
);
impl Gather {
    /// A gather with Twilio's defaults (DTMF input).
    pub fn new() -> Self {
        Self(Element::new("Gather"))
    }
}
impl Default for Gather {
    fn default() -> Self {
        Self::new()
    }
}
setters!(Gather {
    input: str = "input",
    action: str = "action",
    method: str = "method",
    timeout: u32 = "timeout",
    speech_timeout: str = "speechTimeout",
    finish_on_key: str = "finishOnKey",
    num_digits: u32 = "numDigits",
    language: str = "language",
    hints: str = "hints",
    speech_model: str = "speechModel",
    enhanced: bool = "enhanced",
    profanity_filter: bool = "profanityFilter",
    barge_in: bool = "bargeIn",
    action_on_empty_result: bool = "actionOnEmptyResult",
    partial_result_callback: str = "partialResultCallback",
    partial_result_callback_method: str = "partialResultCallbackMethod",
    max_speech_time: u32 = "maxSpeechTime",
});
child_adders!(Gather { say(Say), play(Play), pause(Pause) });

builder!(
    /// `<Redirect>`: continue with the TwiML at a URL.
    Redirect
);
impl Redirect {
    /// Redirects to `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self(Element::new("Redirect").text(url))
    }
}
setters!(Redirect {
    method: str = "method"
});

builder!(
    /// `<Hangup/>`: end the call.
    Hangup
);
impl Hangup {
    /// Ends the call.
    pub fn new() -> Self {
        Self(Element::new("Hangup"))
    }
}
impl Default for Hangup {
    fn default() -> Self {
        Self::new()
    }
}

builder!(
    /// `<Reject/>`: decline an incoming call without answering it.
    Reject
);
impl Reject {
    /// Rejects with Twilio's default reason (`rejected`).
    pub fn new() -> Self {
        Self(Element::new("Reject"))
    }
}
impl Default for Reject {
    fn default() -> Self {
        Self::new()
    }
}
setters!(Reject {
    reason: str = "reason"
});
