//! A virtual-clock harness: drives a `Conversation` through scripted caller audio, provider
//! answers and ticks, recording every output with the instant it came out.
#![allow(dead_code)] // each test file uses a different part of the harness

use std::f32::consts::PI;
use std::time::{Duration, Instant};

use audio::Frame;
use conversation::{
    CallerInput, Conversation, ConversationEvent, Input, Output, TurnConfig, TurnId, TurnRecord,
    UtteranceId, VoiceDecision,
};

pub const FRAME: Duration = Duration::from_millis(20);

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Voice decision for state-machine tests: a frame is speech when it is loud.
pub struct LoudIsSpeech;

impl VoiceDecision for LoudIsSpeech {
    fn is_speech(&mut self, frame: &Frame) -> bool {
        frame.rms() > 500.0
    }
}

/// A loud frame (counts as speech for `LoudIsSpeech`).
pub fn loud() -> Frame {
    Frame([4000; 160])
}

/// `ms` of agent speech audio where every sample is `tag`, so tests can tell sentences apart.
pub fn tts_audio(ms: u64, tag: i16) -> Vec<i16> {
    vec![tag; (ms * 8) as usize]
}

pub struct Harness {
    pub call: Conversation,
    pub t0: Instant,
    pub now: Instant,
    /// Every output so far, with its time since t0.
    pub log: Vec<(Duration, Output)>,
}

impl Harness {
    pub fn new(config: TurnConfig) -> Self {
        let t0 = Instant::now();
        Harness {
            call: Conversation::with_voice_decision(config, t0, Box::new(LoudIsSpeech)),
            t0,
            now: t0,
            log: Vec::new(),
        }
    }

    /// With the real neural VAD.
    pub fn with_real_vad(config: TurnConfig) -> Self {
        let t0 = Instant::now();
        Harness {
            call: Conversation::new(config, t0),
            t0,
            now: t0,
            log: Vec::new(),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    /// Handles `input` now; returns what came out.
    pub fn handle(&mut self, input: Input) -> Vec<Output> {
        self.call.handle(input, self.now);
        self.drain()
    }

    fn drain(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        while let Some(o) = self.call.poll_output() {
            self.log.push((self.elapsed(), o.clone()));
            out.push(o);
        }
        out
    }

    /// Lets `d` pass, ticking at every deadline the engine asks for.
    pub fn advance(&mut self, d: Duration) -> Vec<Output> {
        let target = self.now + d;
        let mut out = Vec::new();
        let mut guard = 0;
        while let Some(t) = self.call.poll_timeout().filter(|&t| t <= target) {
            guard += 1;
            assert!(
                guard < 100_000,
                "engine keeps asking for ticks without progress"
            );
            self.now = t.max(self.now);
            out.extend(self.handle(Input::Tick));
        }
        self.now = target;
        out
    }

    /// Caller audio: one frame every 20 ms (time passes first, as on the wire).
    pub fn caller(&mut self, frames: impl IntoIterator<Item = Frame>) -> Vec<Output> {
        let mut out = Vec::new();
        for f in frames {
            out.extend(self.advance(FRAME));
            out.extend(self.handle(Input::CallerAudio(f)));
        }
        out
    }

    pub fn speak(&mut self, ms: u64) -> Vec<Output> {
        self.caller((0..ms / 20).map(|_| loud()))
    }

    pub fn silence(&mut self, ms: u64) -> Vec<Output> {
        self.caller((0..ms / 20).map(|_| Frame::SILENCE))
    }

    /// Caller says something that ends in a `Transcribe`; returns its utterance id.
    pub fn utterance(&mut self, speech_ms: u64) -> UtteranceId {
        let mut out = self.speak(speech_ms);
        out.extend(self.silence(400));
        transcribed(&out)
            .expect("utterance should have been sent to STT")
            .0
    }

    /// A full caller turn: speech, end of turn, transcript; returns the turn the brain is asked.
    pub fn caller_turn(&mut self, text: &str) -> TurnId {
        let u = self.utterance(500);
        let out = self.handle(Input::Transcript {
            utterance: u,
            text: text.into(),
        });
        asked(&out).expect("brain should have been asked").0
    }

    /// The brain answers `turn` with `text` in one chunk; returns the sentences to synthesize.
    pub fn reply(&mut self, turn: TurnId, text: &str, end_call: bool) -> Vec<(u32, String)> {
        let mut out = self.handle(Input::ReplyText {
            turn,
            text: text.into(),
        });
        out.extend(self.handle(Input::ReplyDone { turn, end_call }));
        synthesized(&out)
    }

    pub fn audio(&mut self, turn: TurnId, seq: u32, pcm8k: Vec<i16>) -> Vec<Output> {
        self.handle(Input::SpeechAudio { turn, seq, pcm8k })
    }

    pub fn mark(&mut self, name: &str) -> Vec<Output> {
        self.handle(Input::PlaybackMark(name.into()))
    }

    /// Outputs logged after `since` (time since t0).
    pub fn log_since(&self, since: Duration) -> Vec<Output> {
        self.log
            .iter()
            .filter(|(t, _)| *t >= since)
            .map(|(_, o)| o.clone())
            .collect()
    }

    pub fn events(&self) -> Vec<ConversationEvent> {
        self.log.iter().filter_map(|(_, o)| event(o)).collect()
    }

    pub fn turn_records(&self) -> Vec<TurnRecord> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                ConversationEvent::TurnFinished(r) => Some(r),
                _ => None,
            })
            .collect()
    }
}

