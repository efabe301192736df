//! The REST client against a tiny Twilio-shaped HTTP server (real HTTP on loopback): what goes
//! on the wire, how errors come back, retries and calls-per-second pacing.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use telephony::rest::{
    CallEvent, CreateCall, MachineDetection, RestError, TwilioRest, TwilioRestConfig,
};
use telephony::CallStatus;

const AC: &str = "AC00000000000000000000000000000001";
const TOKEN: &str = "secret-token";

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    method: String,
    path: String,
    authorization: Option<String>,
    content_type: Option<String>,
    form: Vec<(String, String)>,
}

/// A canned answer: HTTP status, extra headers, JSON body.
type Answer = (u16, Vec<(&'static str, String)>, String);

/// Answers: popped in order; the last one repeats.
#[derive(Clone)]
struct Fake {
    seen: Arc<Mutex<Vec<Seen>>>,
    answers: Arc<Mutex<VecDeque<Answer>>>,
}

fn call_json(sid: &str, status: &str) -> String {
    format!(
        r#"{{"sid":"{sid}","account_sid":"{AC}","parent_call_sid":null,"to":"+14155550100",
            "to_formatted":"(415) 555-0100","from":"+14155550199","status":"{status}",
            "start_time":null,"end_time":null,"duration":null,"price":null,"price_unit":"USD",
            "direction":"outbound-api","answered_by":null,"api_version":"2010-04-01",
            "uri":"/2010-04-01/Accounts/{AC}/Calls/{sid}.json"}}"#
    )
}

async fn handle(
    State(fake): State<Fake>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let header = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    fake.seen.lock().unwrap().push(Seen {
        at: Instant::now(),
        method: method.to_string(),
        path: uri.path().to_string(),
        authorization: header("authorization"),
        content_type: header("content-type"),
        form: serde_urlencoded::from_str(&body).unwrap_or_default(),
    });
    let (status, extra, body) = {
        let mut answers = fake.answers.lock().unwrap();
        if answers.len() > 1 {
            answers.pop_front().unwrap()
        } else {
            answers.front().cloned().unwrap()
        }
    };
    let mut resp = (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        body,
    )
        .into_response();
    for (k, v) in extra {
        resp.headers_mut().insert(k, v.parse().unwrap());
    }
    resp
}

/// Starts the fake with these answers; returns it and a client configured against it.
async fn start(
    answers: Vec<Answer>,
    tune: impl FnOnce(&mut TwilioRestConfig),
) -> (Fake, TwilioRest) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = Fake {
        seen: Arc::default(),
        answers: Arc::new(Mutex::new(answers.into())),
    };
    let app = Router::new().fallback(handle).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut cfg = TwilioRestConfig::new(AC, TOKEN);
    cfg.api_base = format!("http://{addr}/2010-04-01");
    cfg.retry_base = Duration::from_millis(50);
    tune(&mut cfg);
    (fake, TwilioRest::new(cfg).unwrap())
}

fn created() -> Answer {
    (
        201,
        vec![],
        call_json("CA00000000000000000000000000000002", "queued"),
    )
}

fn seen(fake: &Fake) -> Vec<Seen> {
    fake.seen.lock().unwrap().clone()
}

