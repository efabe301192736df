-- PostgreSQL twin of migrations/0006_accounts_audit.sql.
-- Dashboard and API access: users (argon2 password hashes), their sessions (only a SHA-256 of
-- the cookie is stored), API keys (only a SHA-256 of the secret), and the audit log of every
-- write made through the dashboard or the API.

CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    -- admin | supervisor | viewer
    role          TEXT    NOT NULL,
    disabled      BIGINT  NOT NULL DEFAULT 0,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE sessions (
    token_hash  TEXT    PRIMARY KEY,
    user_id     BIGINT  NOT NULL REFERENCES users (id),
    csrf_token  TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL
);

CREATE TABLE api_keys (
    id           BIGSERIAL PRIMARY KEY,
    name         TEXT    NOT NULL,
    -- The first characters of the key, shown in lists so people can tell keys apart.
    prefix       TEXT    NOT NULL UNIQUE,
    key_hash     TEXT    NOT NULL,
    role         TEXT    NOT NULL,
    created_by   TEXT,
    created_at   BIGINT  NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);

CREATE TABLE audit_log (
    id      BIGSERIAL PRIMARY KEY,
    at      BIGINT  NOT NULL,
    -- "user:<email>", "key:<name>", "cli", "system"
    actor   TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    target  TEXT,
    detail  TEXT    NOT NULL DEFAULT '{}',
    -- Where the request came from (client address), when known.
    source  TEXT
);

CREATE INDEX audit_log_at ON audit_log (at DESC);
