//! One call's Deepgram Aura websocket: sentences are spoken in order on one connection (Speak +
//! Flush), and when the caller barges in the turn's unheard sentences are dropped and Deepgram
//! is told to `Clear`, so no more audio of a cancelled reply is generated or sent. A sentence the
//! stream cannot speak goes back to the driver, which uses the per-sentence path (REST, then the
//! local voice).

use std::collections::VecDeque;
use std::time::Duration;

use conversation::TurnId;
use speech::{DeepgramConfig, DeepgramSpeaker, SpeakEvent, SpeakOptions};
use tokio::sync::mpsc;

/// How long one sentence may take before the stream gives up on it.
const SENTENCE_TIMEOUT: Duration = Duration::from_secs(10);

/// One sentence to speak.
#[derive(Debug, Clone)]
pub(crate) struct Sentence {
    pub(crate) turn: TurnId,
    pub(crate) seq: u32,
    pub(crate) text: String,
}

/// What the stream reports.
pub(crate) enum SpeakNote {
    /// A sentence's audio, 8 kHz PCM (decoded from the phone's mu-law).
    Audio {
        turn: TurnId,
        seq: u32,
        pcm8k: Vec<i16>,
    },
    /// The stream could not speak this sentence: synthesize it another way.
    Failed { sentence: Sentence, error: String },
    /// Deepgram confirmed it dropped a cancelled reply's audio.
    Cleared,
}

enum Command {
    Speak(Sentence),
    Cancel(TurnId),
    Close,
}

/// Handle to the call's speaking task.
pub(crate) struct SpeakStream {
    tx: mpsc::UnboundedSender<Command>,
}

impl SpeakStream {
    pub(crate) fn start(
        config: DeepgramConfig,
        options: SpeakOptions,
        notify: impl Fn(SpeakNote) + Send + 'static,
    ) -> SpeakStream {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(config, options, rx, notify));
        SpeakStream { tx }
    }

    pub(crate) fn speak(&self, sentence: Sentence) {
        let _ = self.tx.send(Command::Speak(sentence));
    }

    /// The caller barged in: nothing more of `turn` is wanted.
    pub(crate) fn cancel(&self, turn: TurnId) {
        let _ = self.tx.send(Command::Cancel(turn));
    }

    pub(crate) fn close(&self) {
        let _ = self.tx.send(Command::Close);
    }
}

async fn run(
    config: DeepgramConfig,
    options: SpeakOptions,
    mut rx: mpsc::UnboundedReceiver<Command>,
    notify: impl Fn(SpeakNote) + Send + 'static,
) {
    let mut speaker = match DeepgramSpeaker::connect(&config, &options).await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "deepgram speak stream unavailable; speaking per sentence");
            None
        }
    };
    let mut queue: VecDeque<Sentence> = VecDeque::new();
    let mut current: Option<Sentence> = None;
    let mut audio: Vec<u8> = Vec::new();
    let mut deadline = tokio::time::Instant::now();
    loop {
        // Without a stream every sentence goes back to the per-sentence path.
        if speaker.is_none() {
            for sentence in current.take().into_iter().chain(queue.drain(..)) {
                notify(SpeakNote::Failed {
                    sentence,
                    error: "speak stream closed".into(),
                });
            }
            match rx.recv().await {
                Some(Command::Speak(sentence)) => notify(SpeakNote::Failed {
                    sentence,
                    error: "speak stream closed".into(),
                }),
                Some(Command::Cancel(_)) => {}
                Some(Command::Close) | None => return,
            }
            continue;
        }
        let Some(s) = speaker.as_mut() else { continue };
        if current.is_none() {
            if let Some(next) = queue.pop_front() {
                let sent = match s.speak(&next.text).await {
                    Ok(()) => s.flush().await,
                    Err(e) => Err(e),
                };
                match sent {
                    Ok(()) => {
                        audio.clear();
                        deadline = tokio::time::Instant::now() + SENTENCE_TIMEOUT;
                        current = Some(next);
                    }
                    Err(e) => {
                        notify(SpeakNote::Failed {
                            sentence: next,
                            error: e.to_string(),
                        });
                        speaker = None;
                        continue;
                    }
                }
            }
        }
        let waiting = current.is_some();
        let mut broken = false;
        tokio::select! {
            cmd = rx.recv() => match cmd {
                Some(Command::Speak(sentence)) => queue.push_back(sentence),
                Some(Command::Cancel(turn)) => {
                    queue.retain(|q| q.turn != turn);
                    if current.as_ref().is_some_and(|c| c.turn == turn) {
                        current = None;
                        if s.clear().await.is_err() {
                            broken = true;
                        }
                    }
                }
                Some(Command::Close) | None => {
                    let _ = s.close().await;
                    return;
                }
            },
            event = s.next_event() => match event {
                Ok(Some(SpeakEvent::Audio(bytes))) => {
                    if current.is_some() {
                        audio.extend_from_slice(&bytes);
                    }
                }
                Ok(Some(SpeakEvent::Flushed { .. })) => {
                    if let Some(c) = current.take() {
                        let pcm8k = audio::mulaw::decode_all(&audio);
                        notify(SpeakNote::Audio { turn: c.turn, seq: c.seq, pcm8k });
                    }
                }
                Ok(Some(SpeakEvent::Cleared { .. })) => notify(SpeakNote::Cleared),
                Ok(Some(SpeakEvent::Warning { description, .. })) => {
                    tracing::warn!(%description, "deepgram speak warning");
                }
                Ok(None) | Err(_) => broken = true,
            },
            _ = tokio::time::sleep_until(deadline), if waiting => {
                // A sentence that never finished: speak it another way, start afresh.
                if let Some(c) = current.take() {
                    notify(SpeakNote::Failed { sentence: c, error: "timed out".into() });
                }
                broken = true;
            }
        }
        if broken {
            speaker = None;
        }
    }
}
