-- Escalation (9.2, 9.7): the scan's cursors, the violations found (each reported once per level
-- and period), and the history of what was sent to whom.

-- One row per job: where the last tick stopped, so that the next one reads only what is new.
CREATE TABLE escalation_state (
    job             TEXT PRIMARY KEY,
    last_tick       BIGINT NOT NULL,          -- UTC µs: deadlines up to here were scanned
    last_audit_id   BIGINT NOT NULL DEFAULT 0,
    last_notice_id  BIGINT NOT NULL DEFAULT 0,
    last_digest_day TEXT                       -- Kyiv date (YYYY-MM-DD) of the last digest run
);

-- A violation (kind) of one executor unit on one request, at an escalation level
-- ('executor': the unit's own notice; 'deputy': the deputy mayor's digest; 'head': the summary)
-- and period ('once' unless a reminder period applies). The UNIQUE key makes each reported once.
CREATE TABLE violations (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id    BIGINT NOT NULL REFERENCES requests (id),
    unit          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    level         TEXT NOT NULL CHECK (level IN ('executor', 'deputy', 'head')),
    period        TEXT NOT NULL,
    deputy        TEXT,
    detail        BIGINT,                      -- rework count, …
    detected_at   BIGINT NOT NULL,
    reported_at   BIGINT,
    UNIQUE (request_id, unit, kind, level, period)
);
CREATE INDEX violations_unreported ON violations (level, reported_at);
-- New rows of one tick are found by their `detected_at` (ticks have increasing times).
CREATE INDEX violations_detected ON violations (detected_at);

-- Every email the escalation job queued: to whom, what, for which day. The UNIQUE key makes a
-- digest go out once per recipient and day even with several daemons on one database.
CREATE TABLE escalation_sent (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    sent_at        BIGINT NOT NULL,
    kind           TEXT NOT NULL,              -- deputy_digest, head_summary, executor_digest, …
    recipient_role TEXT NOT NULL,              -- deputy, head, executor
    recipient_id   TEXT NOT NULL,              -- deputy id, 'head', unit code
    recipient      TEXT NOT NULL,              -- email address
    period         TEXT NOT NULL,              -- Kyiv date, or the request number for immediate mail
    items          BIGINT NOT NULL,
    requests       TEXT NOT NULL,              -- JSON list of request numbers
    outbox_id      BIGINT,
    UNIQUE (kind, recipient_id, period)
);
CREATE INDEX escalation_sent_at ON escalation_sent (sent_at);
