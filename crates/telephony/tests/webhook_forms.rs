//! Voice webhook and status callback forms (spec 1.2, 1.3) and call status ordering.

use telephony::webhook::{CallStatus, Direction, StatusCallback, VoiceWebhook};
use telephony::WebhookError;

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn inbound_call() -> Vec<(String, String)> {
    pairs(&[
        ("AccountSid", "AC00000000000000000000000000000001"),
        ("CallSid", "CA00000000000000000000000000000001"),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("From", "+14155550100"),
        ("To", "+14155550199"),
        ("ApiVersion", "2010-04-01"),
        ("CallerName", ""),
        ("FromCity", "SAN FRANCISCO"),
        ("StirVerstat", "TN-Validation-Passed-A"),
        ("SomeFutureParam", "whatever"),
    ])
}

#[test]
fn inbound_voice_webhook_parses_required_and_optional_fields() {
    let hook = VoiceWebhook::from_pairs(&inbound_call()).unwrap();
    assert_eq!(hook.call_sid, "CA00000000000000000000000000000001");
    assert_eq!(hook.account_sid, "AC00000000000000000000000000000001");
    assert_eq!(hook.from, "+14155550100");
    assert_eq!(hook.to, "+14155550199");
    assert_eq!(hook.call_status, CallStatus::Ringing);
    assert_eq!(hook.direction, Direction::Inbound);
    assert_eq!(hook.api_version, "2010-04-01");
    assert_eq!(hook.from_city.as_deref(), Some("SAN FRANCISCO"));
    assert_eq!(hook.stir_verstat.as_deref(), Some("TN-Validation-Passed-A"));
    assert_eq!(hook.caller_name, None, "empty CNAM reads as absent");
    assert_eq!(hook.parent_call_sid, None);
    assert_eq!(hook.speech_result, None);
}

#[test]
fn missing_required_field_is_named_in_the_error() {
    let form: Vec<_> = inbound_call()
        .into_iter()
        .filter(|(k, _)| k != "CallSid")
        .collect();
    let err = VoiceWebhook::from_pairs(&form).unwrap_err();
    assert_eq!(err, WebhookError::MissingField("CallSid"));
    assert!(err.to_string().contains("CallSid"));

    let mut empty_to = inbound_call();
    empty_to.iter_mut().find(|(k, _)| k == "To").unwrap().1 = String::new();
    assert_eq!(
        VoiceWebhook::from_pairs(&empty_to).unwrap_err(),
        WebhookError::MissingField("To")
    );
}

#[test]
fn unknown_call_status_is_an_invalid_field() {
    let mut form = inbound_call();
    form.iter_mut().find(|(k, _)| k == "CallStatus").unwrap().1 = "exploded".into();
    assert!(matches!(
        VoiceWebhook::from_pairs(&form),
        Err(WebhookError::InvalidField { field: "CallStatus", ref value, .. }) if value == "exploded"
    ));
}

#[test]
fn gather_action_carries_speech_result_and_confidence() {
    let mut form = inbound_call();
    form.extend(pairs(&[
        ("SpeechResult", "Quiero hablar con Zoë"),
        ("Confidence", "0.8734"),
        ("Digits", "1"),
    ]));
    let hook = VoiceWebhook::from_pairs(&form).unwrap();
    assert_eq!(hook.speech_result.as_deref(), Some("Quiero hablar con Zoë"));
    assert_eq!(hook.confidence, Some(0.8734));
    assert_eq!(hook.digits.as_deref(), Some("1"));

    form.iter_mut().find(|(k, _)| k == "Confidence").unwrap().1 = "high".into();
    assert!(matches!(
        VoiceWebhook::from_pairs(&form),
        Err(WebhookError::InvalidField {
            field: "Confidence",
            ..
        })
    ));
}

#[test]
fn unknown_direction_is_kept_verbatim() {
    let mut form = inbound_call();
    form.iter_mut().find(|(k, _)| k == "Direction").unwrap().1 = "outbound-future".into();
    let hook = VoiceWebhook::from_pairs(&form).unwrap();
    assert_eq!(hook.direction, Direction::Other("outbound-future".into()));
    assert_eq!(hook.direction.as_str(), "outbound-future");
    assert_eq!(
        Direction::from_wire("outbound-dial"),
        Direction::OutboundDial
    );
}

#[test]
fn voice_webhook_round_trips_through_form_pairs() {
    let hook = VoiceWebhook::from_pairs(&inbound_call()).unwrap();
    assert_eq!(VoiceWebhook::from_pairs(&hook.to_pairs()).unwrap(), hook);
}

