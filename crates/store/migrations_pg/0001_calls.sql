-- PostgreSQL twin of migrations/0001_calls.sql: same tables and columns. Integers are BIGINT
-- (Rust i64), flags are integers 0/1 like on SQLite, so one set of queries serves both.
-- Timestamps: every *_at column is unix epoch milliseconds (UTC), except
-- call_status_events.event_timestamp, which keeps Twilio's own RFC 2822 text verbatim.

CREATE TABLE calls (
    id          BIGSERIAL PRIMARY KEY,
    call_sid    TEXT    NOT NULL UNIQUE,
    account_sid TEXT,
    stream_sid  TEXT,
    direction   TEXT,
    from_number TEXT,
    to_number   TEXT,
    status      TEXT,
    -- Rank of `status` in the caller-defined lifecycle order (Rust i32).
    status_rank INTEGER,
    agent       TEXT,
    created_at  BIGINT  NOT NULL,
    answered_at BIGINT,
    ended_at    BIGINT
);

CREATE INDEX calls_created_at ON calls (created_at DESC);

CREATE TABLE call_status_events (
    id              BIGSERIAL PRIMARY KEY,
    call_sid        TEXT    NOT NULL REFERENCES calls (call_sid) ON DELETE CASCADE,
    status          TEXT    NOT NULL,
    sequence_number BIGINT,
    event_timestamp TEXT,
    received_at     BIGINT  NOT NULL
);

-- Retried callbacks: "no sequence number" must be one value for deduplication.
CREATE UNIQUE INDEX call_status_events_dedup
    ON call_status_events (call_sid, status, COALESCE(sequence_number, -1));

CREATE TABLE turns (
    id                                BIGSERIAL PRIMARY KEY,
    call_id                           BIGINT  NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    idx                               BIGINT  NOT NULL,
    speaker                           TEXT    NOT NULL CHECK (speaker IN ('caller', 'agent')),
    text                              TEXT    NOT NULL,
    interrupted                       BIGINT  NOT NULL DEFAULT 0,
    at_ms                             BIGINT  NOT NULL,
    end_of_speech_to_transcript_ms    BIGINT,
    transcript_to_reply_ms            BIGINT,
    reply_to_first_audio_ms           BIGINT,
    end_of_speech_to_first_audio_ms   BIGINT,
    intent                            TEXT,
    UNIQUE (call_id, idx)
);

CREATE TABLE call_events (
    id      BIGSERIAL PRIMARY KEY,
    call_id BIGINT  NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    at      BIGINT  NOT NULL,
    kind    TEXT    NOT NULL,
    data    TEXT    NOT NULL
);

CREATE INDEX call_events_call ON call_events (call_id, at);
