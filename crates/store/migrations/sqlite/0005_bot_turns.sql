-- frontdesk schema, version 5: the bot conversation, and the library's version.

-- Every question a customer asked the bot and what it answered, numbered per
-- consultation. The client's id makes a resend recognisable (stored once, counted
-- once). `answer_id` and `answer` are NULL when nothing matched; `answer` is the
-- text as the customer saw it (the library may change later).
CREATE TABLE bot_turns (
    consultation_id TEXT    NOT NULL REFERENCES consultations(id),
    seq             INTEGER NOT NULL,
    client_id       TEXT    NOT NULL,
    question        TEXT    NOT NULL,
    answer_id       TEXT,
    answer          TEXT,
    degree          REAL    NOT NULL,
    offered         INTEGER NOT NULL DEFAULT 0,  -- a human was offered after it
    declined        INTEGER NOT NULL DEFAULT 0,  -- and the customer declined
    helped          INTEGER NOT NULL DEFAULT 0,  -- the customer said it helped
    at              INTEGER NOT NULL,
    PRIMARY KEY (consultation_id, seq),
    UNIQUE (consultation_id, client_id)
);

-- One row: bumped by every replacement of the library, so a server notices a
-- library imported by another process.
CREATE TABLE answer_library (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    version     INTEGER NOT NULL,
    changed_at  INTEGER NOT NULL
);
