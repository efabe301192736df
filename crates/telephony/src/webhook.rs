//! Typed voice webhook and call status callback forms (spec 1.2, 1.3, 1.6).
//!
//! Input is the decoded form pairs (`application/x-www-form-urlencoded` body, or the query of a
//! GET). Unknown keys are ignored because Twilio adds parameters without notice; empty optional
//! values read as `None` because Twilio sends many geo/CNAM fields as `""`. Each type also
//! writes itself back to pairs so the local carrier can post the same forms Twilio does.

use std::fmt;
use std::str::FromStr;

use crate::error::{UnknownCallStatus, WebhookError};

/// A call's lifecycle state (`CallStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallStatus {
    /// Accepted, waiting for calls-per-second capacity.
    Queued,
    /// Dialing.
    Initiated,
    /// Ringing.
    Ringing,
    /// Answered.
    InProgress,
    /// Ended after being answered.
    Completed,
    /// Callee was busy.
    Busy,
    /// Rang until timeout.
    NoAnswer,
    /// Could not be placed.
    Failed,
    /// Ended via REST while queued or ringing.
    Canceled,
}

impl CallStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [CallStatus; 9] = [
        Self::Queued,
        Self::Initiated,
        Self::Ringing,
        Self::InProgress,
        Self::Completed,
        Self::Busy,
        Self::NoAnswer,
        Self::Failed,
        Self::Canceled,
    ];

    /// The wire string (`in-progress`, `no-answer`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Initiated => "initiated",
            Self::Ringing => "ringing",
            Self::InProgress => "in-progress",
            Self::Completed => "completed",
            Self::Busy => "busy",
            Self::NoAnswer => "no-answer",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }

    /// Whether the call is over (no further status can follow).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Busy | Self::NoAnswer | Self::Failed | Self::Canceled
        )
    }

    /// Position in the lifecycle: queued 0 < initiated 1 < ringing 2 < in-progress 3 <
    /// any terminal state 4. Terminal states share a rank so the first one recorded wins.
    pub fn rank(self) -> u8 {
        match self {
            Self::Queued => 0,
            Self::Initiated => 1,
            Self::Ringing => 2,
            Self::InProgress => 3,
            _ => 4,
        }
    }

    /// Whether a callback reporting `self` should replace a stored `current` status.
    ///
    /// Callbacks arrive out of order and may be retried, so only a strictly later lifecycle
    /// stage moves a call forward; a late `ringing` never undoes `in-progress`.
    pub fn supersedes(self, current: CallStatus) -> bool {
        self.rank() > current.rank()
    }
}

impl FromStr for CallStatus {
    type Err = UnknownCallStatus;

    /// Parses the wire string, ignoring ASCII case (ConversationRelay sends `IN-PROGRESS`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownCallStatus(s.to_owned()))
    }
}

impl fmt::Display for CallStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which way a call leg goes (`Direction`). Open-ended: unknown values are kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Direction {
    /// A caller dialed our number.
    Inbound,
    /// Created through the REST API.
    OutboundApi,
    /// Child leg created by `<Dial>`.
    OutboundDial,
    /// Elastic SIP trunking, originating.
    TrunkingOriginating,
    /// Elastic SIP trunking, terminating.
    TrunkingTerminating,
    /// A value Twilio added after this code was written.
    Other(String),
}

impl Direction {
    /// Parses the wire string; never fails.
    pub fn from_wire(s: &str) -> Self {
        match s {
            "inbound" => Self::Inbound,
            "outbound-api" => Self::OutboundApi,
            "outbound-dial" => Self::OutboundDial,
            "trunking-originating" => Self::TrunkingOriginating,
            "trunking-terminating" => Self::TrunkingTerminating,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The wire string.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Inbound => "inbound",
            Self::OutboundApi => "outbound-api",
            Self::OutboundDial => "outbound-dial",
            Self::TrunkingOriginating => "trunking-originating",
            Self::TrunkingTerminating => "trunking-terminating",
            Self::Other(other) => other,
        }
    }
}

