//! The request and resource types of the calls REST API (spec 6.2, 6.3): what
//! [`crate::rest::TwilioRest`] sends and parses. Form encodings follow the official library:
//! PascalCase names, `true`/`false`, list parameters as repeated keys.

use serde::Deserialize;

use crate::e164::is_e164;
use crate::rest_error::RestError;
use crate::webhook::{CallStatus, Direction};

/// A call progress event to subscribe to (`StatusCallbackEvent`, spec 1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallEvent {
    /// Dialing started (`CallStatus=initiated`).
    Initiated,
    /// The far end rings.
    Ringing,
    /// Answered (`CallStatus=in-progress`).
    Answered,
    /// Ended, with the final outcome (`completed`, `busy`, `no-answer`, `failed`, `canceled`).
    Completed,
}

impl CallEvent {
    /// All four events, in firing order.
    pub const ALL: [CallEvent; 4] = [
        CallEvent::Initiated,
        CallEvent::Ringing,
        CallEvent::Answered,
        CallEvent::Completed,
    ];

    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            CallEvent::Initiated => "initiated",
            CallEvent::Ringing => "ringing",
            CallEvent::Answered => "answered",
            CallEvent::Completed => "completed",
        }
    }
}

/// Answering machine detection mode (`MachineDetection`, spec 1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineDetection {
    /// Report human/machine as soon as known (`machine_start`).
    Enable,
    /// Wait for the end of the greeting, to leave a voicemail (`machine_end_beep`…).
    DetectMessageEnd,
}

impl MachineDetection {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            MachineDetection::Enable => "Enable",
            MachineDetection::DetectMessageEnd => "DetectMessageEnd",
        }
    }
}

/// Parameters of `POST /Accounts/{AC}/Calls.json` (spec 6.2) that an agent uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateCall {
    /// Callee: E.164, `client:…` or `sip:…`.
    pub to: String,
    /// Caller ID: a Twilio number or verified caller ID.
    pub from: String,
    /// Voice URL fetched (POST) when the call is answered.
    pub url: String,
    /// Where call progress events go.
    pub status_callback: Option<String>,
    /// Which events go there; Twilio sends only `completed` when empty.
    pub status_callback_events: Vec<CallEvent>,
    /// Answering machine detection.
    pub machine_detection: Option<MachineDetection>,
    /// Fetch `url` at once and post the AMD result to `async_amd_status_callback`.
    pub async_amd: bool,
    /// Where the asynchronous AMD result goes.
    pub async_amd_status_callback: Option<String>,
    /// Record the call.
    pub record: bool,
    /// Seconds to let it ring (Twilio's default 60, max 600).
    pub timeout_secs: Option<u32>,
}

impl CreateCall {
    /// A call from `from` to `to` that fetches `url` on answer; everything else default.
    pub fn new(to: impl Into<String>, from: impl Into<String>, url: impl Into<String>) -> Self {
        CreateCall {
            to: to.into(),
            from: from.into(),
            url: url.into(),
            ..CreateCall::default()
        }
    }

    /// The form body, in the official library's parameter names and encodings.
    pub fn to_form(&self) -> Vec<(&'static str, String)> {
        let mut form = vec![
            ("To", self.to.clone()),
            ("From", self.from.clone()),
            ("Url", self.url.clone()),
        ];
        if let Some(cb) = &self.status_callback {
            form.push(("StatusCallback", cb.clone()));
        }
        for event in &self.status_callback_events {
            form.push(("StatusCallbackEvent", event.as_str().to_string()));
        }
        if let Some(md) = self.machine_detection {
            form.push(("MachineDetection", md.as_str().to_string()));
        }
        if self.async_amd {
            form.push(("AsyncAmd", "true".to_string()));
        }
        if let Some(cb) = &self.async_amd_status_callback {
            form.push(("AsyncAmdStatusCallback", cb.clone()));
        }
        if self.record {
            form.push(("Record", "true".to_string()));
        }
        if let Some(t) = self.timeout_secs {
            form.push(("Timeout", t.to_string()));
        }
        form
    }

    /// Local checks that save a round trip: required fields, E.164 numbers, AMD consistency.
    pub(crate) fn validate(&self) -> Result<(), RestError> {
        let invalid = |m: String| Err(RestError::Invalid(m));
        for (name, value) in [("To", &self.to), ("From", &self.from), ("Url", &self.url)] {
            if value.trim().is_empty() {
                return invalid(format!("`{name}` is required"));
            }
        }
        for (name, value) in [("To", &self.to), ("From", &self.from)] {
            let addressed = value.starts_with("client:") || value.starts_with("sip:");
            if !addressed && !is_e164(value) {
                return invalid(format!(
                    "`{name}` {value:?} is not an E.164 number like +14155550100"
                ));
            }
        }
        if self.async_amd && self.machine_detection.is_none() {
            return invalid("`AsyncAmd` needs `MachineDetection`".to_string());
        }
        if matches!(self.timeout_secs, Some(t) if t == 0 || t > 600) {
            return invalid("`Timeout` must be 1–600 seconds".to_string());
        }
        Ok(())
    }
}

/// What `Status` an update sets (spec 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateStatus {
    /// Hang up an answered call.
    Completed,
    /// Cancel a queued or ringing call (no effect once answered).
    Canceled,
}

