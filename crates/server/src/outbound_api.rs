//! `/api/v1` for the outbound side: import contacts, create and control campaigns, read their
//! progress and report, place or schedule one call. The same operations as the `contacts`,
//! `campaign` and `call` commands.
//!
//! Access: a signed-in user or an API key; reading needs `viewer`, changing needs `supervisor`.
//! Every change lands in the audit log. Errors are `{"error": {"code", "message"}}`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use store::CampaignState;

use crate::auth::{audit, Auth, AuthError, Role};
use crate::routes::{route, Access, RouteSpec};
use crate::AppState;

/// An API error: HTTP status, stable code, human message.
pub(crate) struct ApiError(
    pub(crate) StatusCode,
    pub(crate) &'static str,
    pub(crate) String,
);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.0,
            Json(json!({"error": {"code": self.1, "message": self.2}})),
        )
            .into_response()
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Forbidden { needed, has } => ApiError(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this needs the {needed} role; yours is {has}"),
            ),
            AuthError::Csrf => ApiError(
                StatusCode::FORBIDDEN,
                "csrf",
                "missing or wrong X-CSRF-Token".into(),
            ),
            AuthError::Unauthenticated { .. } => ApiError(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "sign in or send an API key".into(),
            ),
            AuthError::Store(e) => internal(e),
        }
    }
}

pub(crate) fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "api request failed");
    ApiError(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the request could not be completed; see the server log".into(),
    )
}

pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, "invalid_request", message.into())
}

pub(crate) fn not_found(what: impl Into<String>) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "not_found", what.into())
}

type ApiResult = Result<Response, ApiError>;

/// The outbound routes.
pub(crate) fn routes() -> Vec<RouteSpec> {
    use Access::User;
    vec![
        route(
            Method::POST,
            "/api/v1/contacts/import",
            User,
            post(import_contacts),
        ),
        route(Method::GET, "/api/v1/campaigns", User, get(list_campaigns)),
        route(
            Method::POST,
            "/api/v1/campaigns",
            User,
            post(create_campaign),
        ),
        route(
            Method::GET,
            "/api/v1/campaigns/{id}",
            User,
            get(get_campaign),
        ),
        route(
            Method::POST,
            "/api/v1/campaigns/{id}/start",
            User,
            post(start_campaign),
        ),
        route(
            Method::POST,
            "/api/v1/campaigns/{id}/resume",
            User,
            post(start_campaign),
        ),
        route(
            Method::POST,
            "/api/v1/campaigns/{id}/pause",
            User,
            post(pause_campaign),
        ),
        route(
            Method::GET,
            "/api/v1/campaigns/{id}/report",
            User,
            get(campaign_report),
        ),
        route(Method::POST, "/api/v1/calls", User, post(place_call)),
    ]
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
    auth: Auth,
    Query(q): Query<ImportQuery>,
    body: Bytes,
) -> ApiResult {
    auth.require(Role::Supervisor)?;
    let opts = dialer::ImportOptions {
        default_region: q.region.unwrap_or_else(|| "US".into()),
        ..Default::default()
    };
    match dialer::import_contacts(&state.store, &body, &opts, q.dry_run).await {
        Ok(report) => {
            if !q.dry_run {
                audit(
                    &state,
                    &auth.0,
                    "contacts.import",
                    None,
                    json!({"imported": report.imported.len(), "duplicates": report.duplicates.len(), "rejected": report.rejected.len()}),
                )
                .await;
            }
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
async fn create_campaign(State(state): State<AppState>, auth: Auth, body: Bytes) -> ApiResult {
    auth.require(Role::Supervisor)?;
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
    audit(
        &state,
        &auth.0,
        "campaign.create",
        Some(&format!("campaign:{id}")),
        json!({"name": c.name, "agent": c.agent, "contacts": added}),
    )
    .await;
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

async fn list_campaigns(State(state): State<AppState>, auth: Auth) -> ApiResult {
    auth.require(Role::Viewer)?;
    let mut out = Vec::new();
    for c in state.store.list_campaigns().await.map_err(internal)? {
        out.push(campaign_json(&state, c.id).await?);
    }
    Ok(Json(json!({ "data": out })).into_response())
}

async fn get_campaign(State(state): State<AppState>, auth: Auth, Path(id): Path<i64>) -> ApiResult {
    auth.require(Role::Viewer)?;
    Ok(Json(campaign_json(&state, id).await?).into_response())
}

async fn set_state(state: &AppState, auth: &Auth, id: i64, to: CampaignState) -> ApiResult {
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
    audit(
        state,
        &auth.0,
        "campaign.state",
        Some(&format!("campaign:{id}")),
        json!({"state": format!("{to:?}").to_lowercase()}),
    )
    .await;
    Ok(Json(campaign_json(state, id).await?).into_response())
}

async fn start_campaign(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult {
    auth.require(Role::Supervisor)?;
    set_state(&state, &auth, id, CampaignState::Running).await
}

async fn pause_campaign(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult {
    auth.require(Role::Supervisor)?;
    set_state(&state, &auth, id, CampaignState::Paused).await
}

async fn campaign_report(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> ApiResult {
    auth.require(Role::Viewer)?;
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
async fn place_call(State(state): State<AppState>, auth: Auth, body: Bytes) -> ApiResult {
    auth.require(Role::Supervisor)?;
    let c: NewCall = serde_json::from_slice(&body).map_err(|e| bad_request(e.to_string()))?;
    let region = c.region.as_deref().unwrap_or("US");
    match dialer::schedule_call(&state.store, &c.to, region, c.agent.as_deref(), c.at).await {
        Ok(id) => {
            audit(
                &state,
                &auth.0,
                "call.create",
                Some(&format!("campaign:{id}")),
                json!({"to": c.to, "at": c.at, "agent": c.agent}),
            )
            .await;
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({"campaign_id": id, "to": c.to, "at": c.at})),
            )
                .into_response())
        }
        Err(dialer::SingleCallError::Store(e)) => Err(internal(e)),
        Err(e @ dialer::SingleCallError::DoNotCall(_)) => Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            "do_not_call",
            e.to_string(),
        )),
        Err(e) => Err(bad_request(e.to_string())),
    }
}