/// The request Twilio makes to a voice URL (also `<Gather>` action and `<Redirect>` targets).
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceWebhook {
    /// `CallSid` (`CA...`).
    pub call_sid: String,
    /// `AccountSid` (`AC...`).
    pub account_sid: String,
    /// `From`: E.164, `client:...`, SIP URI or an anonymous placeholder; not always dialable.
    pub from: String,
    /// `To`.
    pub to: String,
    /// `CallStatus`.
    pub call_status: CallStatus,
    /// `Direction`.
    pub direction: Direction,
    /// `ApiVersion` (`2010-04-01`).
    pub api_version: String,
    /// `ForwardedFrom`.
    pub forwarded_from: Option<String>,
    /// `CallerName` (CNAM).
    pub caller_name: Option<String>,
    /// `ParentCallSid` (child legs).
    pub parent_call_sid: Option<String>,
    /// `CallToken` (inbound calls).
    pub call_token: Option<String>,
    /// `StirVerstat`.
    pub stir_verstat: Option<String>,
    /// `AnsweredBy` (synchronous AMD).
    pub answered_by: Option<String>,
    /// `FromCity`.
    pub from_city: Option<String>,
    /// `FromState`.
    pub from_state: Option<String>,
    /// `FromZip`.
    pub from_zip: Option<String>,
    /// `FromCountry`.
    pub from_country: Option<String>,
    /// `ToCity`.
    pub to_city: Option<String>,
    /// `ToState`.
    pub to_state: Option<String>,
    /// `ToZip`.
    pub to_zip: Option<String>,
    /// `ToCountry`.
    pub to_country: Option<String>,
    /// `Digits` (`<Gather>` DTMF result).
    pub digits: Option<String>,
    /// `SpeechResult` (`<Gather>` speech result).
    pub speech_result: Option<String>,
    /// `Confidence` of `speech_result`, 0.0-1.0.
    pub confidence: Option<f32>,
}

impl VoiceWebhook {
    /// Reads the decoded form pairs; fails naming the first missing or invalid parameter.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Self, WebhookError> {
        let form = Form(pairs);
        Ok(Self {
            call_sid: form.required("CallSid")?,
            account_sid: form.required("AccountSid")?,
            from: form.required("From")?,
            to: form.required("To")?,
            call_status: form.call_status()?,
            direction: Direction::from_wire(&form.required("Direction")?),
            api_version: form.required("ApiVersion")?,
            forwarded_from: form.optional("ForwardedFrom"),
            caller_name: form.optional("CallerName"),
            parent_call_sid: form.optional("ParentCallSid"),
            call_token: form.optional("CallToken"),
            stir_verstat: form.optional("StirVerstat"),
            answered_by: form.optional("AnsweredBy"),
            from_city: form.optional("FromCity"),
            from_state: form.optional("FromState"),
            from_zip: form.optional("FromZip"),
            from_country: form.optional("FromCountry"),
            to_city: form.optional("ToCity"),
            to_state: form.optional("ToState"),
            to_zip: form.optional("ToZip"),
            to_country: form.optional("ToCountry"),
            digits: form.optional("Digits"),
            speech_result: form.optional("SpeechResult"),
            confidence: form.parsed("Confidence", "a decimal number")?,
        })
    }

    /// The form pairs Twilio would post for this webhook (unset optionals omitted).
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let mut out = FormWriter::default();
        out.put("CallSid", &self.call_sid);
        out.put("AccountSid", &self.account_sid);
        out.put("From", &self.from);
        out.put("To", &self.to);
        out.put("CallStatus", self.call_status.as_str());
        out.put("Direction", self.direction.as_str());
        out.put("ApiVersion", &self.api_version);
        out.opt("ForwardedFrom", &self.forwarded_from);
        out.opt("CallerName", &self.caller_name);
        out.opt("ParentCallSid", &self.parent_call_sid);
        out.opt("CallToken", &self.call_token);
        out.opt("StirVerstat", &self.stir_verstat);
        out.opt("AnsweredBy", &self.answered_by);
        out.opt("FromCity", &self.from_city);
        out.opt("FromState", &self.from_state);
        out.opt("FromZip", &self.from_zip);
        out.opt("FromCountry", &self.from_country);
        out.opt("ToCity", &self.to_city);
        out.opt("ToState", &self.to_state);
        out.opt("ToZip", &self.to_zip);
        out.opt("ToCountry", &self.to_country);
        out.opt("Digits", &self.digits);
        out.opt("SpeechResult", &self.speech_result);
        out.opt_display("Confidence", &self.confidence);
        out.0
    }
}

/// A call status callback (`StatusCallback` URL), spec 1.3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCallback {
    /// `CallSid`.
    pub call_sid: String,
    /// `AccountSid`.
    pub account_sid: String,
    /// `CallStatus`; the event is derived from it (`in-progress` = answered).
    pub call_status: CallStatus,
    /// `From`.
    pub from: Option<String>,
    /// `To`.
    pub to: Option<String>,
    /// `Direction`.
    pub direction: Option<Direction>,
    /// `ParentCallSid` (child legs).
    pub parent_call_sid: Option<String>,
    /// `CallbackSource` (`call-progress-events`).
    pub callback_source: Option<String>,
    /// `SequenceNumber`: firing order (0, 1, 2 ...); delivery order is not guaranteed.
    pub sequence_number: Option<u32>,
    /// `Timestamp` (RFC 2822, as sent).
    pub timestamp: Option<String>,
    /// `CallDuration` in seconds (completed-type callbacks).
    pub call_duration: Option<u32>,
    /// `Duration`: billable minutes, rounded up.
    pub duration: Option<u32>,
    /// `SipResponseCode` (e.g. 200, 486, 487).
    pub sip_response_code: Option<u16>,
    /// `AnsweredBy` (if AMD ran).
    pub answered_by: Option<String>,
    /// `RecordingUrl`.
    pub recording_url: Option<String>,
    /// `RecordingSid`.
    pub recording_sid: Option<String>,
    /// `RecordingDuration` in seconds.
    pub recording_duration: Option<u32>,
}

