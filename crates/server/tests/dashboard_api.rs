//! The read API (`/api/v1` calls, contacts, agents, stats, audit), its OpenAPI document, and
//! the dashboard pages, over loopback against a real server.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{TestServer, API_TOKEN};
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use store::{NewCall, NewContact, NewTurn, Speaker, StatusUpdate, TurnTimings};

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn add_call(srv: &TestServer, sid: &str, direction: &str, agent: &str, status: &str) {
    srv.store
        .upsert_call(&NewCall {
            call_sid: sid.into(),
            direction: Some(direction.into()),
            from_number: Some("+15550001111".into()),
            to_number: Some("+15550002222".into()),
            agent: Some(agent.into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let rank = if status == "in-progress" { 3 } else { 4 };
    srv.store
        .record_status(&StatusUpdate {
            call_sid: sid.into(),
            status: status.into(),
            rank,
            sequence_number: None,
            event_timestamp: None,
        })
        .await
        .unwrap();
}

async fn add_turn(srv: &TestServer, sid: &str, speaker: Speaker, text: &str, v2v: Option<i64>) {
    srv.store
        .add_turn(
            sid,
            &NewTurn {
                speaker,
                text: text.into(),
                interrupted: false,
                at_ms: 1500,
                timings: TurnTimings {
                    end_of_speech_to_transcript_ms: v2v.map(|_| 120),
                    end_of_speech_to_first_audio_ms: v2v,
                    ..Default::default()
                },
                intent: None,
            },
        )
        .await
        .unwrap();
}

fn sids(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["call_sid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_page_through_newest_first_each_seen_once() {
    let srv = TestServer::start().await;
    for i in 0..30 {
        add_call(&srv, &format!("CA{i:02}"), "inbound", "demo", "completed").await;
    }
    let t = Some(API_TOKEN);
    let mut seen = Vec::new();
    let mut path = "/calls?limit=10".to_owned();
    let mut pages = 0;
    loop {
        let (status, body) = srv.api(Method::GET, &path, t, None).await;
        assert_eq!(status, 200, "{body}");
        pages += 1;
        let page = sids(&body);
        assert!(page.len() <= 10);
        seen.extend(page);
        match body["next_cursor"].as_i64() {
            Some(cursor) => path = format!("/calls?limit=10&cursor={cursor}"),
            None => break,
        }
        assert!(pages < 10, "pagination must end");
    }
    let expected: Vec<String> = (0..30).rev().map(|i| format!("CA{i:02}")).collect();
    assert_eq!(seen, expected, "all 30, once each, newest first");
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        30,
        "no call twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_filters_narrow_the_list_and_bad_values_are_400() {
    let srv = TestServer::start().await;
    add_call(&srv, "CA-in", "inbound", "demo", "completed").await;
    add_call(&srv, "CA-out", "outbound-api", "sales", "no-answer").await;
    add_call(&srv, "CA-web", "web", "demo", "in-progress").await;
    add_turn(
        &srv,
        "CA-in",
        Speaker::Caller,
        "Do you ship to Canada?",
        None,
    )
    .await;
    let t = Some(API_TOKEN);
    let get = |q: &'static str| srv.api(Method::GET, q, t, None);
    assert_eq!(sids(&get("/calls?direction=outbound").await.1), ["CA-out"]);
    assert_eq!(sids(&get("/calls?status=completed").await.1), ["CA-in"]);
    assert_eq!(sids(&get("/calls?agent=demo").await.1), ["CA-web", "CA-in"]);
    assert_eq!(sids(&get("/calls?q=canada").await.1), ["CA-in"]);
    assert_eq!(
        sids(&get("/calls?agent=demo&direction=web").await.1),
        ["CA-web"]
    );
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let (_, body) = srv
        .api(
            Method::GET,
            &format!("/calls?from={today}&to={today}"),
            t,
            None,
        )
        .await;
    assert_eq!(sids(&body).len(), 3, "a date includes its whole day");
    assert_eq!(sids(&get("/calls?from=2999-01-01").await.1).len(), 0);
    assert_eq!(
        sids(&get("/calls?campaign=").await.1).len(),
        3,
        "empty = any"
    );

    let (status, body) = get("/calls?limit=ten").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_request");
    let (status, body) = get("/calls?from=yesterday").await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains("from"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_call_has_turns_with_timings_events_and_status_history() {
    let srv = TestServer::start().await;
    add_call(&srv, "CA1", "inbound", "demo", "in-progress").await;
    add_turn(&srv, "CA1", Speaker::Caller, "hello", Some(740)).await;
    add_turn(&srv, "CA1", Speaker::Agent, "hi there", None).await;
    srv.store
        .add_event("CA1", "tool", &serde_json::json!({"name": "end_call"}))
        .await
        .unwrap();
    srv.store.finish_call("CA1", "completed", 4).await.unwrap();
    let t = Some(API_TOKEN);
    let (status, d) = srv.api(Method::GET, "/calls/CA1", t, None).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["call"]["call_sid"], "CA1");
    assert_eq!(d["call"]["status"], "completed");
    assert!(d["call"]["duration_ms"].as_i64().unwrap() >= 0);
    assert_eq!(d["turns"][0]["text"], "hello");
    assert_eq!(
        d["turns"][0]["timings"]["end_of_speech_to_first_audio_ms"],
        740
    );
    assert_eq!(d["events"][0]["kind"], "tool");
    assert_eq!(d["status_history"][0]["status"], "in-progress");
    assert_eq!(d["recording_url"], Value::Null);

    let (status, turns) = srv.api(Method::GET, "/calls/CA1/turns", t, None).await;
    assert_eq!(status, 200);
    assert_eq!(turns["data"].as_array().unwrap().len(), 2);
    assert_eq!(turns["data"][1]["speaker"], "agent");

    let (status, err) = srv.api(Method::GET, "/calls/CA404", t, None).await;
    assert_eq!(status, 404);
    assert_eq!(err["error"]["code"], "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_agents_and_daily_stats_are_listed() {
    let srv = TestServer::start().await;
    for i in 0..3 {
        srv.store
            .upsert_contact(&NewContact {
                phone: format!("+1555010000{i}"),
                first_name: Some(format!("Ada{i}")),
                company: Some("Initech".into()),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    add_call(&srv, "CA1", "inbound", "demo", "completed").await;
    add_turn(&srv, "CA1", Speaker::Caller, "hello", Some(900)).await;
    let t = Some(API_TOKEN);

    let (_, page) = srv.api(Method::GET, "/contacts?limit=2", t, None).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(page["data"][0]["phone"], "+15550100002");
    let cursor = page["next_cursor"].as_i64().unwrap();
    let (_, rest) = srv
        .api(
            Method::GET,
            &format!("/contacts?limit=2&cursor={cursor}"),
            t,
            None,
        )
        .await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_cursor"], Value::Null);
    let (_, found) = srv.api(Method::GET, "/contacts?q=ada1", t, None).await;
    assert_eq!(found["data"][0]["first_name"], "Ada1");

    let (status, agents) = srv.api(Method::GET, "/agents", t, None).await;
    assert_eq!(status, 200);
    let demo = agents["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == "demo")
        .expect("the demo agent is listed")
        .clone();
    assert_eq!(demo["default"], true);
    assert!(!demo["greeting"].as_str().unwrap().is_empty());
    assert!(!demo["language"].as_str().unwrap().is_empty());

    let (status, stats) = srv.api(Method::GET, "/stats/daily?days=3", t, None).await;
    assert_eq!(status, 200);
    let days = stats["data"].as_array().unwrap();
    assert_eq!(days.len(), 3);
    let today = &days[2];
    assert_eq!(
        today["day"],
        chrono::Utc::now().format("%Y-%m-%d").to_string()
    );
    assert_eq!(today["calls"], 1);
    assert_eq!(today["answered"], 1);
    assert_eq!(today["median_voice_to_voice_ms"], 900);
    let (status, _) = srv.api(Method::GET, "/stats/daily?days=0", t, None).await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_need_a_key_and_the_audit_log_needs_admin() {
    let srv = TestServer::start().await;
    for path in [
        "/calls",
        "/calls/CA1",
        "/calls/CA1/turns",
        "/contacts",
        "/agents",
        "/stats/daily",
        "/audit",
    ] {
        let (status, body) = srv.api(Method::GET, path, None, None).await;
        assert_eq!(status, 401, "{path} without a key");
        assert_eq!(body["error"]["code"], "unauthorized", "{path}");
    }
    let viewer = server::create_api_key(&srv.store, "wallboard", server::Role::Viewer, "test")
        .await
        .unwrap();
    let (status, _) = srv.api(Method::GET, "/calls", Some(&viewer), None).await;
    assert_eq!(status, 200);
    let (status, body) = srv.api(Method::GET, "/audit", Some(&viewer), None).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "forbidden");

    // An audited write, then the admin reads it back.
    let (status, _) = srv
        .api(
            Method::POST,
            "/campaigns",
            Some(API_TOKEN),
            Some(br#"{"name": "audited"}"#.to_vec()),
        )
        .await;
    assert_eq!(status, 201);
    let (status, log) = srv
        .api(Method::GET, "/audit?limit=5", Some(API_TOKEN), None)
        .await;
    assert_eq!(status, 200, "{log}");
    assert_eq!(log["data"][0]["action"], "campaign.create");
    assert_eq!(log["data"][0]["actor"], "key:CALLPILOT_API_TOKEN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_and_route_table_agree() {
    let srv = TestServer::start().await;
    let http = client();
    let base = format!("http://{}", srv.addr);
    let anonymous = http
        .get(format!("{base}/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401, "the document needs credentials");
    let resp = http
        .get(format!("{base}/api/openapi.json"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let doc: Value = serde_json::from_str(&resp.text().await.unwrap()).expect("valid JSON");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.0"));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearerAuth"]["scheme"],
        "bearer"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["sessionCookie"]["in"],
        "cookie"
    );
    assert!(doc["components"]["schemas"]["Error"]["properties"]["error"].is_object());
    let paths = doc["paths"].as_object().unwrap();

    let table = server::routes::list();
    let api_routes: Vec<_> = table
        .iter()
        .filter(|(_, p, _)| p.starts_with("/api/v1/"))
        .collect();
    assert!(api_routes.len() >= 15);
    for (method, path, _) in &api_routes {
        let op = &doc["paths"][*path][method.as_str().to_lowercase()];
        assert!(op.is_object(), "{method} {path} is not documented");
        assert!(
            op["responses"]["200"].is_object()
                || op["responses"]["201"].is_object()
                || op["responses"]["202"].is_object()
        );
        assert!(
            op["responses"]["401"].is_object(),
            "{method} {path} documents 401"
        );
    }
    for (path, methods) in paths {
        for method in methods.as_object().unwrap().keys() {
            assert!(
                table
                    .iter()
                    .any(|(m, p, _)| p == path && m.as_str().eq_ignore_ascii_case(method)),
                "{method} {path} is documented but not routed"
            );
        }
    }

    let docs = http
        .get(format!("{base}/api/docs"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), 200);
    let html = docs.text().await.unwrap();
    assert!(html.contains("<code>GET /api/v1/calls/{sid}</code>"));
    assert!(html.contains("id=\"schema-Turn\""));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external assets"
    );
}

/// Signs a user with `role` in through the login form; returns the session cookie.
async fn sign_in(srv: &TestServer, http: &reqwest::Client, role: &str) -> String {
    let hash = server::hash_password("correct horse battery").unwrap();
    let email = format!("{role}@example.com");
    srv.store.add_user(&email, &hash, role).await.unwrap();
    let resp = http
        .post(format!("http://{}/login", srv.addr))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!(
            "email={role}%40example.com&password=correct+horse+battery&next=%2F"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let set_cookie = resp.headers()[SET_COOKIE].to_str().unwrap();
    set_cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_page_is_html_for_a_signed_in_user() {
    let srv = TestServer::start().await;
    add_call(&srv, "CA-page", "inbound", "demo", "completed").await;
    add_turn(
        &srv,
        "CA-page",
        Speaker::Caller,
        "where is <my> order",
        Some(650),
    )
    .await;
    srv.store
        .add_event(
            "CA-page",
            "transfer",
            &serde_json::json!({"to": "+15550009999"}),
        )
        .await
        .unwrap();
    let (status, _) = srv
        .api(
            Method::POST,
            "/campaigns",
            Some(API_TOKEN),
            Some(br#"{"name": "Spring leads"}"#.to_vec()),
        )
        .await;
    assert_eq!(status, 201);
    let http = client();
    let cookie = sign_in(&srv, &http, "supervisor").await;
    let base = format!("http://{}", srv.addr);

    let home = http
        .get(format!("{base}/"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(home.headers()[LOCATION], "/dashboard");

    let me: Value = http
        .get(format!("{base}/api/v1/me"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();

    for (path, must_contain) in [
        ("/dashboard", "Calls per day"),
        ("/dashboard/calls", "CA-page"),
        (
            "/dashboard/calls?direction=inbound&from=2020-01-01&q=order",
            "CA-page",
        ),
        ("/dashboard/calls/CA-page", "voice-to-voice 650 ms"),
        ("/dashboard/live", "Live calls"),
        ("/dashboard/campaigns", "Spring leads"),
        ("/api/docs", "GET /api/v1/calls"),
    ] {
        let resp = http
            .get(format!("{base}{path}"))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let ct = resp.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/html"), "{path}: {ct}");
        let html = resp.text().await.unwrap();
        assert!(html.contains(must_contain), "{path} lacks {must_contain:?}");
        for nav in [
            "/dashboard/calls",
            "/dashboard/live",
            "/web/talk",
            "/api/docs",
            "Sign out",
        ] {
            assert!(html.contains(nav), "{path}: nav bar lacks {nav}");
        }
        assert!(
            html.contains(&format!("<meta name=\"csrf-token\" content=\"{csrf}\">")),
            "{path} carries the session's CSRF token for its scripts"
        );
    }

    let call = http
        .get(format!("{base}/dashboard/calls/CA-page"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        call.contains("where is &lt;my&gt; order"),
        "transcript escaped"
    );
    assert!(call.contains("class=\"transfer\""), "transfer highlighted");
    assert!(call.contains("status → completed"));
    assert!(call.contains("No recording for this call."));
    srv.store
        .add_event(
            "CA-page",
            "recording",
            &serde_json::json!({"file": "/tmp/CApage.wav", "seconds": 3.0}),
        )
        .await
        .unwrap();
    let call = http
        .get(format!("{base}/dashboard/calls/CA-page"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        call.contains("<audio controls preload=\"none\" src=\"/api/v1/calls/CA-page/recording\">"),
        "a saved recording plays in the page"
    );
    let campaigns = http
        .get(format!("{base}/dashboard/campaigns"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(campaigns.contains("data-action=\"start\""));
    assert!(campaigns.contains("role=\"progressbar\""));

    let missing = http
        .get(format!("{base}/dashboard/calls/CA-nope"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    for script in [
        "/dashboard/assets/dashboard.js",
        "/dashboard/assets/live.js",
    ] {
        let resp = http
            .get(format!("{base}{script}"))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript"));
    }
}

/// Reads the SSE stream until `pred` holds for the text received so far.
async fn read_until(resp: &mut reqwest::Response, pred: impl Fn(&str) -> bool) -> String {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !pred(&text) {
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .unwrap_or_else(|_| panic!("stream stalled; got so far: {text}"))
            .unwrap()
            .expect("stream open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_stream_new_turns_of_calls_in_progress() {
    let srv = TestServer::start().await;
    add_call(&srv, "CA-live", "web", "demo", "in-progress").await;
    add_turn(
        &srv,
        "CA-live",
        Speaker::Caller,
        "said before watching",
        None,
    )
    .await;
    let http = client();
    let cookie = sign_in(&srv, &http, "viewer").await;
    let mut resp = http
        .get(format!("http://{}/dashboard/live/events", srv.addr))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let first = read_until(&mut resp, |t| t.contains("CA-live")).await;
    assert!(first.contains("event: calls"), "{first}");

    add_turn(
        &srv,
        "CA-live",
        Speaker::Agent,
        "now live on screen",
        Some(810),
    )
    .await;
    let next = read_until(&mut resp, |t| t.contains("now live on screen")).await;
    assert!(next.contains("event: turn"), "{next}");
    assert!(next.contains("\"voice_to_voice_ms\":810"));
    assert!(
        !next.contains("said before watching"),
        "only what is said after connecting"
    );

    srv.store
        .finish_call("CA-live", "completed", 4)
        .await
        .unwrap();
    let ended = read_until(&mut resp, |t| t.contains("data: []")).await;
    assert!(
        ended.contains("event: calls"),
        "the ended call leaves the list"
    );
}
