//! The outbound JSON API over loopback: bearer auth, the CSV import report, campaign creation
//! and control, one scheduled call, and errors in the documented shape.

mod common;

use common::{TestServer, API_TOKEN};
use reqwest::Method;
use serde_json::json;

const CSV: &[u8] = include_bytes!("data/crm_contacts.csv");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_needs_the_bearer_token() {
    let srv = TestServer::start().await;
    let (status, body) = srv.api(Method::GET, "/campaigns", None, None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _) = srv
        .api(Method::GET, "/campaigns", Some("wrong-token"), None)
        .await;
    assert_eq!(status, 401);
    let (status, body) = srv
        .api(Method::GET, "/campaigns", Some(API_TOKEN), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_create_start_pause_and_report_a_campaign() {
    let srv = TestServer::start().await;
    let t = Some(API_TOKEN);
    let (status, report) = srv
        .api(Method::POST, "/contacts/import", t, Some(CSV.to_vec()))
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["imported"].as_array().unwrap().len(), 7);
    assert_eq!(report["duplicates"][0]["line"], 7);
    assert_eq!(report["duplicates"][0]["of_line"], 2);
    assert_eq!(report["rejected"].as_array().unwrap().len(), 2);
    let ids = report["contact_ids"].clone();
    assert_eq!(ids.as_array().unwrap().len(), 7);

    let body = json!({"name": "API leads", "agent": "sales", "contact_ids": ids,
                      "settings": {"max_attempts": 2, "voicemail": "leave_message"}});
    let (status, created) = srv
        .api(
            Method::POST,
            "/campaigns",
            t,
            Some(body.to_string().into_bytes()),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["contacts"], 7);

    let (status, c) = srv
        .api(Method::POST, &format!("/campaigns/{id}/start"), t, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(c["state"], "running");
    assert_eq!(c["progress"]["total"], 7);
    let (_, c) = srv
        .api(Method::POST, &format!("/campaigns/{id}/pause"), t, None)
        .await;
    assert_eq!(c["state"], "paused");
    assert_eq!(c["settings"]["max_attempts"], 2);
    let (status, r) = srv
        .api(Method::GET, &format!("/campaigns/{id}/report"), t, None)
        .await;
    assert_eq!(status, 200);
    // Hot first in the report too: Ava, Noah, Chloé.
    let phones: Vec<_> = r["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["phone"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        &phones[..3],
        ["+14155550101", "+14155550104", "+33142680109"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors() {
    let srv = TestServer::start().await;
    let t = Some(API_TOKEN);
    let (status, body) = srv.api(Method::GET, "/campaigns/999", t, None).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, body) = srv
        .api(Method::POST, "/campaigns", t, Some(b"{not json".to_vec()))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_request");
    let (status, body) = srv
        .api(Method::POST, "/contacts/import", t, Some(Vec::new()))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("empty"));
    let (status, body) = srv
        .api(Method::POST, "/calls", t, Some(br#"{"to": "12"}"#.to_vec()))
        .await;
    assert_eq!(status, 400, "{body}");

    // A scheduled call is a running campaign of one contact.
    let (status, body) = srv
        .api(
            Method::POST,
            "/calls",
            t,
            Some(
                br#"{"to": "(415) 555-0123", "agent": "sales", "at": "2030-01-02T15:00:00Z"}"#
                    .to_vec(),
            ),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["campaign_id"].as_i64().unwrap();
    let (_, c) = srv
        .api(Method::GET, &format!("/campaigns/{id}"), t, None)
        .await;
    assert_eq!(c["state"], "running");
    assert_eq!(c["progress"]["total"], 1);
    assert_eq!(c["name"], "call +14155550123");
}
