//! The thin tokio driver of one call: Media Streams socket ⇄ [`Conversation`] ⇄ speech, brain, store.
//!
//! All turn-taking decisions live in the sans-IO engine; this loop only turns websocket messages
//! and finished background jobs into engine inputs, engine outputs into websocket messages and
//! jobs, and sleeps until the engine's next deadline.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use audio::{Frame, FRAME_SAMPLES_8K};
use axum::extract::ws::{Message, WebSocket};
use brain::llm_turn::TurnEvent;
use brain::{CallerInput, Contact};
use conversation::{
    Conversation, ConversationEvent, Input, Output, TurnConfig, TurnId, UtteranceId,
};
use futures_util::{SinkExt, StreamExt};
use telephony::media_stream::{self, MediaTrack, StreamEvent};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::agents::LoadedAgent;
use crate::brain_session::{lookup_contact, Answer, BrainSession, LlmStep};
use crate::call_record::{CallRecorder, StoreOp};
use crate::call_speech::{CallSpeech, SttChoice};
use crate::live_transcription::{LiveNote, LiveTranscription};
use crate::recording::CallRecording;
use crate::speak_stream::{Sentence, SpeakNote, SpeakStream};
use crate::web_talk::browser;
use crate::AppState;

/// Results of background jobs, fed back into the engine.
enum JobDone {
    Transcript(Input),
    /// News from the call's live transcription (Deepgram).
    Live(LiveNote),
    /// News from the call's speaking stream (Deepgram Aura websocket).
    Speak(SpeakNote),
    Speech(Input),
    Llm {
        turn: TurnId,
        event: TurnEvent,
    },
}

/// How the far end is connected.
pub(crate) enum Transport {
    /// Twilio Media Streams: JSON text frames, base64 mu-law.
    Twilio { stream_sid: String },
    /// The browser Talk page: binary PCM16 both ways, JSON control messages.
    Browser(browser::BrowserAudio),
}

/// With live transcription, our own end-of-turn silence (the provider's endpointing decides first).
/// Preemptive turns by default: answer preparation starts after this much silence, and a
/// finished-sounding turn is answered without waiting longer (docs/benchmarks.md, turn-taking:
/// 270 ms median end-of-turn delay and 3.3 % audible cut-offs on the labelled set, against
/// 480 ms and 4.9 % for the former 400 ms silence timer).
const DEFAULT_PREEMPTIVE_SILENCE_MS: u32 = 160;
/// With preemption, the silence that ends an unfinished-sounding turn (no hesitation in the
/// labelled set is cut at this setting).
const DEFAULT_PREEMPTIVE_END_OF_TURN_MS: u32 = 900;

fn ms(ms: u32) -> std::time::Duration {
    std::time::Duration::from_millis(u64::from(ms))
}

const PROVIDER_SAFETY_SILENCE: std::time::Duration = std::time::Duration::from_millis(1500);
/// How long to wait for the provider's transcript after asking it to finalize.
const PROVIDER_TRANSCRIPT_WAIT: std::time::Duration = std::time::Duration::from_millis(1500);

/// An utterance whose transcript the live provider still owes.
struct Awaiting {
    utterance: UtteranceId,
    /// Its audio, for the local model if the provider never answers.
    pcm8k: Vec<i16>,
    deadline: Instant,
}

