//! Writes a call's turns and events to the store from a task of its own, in order, so that a
//! slow disk never delays the call's audio loop.

use conversation::ConversationEvent;
use store::Store;
use tokio::sync::mpsc;

/// One write to the call's record.
pub(crate) enum StoreOp {
    StreamStarted {
        stream_sid: String,
        account_sid: String,
        agent: String,
    },
    Turn(store::NewTurn),
    Event {
        kind: String,
        data: serde_json::Value,
    },
    Ended {
        by: String,
    },
    Outcome {
        outcome: String,
        detail: serde_json::Value,
    },
    /// What the brain understood of the caller's latest turn.
    CallerTurnUnderstood {
        intent: Option<String>,
        sentiment_label: &'static str,
        sentiment_score: f32,
    },
    /// The caller asked never to be called again.
    DoNotCall {
        phone: Option<String>,
    },
}

impl StoreOp {
    /// Maps an engine event to its record: finished turns become turns, the rest events.
    pub(crate) fn from_event(ev: ConversationEvent) -> StoreOp {
        match ev {
            ConversationEvent::TurnFinished(t) => {
                let timings = t.timings.unwrap_or_default();
                StoreOp::Turn(store::NewTurn {
                    speaker: match t.speaker {
                        conversation::Speaker::Caller => store::Speaker::Caller,
                        conversation::Speaker::Agent => store::Speaker::Agent,
                    },
                    text: t.text,
                    interrupted: t.interrupted,
                    at_ms: ms(t.at),
                    timings: store::TurnTimings {
                        end_of_speech_to_transcript_ms: timings.speech_to_transcript.map(ms),
                        transcript_to_reply_ms: timings.transcript_to_reply.map(ms),
                        reply_to_first_audio_ms: timings.reply_to_audio.map(ms),
                        end_of_speech_to_first_audio_ms: timings.voice_to_voice.map(ms),
                    },
                    intent: None,
                })
            }
            other => StoreOp::Event {
                kind: event_kind(&other).to_string(),
                data: serde_json::json!({ "detail": format!("{other:?}") }),
            },
        }
    }
}

/// Stable snake_case names for the engine's events (what the `call_events.kind` column holds).
fn event_kind(ev: &ConversationEvent) -> &'static str {
    match ev {
        ConversationEvent::TurnFinished(_) => "turn_finished",
        ConversationEvent::BargeIn { .. } => "barge_in",
        ConversationEvent::TurnSuperseded { .. } => "turn_superseded",
        ConversationEvent::UtteranceDiscarded { .. } => "utterance_discarded",
        ConversationEvent::UtteranceCut { .. } => "utterance_cut",
        ConversationEvent::Dtmf { .. } => "dtmf",
        ConversationEvent::SpeechFailed { .. } => "speech_failed",
        ConversationEvent::MarkTimedOut { .. } => "mark_timed_out",
        ConversationEvent::TurnCommitted { .. } => "turn_committed",
        ConversationEvent::CallEnded { .. } => "call_ended",
    }
}

fn ms(d: std::time::Duration) -> i64 {
    d.as_millis() as i64
}

/// Handle to the call's writer task.
#[derive(Clone)]
pub(crate) struct CallRecorder {
    tx: mpsc::UnboundedSender<StoreOp>,
}

impl CallRecorder {
    /// Starts the writer task for `call_sid`.
    pub(crate) fn spawn(store: Store, call_sid: String) -> CallRecorder {
        let (tx, mut rx) = mpsc::unbounded_channel::<StoreOp>();
        tokio::spawn(async move {
            while let Some(op) = rx.recv().await {
                if let Err(e) = apply(&store, &call_sid, op).await {
                    tracing::error!(%call_sid, error = %e, "could not write call record");
                }
            }
        });
        CallRecorder { tx }
    }

    /// Queues a write (never blocks).
    pub(crate) fn send(&self, op: StoreOp) {
        let _ = self.tx.send(op);
    }
}

async fn apply(store: &Store, call_sid: &str, op: StoreOp) -> Result<(), store::StoreError> {
    match op {
        StoreOp::StreamStarted {
            stream_sid,
            account_sid,
            agent,
        } => {
            // A `start` for a call we have not seen (webhook served elsewhere, or a stream from
            // other TwiML) creates the record instead of failing.
            store
                .upsert_call(&store::NewCall {
                    call_sid: call_sid.to_string(),
                    account_sid: Some(account_sid),
                    direction: None,
                    from_number: None,
                    to_number: None,
                    agent: Some(agent),
                })
                .await?;
            let rank = telephony::webhook::CallStatus::InProgress.rank() as i32;
            store
                .record_status(&store::StatusUpdate {
                    call_sid: call_sid.to_string(),
                    status: "in-progress".into(),
                    rank,
                    sequence_number: None,
                    event_timestamp: None,
                })
                .await?;
            store.set_stream_sid(call_sid, &stream_sid).await?;
            store
                .add_event(
                    call_sid,
                    "stream_started",
                    &serde_json::json!({ "stream_sid": stream_sid }),
                )
                .await
        }
        StoreOp::Turn(t) => store.add_turn(call_sid, &t).await,
        StoreOp::CallerTurnUnderstood {
            intent,
            sentiment_label,
            sentiment_score,
        } => {
            store
                .annotate_last_caller_turn(
                    call_sid,
                    intent.as_deref(),
                    sentiment_label,
                    f64::from(sentiment_score),
                )
                .await
        }
        StoreOp::Outcome { outcome, detail } => {
            store.set_call_outcome(call_sid, &outcome, &detail).await
        }
        StoreOp::DoNotCall { phone } => {
            // Without a CRM contact, the caller's number comes from the call record.
            let phone = match phone {
                Some(p) => Some(p),
                None => store
                    .get_call(call_sid)
                    .await?
                    .and_then(|d| d.call.other_party().map(str::to_owned)),
            };
            match phone {
                Some(p) => {
                    store
                        .add_do_not_call(&p, Some("asked during a call"), "call", Some(call_sid))
                        .await?;
                    store
                        .add_event(call_sid, "do_not_call", &serde_json::json!({ "phone": p }))
                        .await
                }
                None => {
                    store
                        .add_event(
                            call_sid,
                            "do_not_call_without_number",
                            &serde_json::json!({}),
                        )
                        .await
                }
            }
        }
        StoreOp::Event { kind, data } => store.add_event(call_sid, &kind, &data).await,
        StoreOp::Ended { by } => {
            store
                .add_event(
                    call_sid,
                    "stream_ended",
                    &serde_json::json!({ "ended_by": by }),
                )
                .await?;
            let completed = telephony::webhook::CallStatus::Completed.rank() as i32;
            store.finish_call(call_sid, "completed", completed).await
        }
    }
}
