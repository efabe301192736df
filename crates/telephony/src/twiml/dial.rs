//! `<Dial>` and its nouns: `<Number>`, `<Client>`, `<Sip>`, `<Conference>`.

use super::{Element, Node};

builder!(
    /// `<Dial>`: connect the caller to another party.
    Dial
);
impl Dial {
    /// An empty dial; add nouns with `number`, `client`, `sip`, `conference`.
    pub fn new() -> Self {
        Self(Element::new("Dial"))
    }
    /// Dials a bare number given as text (`<Dial>+14155550100</Dial>`).
    pub fn bare_number(self, number: impl Into<String>) -> Self {
        Self(self.0.text(number))
    }
}
impl Default for Dial {
    fn default() -> Self {
        Self::new()
    }
}
setters!(Dial {
    action: str = "action",
    method: str = "method",
    timeout: u32 = "timeout",
    caller_id: str = "callerId",
    record: str = "record",
    time_limit: u32 = "timeLimit",
    answer_on_bridge: bool = "answerOnBridge",
    hangup_on_star: bool = "hangupOnStar",
    ring_tone: str = "ringTone",
    trim: str = "trim",
    recording_status_callback: str = "recordingStatusCallback",
    recording_status_callback_method: str = "recordingStatusCallbackMethod",
    recording_status_callback_event: str = "recordingStatusCallbackEvent",
    sequential: bool = "sequential",
});
child_adders!(Dial {
    number(Number),
    client(Client),
    sip(Sip),
    conference(Conference),
});

builder!(
    /// `<Number>` inside `<Dial>`: a PSTN number.
    Number
);
impl Number {
    /// Dials `e164`.
    pub fn new(e164: impl Into<String>) -> Self {
        Self(Element::new("Number").text(e164))
    }
}
setters!(Number {
    send_digits: str = "sendDigits",
    url: str = "url",
    method: str = "method",
    status_callback: str = "statusCallback",
    status_callback_event: str = "statusCallbackEvent",
    status_callback_method: str = "statusCallbackMethod",
    machine_detection: str = "machineDetection",
    amd_status_callback: str = "amdStatusCallback",
    byoc: str = "byoc",
});

builder!(
    /// `<Client>` inside `<Dial>`: a Voice SDK identity.
    Client
);
impl Client {
    /// Dials the client `identity`.
    pub fn new(identity: impl Into<String>) -> Self {
        Self(Element::new("Client").text(identity))
    }
    /// Appends `<Parameter name value/>`. Twilio requires the identity in an `<Identity>`
    /// child once parameters are present, so a text identity is moved into one.
    pub fn parameter(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let mut element = self.0;
        for child in &mut element.children {
            if let Node::Text(identity) = child {
                *child = Node::Element(Element::new("Identity").text(std::mem::take(identity)));
            }
        }
        Self(
            element.child(
                Element::new("Parameter")
                    .attr("name", name)
                    .attr("value", value),
            ),
        )
    }
}
setters!(Client {
    url: str = "url",
    method: str = "method",
    status_callback: str = "statusCallback",
    status_callback_event: str = "statusCallbackEvent",
    status_callback_method: str = "statusCallbackMethod",
});

builder!(
    /// `<Sip>` inside `<Dial>`: a SIP URI (custom headers as `?X-Header=v`).
    Sip
);
impl Sip {
    /// Dials `uri` (`sip:user@host`).
    pub fn new(uri: impl Into<String>) -> Self {
        Self(Element::new("Sip").text(uri))
    }
}
setters!(Sip {
    username: str = "username",
    password: str = "password",
    url: str = "url",
    method: str = "method",
    status_callback: str = "statusCallback",
    status_callback_event: str = "statusCallbackEvent",
    status_callback_method: str = "statusCallbackMethod",
});

builder!(
    /// `<Conference>` inside `<Dial>`: a named room.
    Conference
);
impl Conference {
    /// Joins the room `name` (same name + same account = same room).
    pub fn new(name: impl Into<String>) -> Self {
        Self(Element::new("Conference").text(name))
    }
}
setters!(Conference {
    start_conference_on_enter: bool = "startConferenceOnEnter",
    end_conference_on_exit: bool = "endConferenceOnExit",
    beep: str = "beep",
    muted: bool = "muted",
    wait_url: str = "waitUrl",
    wait_method: str = "waitMethod",
    max_participants: u32 = "maxParticipants",
    record: str = "record",
    status_callback: str = "statusCallback",
    status_callback_method: str = "statusCallbackMethod",
    status_callback_event: str = "statusCallbackEvent",
    participant_label: str = "participantLabel",
    coach: str = "coach",
    region: str = "region",
    trim: str = "trim",
    jitter_buffer_size: str = "jitterBufferSize",
    event_callback_url: str = "eventCallbackUrl",
    recording_status_callback: str = "recordingStatusCallback",
    recording_status_callback_method: str = "recordingStatusCallbackMethod",
    recording_status_callback_event: str = "recordingStatusCallbackEvent",
});