fn completed_callback() -> Vec<(String, String)> {
    pairs(&[
        ("AccountSid", "AC00000000000000000000000000000001"),
        ("CallSid", "CA00000000000000000000000000000004"),
        ("CallStatus", "completed"),
        ("CallbackSource", "call-progress-events"),
        ("SequenceNumber", "3"),
        ("Timestamp", "Tue, 03 Mar 2026 17:04:05 +0000"),
        ("CallDuration", "42"),
        ("SipResponseCode", "200"),
        ("Direction", "outbound-api"),
        ("From", "+14155550199"),
        ("To", "+14155550100"),
    ])
}

#[test]
fn completed_status_callback_parses_sequence_and_duration() {
    let cb = StatusCallback::from_pairs(&completed_callback()).unwrap();
    assert_eq!(cb.call_sid, "CA00000000000000000000000000000004");
    assert_eq!(cb.call_status, CallStatus::Completed);
    assert_eq!(cb.sequence_number, Some(3));
    assert_eq!(
        cb.timestamp.as_deref(),
        Some("Tue, 03 Mar 2026 17:04:05 +0000")
    );
    assert_eq!(cb.call_duration, Some(42));
    assert_eq!(cb.sip_response_code, Some(200));
    assert_eq!(cb.direction, Some(Direction::OutboundApi));
    assert_eq!(cb.callback_source.as_deref(), Some("call-progress-events"));
    assert_eq!(cb.recording_url, None);
    assert_eq!(StatusCallback::from_pairs(&cb.to_pairs()).unwrap(), cb);
}

#[test]
fn status_callback_with_only_required_fields_parses() {
    let cb = StatusCallback::from_pairs(&pairs(&[
        ("AccountSid", "AC1"),
        ("CallSid", "CA1"),
        ("CallStatus", "no-answer"),
    ]))
    .unwrap();
    assert_eq!(cb.call_status, CallStatus::NoAnswer);
    assert_eq!(cb.sequence_number, None);
    assert_eq!(cb.call_duration, None);
}

#[test]
fn invalid_numeric_status_field_names_the_field() {
    let mut form = completed_callback();
    form.iter_mut()
        .find(|(k, _)| k == "CallDuration")
        .unwrap()
        .1 = "forty".into();
    let err = StatusCallback::from_pairs(&form).unwrap_err();
    assert!(matches!(
        err,
        WebhookError::InvalidField {
            field: "CallDuration",
            ..
        }
    ));
    assert!(err.to_string().contains("CallDuration"));
}

#[test]
fn call_status_parses_every_wire_string_and_ignores_case() {
    for status in CallStatus::ALL {
        assert_eq!(status.as_str().parse::<CallStatus>().unwrap(), status);
        assert_eq!(status.to_string(), status.as_str());
    }
    assert_eq!(
        "IN-PROGRESS".parse::<CallStatus>().unwrap(),
        CallStatus::InProgress
    );
    assert!("in_progress".parse::<CallStatus>().is_err());
}

#[test]
fn terminal_states_are_the_end_of_a_call() {
    let terminal: Vec<_> = CallStatus::ALL
        .into_iter()
        .filter(|s| s.is_terminal())
        .collect();
    assert_eq!(
        terminal,
        [
            CallStatus::Completed,
            CallStatus::Busy,
            CallStatus::NoAnswer,
            CallStatus::Failed,
            CallStatus::Canceled
        ]
    );
}

#[test]
fn lifecycle_ranks_queued_initiated_ringing_in_progress_terminal() {
    use CallStatus::*;
    let ladder = [Queued, Initiated, Ringing, InProgress, Completed];
    for pair in ladder.windows(2) {
        assert!(pair[0].rank() < pair[1].rank(), "{:?}", pair);
        assert!(pair[1].supersedes(pair[0]));
    }
    for terminal in [Busy, NoAnswer, Failed, Canceled] {
        assert_eq!(terminal.rank(), Completed.rank());
    }
}

#[test]
fn out_of_order_callbacks_never_move_a_call_backwards() {
    use CallStatus::*;
    // Delivered order differs from firing order: ringing arrives after answered, and a
    // retried in-progress arrives after completed.
    let mut current = Queued;
    for delivered in [InProgress, Ringing, Completed, InProgress, Busy, Initiated] {
        if delivered.supersedes(current) {
            current = delivered;
        }
    }
    assert_eq!(current, Completed);
    assert!(
        !Ringing.supersedes(Ringing),
        "a retried callback is a no-op"
    );
}
