-- Users and sessions, executor units, the classifier as imported by decision, the audit trail.
CREATE TABLE executors (
    code       TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT,
    active     BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    login         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('operator', 'executor', 'supervisor', 'admin')),
    extension     TEXT,
    active        BIGINT NOT NULL DEFAULT 1,
    created_at    BIGINT NOT NULL
);

CREATE TABLE user_executors (
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    executor_code TEXT NOT NULL REFERENCES executors (code),
    PRIMARY KEY (user_id, executor_code)
);

-- Opaque session tokens, stored as SHA-256 hashes.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Each imported classifier file, in order: the base (seq 0) then amendments. The in-memory
-- classifier with all revisions is rebuilt from these rows; revision id = seq.
CREATE TABLE classifier_sources (
    seq            BIGINT PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('base', 'amendment')),
    format         TEXT NOT NULL CHECK (format IN ('csv', 'toml')),
    decision_no    BIGINT NOT NULL,
    decision_date  TEXT NOT NULL,
    effective_date TEXT NOT NULL,
    file_name      TEXT NOT NULL,
    content        TEXT NOT NULL,
    sha256         TEXT NOT NULL,
    imported_at    BIGINT NOT NULL,
    UNIQUE (decision_no, decision_date)
);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          BIGINT NOT NULL,
    actor_id    BIGINT,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    entity      TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    before_json TEXT,
    after_json  TEXT,
    comment     TEXT
);
CREATE INDEX audit_entity ON audit_log (entity, entity_id);