/// Runs one Media Streams connection to its end.
pub(crate) async fn run(socket: WebSocket, state: AppState) {
    let _active = state.call_guard();
    let (tx, mut rx) = socket.split();

    // Twilio sends `connected` then `start`; nothing can happen before we know the stream.
    let start = loop {
        match rx.next().await {
            Some(Ok(Message::Text(text))) => match media_stream::parse_inbound(&text) {
                Ok(StreamEvent::Start { start, .. }) => break start,
                Ok(StreamEvent::Connected { .. }) => continue,
                Ok(other) => {
                    tracing::warn!(event = ?other, "media stream: message before start, skipped");
                }
                Err(e) => tracing::warn!(error = %e, "media stream: malformed message skipped"),
            },
            Some(Ok(Message::Close(_))) | None => return,
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "media stream: socket error before start");
                return;
            }
        }
    };
    let stream_sid = start.stream_sid.clone();
    let call_sid = start.call_sid.clone();
    let agent_name = start.custom_parameters.get("agent").cloned();
    let agent = match state.agents.get(agent_name.as_deref()) {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %e, %call_sid, "unknown agent requested; using the default agent");
            match state.agents.get(None) {
                Ok(a) => a,
                Err(_) => return,
            }
        }
    };
    tracing::info!(%call_sid, %stream_sid, agent = %agent.config.name, "call streaming");

    let recorder = CallRecorder::spawn(state.store.clone(), call_sid.clone());
    recorder.send(StoreOp::StreamStarted {
        stream_sid: stream_sid.clone(),
        account_sid: start.account_sid.clone(),
        agent: agent.config.name.clone(),
    });

    let contact = lookup_contact(
        &state,
        &call_sid,
        start
            .custom_parameters
            .get("contact_phone")
            .map(String::as_str),
    )
    .await;
    let voicemail = start
        .custom_parameters
        .get("voicemail")
        .is_some_and(|v| v == "1");
    let driver = Driver::new(
        state,
        agent,
        recorder,
        Transport::Twilio {
            stream_sid: stream_sid.clone(),
        },
        call_sid.clone(),
        contact,
        voicemail,
    );
    drive(driver, (tx, rx), call_sid).await;
}

type WsSink = futures_util::stream::SplitSink<WebSocket, Message>;
type WsStream = futures_util::stream::SplitStream<WebSocket>;

/// Runs a call's loop until either side ends it, then closes its books. Shared by Twilio's
/// Media Streams and the browser's Talk page: only the transport differs.
pub(crate) async fn drive(mut driver: Driver, socket: (WsSink, WsStream), call_sid: String) {
    let (mut tx, mut rx) = socket;
    let (jobs_tx, mut jobs_rx) = mpsc::unbounded_channel::<JobDone>();
    if let SttChoice::DeepgramLive(streaming) = &driver.speech.stt {
        let tx = jobs_tx.clone();
        driver.live = Some(LiveTranscription::start(streaming.clone(), move |note| {
            let _ = tx.send(JobDone::Live(note));
        }));
    }
    if let Some((config, options)) = driver.speech.speak_stream.clone() {
        let tx = jobs_tx.clone();
        driver.speak = Some(SpeakStream::start(config, options, move |note| {
            let _ = tx.send(JobDone::Speak(note));
        }));
    }
    driver.jobs_tx = Some(jobs_tx);
    driver.feed(Input::Start, Instant::now());

    let mut ended_by = "caller";
    'call: loop {
        // Send whatever the engine produced.
        for msg in driver.take_outbox() {
            if tx.send(msg).await.is_err() {
                ended_by = "socket";
                break 'call;
            }
        }
        if driver.hangup_requested {
            ended_by = "agent";
            break;
        }
        let deadline = [
            driver.conversation.poll_timeout(),
            driver.awaiting.as_ref().map(|a| a.deadline),
        ]
        .into_iter()
        .flatten()
        .min();
        let sleep = async {
            match deadline {
                Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            msg = rx.next() => match msg {
                Some(Ok(Message::Close(_))) | None => break 'call,
                Some(Ok(m)) => {
                    if driver.on_message(m) {
                        break 'call;
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, %call_sid, "call socket error");
                    ended_by = "socket";
                    break 'call;
                }
            },
            Some(done) = jobs_rx.recv() => match done {
                JobDone::Transcript(i) | JobDone::Speech(i) => driver.feed(i, Instant::now()),
                JobDone::Llm { turn, event } => driver.on_llm_event(turn, event, Instant::now()),
                JobDone::Live(note) => driver.on_live_note(note, Instant::now()),
                JobDone::Speak(note) => driver.on_speak_note(note, Instant::now()),
            },
            _ = sleep => {
                driver.provider_transcript_overdue(Instant::now());
                driver.feed(Input::Tick, Instant::now());
            }
        }
    }

    // The far end hung up (or the socket died): let the engine close the books on open turns.
    if ended_by != "agent" {
        driver.feed(Input::Hangup, Instant::now());
        let _ = driver.take_outbox();
    } else {
        let _ = tx.send(Message::Close(None)).await;
    }
    if let Some(live) = &driver.live {
        live.close();
    }
    if let Some(speak) = &driver.speak {
        speak.close();
    }
    driver.abort_jobs();
    driver.save_recording(&call_sid);
    if ended_by != "agent" {
        // The caller left before the stream ended on our side: no transfer will be asked for.
        let _ = driver.state.take_transfer(&call_sid);
    }
    driver.brain.record_outcome(ended_by);
    driver.brain.recorder.send(StoreOp::Ended {
        by: ended_by.to_string(),
    });
    tracing::info!(%call_sid, ended_by, "call ended");
}

