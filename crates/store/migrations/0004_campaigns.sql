-- Outbound campaigns: which contacts a campaign dials, in which order, and every dial attempt.
-- The lease columns make dialing exactly-once across several workers and restarts: a contact is
-- dialed only by the worker whose lease turned it from 'pending' into 'leased', and an attempt
-- that reached the carrier (call_sid set) is never dialed again.

CREATE TABLE campaigns (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    -- Agent (brain definition) that talks on the campaign's calls.
    agent       TEXT,
    state       TEXT    NOT NULL DEFAULT 'draft'
                CHECK (state IN ('draft', 'running', 'paused', 'done')),
    -- Dialer settings (windows, pacing, retries) as JSON; the dialer owns their shape.
    settings    TEXT    NOT NULL DEFAULT '{}',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE campaign_contacts (
    campaign_id      INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    contact_id       INTEGER NOT NULL REFERENCES contacts (id),
    -- Dialing priority from the lead status: Hot = 0, Warm = 1, Cold (or none) = 2.
    tier             INTEGER NOT NULL,
    state            TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'leased', 'dialing', 'done', 'skipped', 'failed')),
    -- Attempts that were (or are being) dialed; leases given back undialed do not count.
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL DEFAULT 0,
    last_result      TEXT,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    -- The attempt holding the lease (leased/dialing), else NULL.
    attempt_id       INTEGER,
    updated_at       INTEGER NOT NULL,
    UNIQUE (campaign_id, contact_id)
);

CREATE INDEX campaign_contacts_due ON campaign_contacts (campaign_id, state, tier, next_attempt_at);

CREATE TABLE call_attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    contact_id  INTEGER NOT NULL REFERENCES contacts (id),
    attempt_no  INTEGER NOT NULL,
    -- NULL until the carrier accepted the call; from then on the attempt is never re-dialed.
    call_sid    TEXT    UNIQUE,
    -- 'abandoned': leased but given back without dialing (lease expired before a call_sid,
    -- or outside the contact's calling window).
    state       TEXT    NOT NULL
                CHECK (state IN ('leased', 'dialing', 'done', 'abandoned')),
    result      TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- The database itself refuses a second live attempt for one contact, and two live attempts with
-- the same number: the last line of defence against dialing anyone twice.
CREATE UNIQUE INDEX call_attempts_one_active
    ON call_attempts (campaign_id, contact_id) WHERE state IN ('leased', 'dialing');
CREATE UNIQUE INDEX call_attempts_number
    ON call_attempts (campaign_id, contact_id, attempt_no) WHERE state <> 'abandoned';

ALTER TABLE calls ADD COLUMN campaign_id INTEGER REFERENCES campaigns (id);
ALTER TABLE calls ADD COLUMN attempt_id INTEGER REFERENCES call_attempts (id);