#[tokio::test]
async fn create_call_posts_spec_form_with_basic_auth() {
    let (fake, rest) = start(vec![created()], |_| {}).await;
    let call = rest
        .create_call(&CreateCall {
            status_callback: Some("https://agent.example.com/twilio/status".into()),
            status_callback_events: CallEvent::ALL.to_vec(),
            machine_detection: Some(MachineDetection::DetectMessageEnd),
            async_amd: true,
            async_amd_status_callback: Some("https://agent.example.com/twilio/amd".into()),
            timeout_secs: Some(30),
            ..CreateCall::new(
                "+14155550100",
                "+14155550199",
                "https://agent.example.com/twilio/voice",
            )
        })
        .await
        .unwrap();
    assert_eq!(call.sid, "CA00000000000000000000000000000002");
    assert_eq!(call.status, CallStatus::Queued);

    let reqs = seen(&fake);
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, format!("/2010-04-01/Accounts/{AC}/Calls.json"));
    let expected_auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{AC}:{TOKEN}"))
    );
    assert_eq!(r.authorization.as_deref(), Some(expected_auth.as_str()));
    assert_eq!(
        r.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    let values = |k: &str| -> Vec<&str> {
        r.form
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(values("To"), ["+14155550100"]);
    assert_eq!(values("From"), ["+14155550199"]);
    assert_eq!(values("Url"), ["https://agent.example.com/twilio/voice"]);
    assert_eq!(
        values("StatusCallbackEvent"),
        ["initiated", "ringing", "answered", "completed"]
    );
    assert_eq!(values("MachineDetection"), ["DetectMessageEnd"]);
    assert_eq!(values("AsyncAmd"), ["true"]);
    assert_eq!(
        values("AsyncAmdStatusCallback"),
        ["https://agent.example.com/twilio/amd"]
    );
    assert_eq!(values("Timeout"), ["30"]);
    assert!(values("Record").is_empty());
}

#[tokio::test]
async fn twilio_error_body_becomes_typed_error_without_retry() {
    let body = r#"{"code":21211,"message":"The 'To' number +1555 is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}"#;
    let (fake, rest) = start(vec![(400, vec![], body.to_string())], |_| {}).await;
    let err = rest
        .create_call(&CreateCall::new(
            "+1555",
            "+14155550199",
            "https://a.example/voice",
        ))
        .await
        .unwrap_err();
    assert_eq!(err.twilio_code(), Some(21211));
    assert_eq!(
        err.to_string(),
        "Twilio error 21211: The 'To' number +1555 is not a valid phone number (HTTP 400)"
    );
    match err {
        RestError::Twilio(e) => {
            assert_eq!(e.status, 400);
            assert_eq!(
                e.more_info.as_deref(),
                Some("https://www.twilio.com/docs/errors/21211")
            );
        }
        other => panic!("expected a Twilio error, got {other:?}"),
    }
    assert_eq!(seen(&fake).len(), 1, "a 400 must not be retried");
}

#[tokio::test]
async fn service_unavailable_then_created_is_retried() {
    let unavailable = (
        503,
        vec![],
        r#"{"code":20503,"message":"Service unavailable","status":503}"#.to_string(),
    );
    let (fake, rest) = start(vec![unavailable, created()], |_| {}).await;
    let call = rest
        .create_call(&CreateCall::new(
            "+14155550100",
            "+14155550199",
            "https://a.example/voice",
        ))
        .await
        .unwrap();
    assert_eq!(call.status, CallStatus::Queued);
    assert_eq!(seen(&fake).len(), 2);
}

#[tokio::test]
async fn create_is_not_retried_after_internal_error_to_avoid_duplicate_calls() {
    let (fake, rest) = start(vec![(500, vec![], "{}".to_string())], |_| {}).await;
    let err = rest
        .create_call(&CreateCall::new(
            "+14155550100",
            "+14155550199",
            "https://a.example/voice",
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(err, RestError::Twilio(ref e) if e.status == 500),
        "{err}"
    );
    assert_eq!(seen(&fake).len(), 1);
}

#[tokio::test]
async fn fetch_retries_server_errors_up_to_max_retries() {
    let (fake, rest) = start(vec![(502, vec![], "bad gateway".to_string())], |c| {
        c.max_retries = 2
    })
    .await;
    let err = rest
        .fetch_call("CA00000000000000000000000000000002")
        .await
        .unwrap_err();
    assert!(
        matches!(err, RestError::Twilio(ref e) if e.status == 502),
        "{err}"
    );
    let reqs = seen(&fake);
    assert_eq!(reqs.len(), 3, "one attempt plus two retries");
    assert!(reqs.iter().all(|r| r.method == "GET"));
    // Exponential: the second gap (about 100 ms) is longer than the first (about 50 ms).
    let gap1 = reqs[1].at - reqs[0].at;
    let gap2 = reqs[2].at - reqs[1].at;
    assert!(gap1 >= Duration::from_millis(35), "{gap1:?}");
    assert!(gap2 >= Duration::from_millis(75), "{gap2:?}");
}

#[tokio::test]
async fn too_many_requests_waits_for_retry_after() {
    let limited = (
        429,
        vec![("retry-after", "1".to_string())],
        r#"{"code":20429,"message":"Too Many Requests","status":429}"#.to_string(),
    );
    let ok = (
        200,
        vec![],
        call_json("CA00000000000000000000000000000002", "completed"),
    );
    let (fake, rest) = start(vec![limited, ok], |_| {}).await;
    let call = rest
        .hangup("CA00000000000000000000000000000002")
        .await
        .unwrap();
    assert_eq!(call.status, CallStatus::Completed);
    let reqs = seen(&fake);
    assert_eq!(reqs.len(), 2);
    assert!(reqs[1].at - reqs[0].at >= Duration::from_millis(950));
    assert_eq!(
        reqs[1].path,
        format!("/2010-04-01/Accounts/{AC}/Calls/CA00000000000000000000000000000002.json")
    );
    assert_eq!(
        reqs[1].form,
        vec![("Status".to_string(), "completed".to_string())]
    );
}

#[tokio::test]
async fn creates_are_paced_to_calls_per_second_across_concurrent_callers() {
    let (fake, rest) = start(vec![created()], |c| c.calls_per_second = 2.0).await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let rest = rest.clone();
        tasks.push(tokio::spawn(async move {
            rest.create_call(&CreateCall::new(
                "+14155550100",
                "+14155550199",
                "https://a.example/voice",
            ))
            .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert!(started.elapsed() >= Duration::from_millis(950));
    let mut at: Vec<Instant> = seen(&fake).iter().map(|r| r.at).collect();
    at.sort();
    assert_eq!(at.len(), 3);
    for pair in at.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_millis(450), "creates {gap:?} apart");
    }
}

#[tokio::test]
async fn unreachable_api_is_a_transport_error() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Bind then drop a listener: the port is (almost certainly) closed now.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut cfg = TwilioRestConfig::new(AC, TOKEN);
    cfg.api_base = format!("http://{addr}/2010-04-01");
    cfg.max_retries = 1;
    cfg.retry_base = Duration::from_millis(10);
    let rest = TwilioRest::new(cfg).unwrap();
    let err = rest
        .fetch_call("CA00000000000000000000000000000002")
        .await
        .unwrap_err();
    assert!(
        matches!(err, RestError::Transport { not_sent: true, .. }),
        "{err:?}"
    );
}
