-- Call records written from the PBX link's call events (idempotent upserts: a replayed or
-- duplicated event never makes a second record). Times are UTC microseconds.
CREATE TABLE calls (
    call_id           TEXT PRIMARY KEY,
    direction         TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    -- E.164 when the caller id is a valid number, else as received (e.g. 'anonymous').
    caller_number     TEXT NOT NULL,
    caller_number_raw TEXT NOT NULL,
    caller_name       TEXT NOT NULL,
    dialed_number     TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    ringing_at        BIGINT NOT NULL,
    answered_at       BIGINT,
    answered_by       TEXT,
    -- Set once every operator leg has ended.
    ended_at          BIGINT,
    outcome           TEXT,
    -- 1 when the end was inferred after a PBX reconnect (best guess outcome and time).
    reconciled        BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX calls_caller_number ON calls (caller_number, ringing_at);
CREATE INDEX calls_ringing_at ON calls (ringing_at);

-- One row per operator phone that rang for a call (several for a ring-all queue).
CREATE TABLE call_legs (
    call_id            TEXT NOT NULL,
    operator_extension TEXT NOT NULL,
    rang_at            BIGINT NOT NULL,
    ended_at           BIGINT,
    outcome            TEXT,
    duration_s         BIGINT,
    reconciled         BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (call_id, operator_extension)
);
CREATE INDEX call_legs_extension ON call_legs (operator_extension, rang_at);
