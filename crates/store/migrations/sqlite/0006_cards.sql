-- frontdesk schema, version 6: after the service (seed 004): the agent's link sent by
-- SMS, agents' profiles, ratings, and customers waiting for one agent.

-- Server-wide values made once and kept (the link secret).
CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  BLOB NOT NULL
);

-- What an agent shows customers on their page, beside their display name.
CREATE TABLE agent_profiles (
    agent_id       INTEGER PRIMARY KEY REFERENCES accounts(id),
    slogan         TEXT    NOT NULL DEFAULT '',
    contact_phone  TEXT,                       -- E.164
    photo          BLOB,
    photo_type     TEXT,                       -- image/png, image/jpeg, ...
    photo_at       INTEGER,
    updated_at     INTEGER NOT NULL
);

-- Every link made: the code and the one (agent, phone) pair it stands for.
CREATE TABLE agent_links (
    code        TEXT    PRIMARY KEY,
    agent_id    INTEGER NOT NULL REFERENCES accounts(id),
    phone       TEXT    NOT NULL,              -- E.164
    created_at  INTEGER NOT NULL,
    UNIQUE (agent_id, phone)
);

-- Every SMS: the issuance log and the delivery queue. `trigger` names what caused
-- it (`service:<id>`): one message per trigger, however often it fires.
CREATE TABLE sms_messages (
    id               INTEGER PRIMARY KEY,
    trigger          TEXT    NOT NULL UNIQUE,
    phone            TEXT    NOT NULL,
    agent_id         INTEGER REFERENCES accounts(id),
    consultation_id  TEXT,
    service_id       TEXT,
    code             TEXT,
    body             TEXT    NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    gateway          TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER,
    last_error       TEXT,
    provider_id      TEXT,
    provider_status  TEXT,
    created_at       INTEGER NOT NULL,
    sent_at          INTEGER
);
CREATE INDEX sms_by_phone ON sms_messages (phone, created_at);
CREATE INDEX sms_due ON sms_messages (next_attempt_at) WHERE status = 'pending';

-- One rating per service, by the customer it served.
CREATE TABLE ratings (
    service_id  TEXT    PRIMARY KEY REFERENCES services(id),
    agent_id    INTEGER NOT NULL REFERENCES accounts(id),
    phone       TEXT    NOT NULL,
    stars       INTEGER NOT NULL CHECK (stars BETWEEN 1 AND 5),
    comment     TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);
CREATE INDEX ratings_by_agent ON ratings (agent_id, created_at);

-- A customer who came back through an agent's link waits for that agent until then.
ALTER TABLE queue_entries ADD COLUMN prefer_agent INTEGER;
ALTER TABLE queue_entries ADD COLUMN prefer_until INTEGER;
