-- Dashboard and API access: users (argon2 password hashes), their sessions (only a SHA-256 of
-- the cookie is stored), API keys (only a SHA-256 of the secret), and the audit log of every
-- write made through the dashboard or the API.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    -- admin | supervisor | viewer
    role          TEXT    NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash  TEXT    PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    csrf_token  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL,
    -- The first characters of the key, shown in lists so people can tell keys apart.
    prefix       TEXT    NOT NULL UNIQUE,
    key_hash     TEXT    NOT NULL,
    role         TEXT    NOT NULL,
    created_by   TEXT,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    -- "user:<email>", "key:<name>", "cli", "system"
    actor   TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    target  TEXT,
    detail  TEXT    NOT NULL DEFAULT '{}',
    -- Where the request came from (client address), when known.
    source  TEXT
);

CREATE INDEX audit_log_at ON audit_log (at DESC);
