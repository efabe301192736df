//! `/api/v1` for the outbound side: import contacts, create and control campaigns, read their
//! progress and report, place or schedule one call. The same operations as the `contacts`,
//! `campaign` and `call` commands.
//!
//! Access needs `Authorization: Bearer <CALLPILOT_API_TOKEN>`; without a configured token the
//! API is closed (401). Errors are `{"error": {"code", "message"}}`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use store::CampaignState;
use subtle::ConstantTimeEq;

use crate::AppState;

/// An API error: HTTP status, stable code, human message.
pub(crate) struct ApiError(StatusCode, &'static str, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.0,
            Json(json!({"error": {"code": self.1, "message": self.2}})),
        )
            .into_response()
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "api request failed");
    ApiError(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the request could not be completed; see the server log".into(),
    )
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, "invalid_request", message.into())
}

fn not_found(what: impl Into<String>) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "not_found", what.into())
}

type ApiResult = Result<Response, ApiError>;

/// The outbound routes (mounted under `/api/v1`).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/contacts/import", post(import_contacts))
        .route("/campaigns", get(list_campaigns).post(create_campaign))
        .route("/campaigns/{id}", get(get_campaign))
        .route("/campaigns/{id}/start", post(start_campaign))
        .route("/campaigns/{id}/resume", post(start_campaign))
        .route("/campaigns/{id}/pause", post(pause_campaign))
        .route("/campaigns/{id}/report", get(campaign_report))
        .route("/calls", post(place_call))
}

/// Checks the bearer token (constant-time).
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = state.api_token.as_deref() else {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "api_disabled",
            "the API is closed: set CALLPILOT_API_TOKEN on the server".into(),
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if given.as_bytes().ct_eq(expected.as_bytes()).into() {
        Ok(())
    } else {
        Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token".into(),
        ))
    }
}

#[derive(Deserialize)]
struct ImportQuery {
    #[serde(default)]
    dry_run: bool,
    region: Option<String>,
}

/// `POST /api/v1/contacts/import` with the CSV as the body: the import report.
async fn import_contacts(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ImportQuery>,
    body: Bytes,
) -> ApiResult {
    authorize(&state, &headers)?;
    let opts = dialer::ImportOptions {
        default_region: q.region.unwrap_or_else(|| "US".into()),
        ..Default::default()
    };
    match dialer::import_contacts(&state.store, &body, &opts, q.dry_run).await {
        Ok(report) => {
            let mut v = serde_json::to_value(&report).map_err(internal)?;
            v["contact_ids"] = json!(report.contact_ids());
            Ok(Json(v).into_response())
        }
        Err(dialer::ImportError::Store(e)) => Err(internal(e)),
        Err(e) => Err(bad_request(e.to_string())),
    }
}

#[derive(Deserialize)]
struct NewCampaign {
    name: String,
    agent: Option<String>,
    #[serde(default)]
    contact_ids: Vec<i64>,
    #[serde(default)]
    settings: serde_json::Value,
}

/// `POST /api/v1/campaigns`: a draft campaign of the given contacts.
async fn create_campaign(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    authorize(&state, &headers)?;
    let c: NewCampaign = serde_json::from_slice(&body).map_err(|e| bad_request(e.to_string()))?;
    if c.name.trim().is_empty() {
        return Err(bad_request("name must not be empty"));
    }
    let settings =
        dialer::CampaignSettings::from_json(&c.settings).map_err(|e| bad_request(e.to_string()))?;
    let id = state
        .store
        .create_campaign(&c.name, c.agent.as_deref(), &settings.to_json())
        .await
        .map_err(internal)?;
    let added = state
        .store
        .add_campaign_contacts(id, &c.contact_ids)
        .await
        .map_err(internal)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "contacts": added, "state": "draft"})),
    )
        .into_response())
}

async fn campaign_json(state: &AppState, id: i64) -> Result<serde_json::Value, ApiError> {
    let c = state
        .store
        .campaign(id)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found(format!("no campaign {id}")))?;
    let p = state.store.campaign_progress(id).await.map_err(internal)?;
    Ok(json!({
        "id": c.id, "name": c.name, "agent": c.agent,
        "state": format!("{:?}", c.state).to_lowercase(),
        "settings": c.settings,
        "progress": {
            "total": p.total, "pending": p.pending, "dialing": p.dialing + p.leased,
            "done": p.done, "skipped": p.skipped, "failed": p.failed, "results": p.results,
        },
    }))
}

async fn list_campaigns(State(state): State<AppState>, headers: HeaderMap) -> ApiResult {
    authorize(&state, &headers)?;
    let mut out = Vec::new();
    for c in state.store.list_campaigns().await.map_err(internal)? {
        out.push(campaign_json(&state, c.id).await?);
    }
    Ok(Json(json!({ "data": out })).into_response())
}

async fn get_campaign(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> ApiResult {
    authorize(&state, &headers)?;
    Ok(Json(campaign_json(&state, id).await?).into_response())
}

async fn set_state(state: &AppState, id: i64, to: CampaignState) -> ApiResult {
    let current = state
        .store
        .campaign(id)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found(format!("no campaign {id}")))?;
    if current.state == CampaignState::Done {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "campaign_done",
            format!("campaign {id} is done"),
        ));
    }
    state
        .store
        .set_campaign_state(id, to)
        .await
        .map_err(internal)?;
    Ok(Json(campaign_json(state, id).await?).into_response())
}

async fn start_campaign(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> ApiResult {
    authorize(&state, &headers)?;
    set_state(&state, id, CampaignState::Running).await
}

async fn pause_campaign(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> ApiResult {
    authorize(&state, &headers)?;
    set_state(&state, id, CampaignState::Paused).await
}

async fn campaign_report(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> ApiResult {
    authorize(&state, &headers)?;
    let summary = campaign_json(&state, id).await?;
    let rows = state.store.campaign_report(id).await.map_err(internal)?;
    let rows: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "contact_id": r.contact_id, "name": r.name, "phone": r.phone, "tier": r.tier,
                "state": r.state, "attempts": r.attempts, "last_result": r.last_result,
                "outcome": r.outcome,
            })
        })
        .collect();
    Ok(Json(json!({"campaign": summary, "contacts": rows})).into_response())
}

#[derive(Deserialize)]
struct NewCall {
    to: String,
    agent: Option<String>,
    /// RFC 3339; now when absent.
    at: Option<chrono::DateTime<chrono::Utc>>,
    region: Option<String>,
}

/// `POST /api/v1/calls`: one call now or at `at`.
async fn place_call(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> ApiResult {
    authorize(&state, &headers)?;
    let c: NewCall = serde_json::from_slice(&body).map_err(|e| bad_request(e.to_string()))?;
    let region = c.region.as_deref().unwrap_or("US");
    match dialer::schedule_call(&state.store, &c.to, region, c.agent.as_deref(), c.at).await {
        Ok(id) => Ok((
            StatusCode::ACCEPTED,
            Json(json!({"campaign_id": id, "to": c.to, "at": c.at})),
        )
            .into_response()),
        Err(dialer::SingleCallError::Store(e)) => Err(internal(e)),
        Err(e @ dialer::SingleCallError::DoNotCall(_)) => Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            "do_not_call",
            e.to_string(),
        )),
        Err(e) => Err(bad_request(e.to_string())),
    }
}
