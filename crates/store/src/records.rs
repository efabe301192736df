//! Plain data going into and coming out of the store.

use serde::Serialize;

/// What we know about a call when a webhook or the media stream announces it. Every field but
/// `call_sid` is optional: whatever is `None` is left as already stored (or empty).
///
/// The call's status is not set here: send it through [`crate::Store::record_status`], which
/// keeps the history and the never-go-backwards rule in one place.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NewCall {
    pub call_sid: String,
    pub account_sid: Option<String>,
    pub direction: Option<String>,
    pub from_number: Option<String>,
    pub to_number: Option<String>,
    /// Name of the agent (brain configuration) handling the call.
    pub agent: Option<String>,
}

/// One call status observation (a Twilio status callback, or the webhook's `CallStatus`).
#[derive(Debug, Clone, Serialize)]
pub struct StatusUpdate {
    pub call_sid: String,
    /// Twilio `CallStatus`, e.g. `ringing`, `in-progress`, `completed`.
    pub status: String,
    /// Position of `status` in the call lifecycle, chosen by the caller (higher = later).
    /// The call's current status only ever moves to a higher rank.
    pub rank: i32,
    /// Twilio `SequenceNumber`, when the callback carries one.
    pub sequence_number: Option<i64>,
    /// Twilio `Timestamp` (RFC 2822 text), kept verbatim.
    pub event_timestamp: Option<String>,
}

/// What [`crate::Store::record_status`] did with an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusOutcome {
    /// Recorded, and it is now the call's current status.
    Applied,
    /// Recorded in the history, but the call already had a later status.
    Stale,
    /// Already recorded (a retried callback): nothing changed.
    Duplicate,
}

/// Who spoke a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    Caller,
    Agent,
}

impl Speaker {
    /// The value stored in the `speaker` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Speaker::Caller => "caller",
            Speaker::Agent => "agent",
        }
    }

    pub(crate) fn from_db(s: &str) -> Option<Speaker> {
        match s {
            "caller" => Some(Speaker::Caller),
            "agent" => Some(Speaker::Agent),
            _ => None,
        }
    }
}

/// Latency measurements of one turn, in milliseconds; `None` where not measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TurnTimings {
    pub end_of_speech_to_transcript_ms: Option<i64>,
    pub transcript_to_reply_ms: Option<i64>,
    pub reply_to_first_audio_ms: Option<i64>,
    pub end_of_speech_to_first_audio_ms: Option<i64>,
}

/// A turn to append to a call's transcript. Its index is assigned by the store (0, 1, 2 …).
#[derive(Debug, Clone, Serialize)]
pub struct NewTurn {
    pub speaker: Speaker,
    pub text: String,
    /// The agent was cut off by the caller (barge-in) before finishing this turn.
    pub interrupted: bool,
    /// Offset of the turn's start from the start of the call, in milliseconds.
    pub at_ms: i64,
    pub timings: TurnTimings,
    /// Intent the brain recognised (caller turns) or answered (agent turns).
    pub intent: Option<String>,
}

/// A stored call row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct CallRecord {
    pub id: i64,
    pub call_sid: String,
    pub account_sid: Option<String>,
    pub stream_sid: Option<String>,
    pub direction: Option<String>,
    pub from_number: Option<String>,
    pub to_number: Option<String>,
    pub status: Option<String>,
    pub status_rank: Option<i32>,
    pub agent: Option<String>,
    /// Unix epoch milliseconds, like every `*_at` field.
    pub created_at: i64,
    pub answered_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// The CRM contact this call was with, when known.
    pub contact_id: Option<i64>,
    /// What the call achieved, as the brain recorded it (e.g. "interested", "do_not_call").
    pub outcome: Option<String>,
    /// JSON text with the outcome's details (summary, follow-ups).
    pub outcome_detail: Option<String>,
}

impl CallRecord {
    /// The number at the far end: the callee of an outbound call, the caller of any other.
    pub fn other_party(&self) -> Option<&str> {
        let outbound = self
            .direction
            .as_deref()
            .is_some_and(|d| d.starts_with("outbound"));
        if outbound {
            self.to_number.as_deref()
        } else {
            self.from_number.as_deref()
        }
    }
}

/// A stored turn.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TurnRecord {
    pub idx: i64,
    pub speaker: Speaker,
    pub text: String,
    pub interrupted: bool,
    pub at_ms: i64,
    pub timings: TurnTimings,
    pub intent: Option<String>,
    /// Caller turns: "positive" | "neutral" | "negative", as the brain judged it.
    pub sentiment_label: Option<String>,
    /// Caller turns: -1.0 (very negative) to 1.0 (very positive).
    pub sentiment_score: Option<f64>,
}

/// A stored free-form call event (for timelines and debugging).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallEventRecord {
    /// Unix epoch milliseconds.
    pub at: i64,
    pub kind: String,
    pub data: serde_json::Value,
}

/// One entry of a call's status history, in the order received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct StatusEventRecord {
    pub status: String,
    pub sequence_number: Option<i64>,
    pub event_timestamp: Option<String>,
    /// Unix epoch milliseconds.
    pub received_at: i64,
}

/// Everything stored about one call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallDetail {
    pub call: CallRecord,
    /// Ordered by index.
    pub turns: Vec<TurnRecord>,
    /// Ordered by time.
    pub events: Vec<CallEventRecord>,
    /// Ordered as received.
    pub status_history: Vec<StatusEventRecord>,
}
