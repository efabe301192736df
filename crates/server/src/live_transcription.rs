//! One call's Deepgram live transcription: a task that owns the websocket, forwards the phone's
//! mu-law audio unchanged (no resampling), turns Deepgram's events into whole caller turns, and
//! survives the provider: a dropped socket is reconnected (the turn's earlier words are kept),
//! silence is replaced by KeepAlive, and the stream is closed with CloseStream at hang-up.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use speech::{DeepgramLive, LiveEvent, LiveReceiver, LiveSender, TurnAssembler};
use tokio::sync::mpsc;

use crate::call_speech::DeepgramStreaming;

/// Mean absolute mu-law-decoded amplitude above which a 20 ms frame may hold speech. Low on
/// purpose: this gate only saves streaming pure line silence, Deepgram decides what is speech.
const GATE_LEVEL: f64 = 120.0;
/// Audio kept from before the gate opens, so the first syllable reaches Deepgram.
const GATE_PRE_ROLL: usize = 25; // frames: 500 ms
/// Audio still streamed after the last loud frame: Deepgram's endpointing (300 ms) and
/// `UtteranceEnd` (1000 ms) both need to hear the silence that follows speech.
const GATE_HANGOVER: usize = 90; // frames: 1.8 s
/// Deepgram closes a stream after 10 s without audio; KeepAlive well before that.
const KEEPALIVE_EVERY: Duration = Duration::from_secs(4);
/// Reconnection attempts per outage, and the pause before the first (doubling).
const RECONNECT_TRIES: u32 = 5;
const RECONNECT_FIRST_WAIT: Duration = Duration::from_millis(200);
/// After CloseStream, how long to wait for the last results.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// What the call driver asks of the transcription task.
enum Command {
    Audio(Vec<u8>),
    Finalize,
    Close,
}

/// What the transcription task tells the call driver.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LiveNote {
    /// The caller finished a turn and said this.
    Turn(String),
    /// The connection dropped and is being re-established.
    Reconnecting { error: String },
    /// Connected again after an outage.
    Reconnected { attempts: u32 },
    /// Deepgram stayed unreachable; caller turns are transcribed locally until the call ends.
    GaveUp { error: String },
}

/// Handle to a call's transcription task; dropping it closes the stream.
pub(crate) struct LiveTranscription {
    tx: mpsc::UnboundedSender<Command>,
}

impl LiveTranscription {
    /// Starts transcribing; `notify` receives every [`LiveNote`].
    pub(crate) fn start(
        streaming: DeepgramStreaming,
        notify: impl Fn(LiveNote) + Send + 'static,
    ) -> LiveTranscription {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(streaming, rx, notify));
        LiveTranscription { tx }
    }

    /// 20 ms (or any amount) of the caller's mu-law audio.
    pub(crate) fn audio(&self, mulaw: Vec<u8>) {
        let _ = self.tx.send(Command::Audio(mulaw));
    }

    /// Our own endpointing ended the turn first: ask Deepgram for what it has now.
    pub(crate) fn finalize(&self) {
        let _ = self.tx.send(Command::Finalize);
    }

    /// The call is over.
    pub(crate) fn close(&self) {
        let _ = self.tx.send(Command::Close);
    }
}

/// Sends audio only around possible speech (see [`GATE_LEVEL`]).
struct Gate {
    ring: VecDeque<Vec<u8>>,
    quiet_frames: usize,
    open: bool,
}

impl Gate {
    fn new() -> Self {
        Gate {
            ring: VecDeque::with_capacity(GATE_PRE_ROLL),
            quiet_frames: GATE_HANGOVER,
            open: false,
        }
    }

    /// The audio to send now for this frame (with pre-roll when the gate opens).
    fn push(&mut self, frame: Vec<u8>) -> Vec<Vec<u8>> {
        let level = frame
            .iter()
            .map(|&b| f64::from(audio::mulaw::decode(b)).abs())
            .sum::<f64>()
            / frame.len().max(1) as f64;
        if level >= GATE_LEVEL {
            self.quiet_frames = 0;
        } else {
            self.quiet_frames = self.quiet_frames.saturating_add(1);
        }
        let should_open = self.quiet_frames < GATE_HANGOVER;
        if should_open && !self.open {
            self.open = true;
            let mut out: Vec<Vec<u8>> = self.ring.drain(..).collect();
            out.push(frame);
            return out;
        }
        if !should_open {
            self.open = false;
            if self.ring.len() == GATE_PRE_ROLL {
                self.ring.pop_front();
            }
            self.ring.push_back(frame);
            return Vec::new();
        }
        vec![frame]
    }
}

async fn connect(streaming: &DeepgramStreaming) -> Result<(LiveSender, LiveReceiver), String> {
    DeepgramLive::connect(&streaming.config, &streaming.options)
        .await
        .map_err(|e| e.to_string())
}

