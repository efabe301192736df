//! The carrier's Twilio-compatible REST API for calls (spec 6): create, update, fetch, with
//! HTTP Basic auth and errors in Twilio's JSON error shape (spec 6.5).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::ids::new_sid;
use crate::outbound::{CallEntry, Carrier, CreateRequest, LogKind};
use crate::outbound_call::{drive, rfc2822};

const API_VERSION: &str = "2010-04-01";

/// The API's routes under `/2010-04-01/Accounts/{AC}`.
pub(crate) fn router(carrier: Arc<Carrier>) -> Router {
    Router::new()
        .route("/2010-04-01/Accounts/{account}/Calls.json", post(create))
        .route(
            "/2010-04-01/Accounts/{account}/Calls/{file}",
            post(update).get(fetch),
        )
        .with_state(carrier)
}

/// A Twilio error answer.
struct ApiError {
    status: StatusCode,
    code: u32,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "code": self.code,
            "message": self.message,
            "more_info": format!("https://www.twilio.com/docs/errors/{}", self.code),
            "status": self.status.as_u16(),
        });
        (self.status, axum::Json(body)).into_response()
    }
}

/// Checks HTTP Basic credentials and the account in the path (Twilio answers 20003 to both).
fn authorize(carrier: &Carrier, account: &str, headers: &HeaderMap) -> Result<(), ApiError> {
    let denied = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            20003,
            "Authentication Error - invalid username",
        )
    };
    let header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(denied)?;
    let encoded = header.strip_prefix("Basic ").ok_or_else(denied)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(denied)?;
    let (user, password) = decoded.split_once(':').ok_or_else(denied)?;
    let cfg = &carrier.cfg;
    if user != cfg.account_sid || password != cfg.auth_token || account != cfg.account_sid {
        return Err(denied());
    }
    Ok(())
}

fn form(body: &str) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            20001,
            format!("Bad form body: {e}"),
        )
    })
}

fn first<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// A number the carrier can dial: E.164 (spec 7), or a client/SIP address.
fn dialable(number: &str) -> bool {
    if number.starts_with("client:") || number.starts_with("sip:") {
        return true;
    }
    number.strip_prefix('+').is_some_and(|d| {
        (2..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    })
}

fn parse_create(form: &[(String, String)]) -> Result<CreateRequest, ApiError> {
    let bad = |code, message: String| ApiError::new(StatusCode::BAD_REQUEST, code, message);
    let to = first(form, "To").ok_or_else(|| bad(21201, "No 'To' number is specified".into()))?;
    if !dialable(to) {
        return Err(bad(
            21211,
            format!("The 'To' number {to} is not a valid phone number."),
        ));
    }
    let from = first(form, "From")
        .ok_or_else(|| bad(21603, "A 'From' phone number is required.".into()))?;
    if !dialable(from) {
        return Err(bad(
            21212,
            format!("The 'From' number {from} is not a valid phone number."),
        ));
    }
    let Some(url) = first(form, "Url") else {
        let other = first(form, "Twiml").or(first(form, "ApplicationSid"));
        return Err(bad(
            21205,
            match other {
                Some(_) => {
                    "The local carrier supports 'Url' only, not 'Twiml' or 'ApplicationSid'.".into()
                }
                None => "Url parameter is required.".into(),
            },
        ));
    };
    let method = |name: &str| {
        first(form, name)
            .map(str::to_ascii_uppercase)
            .unwrap_or_else(|| "POST".into())
    };
    let mut events: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "StatusCallbackEvent")
        // The docs also show space-separated lists; accept both.
        .flat_map(|(_, v)| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect();
    if let Some(e) = events
        .iter()
        .find(|e| !["initiated", "ringing", "answered", "completed"].contains(&e.as_str()))
    {
        return Err(bad(21626, format!("Invalid StatusCallbackEvent: {e}")));
    }
    if events.is_empty() {
        events.push("completed".into());
    }
    let machine_detection = first(form, "MachineDetection").map(str::to_string);
    if let Some(md) = &machine_detection {
        if md != "Enable" && md != "DetectMessageEnd" {
            return Err(bad(21219, format!("Invalid MachineDetection value: {md}")));
        }
    }
    let timeout = match first(form, "Timeout") {
        Some(t) => t
            .parse::<u64>()
            .ok()
            .filter(|t| (1..=600).contains(t))
            .ok_or_else(|| bad(21216, format!("Timeout must be 1-600 seconds, got {t}")))?,
        None => 60,
    };
    Ok(CreateRequest {
        to: to.to_string(),
        from: from.to_string(),
        url: url.to_string(),
        method: method("Method"),
        status_callback: first(form, "StatusCallback").map(str::to_string),
        status_callback_method: method("StatusCallbackMethod"),
        events,
        // SendDigits disables AMD (spec 1.4).
        machine_detection: machine_detection.filter(|_| first(form, "SendDigits").is_none()),
        async_amd: first(form, "AsyncAmd").is_some_and(|v| v.eq_ignore_ascii_case("true")),
        async_amd_status_callback: first(form, "AsyncAmdStatusCallback").map(str::to_string),
        async_amd_status_callback_method: method("AsyncAmdStatusCallbackMethod"),
        timeout,
    })
}

/// `POST /Accounts/{AC}/Calls.json`: 201 with a queued call; the call runs on its own task.
async fn create(
    State(carrier): State<Arc<Carrier>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let path = format!("/{API_VERSION}/Accounts/{account}/Calls.json");
    let params: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap_or_default();
    let created = (|| {
        authorize(&carrier, &account, &headers)?;
        let req = parse_create(&form(&body)?)?;
        let sid = new_sid("CA");
        let now = chrono::Utc::now();
        let (hangup, hangup_rx) = watch::channel(false);
        let entry = CallEntry {
            req,
            status: "queued",
            answered_by: None,
            created: now,
            updated: now,
            start_time: None,
            end_time: None,
            duration: None,
            hangup,
            outcome: None,
        };
        let json = resource(&carrier.cfg.account_sid, &sid, &entry);
        carrier.calls().insert(sid.clone(), entry);
        tokio::spawn(drive(carrier.clone(), sid.clone(), hangup_rx));
        Ok::<_, ApiError>((sid, json))
    })();
    match created {
        Ok((sid, json)) => {
            carrier.record(LogKind::Create, Some(&sid), &path, params, Ok(201));
            (StatusCode::CREATED, axum::Json(json)).into_response()
        }
        Err(e) => {
            let status = e.status.as_u16();
            carrier.record(LogKind::Create, None, &path, params, Ok(status));
            e.into_response()
        }
    }
}

fn call_sid_of(file: &str) -> Result<&str, ApiError> {
    file.strip_suffix(".json")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                20404,
                format!("The requested resource {file} was not found"),
            )
        })
}