pub(crate) struct Driver {
    state: AppState,
    brain: BrainSession,
    transport: Transport,
    conversation: Conversation,
    outbox: Vec<Message>,
    jobs: HashMap<TurnId, Vec<JoinHandle<()>>>,
    jobs_tx: Option<mpsc::UnboundedSender<JobDone>>,
    /// An answering machine took the call: say the voicemail message, then hang up.
    voicemail: bool,
    /// Both sides of the call, when recording is on.
    recording: Option<CallRecording>,
    /// This call's speech providers.
    speech: CallSpeech,
    /// The Aura websocket of this call, when the voice is Deepgram.
    speak: Option<SpeakStream>,
    /// Live transcription, when the STT is Deepgram.
    live: Option<LiveTranscription>,
    /// Caller turns Deepgram finished that no utterance of ours has claimed yet.
    unclaimed: Vec<String>,
    /// An utterance waiting for Deepgram's transcript (after a Finalize).
    awaiting: Option<Awaiting>,
    hangup_requested: bool,
}

impl Driver {
    pub(crate) fn new(
        state: AppState,
        agent: Arc<LoadedAgent>,
        recorder: CallRecorder,
        transport: Transport,
        call_sid: String,
        contact: Option<Contact>,
        voicemail: bool,
    ) -> Self {
        let now = Instant::now();
        let greeting = if voicemail {
            agent.brain.voicemail_for(contact.as_ref())
        } else {
            Some(agent.brain.greeting_for(contact.as_ref()))
        };
        let mut config = TurnConfig {
            greeting,
            ..TurnConfig::default()
        };
        let turn = &agent.config.turn;
        let preemptive = turn
            .preemptive_silence_ms
            .unwrap_or(DEFAULT_PREEMPTIVE_SILENCE_MS);
        if preemptive > 0 {
            config.preemptive_silence = Some(ms(preemptive));
            config.end_of_turn_silence = ms(DEFAULT_PREEMPTIVE_END_OF_TURN_MS);
        }
        if let Some(silence) = turn.end_of_turn_silence_ms {
            config.end_of_turn_silence = ms(silence);
        }
        // An end-of-turn silence shorter than the preemptive one leaves nothing to preempt.
        if config
            .preemptive_silence
            .is_some_and(|p| p >= config.end_of_turn_silence)
        {
            config.preemptive_silence = None;
        }
        if let Some(ms) = agent.config.turn.barge_in_min_speech_ms {
            config.barge_in_min_speech = std::time::Duration::from_millis(u64::from(ms));
        }
        if voicemail {
            // A recording machine does not converse: nothing it plays may cut the message.
            config.barge_in_min_speech = config.max_utterance;
        }
        let speech = state.speech_providers.for_agent(&agent.config);
        if matches!(speech.stt, SttChoice::DeepgramLive(_)) {
            // Deepgram's endpointing ends turns; ours is only the safety net for when it is
            // silent (an outage, or speech it could not hear). Preemption is ours alone: with
            // it, our short silence would end every turn before Deepgram finalised it.
            config.preemptive_silence = None;
            config.end_of_turn_silence = config.end_of_turn_silence.max(PROVIDER_SAFETY_SILENCE);
        }
        let recording = state
            .recordings_dir
            .as_ref()
            .map(|_| CallRecording::new(now));
        let brain = BrainSession::new(state.clone(), agent, recorder, call_sid, contact);
        Driver {
            state,
            brain,
            transport,
            conversation: Conversation::new(config, now),
            outbox: Vec::new(),
            jobs: HashMap::new(),
            jobs_tx: None,
            hangup_requested: false,
            recording,
            voicemail,
            speech,
            live: None,
            speak: None,
            unclaimed: Vec::new(),
            awaiting: None,
        }
    }

