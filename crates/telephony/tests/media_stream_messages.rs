//! Media Streams messages (spec section 4): the spec's examples round-trip exactly, parsing is
//! lenient where Twilio is inconsistent, and bad input yields the right error.

use serde_json::Value;
use telephony::media_stream::{
    clear_message, encode_payload, mark_message, media_message, parse_inbound, parse_outbound,
    MediaTrack, OutboundMessage, StreamEvent,
};
use telephony::MediaStreamError;

const CONNECTED: &str = r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#;
const START: &str = r#"{"event":"start","sequenceNumber":"1","streamSid":"MZ00000000000000000000000000000001",
 "start":{"accountSid":"AC...","streamSid":"MZ000...0001","callSid":"CA...",
          "tracks":["inbound"],
          "customParameters":{"tenant":"acme"},
          "mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}"#;
const MEDIA: &str = r#"{"event":"media","sequenceNumber":"3","streamSid":"MZ...",
 "media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"fn5+fn5+"}}"#;
const DTMF: &str = r#"{"event":"dtmf","sequenceNumber":"5","streamSid":"MZ...","dtmf":{"track":"inbound_track","digit":"1"}}"#;
const MARK: &str =
    r#"{"event":"mark","sequenceNumber":"4","streamSid":"MZ...","mark":{"name":"utt-7"}}"#;
const STOP: &str = r#"{"event":"stop","sequenceNumber":"5","streamSid":"MZ...","stop":{"accountSid":"AC...","callSid":"CA..."}}"#;

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("valid JSON")
}

#[test]
fn spec_examples_round_trip_to_identical_json() {
    for example in [CONNECTED, START, MEDIA, DTMF, MARK, STOP] {
        let event = parse_inbound(example).expect("spec example parses");
        assert_eq!(json(&event.to_json()), json(example), "{example}");
    }
}

#[test]
fn spec_examples_keep_twilio_field_order() {
    // Value comparison ignores key order; the local carrier should also match Twilio's order.
    assert_eq!(parse_inbound(CONNECTED).unwrap().to_json(), CONNECTED);
    assert_eq!(parse_inbound(DTMF).unwrap().to_json(), DTMF);
    assert_eq!(parse_inbound(MARK).unwrap().to_json(), MARK);
    assert_eq!(parse_inbound(STOP).unwrap().to_json(), STOP);
    assert_eq!(
        parse_inbound(MEDIA).unwrap().to_json(),
        r#"{"event":"media","sequenceNumber":"3","streamSid":"MZ...","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"fn5+fn5+"}}"#
    );
}

#[test]
fn start_exposes_call_metadata_and_custom_parameters() {
    let StreamEvent::Start {
        sequence_number,
        stream_sid,
        start,
    } = parse_inbound(START).unwrap()
    else {
        panic!("expected start");
    };
    assert_eq!(sequence_number, Some(1));
    assert_eq!(stream_sid, "MZ00000000000000000000000000000001");
    assert_eq!(start.call_sid, "CA...");
    assert_eq!(start.tracks, ["inbound"]);
    assert_eq!(start.custom_parameters["tenant"], "acme");
    assert_eq!(start.media_format.sample_rate, 8000);
    assert_eq!(start.media_format.channels, 1);
}

#[test]
fn media_counters_parse_from_strings_or_numbers_and_serialize_as_strings() {
    let numeric = r#"{"event":"media","sequenceNumber":3,"streamSid":"MZ1",
        "media":{"track":"inbound","chunk":2,"timestamp":40,"payload":"AAA="}}"#;
    let event = parse_inbound(numeric).unwrap();
    let StreamEvent::Media { media, .. } = &event else {
        panic!("expected media");
    };
    assert_eq!((media.chunk, media.timestamp), (2, 40));
    assert_eq!(media.track, MediaTrack::Inbound);
    assert_eq!(event.sequence_number(), Some(3));
    assert_eq!(event.stream_sid(), Some("MZ1"));
    let out = json(&event.to_json());
    assert_eq!(out["sequenceNumber"], "3");
    assert_eq!(out["media"]["chunk"], "2");
    assert_eq!(out["media"]["timestamp"], "40");
}

