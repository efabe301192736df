//! Who may use the dashboard and the API: users, sessions, API keys, and the audit log.
//! Secrets never reach the database: passwords are argon2 hashes made by the caller, session
//! cookies and API keys are stored as SHA-256 digests (they are long random strings, so a
//! fast hash is enough to make a stolen database useless for logging in).

use serde::Serialize;
use sqlx::Row;

use crate::error::StoreError;
use crate::store::{now_ms, Store};

/// A dashboard user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserRecord {
    pub id: i64,
    pub email: String,
    #[serde(skip)]
    pub password_hash: String,
    pub role: String,
    pub disabled: bool,
    pub created_at: i64,
}

/// A session joined with its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub user: UserRecord,
    pub csrf_token: String,
    pub expires_at: i64,
}

/// An API key (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyRecord {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    #[serde(skip)]
    pub key_hash: String,
    pub role: String,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// One audited write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: serde_json::Value,
    pub source: Option<String>,
}

fn user_from_row(r: &sqlx::any::AnyRow) -> Result<UserRecord, sqlx::Error> {
    Ok(UserRecord {
        id: r.try_get("id")?,
        email: r.try_get("email")?,
        password_hash: r.try_get("password_hash")?,
        role: r.try_get("role")?,
        disabled: r.try_get::<i64, _>("disabled")? != 0,
        created_at: r.try_get("created_at")?,
    })
}

fn key_from_row(r: &sqlx::any::AnyRow) -> Result<ApiKeyRecord, sqlx::Error> {
    Ok(ApiKeyRecord {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        prefix: r.try_get("prefix")?,
        key_hash: r.try_get("key_hash")?,
        role: r.try_get("role")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

impl Store {
    /// Creates a user; fails if the email is taken.
    pub async fn add_user(
        &self,
        email: &str,
        password_hash: &str,
        role: &str,
    ) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "INSERT INTO users (email, password_hash, role, created_at) VALUES ($1, $2, $3, $4)
             RETURNING id",
        )
        .bind(email)
        .bind(password_hash)
        .bind(role)
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::query("add_user"))
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM users WHERE email = $1")
            .bind(email)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("user_by_email"))?;
        row.as_ref()
            .map(user_from_row)
            .transpose()
            .map_err(StoreError::query("user row"))
    }

    pub async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM users ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("list_users"))?;
        rows.iter()
            .map(user_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("user row"))
    }

    pub async fn count_users(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::query("count_users"))
    }

    /// Starts a session for `user_id` (the cookie's SHA-256 is the key).
    pub async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        csrf_token: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(csrf_token)
        .bind(now_ms())
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("create_session"))?;
        Ok(())
    }

    /// The live session with this cookie digest, with its (enabled) user.
    pub async fn session(&self, token_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT u.*, s.csrf_token, s.expires_at AS session_expires FROM sessions s
             JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled = 0",
        )
        .bind(token_hash)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::query("session"))?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(SessionRecord {
            user: user_from_row(&r).map_err(StoreError::query("session row"))?,
            csrf_token: r
                .try_get("csrf_token")
                .map_err(StoreError::query("session row"))?,
            expires_at: r
                .try_get("session_expires")
                .map_err(StoreError::query("session row"))?,
        }))
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("delete_session"))?;
        Ok(())
    }

    /// Stores a new API key (its digest) and returns its id.
    pub async fn add_api_key(
        &self,
        name: &str,
        prefix: &str,
        key_hash: &str,
        role: &str,
        created_by: Option<&str>,
    ) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "INSERT INTO api_keys (name, prefix, key_hash, role, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(name)
        .bind(prefix)
        .bind(key_hash)
        .bind(role)
        .bind(created_by)
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::query("add_api_key"))
    }

    /// The unrevoked key with this prefix (the caller compares the digest).
    pub async fn api_key_by_prefix(
        &self,
        prefix: &str,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM api_keys WHERE prefix = $1 AND revoked_at IS NULL")
            .bind(prefix)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("api_key_by_prefix"))?;
        row.as_ref()
            .map(key_from_row)
            .transpose()
            .map_err(StoreError::query("api key row"))
    }

    pub async fn touch_api_key(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("touch_api_key"))?;
        Ok(())
    }

    pub async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM api_keys ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("list_api_keys"))?;
        rows.iter()
            .map(key_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::query("api key row"))
    }

    pub async fn revoke_api_key(&self, id: i64) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now_ms())
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(StoreError::query("revoke_api_key"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Appends to the audit log.
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: Option<&str>,
        detail: &serde_json::Value,
        source: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, target, detail, source)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(now_ms())
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(detail.to_string())
        .bind(source)
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("audit"))?;
        Ok(())
    }

    /// The newest audit entries first.
    pub async fn audit_log(
        &self,
        limit: i64,
        before_id: Option<i64>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query("SELECT * FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT $2")
            .bind(before_id.unwrap_or(i64::MAX))
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("audit_log"))?;
        rows.iter()
            .map(|r| {
                let detail: String = r.try_get("detail")?;
                Ok(AuditEntry {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                    source: r.try_get("source")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::query("audit row"))
    }
}