    fn take_outbox(&mut self) -> Vec<Message> {
        std::mem::take(&mut self.outbox)
    }

    /// One message from the far end. Returns true when the far end has hung up.
    fn on_message(&mut self, msg: Message) -> bool {
        match (&self.transport, msg) {
            (Transport::Twilio { .. }, Message::Text(text)) => self.on_stream_message(&text),
            (Transport::Browser(_), Message::Text(text)) => self.on_browser_text(&text),
            (Transport::Browser(_), Message::Binary(pcm)) => {
                self.on_browser_audio(&pcm);
                false
            }
            _ => false,
        }
    }

    /// Handles one inbound websocket text message. Returns true when the stream has stopped.
    fn on_stream_message(&mut self, text: &str) -> bool {
        let now = Instant::now();
        match media_stream::parse_inbound(text) {
            Ok(StreamEvent::Media { media, .. }) => {
                if media.track == MediaTrack::Inbound {
                    match media.decode_payload() {
                        Ok(bytes) => {
                            if let Some(live) = &self.live {
                                // Deepgram takes the phone's mu-law as is: no resampling.
                                live.audio(bytes.clone());
                            }
                            for chunk in bytes.chunks(FRAME_SAMPLES_8K) {
                                self.feed(Input::CallerAudio(Frame::from_mulaw(chunk)), now);
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "media payload is not base64; skipped")
                        }
                    }
                }
            }
            Ok(StreamEvent::Mark { mark, .. }) => self.feed(Input::PlaybackMark(mark.name), now),
            Ok(StreamEvent::Dtmf { dtmf, .. }) => {
                if let Some(c) = dtmf.digit.chars().next() {
                    self.feed(Input::Dtmf(c), now);
                }
            }
            Ok(StreamEvent::Stop { .. }) => return true,
            Ok(StreamEvent::Connected { .. }) | Ok(StreamEvent::Start { .. }) => {
                tracing::warn!("media stream: duplicate connected/start skipped");
            }
            Err(e) => tracing::warn!(error = %e, "media stream: message skipped"),
        }
        false
    }

    /// A control message from the Talk page (mark echoes, keys, hang-up).
    fn on_browser_text(&mut self, text: &str) -> bool {
        let now = Instant::now();
        match browser::parse_control(text) {
            Some(browser::Control::Mark(name)) => self.feed(Input::PlaybackMark(name), now),
            Some(browser::Control::Dtmf(d)) => self.feed(Input::Dtmf(d), now),
            Some(browser::Control::Hangup) => return true,
            None => tracing::warn!("talk page: message skipped"),
        }
        false
    }

    /// Microphone audio from the Talk page (PCM16 at 16 kHz), fed as 20 ms frames at 8 kHz.
    fn on_browser_audio(&mut self, pcm16k: &[u8]) {
        let now = Instant::now();
        let frames = match &mut self.transport {
            Transport::Browser(audio) => audio.push(pcm16k),
            Transport::Twilio { .. } => return,
        };
        for frame in frames {
            self.feed(Input::CallerAudio(frame), now);
        }
    }