pub fn event(o: &Output) -> Option<ConversationEvent> {
    match o {
        Output::Event(e) => Some(e.clone()),
        _ => None,
    }
}

pub fn frames(out: &[Output]) -> Vec<Frame> {
    out.iter()
        .filter_map(|o| match o {
            Output::SendAudio(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

pub fn marks(out: &[Output]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            Output::SendMark(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

pub fn transcribed(out: &[Output]) -> Option<(UtteranceId, Vec<i16>)> {
    out.iter().find_map(|o| match o {
        Output::Transcribe { utterance, pcm8k } => Some((*utterance, pcm8k.clone())),
        _ => None,
    })
}

pub fn asked(out: &[Output]) -> Option<(TurnId, CallerInput)> {
    out.iter().find_map(|o| match o {
        Output::AskBrain { turn, input } => Some((*turn, input.clone())),
        _ => None,
    })
}

pub fn synthesized(out: &[Output]) -> Vec<(u32, String)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Synthesize { seq, text, .. } => Some((*seq, text.clone())),
            _ => None,
        })
        .collect()
}

pub fn has(out: &[Output], wanted: &Output) -> bool {
    out.iter().any(|o| o == wanted)
}

/// Speech-like synthetic audio: a pitch-varying glottal pulse train through three vowel
/// formant resonators, with a 4 Hz syllable envelope. Earshot scores it as speech.
pub fn synthetic_speech(ms: u64) -> Vec<i16> {
    let n = (ms * 8) as usize;
    let vowels = [
        (730.0, 1090.0, 2440.0),
        (270.0, 2290.0, 3010.0),
        (300.0, 870.0, 2240.0),
        (530.0, 1840.0, 2480.0),
    ];
    let mut state = [[0.0f32; 2]; 3];
    let mut phase = 0.0f32;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let t = i as f32 / 8000.0;
        let (f1, f2, f3) = vowels[(t * 4.0 + 0.3) as usize % 4];
        let pitch =
            120.0 + 20.0 * (2.0 * PI * 0.7 * t + 0.3).sin() + 10.0 * (2.0 * PI * 3.0 * t).sin();
        phase += pitch / 8000.0;
        let pulse = if phase >= 1.0 {
            phase -= 1.0;
            1.0
        } else {
            0.0
        };
        let mut y = 0.0;
        for (k, (f, bw)) in [(f1, 90.0f32), (f2, 110.0), (f3, 170.0)]
            .into_iter()
            .enumerate()
        {
            let r = (-PI * bw / 8000.0).exp();
            let v =
                pulse + 2.0 * r * (2.0 * PI * f / 8000.0).cos() * state[k][0] - r * r * state[k][1];
            state[k] = [v, state[k][0]];
            y += v;
        }
        let envelope = (0.5 - 0.5 * (2.0 * PI * 4.0 * t).cos()).sqrt();
        out.push((y * envelope * 600.0).clamp(-32000.0, 32000.0) as i16);
    }
    out
}
