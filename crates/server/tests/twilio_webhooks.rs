//! `POST /twilio/voice` and `POST /twilio/status` over loopback, signed as Twilio signs them.

mod common;

use std::time::Duration;

use common::{pairs, sign_public, TestServer, PUBLIC_MEDIA_URL};
use quick_xml::events::Event;
use quick_xml::Reader;

/// A minimal XML element tree, enough to assert on TwiML's structure rather than its spelling.
#[derive(Debug)]
struct El {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<El>,
}

impl El {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn child_names(&self) -> Vec<&str> {
        self.children.iter().map(|c| c.name.as_str()).collect()
    }
}

fn element(e: &quick_xml::events::BytesStart<'_>) -> El {
    El {
        name: String::from_utf8_lossy(e.name().as_ref()).into_owned(),
        attrs: e
            .attributes()
            .map(|a| {
                let a = a.expect("well-formed attribute");
                (
                    String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                    a.unescape_value().expect("attribute text").into_owned(),
                )
            })
            .collect(),
        text: String::new(),
        children: Vec::new(),
    }
}

/// Parses a TwiML document into its root element; panics on malformed XML.
fn parse_twiml(xml: &str) -> El {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<El> = Vec::new();
    let mut root = None;
    loop {
        match reader.read_event().expect("well-formed TwiML") {
            Event::Start(e) => stack.push(element(&e)),
            Event::Empty(e) => {
                let el = element(&e);
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.unescape().expect("text"));
                }
            }
            Event::End(_) => {
                let el = stack.pop().expect("balanced tags");
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    root.expect("a root element")
}

/// The form Twilio posts to the voice URL for an incoming call.
fn voice_form(call_sid: &str) -> Vec<(String, String)> {
    pairs(&[
        ("CallSid", call_sid),
        ("AccountSid", "AC11111111111111111111111111111111"),
        ("From", "+15551230001"),
        ("To", "+15559870002"),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("ApiVersion", "2010-04-01"),
        ("CallerName", ""),
        ("FromCountry", "US"),
    ])
}

fn status_form(call_sid: &str, status: &str, sequence: &str) -> Vec<(String, String)> {
    pairs(&[
        ("CallSid", call_sid),
        ("AccountSid", "AC11111111111111111111111111111111"),
        ("CallStatus", status),
        ("SequenceNumber", sequence),
        ("CallbackSource", "call-progress-events"),
        ("Direction", "inbound"),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_voice_webhook_connects_a_media_stream_and_records_the_call() {
    let srv = TestServer::start().await;
    let call_sid = "CA00000000000000000000000000000001";

    let resp = srv
        .post_signed("/twilio/voice", &voice_form(call_sid))
        .await;
    assert_eq!(resp.status(), 200);
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("text/xml"),
        "content type: {content_type}"
    );
    let body = resp.text().await.unwrap();
    let doc = parse_twiml(&body);

    // <Response><Connect><Stream url=…><Parameter…/></Stream></Connect><Hangup/></Response>
    assert_eq!(doc.name, "Response", "{body}");
    assert_eq!(doc.child_names(), ["Connect", "Hangup"], "{body}");
    let connect = &doc.children[0];
    assert_eq!(connect.child_names(), ["Stream"], "{body}");
    let stream = &connect.children[0];
    assert_eq!(stream.attr("url"), Some(PUBLIC_MEDIA_URL), "{body}");
    let params: Vec<(&str, &str)> = stream
        .children
        .iter()
        .filter(|c| c.name == "Parameter")
        .map(|p| (p.attr("name").unwrap(), p.attr("value").unwrap()))
        .collect();
    assert!(params.contains(&("call_sid", call_sid)), "{body}");
    assert!(params.contains(&("agent", "demo")), "{body}");

    let detail = srv
        .store
        .get_call(call_sid)
        .await
        .unwrap()
        .expect("call recorded by the webhook");
    assert_eq!(detail.call.from_number.as_deref(), Some("+15551230001"));
    assert_eq!(detail.call.to_number.as_deref(), Some("+15559870002"));
    assert_eq!(detail.call.direction.as_deref(), Some("inbound"));
    assert_eq!(detail.call.status.as_deref(), Some("ringing"));
    assert_eq!(detail.call.agent.as_deref(), Some("Ava"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_webhook_without_signature_is_forbidden() {
    let srv = TestServer::start().await;
    let call_sid = "CA00000000000000000000000000000002";
    let resp = srv
        .post_form("/twilio/voice", &voice_form(call_sid), None)
        .await;
    assert_eq!(resp.status(), 403);
    assert!(
        srv.store.get_call(call_sid).await.unwrap().is_none(),
        "a refused webhook must not create a call"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_webhook_with_wrong_signature_is_forbidden() {
    let srv = TestServer::start().await;
    let call_sid = "CA00000000000000000000000000000003";
    let form = voice_form(call_sid);

    // Well-formed but made with another token.
    let other_token = telephony::signature::compute_signature(
        "not-the-auth-token",
        "https://agent.example.test/twilio/voice",
        &form,
    );
    let resp = srv
        .post_form("/twilio/voice", &form, Some(&other_token))
        .await;
    assert_eq!(resp.status(), 403);

    // Right token, but the body was tampered with after signing.
    let sig = sign_public("/twilio/voice", &form);
    let mut tampered = form.clone();
    tampered[2].1 = "+15550000000".into();
    let resp = srv.post_form("/twilio/voice", &tampered, Some(&sig)).await;
    assert_eq!(resp.status(), 403);

    // Garbage.
    let resp = srv
        .post_form("/twilio/voice", &form, Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA="))
        .await;
    assert_eq!(resp.status(), 403);
    assert!(srv.store.get_call(call_sid).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_webhook_signed_over_another_url_is_forbidden() {
    let srv = TestServer::start().await;
    let form = voice_form("CA00000000000000000000000000000004");
    // What a client that signed the loopback URL (not the public one) would send.
    let loopback = telephony::signature::compute_signature(
        common::AUTH_TOKEN,
        &format!("http://{}/twilio/voice", srv.addr),
        &form,
    );
    let resp = srv.post_form("/twilio/voice", &form, Some(&loopback)).await;
    assert_eq!(resp.status(), 403);
    // Signed for the status URL, replayed to the voice URL.
    let other_path = sign_public("/twilio/status", &form);
    let resp = srv
        .post_form("/twilio/voice", &form, Some(&other_path))
        .await;
    assert_eq!(resp.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_webhook_for_unknown_agent_apologises_and_hangs_up() {
    let srv = TestServer::start().await;
    // The query is part of the signed URL.
    let resp = srv
        .post_signed(
            "/twilio/voice?agent=nope",
            &voice_form("CA00000000000000000000000000000005"),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    let doc = parse_twiml(&body);
    assert_eq!(doc.name, "Response", "{body}");
    assert_eq!(doc.child_names(), ["Say", "Hangup"], "{body}");
    assert!(
        doc.children[0].text.to_lowercase().contains("sorry"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_webhook_missing_required_fields_is_a_bad_request() {
    let srv = TestServer::start().await;
    let form = pairs(&[
        ("CallSid", "CA00000000000000000000000000000006"),
        ("AccountSid", "AC11111111111111111111111111111111"),
    ]);
    let resp = srv.post_signed("/twilio/voice", &form).await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_and_out_of_order_status_callbacks_leave_the_call_completed() {
    let srv = TestServer::start().await;
    let call_sid = "CA00000000000000000000000000000007";
    let resp = srv
        .post_signed("/twilio/voice", &voice_form(call_sid))
        .await;
    assert_eq!(resp.status(), 200);

    // Fired in-progress(1), completed(2); delivered completed, completed again (a retry),
    // then the late in-progress, which must not undo the completion.
    for (status, seq) in [
        ("completed", "2"),
        ("completed", "2"),
        ("in-progress", "1"),
        ("in-progress", "1"),
    ] {
        let resp = srv
            .post_signed("/twilio/status", &status_form(call_sid, status, seq))
            .await;
        assert!(
            resp.status().is_success(),
            "{status}#{seq}: {}",
            resp.status()
        );
    }
    // A late `ringing` as well (the webhook's own ringing had no sequence number).
    let resp = srv
        .post_signed("/twilio/status", &status_form(call_sid, "ringing", "0"))
        .await;
    assert!(resp.status().is_success());

    let detail = srv.store.get_call(call_sid).await.unwrap().expect("call");
    assert_eq!(detail.call.status.as_deref(), Some("completed"));
    assert!(detail.call.ended_at.is_some(), "completion not stamped");
    let history: Vec<(&str, Option<i64>)> = detail
        .status_history
        .iter()
        .map(|e| (e.status.as_str(), e.sequence_number))
        .collect();
    for event in [
        ("ringing", None),
        ("completed", Some(2)),
        ("in-progress", Some(1)),
        ("ringing", Some(0)),
    ] {
        assert_eq!(
            history.iter().filter(|e| **e == event).count(),
            1,
            "{event:?} should be in the history exactly once: {history:?}"
        );
    }
    assert_eq!(history.len(), 4, "{history:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_callback_for_unknown_call_creates_the_record() {
    let srv = TestServer::start().await;
    let call_sid = "CA00000000000000000000000000000008";
    let resp = srv
        .post_signed("/twilio/status", &status_form(call_sid, "no-answer", "3"))
        .await;
    assert!(resp.status().is_success(), "{}", resp.status());
    let detail = srv
        .wait_for_call(call_sid, Duration::from_secs(2), |_| true)
        .await;
    assert_eq!(detail.call.status.as_deref(), Some("no-answer"));
    assert_eq!(detail.status_history.len(), 1);
    assert_eq!(detail.status_history[0].sequence_number, Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_status_callback_is_forbidden() {
    let srv = TestServer::start().await;
    let call_sid = "CA00000000000000000000000000000009";
    let resp = srv
        .post_form(
            "/twilio/status",
            &status_form(call_sid, "completed", "1"),
            None,
        )
        .await;
    assert_eq!(resp.status(), 403);
    assert!(srv.store.get_call(call_sid).await.unwrap().is_none());
}
