//! Who is asking: dashboard users (argon2 passwords, session cookies with a CSRF token) and API
//! keys (bearer, stored hashed, each with a role). Roles nest: viewer ⊂ supervisor ⊂ admin.
//!
//! Handlers take [`Auth`]; unauthenticated requests get 401 JSON on `/api/...` and a redirect to
//! the login page elsewhere. Unsafe methods through a session must carry the session's CSRF
//! token in `X-CSRF-Token` (API keys are not sent by browsers on their own, so they need none).

use std::fmt;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "cp_session";
/// How long a dashboard session lasts.
pub(crate) const SESSION_TTL_MS: i64 = 12 * 60 * 60 * 1000;
/// A hash of a random password, checked against when the email is unknown so a failed login
/// takes the same time either way.
pub(crate) fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password(&random_token()).unwrap_or_default())
}
/// API keys look like `cpk_<prefix>_<secret>`.
const KEY_TAG: &str = "cpk_";

/// What a principal may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Reads everything.
    Viewer,
    /// Also runs campaigns and places calls.
    Supervisor,
    /// Also manages users and API keys.
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "supervisor" => Some(Role::Supervisor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub(crate) struct Principal {
    /// For the audit log: `user:<email>` or `key:<name>`.
    pub(crate) actor: String,
    pub(crate) role: Role,
    /// The session's CSRF token (sessions only).
    pub(crate) csrf: Option<String>,
    /// The client's address, for the audit log.
    pub(crate) source: Option<String>,
}

/// Extractor: the request's principal.
pub(crate) struct Auth(pub(crate) Principal);

impl Auth {
    /// Refuses (403) callers below `role`.
    pub(crate) fn require(&self, role: Role) -> Result<(), AuthError> {
        if self.0.role >= role {
            Ok(())
        } else {
            Err(AuthError::Forbidden {
                needed: role,
                has: self.0.role,
            })
        }
    }
}

/// Why a request was refused.
#[derive(Debug)]
pub(crate) enum AuthError {
    /// No or bad credentials. `page` requests are sent to the login page.
    Unauthenticated { page: bool, next: String },
    /// Authenticated, but the role is too low.
    Forbidden { needed: Role, has: Role },
    /// A session write without the right CSRF token.
    Csrf,
    /// The store failed.
    Store(store::StoreError),
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            AuthError::Unauthenticated { page: true, next } => {
                let next = urlencode(&next);
                return Redirect::to(&format!("/login?next={next}")).into_response();
            }
            AuthError::Unauthenticated { page: false, .. } => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "sign in, or send an API key as `Authorization: Bearer cpk_…`".to_owned(),
            ),
            AuthError::Forbidden { needed, has } => (
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this needs the {needed} role; yours is {has}"),
            ),
            AuthError::Csrf => (
                StatusCode::FORBIDDEN,
                "csrf",
                "missing or wrong X-CSRF-Token for this session".to_owned(),
            ),
            AuthError::Store(e) => {
                tracing::error!(error = %e, "auth lookup failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "could not check credentials".to_owned(),
                )
            }
        };
        (
            status,
            Json(serde_json::json!({"error": {"code": code, "message": message}})),
        )
            .into_response()
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// SHA-256 hex of a secret (session cookies, API keys).
pub(crate) fn digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A new random token (256 bits, hex).
pub(crate) fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The argon2id hash of a password (PHC string).
pub fn hash_password(password: &str) -> Result<String, String> {
    // A random 16-byte salt is generated inside (the `getrandom` feature).
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h: PasswordHash| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` matches the stored hash.
pub(crate) fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A new API key: (the key to show once, its prefix, its digest).
pub fn new_api_key() -> (String, String, String) {
    let prefix: String = random_token()[..8].to_owned();
    let key = format!("{KEY_TAG}{prefix}_{}", random_token());
    let hash = digest(&key);
    (key, prefix, hash)
}

/// Creates an API key for `name` with `role`; returns the key (shown once).
pub async fn create_api_key(
    store: &store::Store,
    name: &str,
    role: Role,
    created_by: &str,
) -> Result<String, store::StoreError> {
    let (key, prefix, hash) = new_api_key();
    store
        .add_api_key(name, &prefix, &hash, role.as_str(), Some(created_by))
        .await?;
    Ok(key)
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn client_address(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_owned())
        .or_else(|| {
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip().to_string())
        })
}

async fn principal(parts: &Parts, state: &AppState) -> Result<Option<Principal>, AuthError> {
    let source = client_address(parts);
    if let Some(bearer) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        let bearer = bearer.trim();
        if let Some(rest) = bearer.strip_prefix(KEY_TAG) {
            let prefix = rest.split('_').next().unwrap_or_default();
            if let Some(k) = state
                .store
                .api_key_by_prefix(prefix)
                .await
                .map_err(AuthError::Store)?
            {
                if digest(bearer)
                    .as_bytes()
                    .ct_eq(k.key_hash.as_bytes())
                    .into()
                {
                    if let Err(e) = state.store.touch_api_key(k.id).await {
                        tracing::warn!(error = %e, "could not note the API key's use");
                    }
                    let role = Role::parse(&k.role).unwrap_or(Role::Viewer);
                    return Ok(Some(Principal {
                        actor: format!("key:{}", k.name),
                        role,
                        csrf: None,
                        source,
                    }));
                }
            }
        }
        // The bootstrap token from the environment (`CALLPILOT_API_TOKEN`): an admin key.
        if let Some(token) = state.api_token.as_deref() {
            if bearer.as_bytes().ct_eq(token.as_bytes()).into() {
                return Ok(Some(Principal {
                    actor: "key:CALLPILOT_API_TOKEN".into(),
                    role: Role::Admin,
                    csrf: None,
                    source,
                }));
            }
        }
        return Ok(None);
    }
    if let Some(token) = cookie(&parts.headers, SESSION_COOKIE) {
        if let Some(s) = state
            .store
            .session(&digest(token))
            .await
            .map_err(AuthError::Store)?
        {
            return Ok(Some(Principal {
                actor: format!("user:{}", s.user.email),
                role: Role::parse(&s.user.role).unwrap_or(Role::Viewer),
                csrf: Some(s.csrf_token),
                source,
            }));
        }
    }
    Ok(None)
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AuthError> {
        let Some(p) = principal(parts, state).await? else {
            let path = parts.uri.path();
            let page = !path.starts_with("/api/") && !path.ends_with("/ws");
            return Err(AuthError::Unauthenticated {
                page,
                next: parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_else(|| "/".into()),
            });
        };
        let unsafe_method = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if let (true, Some(expected)) = (unsafe_method, p.csrf.as_deref()) {
            let given = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
                return Err(AuthError::Csrf);
            }
        }
        Ok(Auth(p))
    }
}

/// Records a write in the audit log (who, what, when, from where). A failure to audit is
/// logged loudly but does not undo the write.
pub(crate) async fn audit(
    state: &AppState,
    who: &Principal,
    action: &str,
    target: Option<&str>,
    detail: serde_json::Value,
) {
    if let Err(e) = state
        .store
        .audit(&who.actor, action, target, &detail, who.source.as_deref())
        .await
    {
        tracing::error!(error = %e, action, "could not write the audit log");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_with_the_right_password() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn api_keys_carry_their_prefix_and_are_stored_as_digests() {
        let (key, prefix, hash) = new_api_key();
        assert!(key.starts_with(&format!("cpk_{prefix}_")));
        assert_eq!(hash, digest(&key));
        assert_ne!(hash, key);
    }

    #[test]
    fn roles_nest() {
        assert!(Role::Admin > Role::Supervisor && Role::Supervisor > Role::Viewer);
        assert_eq!(Role::parse("supervisor"), Some(Role::Supervisor));
        assert_eq!(Role::parse("root"), None);
    }
}