    /// Feeds one input and carries out every output it causes (outputs may cause more inputs,
    /// e.g. the brain answering synchronously).
    fn feed(&mut self, input: Input, now: Instant) {
        if let (Some(r), Input::CallerAudio(frame)) = (&mut self.recording, &input) {
            r.caller(frame, now);
        }
        let mut pending = vec![input];
        while let Some(input) = pending.pop() {
            self.conversation.handle(input, now);
            let mut follow_ups = Vec::new();
            while let Some(out) = self.conversation.poll_output() {
                self.dispatch(out, &mut follow_ups);
            }
            // Keep order: earlier follow-ups are handled first.
            follow_ups.reverse();
            pending.extend(follow_ups);
        }
    }

    fn dispatch(&mut self, out: Output, follow_ups: &mut Vec<Input>) {
        match out {
            Output::SendAudio(frame) => {
                if let Some(r) = &mut self.recording {
                    r.agent(&frame, Instant::now());
                }
                let msg = match &self.transport {
                    Transport::Twilio { stream_sid } => {
                        let payload = media_stream::encode_payload(&frame.to_mulaw());
                        Message::Text(media_stream::media_message(stream_sid, &payload).into())
                    }
                    Transport::Browser(_) => Message::Binary(browser::encode_frame(&frame).into()),
                };
                self.outbox.push(msg);
            }
            Output::SendMark(name) => {
                let text = match &self.transport {
                    Transport::Twilio { stream_sid } => {
                        media_stream::mark_message(stream_sid, &name)
                    }
                    Transport::Browser(_) => browser::mark_message(&name),
                };
                self.outbox.push(Message::Text(text.into()));
            }
            Output::ClearPlayback => {
                let text = match &self.transport {
                    Transport::Twilio { stream_sid } => media_stream::clear_message(stream_sid),
                    Transport::Browser(_) => browser::clear_message(),
                };
                self.outbox.push(Message::Text(text.into()));
            }
            Output::Transcribe { utterance, pcm8k } => match self.speech.stt.clone() {
                SttChoice::Utterance(stt) => self.transcribe_utterance(utterance, pcm8k, stt),
                SttChoice::DeepgramLive(_) if self.live_gave_up() => {
                    let local = self.speech.stt_fallback.clone();
                    match local {
                        Some(stt) => self.transcribe_utterance(utterance, pcm8k, stt),
                        None => follow_ups.push(Input::Transcript {
                            utterance,
                            text: String::new(),
                        }),
                    }
                }
                SttChoice::DeepgramLive(_) => {
                    if self.unclaimed.is_empty() {
                        // Our endpointing was first: ask Deepgram to flush what it heard.
                        if let Some(live) = &self.live {
                            live.finalize();
                        }
                        self.awaiting = Some(Awaiting {
                            utterance,
                            pcm8k,
                            deadline: Instant::now() + PROVIDER_TRANSCRIPT_WAIT,
                        });
                    } else {
                        let text = std::mem::take(&mut self.unclaimed).join(" ");
                        follow_ups.push(Input::Transcript { utterance, text });
                    }
                }
            },
            Output::AskBrain { turn, input } => {
                let caller_input = match input {
                    conversation::CallerInput::Speech(s) => CallerInput::Speech(s),
                    conversation::CallerInput::Dtmf(d) => CallerInput::Dtmf(d),
                };
                match self.brain.ask(turn, caller_input) {
                    Answer::Now { text, end_call } => {
                        follow_ups.push(Input::ReplyText { turn, text });
                        follow_ups.push(Input::ReplyDone { turn, end_call });
                    }
                    Answer::Streaming { mut events, runner } => {
                        let jobs = self.jobs_tx.clone();
                        // Forward the turn's events into the call loop, tagged with the turn.
                        let forward = tokio::spawn(async move {
                            while let Some(event) = events.recv().await {
                                if let Some(tx) = &jobs {
                                    let _ = tx.send(JobDone::Llm { turn, event });
                                }
                            }
                        });
                        let handles = self.jobs.entry(turn).or_default();
                        handles.push(runner);
                        handles.push(forward);
                    }
                }
            }
            Output::CancelTurn(turn) => {
                if let Some(handles) = self.jobs.remove(&turn) {
                    for h in handles {
                        h.abort();
                    }
                }
                // Whatever the cancelled reply's tools asked for no longer applies.
                self.brain.cancel(turn);
                if let Some(speak) = &self.speak {
                    // Unheard sentences are dropped and Deepgram stops generating them.
                    speak.cancel(turn);
                }
            }
            Output::Synthesize { turn, seq, text } => match &self.speak {
                Some(speak) => speak.speak(Sentence { turn, seq, text }),
                None => self.synthesize_sentence(turn, seq, text),
            },
            Output::Hangup => self.hangup_requested = true,
            Output::Event(ev) => self.record_event(ev),
        }
    }

