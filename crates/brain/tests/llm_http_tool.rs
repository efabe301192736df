//! User-defined HTTP tools against a loopback endpoint: what is sent, and what the model reads
//! back when things go right or wrong.

#[path = "support/fake_openai.rs"]
mod fake_openai;

use std::time::{Duration, Instant};

use brain::llm::http_tool::{HttpMethod, HttpTool, MAX_RESPONSE_BYTES};
use brain::llm::LlmError;
use fake_openai::{FakeServer, Reply};
use serde_json::{json, Value};

fn reschedule(url: String) -> HttpTool {
    HttpTool::new(
        "reschedule",
        "Move the caller's appointment",
        json!({"type": "object",
               "properties": {"day": {"type": "string"}, "time": {"type": "string"}},
               "required": ["day"]}),
        url,
    )
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("tool answer is JSON")
}

#[tokio::test]
async fn arguments_are_posted_as_json_and_the_body_returned() {
    let server =
        FakeServer::start(vec![Reply::json(200, json!({"ok": true, "time": "10:00"}))]).await;
    let mut tool = reschedule(format!("{}/hooks/reschedule", server.origin));
    tool.headers = vec![("Authorization".into(), "Bearer tool-secret".into())];
    let answer = tool.call(r#"{"day":"friday"}"#).await.unwrap();
    assert_eq!(parse(&answer), json!({"ok": true, "time": "10:00"}));

    let request = &server.requests()[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/hooks/reschedule");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("authorization"), Some("Bearer tool-secret"));
    assert_eq!(request.json(), json!({"day": "friday"}));
}

#[tokio::test]
async fn get_tool_sends_arguments_as_query_parameters() {
    let server = FakeServer::start(vec![Reply::text(200, "3 slots free")]).await;
    let mut tool = reschedule(format!("{}/slots?site=paris", server.origin));
    tool.method = HttpMethod::Get;
    let answer = tool
        .call(r#"{"day":"friday","time":"10:00"}"#)
        .await
        .unwrap();
    assert_eq!(answer, "3 slots free");
    let request = &server.requests()[0];
    assert_eq!(request.method, "GET");
    assert_eq!(
        request.query.as_deref(),
        Some("site=paris&day=friday&time=10%3A00")
    );
    assert!(request.body.is_empty());
}

#[tokio::test]
async fn missing_required_argument_is_reported_without_calling() {
    let server = FakeServer::start(vec![]).await;
    let tool = reschedule(format!("{}/hook", server.origin));
    let answer = parse(&tool.call(r#"{"time":"10:00"}"#).await.unwrap());
    assert_eq!(
        answer,
        json!({"error": "missing required argument(s): day"})
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn arguments_that_are_not_an_object_are_reported() {
    let server = FakeServer::start(vec![]).await;
    let tool = reschedule(format!("{}/hook", server.origin));
    let answer = parse(&tool.call(r#"["friday"]"#).await.unwrap());
    assert_eq!(answer, json!({"error": "arguments must be a JSON object"}));
    let answer = parse(&tool.call(r#"{"day": "fri"#).await.unwrap());
    assert!(answer["error"]
        .as_str()
        .unwrap()
        .starts_with("arguments are not valid JSON"));
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn error_status_becomes_an_error_the_model_can_read() {
    let server = FakeServer::start(vec![Reply::json(409, json!({"detail": "slot taken"}))]).await;
    let tool = reschedule(format!("{}/hook", server.origin));
    let answer = parse(&tool.call(r#"{"day":"friday"}"#).await.unwrap());
    assert_eq!(answer["status"], json!(409));
    assert!(answer["error"].as_str().unwrap().contains("409"));
    assert_eq!(answer["body"], json!(r#"{"detail":"slot taken"}"#));
}

#[tokio::test]
async fn slow_tool_times_out_with_an_error_answer() {
    let server = FakeServer::start(vec![
        Reply::text(200, "too late").delayed(Duration::from_secs(30))
    ])
    .await;
    let mut tool = reschedule(format!("{}/hook", server.origin));
    tool.timeout = Duration::from_millis(200);
    let started = Instant::now();
    let answer = parse(&tool.call(r#"{"day":"friday"}"#).await.unwrap());
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(answer["error"].as_str().unwrap().contains("did not answer"));
}

#[tokio::test]
async fn unreachable_tool_is_an_error_answer_without_details() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let tool = reschedule(format!("http://127.0.0.1:{port}/hook"));
    let answer = parse(&tool.call(r#"{"day":"friday"}"#).await.unwrap());
    let error = answer["error"].as_str().unwrap();
    assert_eq!(error, "the reschedule service could not be reached");
}

#[tokio::test]
async fn large_response_is_truncated() {
    let big = "x".repeat(MAX_RESPONSE_BYTES * 3);
    let server = FakeServer::start(vec![Reply::text(200, &big)]).await;
    let tool = reschedule(format!("{}/hook", server.origin));
    let answer = tool.call(r#"{"day":"friday"}"#).await.unwrap();
    assert!(answer.starts_with("xxxx"));
    assert!(answer.ends_with("…[truncated]"));
    assert!(answer.len() < MAX_RESPONSE_BYTES + 32);
}

#[tokio::test]
async fn empty_success_body_says_ok() {
    let server = FakeServer::start(vec![Reply::text(204, "")]).await;
    let tool = reschedule(format!("{}/hook", server.origin));
    let answer = parse(&tool.call(r#"{"day":"friday"}"#).await.unwrap());
    assert_eq!(answer, json!({"ok": true, "status": 204}));
}

#[tokio::test]
async fn misconfigured_tool_is_an_error_for_the_operator() {
    let tool = reschedule("not a url".into());
    let error = tool.call(r#"{"day":"friday"}"#).await.unwrap_err();
    assert!(matches!(error, LlmError::Backend(_)));
    assert!(error.to_string().contains("reschedule"));
}

#[test]
fn spec_carries_name_description_and_schema() {
    let tool = reschedule("http://127.0.0.1/hook".into());
    let spec = tool.to_spec();
    assert_eq!(spec.name, "reschedule");
    assert_eq!(spec.description, "Move the caller's appointment");
    assert_eq!(spec.parameters["required"], json!(["day"]));
}
