-- PostgreSQL twin of migrations/0004_campaigns.sql (see there for the exactly-once rules).

CREATE TABLE campaigns (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT    NOT NULL,
    agent       TEXT,
    state       TEXT    NOT NULL DEFAULT 'draft'
                CHECK (state IN ('draft', 'running', 'paused', 'done')),
    settings    TEXT    NOT NULL DEFAULT '{}',
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);

CREATE TABLE campaign_contacts (
    campaign_id      BIGINT  NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    contact_id       BIGINT  NOT NULL REFERENCES contacts (id),
    tier             BIGINT  NOT NULL,
    state            TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'leased', 'dialing', 'done', 'skipped', 'failed')),
    attempts         BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT  NOT NULL DEFAULT 0,
    last_result      TEXT,
    lease_owner      TEXT,
    lease_expires_at BIGINT,
    attempt_id       BIGINT,
    updated_at       BIGINT  NOT NULL,
    UNIQUE (campaign_id, contact_id)
);

CREATE INDEX campaign_contacts_due ON campaign_contacts (campaign_id, state, tier, next_attempt_at);

CREATE TABLE call_attempts (
    id          BIGSERIAL PRIMARY KEY,
    campaign_id BIGINT  NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    contact_id  BIGINT  NOT NULL REFERENCES contacts (id),
    attempt_no  BIGINT  NOT NULL,
    call_sid    TEXT    UNIQUE,
    state       TEXT    NOT NULL
                CHECK (state IN ('leased', 'dialing', 'done', 'abandoned')),
    result      TEXT,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);

CREATE UNIQUE INDEX call_attempts_one_active
    ON call_attempts (campaign_id, contact_id) WHERE state IN ('leased', 'dialing');
CREATE UNIQUE INDEX call_attempts_number
    ON call_attempts (campaign_id, contact_id, attempt_no) WHERE state <> 'abandoned';

ALTER TABLE calls ADD COLUMN campaign_id BIGINT REFERENCES campaigns (id);
ALTER TABLE calls ADD COLUMN attempt_id BIGINT REFERENCES call_attempts (id);