#[test]
fn media_format_numbers_accept_strings_and_serialize_as_numbers() {
    let text = START.replace(r#""sampleRate":8000"#, r#""sampleRate":"8000""#);
    let event = parse_inbound(&text).unwrap();
    assert_eq!(
        json(&event.to_json())["start"]["mediaFormat"]["sampleRate"],
        8000
    );
}

#[test]
fn unknown_fields_are_ignored() {
    let text = r#"{"event":"mark","sequenceNumber":"9","streamSid":"MZ1","extra":{"a":1},
        "mark":{"name":"m1","future":true}}"#;
    let event = parse_inbound(text).unwrap();
    assert_eq!(event.event_name(), "mark");
    assert!(matches!(event, StreamEvent::Mark { mark, .. } if mark.name == "m1"));
}

#[test]
fn unknown_event_is_a_distinct_error() {
    let err = parse_inbound(r#"{"event":"transcription","streamSid":"MZ1"}"#).unwrap_err();
    assert!(matches!(err, MediaStreamError::UnknownEvent(ref e) if e == "transcription"));
}

#[test]
fn malformed_inputs_are_rejected_with_the_right_error() {
    assert!(matches!(
        parse_inbound("not json"),
        Err(MediaStreamError::InvalidJson(_))
    ));
    assert!(matches!(
        parse_inbound(r#"{"streamSid":"MZ1"}"#),
        Err(MediaStreamError::MissingEvent)
    ));
    assert!(matches!(
        parse_inbound(r#"[1,2]"#),
        Err(MediaStreamError::MissingEvent)
    ));
    let no_payload = r#"{"event":"media","streamSid":"MZ1","media":{"track":"inbound","chunk":"1","timestamp":"0"}}"#;
    assert!(matches!(
        parse_inbound(no_payload),
        Err(MediaStreamError::Malformed { ref event, .. }) if event == "media"
    ));
    let negative = MEDIA.replace(r#""chunk":"1""#, r#""chunk":-1"#);
    assert!(matches!(
        parse_inbound(&negative),
        Err(MediaStreamError::Malformed { .. })
    ));
    let garbage_counter = MEDIA.replace(r#""timestamp":"5""#, r#""timestamp":"five""#);
    assert!(matches!(
        parse_inbound(&garbage_counter),
        Err(MediaStreamError::Malformed { .. })
    ));
}

#[test]
fn payload_decodes_to_raw_mulaw_bytes() {
    let frame = vec![0xFFu8; 160];
    let payload = encode_payload(&frame);
    assert_eq!(payload.len(), 216, "20 ms of mu-law is 216 base64 chars");
    let text = MEDIA.replace("fn5+fn5+", &payload);
    let StreamEvent::Media { media, .. } = parse_inbound(&text).unwrap() else {
        panic!("expected media");
    };
    assert_eq!(media.decode_payload().unwrap(), frame);

    let bad = MEDIA.replace("fn5+fn5+", "@@@");
    let StreamEvent::Media { media, .. } = parse_inbound(&bad).unwrap() else {
        panic!("expected media");
    };
    assert!(matches!(
        media.decode_payload(),
        Err(MediaStreamError::InvalidPayload(_))
    ));
}

#[test]
fn outbound_messages_serialize_exactly_to_spec_shapes() {
    assert_eq!(
        media_message("MZ1", "fn5+"),
        r#"{"event":"media","streamSid":"MZ1","media":{"payload":"fn5+"}}"#
    );
    assert_eq!(
        mark_message("MZ1", "utt-7"),
        r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"utt-7"}}"#
    );
    assert_eq!(
        clear_message("MZ1"),
        r#"{"event":"clear","streamSid":"MZ1"}"#
    );
}

#[test]
fn outbound_mark_names_are_json_escaped() {
    let text = mark_message("MZ1", "say \"hi\"\n");
    assert_eq!(json(&text)["mark"]["name"], "say \"hi\"\n");
}

#[test]
fn local_carrier_parses_what_the_server_sends() {
    assert_eq!(
        parse_outbound(&clear_message("MZ9")).unwrap(),
        OutboundMessage::Clear {
            stream_sid: "MZ9".into()
        }
    );
    let OutboundMessage::Media { stream_sid, media } =
        parse_outbound(&media_message("MZ9", "AAA=")).unwrap()
    else {
        panic!("expected media");
    };
    assert_eq!(
        (stream_sid.as_str(), media.payload.as_str()),
        ("MZ9", "AAA=")
    );
    assert!(matches!(
        parse_outbound(r#"{"event":"start","streamSid":"MZ9"}"#),
        Err(MediaStreamError::UnknownEvent(_))
    ));
}
