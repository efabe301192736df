//! The login page, signing in and out. Sessions live in HttpOnly, SameSite=Lax cookies (Secure
//! when the request came over https) and carry a CSRF token the pages send back with writes.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use crate::auth::{
    audit, cookie, digest, random_token, verify_password, Auth, Principal, SESSION_COOKIE,
    SESSION_TTL_MS,
};
use crate::AppState;

const LOGIN: &str = include_str!("web/login.html");

/// Where a signed-in user lands.
pub(crate) async fn home(_auth: Auth) -> Redirect {
    Redirect::to("/dashboard")
}

#[derive(Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

/// Only local paths: never redirect a signed-in user to another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

fn page(next: &str, error: Option<&str>) -> Html<String> {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{e}</p>"))
        .unwrap_or_default();
    Html(
        LOGIN
            .replace(
                "{{NEXT}}",
                &next.replace('"', "&quot;").replace('<', "&lt;"),
            )
            .replace("{{ERROR}}", &error),
    )
}

pub(crate) async fn login_page(Query(q): Query<NextQuery>) -> Html<String> {
    page(&safe_next(q.next.as_deref()), None)
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

fn is_https(state: &AppState, headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"))
        || state
            .config
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
}

pub(crate) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    let email = form.email.trim().to_lowercase();
    let user = match state.store.user_by_email(&email).await {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(error = %e, "login lookup failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let ok = match &user {
        Some(u) if !u.disabled => verify_password(&form.password, &u.password_hash),
        // Same work for unknown users, so timing does not reveal which emails exist.
        _ => {
            let _ = verify_password(&form.password, crate::auth::dummy_hash());
            false
        }
    };
    let source = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let who = Principal {
        actor: format!("user:{email}"),
        role: crate::auth::Role::Viewer,
        csrf: None,
        source,
    };
    let Some(user) = user.filter(|_| ok) else {
        audit(&state, &who, "login.failed", None, serde_json::json!({})).await;
        return (
            StatusCode::UNAUTHORIZED,
            page(&next, Some("Wrong email or password.")),
        )
            .into_response();
    };
    let token = random_token();
    let csrf = random_token();
    let expires = chrono::Utc::now().timestamp_millis() + SESSION_TTL_MS;
    if let Err(e) = state
        .store
        .create_session(&digest(&token), user.id, &csrf, expires)
        .await
    {
        tracing::error!(error = %e, "could not create a session");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    audit(&state, &who, "login", None, serde_json::json!({})).await;
    let secure = if is_https(&state, &headers) {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={}{secure}",
        SESSION_TTL_MS / 1000
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response()
}

pub(crate) async fn logout(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
) -> Response {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        if let Err(e) = state.store.delete_session(&digest(token)).await {
            tracing::warn!(error = %e, "could not delete the session");
        }
    }
    audit(&state, &auth.0, "logout", None, serde_json::json!({})).await;
    let cookie = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response()
}

/// `GET /api/v1/me`: who is signed in, with the CSRF token pages send back with writes.
pub(crate) async fn me(auth: Auth) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "actor": auth.0.actor,
        "role": auth.0.role.as_str(),
        "csrf_token": auth.0.csrf,
    }))
}
