-- frontdesk schema, version 1. Times are Unix milliseconds (UTC); portable to PostgreSQL.

CREATE TABLE customers (
    id          INTEGER PRIMARY KEY,
    phone       TEXT    NOT NULL UNIQUE,   -- E.164
    name        TEXT,
    created_at  INTEGER NOT NULL
);

-- Agents and admins: people who log in. Passwords are argon2id PHC strings.
CREATE TABLE accounts (
    id             INTEGER PRIMARY KEY,
    username       TEXT    NOT NULL UNIQUE,
    display_name   TEXT    NOT NULL,
    role           TEXT    NOT NULL CHECK (role IN ('admin', 'agent')),
    password_hash  TEXT    NOT NULL,
    created_at     INTEGER NOT NULL
);

-- API bearer tokens; only their SHA-256 is kept.
CREATE TABLE api_sessions (
    token_hash  BLOB    PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);

-- Every imported menu, immutable. The highest version is current.
CREATE TABLE menu_versions (
    version     INTEGER PRIMARY KEY,
    source      TEXT    NOT NULL,          -- canonical TOML
    sha256      TEXT    NOT NULL,
    items       INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE consultations (
    id            TEXT    PRIMARY KEY,     -- UUIDv7
    customer_id   INTEGER NOT NULL REFERENCES customers(id),
    menu_version  INTEGER NOT NULL REFERENCES menu_versions(version),
    resume_hash   BLOB    NOT NULL UNIQUE, -- SHA-256 of the resume token
    screen        TEXT    NOT NULL,        -- submenu on screen
    last_req      INTEGER NOT NULL DEFAULT 0,
    started_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    ended_at      INTEGER,
    end_reason    TEXT CHECK (end_reason IN ('customer', 'abandoned'))
);
CREATE INDEX consultations_open ON consultations (last_seen_at) WHERE ended_at IS NULL;
CREATE INDEX consultations_by_customer ON consultations (customer_id, started_at);

-- The service record: each item a customer chose, in order (seed step 8, claim 2).
CREATE TABLE service_items (
    consultation_id  TEXT    NOT NULL REFERENCES consultations(id),
    seq              INTEGER NOT NULL,
    item_id          TEXT    NOT NULL,
    kind             TEXT    NOT NULL,
    title            TEXT    NOT NULL,
    served           TEXT    NOT NULL,
    menu_version     INTEGER NOT NULL,
    at               INTEGER NOT NULL,
    PRIMARY KEY (consultation_id, seq)
);
