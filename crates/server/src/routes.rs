//! Every route of the server in one table, each with who may call it. The router is built from
//! this table and tests walk it, so a route cannot be added without saying how it is protected.

use axum::http::Method;
use axum::routing::{get, post, MethodRouter};
use axum::Router;

use crate::{
    auth_pages, gather, media_stream, outbound_api, relay, twilio_webhooks, web_talk, AppState,
};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: health check, login page, static assets of the login page.
    Public,
    /// Twilio: every request must carry a valid `X-Twilio-Signature` (403 otherwise).
    Twilio,
    /// A signed-in user or an API key (any role; handlers may ask for more).
    User,
}

/// One route: method, path (axum syntax, `{id}` for parameters), access, handler.
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub(crate) handler: MethodRouter<AppState>,
}

pub(crate) fn route(
    method: Method,
    path: &'static str,
    access: Access,
    handler: MethodRouter<AppState>,
) -> RouteSpec {
    RouteSpec {
        method,
        path,
        access,
        handler,
    }
}

/// The whole table.
pub fn table() -> Vec<RouteSpec> {
    use Access::*;
    let mut t = vec![
        route(Method::GET, "/health", Public, get(crate::health)),
        route(
            Method::GET,
            "/favicon.ico",
            Public,
            get(|| async { axum::http::StatusCode::NO_CONTENT }),
        ),
        route(Method::GET, "/login", Public, get(auth_pages::login_page)),
        route(Method::POST, "/login", Public, post(auth_pages::login)),
        route(Method::POST, "/logout", User, post(auth_pages::logout)),
        route(Method::GET, "/", User, get(auth_pages::home)),
        route(Method::GET, "/api/v1/me", User, get(auth_pages::me)),
        // Twilio webhooks and sockets (signature-checked).
        route(
            Method::POST,
            "/twilio/voice",
            Twilio,
            post(twilio_webhooks::voice),
        ),
        route(
            Method::POST,
            "/twilio/status",
            Twilio,
            post(twilio_webhooks::status),
        ),
        route(
            Method::POST,
            "/twilio/stream-ended",
            Twilio,
            post(twilio_webhooks::stream_ended),
        ),
        route(
            Method::GET,
            "/twilio/media",
            Twilio,
            get(media_stream::upgrade),
        ),
        route(Method::POST, "/twilio/relay", Twilio, post(relay::answer)),
        route(Method::GET, "/twilio/relay/ws", Twilio, get(relay::upgrade)),
        route(Method::POST, "/twilio/gather", Twilio, post(gather::answer)),
        route(
            Method::POST,
            "/twilio/gather/action",
            Twilio,
            post(gather::action),
        ),
        // Talk in the browser.
        route(Method::GET, "/web/talk", User, get(web_talk::page)),
        route(Method::GET, "/web/talk.js", User, get(web_talk::script)),
        route(
            Method::GET,
            "/web/talk-worklet.js",
            User,
            get(web_talk::worklet),
        ),
        route(Method::GET, "/web/talk/ws", User, get(web_talk::upgrade)),
    ];
    t.extend(outbound_api::routes());
    t.extend(crate::dashboard::routes());
    t.extend(crate::api_v1::routes());
    t.extend(crate::openapi::routes());
    t.extend(crate::recording::routes());
    t
}

/// (method, path, access) of every route, for tests and documentation.
pub fn list() -> Vec<(Method, &'static str, Access)> {
    table()
        .into_iter()
        .map(|r| (r.method, r.path, r.access))
        .collect()
}

/// The router of `table()`. Routes sharing a path are merged into one method router.
pub(crate) fn build(state: AppState) -> Router {
    let mut by_path: Vec<(&'static str, MethodRouter<AppState>)> = Vec::new();
    for r in table() {
        match by_path.iter_mut().find(|(p, _)| *p == r.path) {
            Some((_, existing)) => {
                let merged = std::mem::take(existing).merge(r.handler);
                *existing = merged;
            }
            None => by_path.push((r.path, r.handler)),
        }
    }
    by_path
        .into_iter()
        .fold(Router::new(), |router, (path, handler)| {
            router.route(path, handler)
        })
        .with_state(state)
}
