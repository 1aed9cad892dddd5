-- Applicants, requests and their executor assignments, and the notices the workflow raises.
CREATE TABLE applicants (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT NOT NULL DEFAULT '',
    address          TEXT NOT NULL DEFAULT '',
    -- 1 = the applicant asked not to be called for surveys.
    no_survey        BIGINT NOT NULL DEFAULT 0,
    last_surveyed_at BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

-- Phone numbers in E.164; one applicant may have several.
CREATE TABLE applicant_phones (
    e164         TEXT PRIMARY KEY,
    applicant_id BIGINT NOT NULL REFERENCES applicants (id) ON DELETE CASCADE
);
CREATE INDEX applicant_phones_applicant ON applicant_phones (applicant_id);

-- Per-year counters for request numbers (2026-000123); gaps are tolerated.
CREATE TABLE request_numbers (
    year BIGINT PRIMARY KEY,
    last BIGINT NOT NULL
);

-- One row per request. `state_json` is the workflow state (the source of truth for transitions);
-- the other columns are kept in step with it for filters, reports and scans.
CREATE TABLE requests (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    number              TEXT NOT NULL UNIQUE,
    channel             TEXT NOT NULL CHECK (channel IN ('phone', 'web', 'open311', 'walk_in')),
    applicant_id        BIGINT REFERENCES applicants (id),
    address             TEXT NOT NULL DEFAULT '',
    description         TEXT NOT NULL,
    classifier_code     TEXT NOT NULL,
    classifier_revision BIGINT NOT NULL,
    classifier_title    TEXT NOT NULL,
    section             TEXT NOT NULL,
    area                TEXT NOT NULL DEFAULT '',
    request_type        TEXT NOT NULL CHECK (request_type IN ('emergency', 'ordinary', 'medium', 'long')),
    term                TEXT NOT NULL,
    call_id             TEXT,
    status              TEXT NOT NULL,
    version             BIGINT NOT NULL,
    registered_at       BIGINT NOT NULL,
    deadline            BIGINT NOT NULL,
    original_deadline   BIGINT,
    additional_control  BIGINT NOT NULL DEFAULT 0,
    long_term_until     TEXT,
    rework_count        BIGINT NOT NULL DEFAULT 0,
    extension_count     BIGINT NOT NULL DEFAULT 0,
    closed_at           BIGINT,
    created_by          BIGINT NOT NULL REFERENCES users (id),
    idempotency_key     TEXT,
    state_json          TEXT NOT NULL,
    updated_at          BIGINT NOT NULL,
    UNIQUE (created_by, idempotency_key)
);
CREATE INDEX requests_status_deadline ON requests (status, deadline);
CREATE INDEX requests_applicant ON requests (applicant_id);
CREATE INDEX requests_registered ON requests (registered_at);
CREATE INDEX requests_call ON requests (call_id);

-- Current assignment status per (request, executor unit).
CREATE TABLE request_executors (
    request_id    BIGINT NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    executor_code TEXT NOT NULL REFERENCES executors (code),
    status        TEXT NOT NULL,
    PRIMARY KEY (request_id, executor_code)
);
CREATE INDEX request_executors_unit ON request_executors (executor_code, request_id);

-- Notices raised by transitions: to an executor unit (online feed, email) or to the operators'
-- queue (proposals to review, visible from `visible_from`, due by `review_due`).
CREATE TABLE notices (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id   BIGINT NOT NULL REFERENCES requests (id),
    audience     TEXT NOT NULL CHECK (audience IN ('executor', 'operators')),
    unit         TEXT,
    kind         TEXT NOT NULL,
    visible_from BIGINT NOT NULL,
    review_due   BIGINT,
    created_at   BIGINT NOT NULL,
    resolved_at  BIGINT
);
CREATE INDEX notices_queue ON notices (audience, resolved_at, visible_from);
CREATE INDEX notices_request ON notices (request_id);