async fn run(
    streaming: DeepgramStreaming,
    mut rx: mpsc::UnboundedReceiver<Command>,
    notify: impl Fn(LiveNote) + Send + 'static,
) {
    let mut assembler = TurnAssembler::new();
    // Finals heard before a reconnect: the new stream's clock starts at zero, so they are
    // carried as text and prepended to the next turn.
    let mut carried = String::new();
    let mut gate = Gate::new();
    let mut conn = match connect(&streaming).await {
        Ok(c) => Some(c),
        Err(error) => {
            notify(LiveNote::Reconnecting { error });
            None
        }
    };
    let mut last_sent = Instant::now();
    let mut gave_up = false;
    let mut keepalive = tokio::time::interval(KEEPALIVE_EVERY);
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if conn.is_none() && !gave_up {
            let mut attempts = 0;
            let mut wait = RECONNECT_FIRST_WAIT;
            let mut last_error = String::new();
            while attempts < RECONNECT_TRIES {
                attempts += 1;
                tokio::time::sleep(wait).await;
                wait *= 2;
                match connect(&streaming).await {
                    Ok(c) => {
                        conn = Some(c);
                        break;
                    }
                    Err(e) => last_error = e,
                }
            }
            // Audio that arrived meanwhile is stale: the local fallback covers that turn.
            while let Ok(cmd) = rx.try_recv() {
                if matches!(cmd, Command::Close) {
                    return;
                }
            }
            if conn.is_some() {
                let pending = assembler.pending_text();
                if !pending.is_empty() {
                    carried = join(&carried, &pending);
                }
                assembler = TurnAssembler::new();
                gate = Gate::new();
                notify(LiveNote::Reconnected { attempts });
            } else {
                gave_up = true;
                notify(LiveNote::GaveUp { error: last_error });
            }
        }
        let Some((sender, receiver)) = conn.as_mut() else {
            // Deepgram is gone for this call: drain commands until the call ends.
            match rx.recv().await {
                Some(Command::Close) | None => return,
                Some(_) => continue,
            }
        };
        tokio::select! {
            cmd = rx.recv() => match cmd {
                Some(Command::Audio(frame)) => {
                    for chunk in gate.push(frame) {
                        if let Err(e) = sender.send_audio(chunk).await {
                            notify(LiveNote::Reconnecting { error: e.to_string() });
                            conn = None;
                            break;
                        }
                        last_sent = Instant::now();
                    }
                }
                Some(Command::Finalize) => {
                    if sender.finalize().await.is_err() {
                        conn = None;
                    }
                }
                Some(Command::Close) | None => {
                    let _ = sender.close_stream().await;
                    // The last words may still come back; the driver no longer listens, but
                    // reading them lets Deepgram close cleanly.
                    let _ = tokio::time::timeout(CLOSE_WAIT, async {
                        while let Some(Ok(_)) = receiver.next().await {}
                    })
                    .await;
                    return;
                }
            },
            event = receiver.next() => match event {
                Some(Ok(ev)) => {
                    if let Some(text) = assembler.handle(&ev) {
                        let text = join(&std::mem::take(&mut carried), &text);
                        notify(LiveNote::Turn(text));
                    } else if matches!(ev, LiveEvent::Metadata { .. }) {
                        tracing::debug!("deepgram metadata");
                    }
                }
                Some(Err(e)) => {
                    notify(LiveNote::Reconnecting { error: e.to_string() });
                    conn = None;
                }
                None => {
                    notify(LiveNote::Reconnecting { error: "stream closed by Deepgram".into() });
                    conn = None;
                }
            },
            _ = keepalive.tick() => {
                if last_sent.elapsed() >= KEEPALIVE_EVERY {
                    if sender.keep_alive().await.is_err() {
                        conn = None;
                    }
                    last_sent = Instant::now();
                }
            }
        }
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.trim(), b.trim()) {
        ("", b) => b.to_owned(),
        (a, "") => a.to_owned(),
        (a, b) => format!("{a} {b}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(level: i16) -> Vec<u8> {
        vec![audio::mulaw::encode(level); 160]
    }

    #[test]
    fn gate_sends_speech_with_pre_roll_and_hangover_then_stops() {
        let mut g = Gate::new();
        // Line silence at the start of the call is not sent.
        for _ in 0..40 {
            assert!(g.push(frame(0)).is_empty());
        }
        // Speech opens the gate with the pre-roll in front.
        let first = g.push(frame(4000));
        assert_eq!(first.len(), GATE_PRE_ROLL + 1);
        // The silence after speech still flows for the hangover (endpointing needs it)...
        for _ in 0..GATE_HANGOVER - 1 {
            assert_eq!(g.push(frame(0)).len(), 1);
        }
        // ...and then stops.
        assert!(g.push(frame(0)).is_empty());
    }

    #[test]
    fn join_skips_empty_sides() {
        assert_eq!(join("", "hi"), "hi");
        assert_eq!(
            join("I want", "the premium plan"),
            "I want the premium plan"
        );
        assert_eq!(join("words", " "), "words");
    }
}