/// `POST /Accounts/{AC}/Calls/{CA}.json`: `Status=completed|canceled` ends the call.
async fn update(
    State(carrier): State<Arc<Carrier>>,
    Path((account, file)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let path = format!("/{API_VERSION}/Accounts/{account}/Calls/{file}");
    let params: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap_or_default();
    let result = (|| {
        authorize(&carrier, &account, &headers)?;
        let sid = call_sid_of(&file)?;
        let form = form(&body)?;
        let mut calls = carrier.calls();
        let entry = calls.get_mut(sid).ok_or_else(|| not_found(&path))?;
        if first(&form, "Url").is_some() || first(&form, "Twiml").is_some() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                21220,
                "The local carrier cannot redirect a live call (Url/Twiml); only Status updates are supported.",
            ));
        }
        match first(&form, "Status") {
            Some(status @ ("completed" | "canceled")) => {
                let live = matches!(
                    entry.status,
                    "queued" | "initiated" | "ringing" | "in-progress"
                );
                if !live {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        21220,
                        "Call is not in-progress. Cannot redirect.",
                    ));
                }
                // `canceled` has no effect once the call is answered (spec 6.3).
                if status == "completed" || entry.status != "in-progress" {
                    entry.hangup.send_replace(true);
                }
            }
            Some(other) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    21218,
                    format!("Invalid Status: {other}"),
                ))
            }
            None => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    21218,
                    "Nothing to update: give Status, Url or Twiml",
                ))
            }
        }
        Ok::<_, ApiError>((
            sid.to_string(),
            resource(&carrier.cfg.account_sid, sid, entry),
        ))
    })();
    match result {
        Ok((sid, json)) => {
            carrier.record(LogKind::Update, Some(&sid), &path, params, Ok(200));
            axum::Json(json).into_response()
        }
        Err(e) => {
            let sid = file.strip_suffix(".json").map(str::to_string);
            carrier.record(
                LogKind::Update,
                sid.as_deref(),
                &path,
                params,
                Ok(e.status.as_u16()),
            );
            e.into_response()
        }
    }
}

/// `GET /Accounts/{AC}/Calls/{CA}.json`.
async fn fetch(
    State(carrier): State<Arc<Carrier>>,
    Path((account, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/{API_VERSION}/Accounts/{account}/Calls/{file}");
    let result = (|| {
        authorize(&carrier, &account, &headers)?;
        let sid = call_sid_of(&file)?;
        let calls = carrier.calls();
        let entry = calls.get(sid).ok_or_else(|| not_found(&path))?;
        Ok::<_, ApiError>(resource(&carrier.cfg.account_sid, sid, entry))
    })();
    match result {
        Ok(json) => axum::Json(json).into_response(),
        Err(e) => e.into_response(),
    }
}

fn not_found(path: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        20404,
        format!("The requested resource {path} was not found"),
    )
}

/// `(415) 555-0100` for NANP numbers, the number itself otherwise.
fn formatted(number: &str) -> String {
    match number.strip_prefix("+1") {
        Some(d) if d.len() == 10 && d.bytes().all(|b| b.is_ascii_digit()) => {
            format!("({}) {}-{}", &d[..3], &d[3..6], &d[6..])
        }
        _ => number.to_string(),
    }
}

/// The call resource JSON (spec 6.2's response shape).
fn resource(account: &str, sid: &str, e: &CallEntry) -> Value {
    let uri = format!("/{API_VERSION}/Accounts/{account}/Calls/{sid}");
    json!({
        "sid": sid,
        "account_sid": account,
        "parent_call_sid": null,
        "to": e.req.to,
        "to_formatted": formatted(&e.req.to),
        "from": e.req.from,
        "from_formatted": formatted(&e.req.from),
        "phone_number_sid": null,
        "status": e.status,
        "start_time": e.start_time.map(rfc2822),
        "end_time": e.end_time.map(rfc2822),
        "duration": e.duration.map(|d| d.to_string()),
        "price": null,
        "price_unit": "USD",
        "direction": "outbound-api",
        "answered_by": e.answered_by,
        "api_version": API_VERSION,
        "forwarded_from": null,
        "group_sid": null,
        "caller_name": null,
        "queue_time": "0",
        "trunk_sid": null,
        "date_created": rfc2822(e.created),
        "date_updated": rfc2822(e.updated),
        "uri": format!("{uri}.json"),
        "subresource_uris": {
            "recordings": format!("{uri}/Recordings.json"),
            "streams": format!("{uri}/Streams.json"),
            "events": format!("{uri}/Events.json"),
        },
    })
}