/// Parameters of `POST /Accounts/{AC}/Calls/{CA}.json`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateCall {
    /// End the call.
    pub status: Option<UpdateStatus>,
    /// Leave the current TwiML and fetch this URL.
    pub url: Option<String>,
    /// Leave the current TwiML and run this document (ignored by Twilio when `url` is set).
    pub twiml: Option<String>,
}

impl UpdateCall {
    /// The form body.
    pub fn to_form(&self) -> Vec<(&'static str, String)> {
        let mut form = Vec::new();
        if let Some(s) = self.status {
            let s = match s {
                UpdateStatus::Completed => "completed",
                UpdateStatus::Canceled => "canceled",
            };
            form.push(("Status", s.to_string()));
        }
        if let Some(url) = &self.url {
            form.push(("Url", url.clone()));
        }
        if let Some(twiml) = &self.twiml {
            form.push(("Twiml", twiml.clone()));
        }
        form
    }
}

/// A call resource as Twilio returns it (the fields an agent uses; unknown ones are ignored).
#[derive(Debug, Clone, PartialEq)]
pub struct CallResource {
    /// `CA…`.
    pub sid: String,
    /// `AC…`.
    pub account_sid: String,
    /// Called party.
    pub to: String,
    /// Caller ID.
    pub from: String,
    /// Lifecycle state.
    pub status: CallStatus,
    /// `outbound-api` for calls created here.
    pub direction: Direction,
    /// AMD result, once known.
    pub answered_by: Option<String>,
    /// Seconds, once ended.
    pub duration: Option<u32>,
    /// RFC 2822, once answered.
    pub start_time: Option<String>,
    /// RFC 2822, once ended.
    pub end_time: Option<String>,
    /// Parent leg, for child calls.
    pub parent_call_sid: Option<String>,
}

/// The wire shape; `duration` is a string in the 2010 API but tolerated as a number.
#[derive(Deserialize)]
struct RawCall {
    sid: String,
    account_sid: String,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    from: Option<String>,
    status: String,
    #[serde(default)]
    direction: Option<String>,
    #[serde(default)]
    answered_by: Option<String>,
    #[serde(default)]
    duration: Option<serde_json::Value>,
    #[serde(default)]
    start_time: Option<String>,
    #[serde(default)]
    end_time: Option<String>,
    #[serde(default)]
    parent_call_sid: Option<String>,
}

impl CallResource {
    /// Parses Twilio's JSON call resource.
    pub fn from_json(body: &str) -> Result<Self, String> {
        let raw: RawCall = serde_json::from_str(body).map_err(|e| e.to_string())?;
        let status = raw
            .status
            .parse::<CallStatus>()
            .map_err(|e| e.to_string())?;
        let duration = match raw.duration {
            Some(serde_json::Value::String(s)) => s.parse().ok(),
            Some(serde_json::Value::Number(n)) => n.as_u64().map(|n| n as u32),
            _ => None,
        };
        Ok(CallResource {
            sid: raw.sid,
            account_sid: raw.account_sid,
            to: raw.to.unwrap_or_default(),
            from: raw.from.unwrap_or_default(),
            status,
            direction: Direction::from_wire(raw.direction.as_deref().unwrap_or("")),
            answered_by: raw.answered_by,
            duration,
            start_time: raw.start_time,
            end_time: raw.end_time,
            parent_call_sid: raw.parent_call_sid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_form_repeats_status_callback_event_and_spells_amd() {
        let call = CreateCall {
            status_callback: Some("https://a.example/status".into()),
            status_callback_events: CallEvent::ALL.to_vec(),
            machine_detection: Some(MachineDetection::DetectMessageEnd),
            async_amd: true,
            async_amd_status_callback: Some("https://a.example/amd".into()),
            record: true,
            timeout_secs: Some(25),
            ..CreateCall::new("+14155550100", "+14155550199", "https://a.example/voice")
        };
        let body = serde_urlencoded::to_string(call.to_form()).unwrap();
        assert_eq!(
            body,
            "To=%2B14155550100&From=%2B14155550199&Url=https%3A%2F%2Fa.example%2Fvoice\
             &StatusCallback=https%3A%2F%2Fa.example%2Fstatus&StatusCallbackEvent=initiated\
             &StatusCallbackEvent=ringing&StatusCallbackEvent=answered\
             &StatusCallbackEvent=completed&MachineDetection=DetectMessageEnd&AsyncAmd=true\
             &AsyncAmdStatusCallback=https%3A%2F%2Fa.example%2Famd&Record=true&Timeout=25"
        );
    }

    #[test]
    fn create_rejects_non_e164_numbers_locally() {
        let call = CreateCall::new("415-555-0100", "+14155550199", "https://a.example/v");
        assert!(matches!(call.validate(), Err(RestError::Invalid(m)) if m.contains("`To`")));
        let sip = CreateCall::new("sip:agent@example.com", "+14155550199", "https://a/v");
        assert!(sip.validate().is_ok());
    }

    #[test]
    fn call_resource_parses_twilio_shape() {
        let c = CallResource::from_json(
            r#"{"sid":"CA1","account_sid":"AC1","parent_call_sid":null,"to":"+14155550100",
                "from":"+14155550199","status":"no-answer","duration":"0",
                "direction":"outbound-api","answered_by":null,"start_time":null}"#,
        )
        .unwrap();
        assert_eq!(c.status, CallStatus::NoAnswer);
        assert_eq!(c.direction, Direction::OutboundApi);
        assert_eq!(c.duration, Some(0));
    }
}
