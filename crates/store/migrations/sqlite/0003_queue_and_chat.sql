-- frontdesk schema, version 3: the waiting queue, services with agents, chat.

-- Most text chats an agent holds at once (a voice call always takes the whole agent).
ALTER TABLE accounts ADD COLUMN chat_capacity INTEGER NOT NULL DEFAULT 1;

-- Customers waiting for an agent. A row exists exactly while they wait; its
-- fields are the ordering key (docs/queue.md), so a restart rebuilds the same order.
CREATE TABLE queue_entries (
    consultation_id  TEXT    PRIMARY KEY REFERENCES consultations(id),
    tier             TEXT    NOT NULL,
    need             TEXT    NOT NULL CHECK (need IN ('chat', 'voice')),
    arrived_at       INTEGER NOT NULL,
    head             INTEGER NOT NULL DEFAULT 0   -- 1: put back at the head
);

-- A customer served by an agent: from assignment to the end of the service.
CREATE TABLE services (
    id               TEXT    PRIMARY KEY,       -- UUIDv7
    consultation_id  TEXT    NOT NULL REFERENCES consultations(id),
    agent_id         INTEGER NOT NULL REFERENCES accounts(id),
    need             TEXT    NOT NULL,
    tier             TEXT    NOT NULL,
    queued_at        INTEGER NOT NULL,
    started_at       INTEGER NOT NULL,
    ended_at         INTEGER,
    end_reason       TEXT
);
CREATE UNIQUE INDEX services_open_per_consultation ON services (consultation_id) WHERE ended_at IS NULL;
CREATE INDEX services_by_agent ON services (agent_id, started_at);

-- Chat messages, numbered per consultation; stored before they are acknowledged.
CREATE TABLE chat_messages (
    consultation_id  TEXT    NOT NULL REFERENCES consultations(id),
    seq              INTEGER NOT NULL,
    service_id       TEXT    NOT NULL REFERENCES services(id),
    sender           TEXT    NOT NULL CHECK (sender IN ('customer', 'agent')),
    client_id        TEXT    NOT NULL,
    text             TEXT    NOT NULL,
    at               INTEGER NOT NULL,
    PRIMARY KEY (consultation_id, seq),
    UNIQUE (consultation_id, sender, client_id)
);

-- Agents taking customers, and since when they wait at the back of the idle
-- queue: a restart restores the queue in this order.
CREATE TABLE agent_presence (
    agent_id     INTEGER PRIMARY KEY REFERENCES accounts(id),
    ready_since  INTEGER NOT NULL
);