    fn record_event(&mut self, ev: ConversationEvent) {
        if let (Transport::Browser(_), ConversationEvent::TurnFinished(t)) = (&self.transport, &ev)
        {
            // The Talk page shows both sides as they happen.
            self.outbox
                .push(Message::Text(browser::transcript_message(t).into()));
        }
        if self.voicemail {
            if let ConversationEvent::TurnFinished(t) = &ev {
                if t.speaker == conversation::Speaker::Agent && t.turn == TurnId(0) {
                    // The message has been played in full: the call's job is done.
                    self.brain.set_outcome("voicemail_left");
                    self.hangup_requested = true;
                }
            }
        }
        match &ev {
            ConversationEvent::TurnFinished(t)
                if t.speaker == conversation::Speaker::Agent && t.interrupted =>
            {
                self.brain.interrupted(t.turn, &t.text);
            }
            ConversationEvent::TurnSuperseded { turn, .. } => self.brain.superseded(*turn),
            _ => {}
        }
        self.brain.recorder.send(StoreOp::from_event(ev));
    }

    /// Synthesizes one sentence with the call's voice, the local voice covering its failures.
    fn synthesize_sentence(&mut self, turn: TurnId, seq: u32, text: String) {
        let speech = self.state.speech.clone();
        let tx = self.jobs_tx.clone();
        let voice = self.speech.tts.clone();
        let fallback = self.speech.tts_fallback.clone();
        let recorder = self.brain.recorder.clone();
        let handle = tokio::spawn(async move {
            let mut result = speech.synthesize_with(voice.clone(), text.clone()).await;
            if let (Err(e), Some(fallback)) = (&result, fallback) {
                // A failing cloud voice never leaves the caller in silence: the local
                // voice says the sentence, and the call's events say so.
                tracing::warn!(error = %e, voice = voice.name(), "voice failed; using the local voice");
                recorder.send(StoreOp::Event {
                    kind: "tts_fallback".into(),
                    data: serde_json::json!({
                        "provider": voice.name(),
                        "fallback": fallback.name(),
                        "error": e.to_string(),
                    }),
                });
                result = speech.synthesize_with(fallback, text).await;
            }
            let input = match result {
                Ok(a) => {
                    let pcm8k =
                        audio::resample_i16(&a.samples, a.sample_rate, audio::SAMPLE_RATE_8K);
                    Input::SpeechAudio { turn, seq, pcm8k }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "speech synthesis failed for a sentence");
                    Input::SpeechFailed { turn, seq }
                }
            };
            if let Some(tx) = tx {
                let _ = tx.send(JobDone::Speech(input));
            }
        });
        self.jobs.entry(turn).or_default().push(handle);
    }

    /// News from the speaking stream.
    fn on_speak_note(&mut self, note: SpeakNote, now: Instant) {
        match note {
            SpeakNote::Audio { turn, seq, pcm8k } => {
                self.feed(Input::SpeechAudio { turn, seq, pcm8k }, now)
            }
            SpeakNote::Failed { sentence, error } => {
                self.brain.recorder.send(StoreOp::Event {
                    kind: "tts_stream_failed".into(),
                    data: serde_json::json!({ "provider": "deepgram", "error": error, "turn": sentence.turn.0, "seq": sentence.seq }),
                });
                self.synthesize_sentence(sentence.turn, sentence.seq, sentence.text);
            }
            SpeakNote::Cleared => self.brain.recorder.send(StoreOp::Event {
                kind: "tts_cleared".into(),
                data: serde_json::json!({ "provider": "deepgram" }),
            }),
        }
    }

    /// Transcribes a whole utterance with `stt`, falling back to the local model if it fails.
    fn transcribe_utterance(
        &mut self,
        utterance: UtteranceId,
        pcm8k: Vec<i16>,
        stt: Arc<dyn speech::Stt>,
    ) {
        let speech = self.state.speech.clone();
        let tx = self.jobs_tx.clone();
        let recorder = self.brain.recorder.clone();
        let fallback = self.speech.stt_fallback.clone();
        tokio::spawn(async move {
            let mut result = speech
                .transcribe_with(stt.clone(), pcm8k.clone(), audio::SAMPLE_RATE_8K)
                .await;
            if let (Err(e), Some(local)) = (&result, fallback) {
                if !Arc::ptr_eq(&stt, &local) {
                    recorder.send(StoreOp::Event {
                        kind: "stt_fallback".into(),
                        data: serde_json::json!({
                            "provider": stt.name(),
                            "fallback": local.name(),
                            "error": e.to_string(),
                        }),
                    });
                    result = speech
                        .transcribe_with(local, pcm8k, audio::SAMPLE_RATE_8K)
                        .await;
                }
            }
            let text = match result {
                Ok(t) => t,
                Err(e) => {
                    // An STT failure must not leave the caller in silence: an empty
                    // transcript sends the engine back to listening, and the event is kept.
                    recorder.send(StoreOp::Event {
                        kind: "stt_failed".into(),
                        data: serde_json::json!({ "error": e.to_string() }),
                    });
                    String::new()
                }
            };
            if let Some(tx) = tx {
                let _ = tx.send(JobDone::Transcript(Input::Transcript { utterance, text }));
            }
        });
    }

    /// Whether Deepgram is gone for the rest of this call.
    fn live_gave_up(&self) -> bool {
        self.live.is_none()
    }

    /// News from the live transcription.
    fn on_live_note(&mut self, note: LiveNote, now: Instant) {
        match note {
            LiveNote::Turn(text) => {
                if let Some(a) = self.awaiting.take() {
                    self.feed(
                        Input::Transcript {
                            utterance: a.utterance,
                            text,
                        },
                        now,
                    );
                } else {
                    // Deepgram heard the end of the turn first: end our utterance now; its
                    // transcript request is answered with this text.
                    self.unclaimed.push(text);
                    self.feed(Input::EndOfTurnDetected, now);
                    if !self.unclaimed.is_empty() {
                        // No utterance of ours was open: the text repeats a turn already
                        // answered (a Finalize racing Deepgram's own endpointing) or is speech
                        // our voice detector never heard. Keeping it would glue stale words to
                        // the caller's next turn.
                        let dropped = std::mem::take(&mut self.unclaimed).join(" ");
                        self.brain.recorder.send(StoreOp::Event {
                            kind: "stt_unmatched_transcript".into(),
                            data: serde_json::json!({ "provider": "deepgram", "text": dropped }),
                        });
                    }
                }
            }
            LiveNote::Reconnecting { error } => {
                tracing::warn!(%error, "deepgram stream lost; reconnecting");
                self.brain.recorder.send(StoreOp::Event {
                    kind: "stt_reconnecting".into(),
                    data: serde_json::json!({ "provider": "deepgram", "error": error }),
                });
            }
            LiveNote::Reconnected { attempts } => {
                self.brain.recorder.send(StoreOp::Event {
                    kind: "stt_reconnected".into(),
                    data: serde_json::json!({ "provider": "deepgram", "attempts": attempts }),
                });
            }
            LiveNote::GaveUp { error } => {
                tracing::warn!(%error, "deepgram unreachable; transcribing locally for the rest of the call");
                self.brain.recorder.send(StoreOp::Event {
                    kind: "stt_fallback".into(),
                    data: serde_json::json!({ "provider": "deepgram", "error": error, "for": "rest_of_call" }),
                });
                self.live = None;
                // Deepgram is gone for the rest of the call: settle any utterance it owed.
                if let Some(a) = self.awaiting.take() {
                    self.local_transcript_for(a, "deepgram unreachable");
                }
            }
        }
    }

    /// Deepgram did not answer a Finalize in time (a dropped socket loses the turn's audio on
    /// its side): the local model transcribes the utterance so the turn is kept.
    fn provider_transcript_overdue(&mut self, now: Instant) {
        if self.awaiting.as_ref().is_some_and(|a| now >= a.deadline) {
            if let Some(a) = self.awaiting.take() {
                self.local_transcript_for(a, "no transcript from deepgram in time");
            }
        }
    }

    fn local_transcript_for(&mut self, a: Awaiting, reason: &str) {
        match self.speech.stt_fallback.clone() {
            Some(local) => {
                self.brain.recorder.send(StoreOp::Event {
                    kind: "stt_fallback".into(),
                    data: serde_json::json!({ "provider": "deepgram", "reason": reason, "utterance": a.utterance.0 }),
                });
                self.transcribe_utterance(a.utterance, a.pcm8k, local);
            }
            None => self.feed(
                Input::Transcript {
                    utterance: a.utterance,
                    text: String::new(),
                },
                Instant::now(),
            ),
        }
    }

    /// One event of a language-model turn.
    fn on_llm_event(&mut self, turn: TurnId, event: TurnEvent, now: Instant) {
        match self.brain.on_llm_event(turn, event) {
            Some(LlmStep::Say(text)) => self.feed(Input::ReplyText { turn, text }, now),
            Some(LlmStep::SendDigits(digits)) => {
                // A bidirectional Media Stream cannot carry DTMF to the far end.
                self.brain.recorder.send(StoreOp::Event {
                    kind: "send_dtmf_unsupported".into(),
                    data: serde_json::json!({ "digits": digits }),
                });
            }
            Some(LlmStep::Done { end_call }) => self.feed(Input::ReplyDone { turn, end_call }, now),
            None => {}
        }
    }

    /// Writes the call's recording (if on) and notes it in the call's events.
    fn save_recording(&mut self, call_sid: &str) {
        let (Some(r), Some(dir)) = (self.recording.take(), self.state.recordings_dir.clone())
        else {
            return;
        };
        let call_sid = call_sid.to_owned();
        let recorder = self.brain.recorder.clone();
        // Mixing and writing minutes of audio is blocking work: off the call's task.
        tokio::task::spawn_blocking(move || match r.save(&dir, &call_sid) {
            Ok((path, seconds)) => recorder.send(StoreOp::Event {
                kind: "recording".into(),
                data: serde_json::json!({ "file": path.display().to_string(), "seconds": seconds }),
            }),
            Err(e) => {
                tracing::error!(error = %e, %call_sid, "could not save the recording");
                recorder.send(StoreOp::Event {
                    kind: "recording_failed".into(),
                    data: serde_json::json!({ "error": e.to_string() }),
                });
            }
        });
    }

    fn abort_jobs(&mut self) {
        for (_, handles) in self.jobs.drain() {
            for h in handles {
                h.abort();
            }
        }
        self.jobs_tx = None;
    }
}
