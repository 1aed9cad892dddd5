-- Calls whose operator phone never rang (it answered 486 Busy Here, was unavailable or
-- congested, or the caller hung up before the 180) are recorded too: `calls.ringing_at` stays
-- NULL until some phone of the call rings, `call_legs.rang_at` is NULL for a phone that never
-- rang (its `ended_at` and `outcome` say when and why). `calls.ended_at` and `outcome` are now set
-- when the whole call is over (the caller's leg is gone too), not when the last leg ended.
--
-- SQLite cannot drop a NOT NULL constraint: both tables are rebuilt with their rows and indexes
-- (no foreign key refers to them).
CREATE TABLE calls_new (
    call_id           TEXT PRIMARY KEY,
    direction         TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    -- E.164 when the caller id is a valid number, else as received (e.g. 'anonymous').
    caller_number     TEXT NOT NULL,
    caller_number_raw TEXT NOT NULL,
    caller_name       TEXT NOT NULL,
    dialed_number     TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    -- NULL while no phone of the call has rung (and for good when none ever did).
    ringing_at        BIGINT,
    answered_at       BIGINT,
    answered_by       TEXT,
    -- Set once the call is over: the caller's leg and every operator leg are gone.
    ended_at          BIGINT,
    outcome           TEXT,
    -- 1 when the end was inferred after a PBX reconnect (best guess outcome and time).
    reconciled        BIGINT NOT NULL DEFAULT 0
);
INSERT INTO calls_new (call_id, direction, caller_number, caller_number_raw, caller_name,
    dialed_number, created_at, ringing_at, answered_at, answered_by, ended_at, outcome, reconciled)
SELECT call_id, direction, caller_number, caller_number_raw, caller_name,
    dialed_number, created_at, ringing_at, answered_at, answered_by, ended_at, outcome, reconciled
FROM calls;
DROP TABLE calls;
ALTER TABLE calls_new RENAME TO calls;
CREATE INDEX calls_caller_number ON calls (caller_number, ringing_at);
CREATE INDEX calls_ringing_at ON calls (ringing_at);

-- One row per operator phone dialled for a call (several for a ring-all queue).
CREATE TABLE call_legs_new (
    call_id            TEXT NOT NULL,
    operator_extension TEXT NOT NULL,
    -- NULL when the phone never rang (busy, unavailable, …).
    rang_at            BIGINT,
    ended_at           BIGINT,
    outcome            TEXT,
    duration_s         BIGINT,
    reconciled         BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (call_id, operator_extension)
);
INSERT INTO call_legs_new (call_id, operator_extension, rang_at, ended_at, outcome, duration_s,
    reconciled)
SELECT call_id, operator_extension, rang_at, ended_at, outcome, duration_s, reconciled
FROM call_legs;
DROP TABLE call_legs;
ALTER TABLE call_legs_new RENAME TO call_legs;
CREATE INDEX call_legs_extension ON call_legs (operator_extension, rang_at);
