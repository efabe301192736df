-- PostgreSQL twin of migrations/0002_contacts_outcomes.sql.

CREATE TABLE contacts (
    id          BIGSERIAL PRIMARY KEY,
    -- E.164; one contact per number.
    phone       TEXT    NOT NULL UNIQUE,
    first_name  TEXT,
    last_name   TEXT,
    company     TEXT,
    email       TEXT,
    status      TEXT,
    timezone    TEXT,
    -- Every other CRM column, as a JSON object of strings (TEXT, as on SQLite).
    fields      TEXT    NOT NULL DEFAULT '{}',
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);

CREATE TABLE do_not_call (
    phone       TEXT    PRIMARY KEY,
    reason      TEXT,
    source      TEXT    NOT NULL,
    call_sid    TEXT,
    created_at  BIGINT  NOT NULL
);

ALTER TABLE calls ADD COLUMN contact_id BIGINT REFERENCES contacts (id);
ALTER TABLE calls ADD COLUMN outcome TEXT;
ALTER TABLE calls ADD COLUMN outcome_detail TEXT;
