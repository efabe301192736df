//! Who can reach what: every route of the router is walked without credentials (only the
//! health check, the login page and Twilio's signature-checked webhooks answer), API keys are
//! held to their role, sessions need their CSRF token for writes, and writes are audited.

mod common;

use common::TestServer;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use server::routes::Access;

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_health_login_and_signed_webhooks_are_reachable_without_credentials() {
    let srv = TestServer::start().await;
    let http = client();
    let routes = server::routes::list();
    assert!(
        routes.len() >= 25,
        "the table lists every route: {}",
        routes.len()
    );
    let mut public = Vec::new();
    for (method, path, access) in routes {
        let url = format!("http://{}{}", srv.addr, path.replace("{id}", "1"));
        let mut req = http.request(method.clone(), &url);
        if path.ends_with("/ws") || path == "/twilio/media" {
            // A real websocket handshake, so only the access check can refuse it.
            req = req
                .header("Connection", "Upgrade")
                .header("Upgrade", "websocket")
                .header("Sec-WebSocket-Version", "13")
                .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
        }
        if method == Method::POST {
            req = req
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body("CallSid=CA1&AccountSid=AC1&From=%2B1&To=%2B2&CallStatus=ringing");
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        match access {
            Access::Public => {
                assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{method} {path} is public but answered {status}"
                );
                public.push(format!("{method} {path}"));
            }
            Access::Twilio => assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{method} {path} must refuse unsigned requests"
            ),
            Access::User => {
                let refused = status == StatusCode::UNAUTHORIZED
                    || (status == StatusCode::SEE_OTHER && location.starts_with("/login"));
                assert!(
                    refused,
                    "{method} {path} answered {status} {location} without credentials"
                );
            }
        }
    }
    public.sort();
    assert_eq!(
        public,
        [
            "GET /favicon.ico",
            "GET /health",
            "GET /login",
            "POST /login"
        ],
        "the public surface"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_are_held_to_their_role_and_revocable() {
    let srv = TestServer::start().await;
    let viewer = server::create_api_key(&srv.store, "reporting", server::Role::Viewer, "test")
        .await
        .unwrap();
    let supervisor =
        server::create_api_key(&srv.store, "crm-sync", server::Role::Supervisor, "test")
            .await
            .unwrap();
    let body = br#"{"name": "keys", "contact_ids": []}"#.to_vec();
    let (status, _) = srv
        .api(Method::GET, "/campaigns", Some(&viewer), None)
        .await;
    assert_eq!(status, 200);
    let (status, err) = srv
        .api(
            Method::POST,
            "/campaigns",
            Some(&viewer),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(err["error"]["code"], "forbidden");
    let (status, _) = srv
        .api(Method::POST, "/campaigns", Some(&supervisor), Some(body))
        .await;
    assert_eq!(status, 201);
    // Keys are stored as digests only.
    let keys = srv.store.list_api_keys().await.unwrap();
    assert!(keys
        .iter()
        .all(|k| !k.key_hash.contains(&k.prefix) || k.key_hash.len() == 64));
    assert!(keys.iter().all(|k| !supervisor.contains(&k.key_hash)));
    let id = keys.iter().find(|k| k.name == "reporting").unwrap().id;
    assert!(srv.store.revoke_api_key(id).await.unwrap());
    let (status, _) = srv
        .api(Method::GET, "/campaigns", Some(&viewer), None)
        .await;
    assert_eq!(status, 401, "a revoked key is refused");
    // The write is in the audit log with who did it.
    let log = srv.store.audit_log(10, None).await.unwrap();
    assert!(log
        .iter()
        .any(|e| e.action == "campaign.create" && e.actor == "key:crm-sync"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_sign_in_with_a_password_and_need_the_csrf_token_to_write() {
    let srv = TestServer::start().await;
    let hash = server::hash_password("correct horse battery").unwrap();
    srv.store
        .add_user("ops@example.com", &hash, "supervisor")
        .await
        .unwrap();
    let http = client();
    let base = format!("http://{}", srv.addr);
    let wrong = http
        .post(format!("{base}/login"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("email=ops%40example.com&password=nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let ok = http
        .post(format!("{base}/login"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("email=ops%40example.com&password=correct+horse+battery&next=%2Fweb%2Ftalk")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert_eq!(ok.headers()[LOCATION], "/web/talk");
    let set_cookie = ok.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"));
    let cookie = set_cookie.split(';').next().unwrap().to_owned();

    let page = http
        .get(format!("{base}/web/talk"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let me: serde_json::Value = http
        .get(format!("{base}/api/v1/me"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "supervisor");
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();

    let create = |with_csrf: bool| {
        let mut req = http
            .post(format!("{base}/api/v1/campaigns"))
            .header(COOKIE, &cookie)
            .body(r#"{"name": "from the dashboard"}"#);
        if with_csrf {
            req = req.header("X-CSRF-Token", &csrf);
        }
        req.send()
    };
    let forged = create(false).await.unwrap();
    assert_eq!(forged.status(), 403, "a cross-site form cannot write");
    assert_eq!(create(true).await.unwrap().status(), 201);

    let out = http
        .post(format!("{base}/logout"))
        .header(COOKIE, &cookie)
        .header("X-CSRF-Token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let after = http
        .get(format!("{base}/api/v1/me"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401, "the session ended");
    let log = srv.store.audit_log(20, None).await.unwrap();
    let actions: Vec<_> = log.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"login.failed") && actions.contains(&"login"));
    assert!(actions.contains(&"campaign.create") && actions.contains(&"logout"));
}
