-- Contacts (the CRM record a call is personalised with), the do-not-call list, and each call's
-- outcome as recorded by the brain at the end of the call.

CREATE TABLE contacts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    -- E.164; one contact per number.
    phone       TEXT    NOT NULL UNIQUE,
    first_name  TEXT,
    last_name   TEXT,
    company     TEXT,
    email       TEXT,
    -- Lead status as imported (Hot / Warm / Cold).
    status      TEXT,
    -- IANA time zone, e.g. "America/New_York".
    timezone    TEXT,
    -- Every other CRM column, as a JSON object of strings.
    fields      TEXT    NOT NULL DEFAULT '{}',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE do_not_call (
    phone       TEXT    PRIMARY KEY,
    reason      TEXT,
    -- Where the entry came from: "import", "call" (the caller asked), "api".
    source      TEXT    NOT NULL,
    call_sid    TEXT,
    created_at  INTEGER NOT NULL
);

ALTER TABLE calls ADD COLUMN contact_id INTEGER REFERENCES contacts (id);
ALTER TABLE calls ADD COLUMN outcome TEXT;
-- JSON: {"summary": ..., "follow_ups": [...], ...} as recorded by the brain.
ALTER TABLE calls ADD COLUMN outcome_detail TEXT;
