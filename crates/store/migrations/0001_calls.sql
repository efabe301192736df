-- Timestamps: every *_at column is unix epoch milliseconds (INTEGER, UTC), except
-- call_status_events.event_timestamp, which keeps Twilio's own RFC 2822 text verbatim.

CREATE TABLE calls (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    call_sid    TEXT    NOT NULL UNIQUE,
    account_sid TEXT,
    stream_sid  TEXT,
    direction   TEXT,
    from_number TEXT,
    to_number   TEXT,
    status      TEXT,
    -- Rank of `status` in the caller-defined lifecycle order. Out-of-order status callbacks
    -- only move a call forward: an update applies only when its rank is higher than this.
    status_rank INTEGER,
    agent       TEXT,
    created_at  INTEGER NOT NULL,
    answered_at INTEGER,
    ended_at    INTEGER
);

CREATE INDEX calls_created_at ON calls (created_at DESC);

CREATE TABLE call_status_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    call_sid        TEXT    NOT NULL REFERENCES calls (call_sid) ON DELETE CASCADE,
    status          TEXT    NOT NULL,
    sequence_number INTEGER,
    event_timestamp TEXT,
    received_at     INTEGER NOT NULL
);

-- Twilio retries callbacks, so the same (call, status, sequence) may arrive twice.
-- A plain UNIQUE constraint treats NULLs as distinct, which would let duplicates without a
-- SequenceNumber through; indexing COALESCE(...) makes "no sequence number" one value.
CREATE UNIQUE INDEX call_status_events_dedup
    ON call_status_events (call_sid, status, COALESCE(sequence_number, -1));

CREATE TABLE turns (
    id                                INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id                           INTEGER NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    idx                               INTEGER NOT NULL,
    speaker                           TEXT    NOT NULL CHECK (speaker IN ('caller', 'agent')),
    text                              TEXT    NOT NULL,
    interrupted                       INTEGER NOT NULL DEFAULT 0,
    at_ms                             INTEGER NOT NULL,
    end_of_speech_to_transcript_ms    INTEGER,
    transcript_to_reply_ms            INTEGER,
    reply_to_first_audio_ms           INTEGER,
    end_of_speech_to_first_audio_ms   INTEGER,
    intent                            TEXT,
    UNIQUE (call_id, idx)
);

CREATE TABLE call_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id INTEGER NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    at      INTEGER NOT NULL,
    kind    TEXT    NOT NULL,
    data    TEXT    NOT NULL
);

CREATE INDEX call_events_call ON call_events (call_id, at);