impl StatusCallback {
    /// Reads the decoded form pairs; fails naming the first missing or invalid parameter.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Self, WebhookError> {
        let form = Form(pairs);
        Ok(Self {
            call_sid: form.required("CallSid")?,
            account_sid: form.required("AccountSid")?,
            call_status: form.call_status()?,
            from: form.optional("From"),
            to: form.optional("To"),
            direction: form.optional("Direction").map(|d| Direction::from_wire(&d)),
            parent_call_sid: form.optional("ParentCallSid"),
            callback_source: form.optional("CallbackSource"),
            sequence_number: form.parsed("SequenceNumber", "a non-negative integer")?,
            timestamp: form.optional("Timestamp"),
            call_duration: form.parsed("CallDuration", "whole seconds")?,
            duration: form.parsed("Duration", "whole minutes")?,
            sip_response_code: form.parsed("SipResponseCode", "a SIP status code")?,
            answered_by: form.optional("AnsweredBy"),
            recording_url: form.optional("RecordingUrl"),
            recording_sid: form.optional("RecordingSid"),
            recording_duration: form.parsed("RecordingDuration", "whole seconds")?,
        })
    }

    /// The form pairs Twilio would post for this callback (unset optionals omitted).
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let mut out = FormWriter::default();
        out.put("CallSid", &self.call_sid);
        out.put("AccountSid", &self.account_sid);
        out.put("CallStatus", self.call_status.as_str());
        out.opt("From", &self.from);
        out.opt("To", &self.to);
        if let Some(direction) = &self.direction {
            out.put("Direction", direction.as_str());
        }
        out.opt("ParentCallSid", &self.parent_call_sid);
        out.opt("CallbackSource", &self.callback_source);
        out.opt_display("SequenceNumber", &self.sequence_number);
        out.opt("Timestamp", &self.timestamp);
        out.opt_display("CallDuration", &self.call_duration);
        out.opt_display("Duration", &self.duration);
        out.opt_display("SipResponseCode", &self.sip_response_code);
        out.opt("AnsweredBy", &self.answered_by);
        out.opt("RecordingUrl", &self.recording_url);
        out.opt("RecordingSid", &self.recording_sid);
        out.opt_display("RecordingDuration", &self.recording_duration);
        out.0
    }
}

/// Read access to decoded form pairs; the first occurrence of a key wins.
struct Form<'a>(&'a [(String, String)]);

impl Form<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn required(&self, name: &'static str) -> Result<String, WebhookError> {
        match self.get(name) {
            Some(value) if !value.is_empty() => Ok(value.to_owned()),
            _ => Err(WebhookError::MissingField(name)),
        }
    }

    fn optional(&self, name: &str) -> Option<String> {
        self.get(name)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    }

    fn parsed<T: FromStr>(
        &self,
        name: &'static str,
        expected: &'static str,
    ) -> Result<Option<T>, WebhookError> {
        match self.get(name).map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(value) => value
                .parse()
                .map(Some)
                .map_err(|_| WebhookError::InvalidField {
                    field: name,
                    value: value.to_owned(),
                    expected,
                }),
        }
    }

    fn call_status(&self) -> Result<CallStatus, WebhookError> {
        let raw = self.required("CallStatus")?;
        raw.parse().map_err(|_| WebhookError::InvalidField {
            field: "CallStatus",
            value: raw,
            expected: "a Twilio call status such as `ringing` or `in-progress`",
        })
    }
}

#[derive(Default)]
struct FormWriter(Vec<(String, String)>);

impl FormWriter {
    fn put(&mut self, name: &str, value: &str) {
        self.0.push((name.to_owned(), value.to_owned()));
    }

    fn opt(&mut self, name: &str, value: &Option<String>) {
        if let Some(value) = value {
            self.put(name, value);
        }
    }

    fn opt_display<T: fmt::Display>(&mut self, name: &str, value: &Option<T>) {
        if let Some(value) = value {
            self.put(name, &value.to_string());
        }
    }
}
