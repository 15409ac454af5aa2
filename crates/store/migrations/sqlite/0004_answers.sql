-- frontdesk schema, version 4: the answer bot's library and its deflection numbers.

-- The answer library. An import replaces it whole (one transaction), so the bot
-- never sees half a library.
CREATE TABLE answers (
    id          TEXT    PRIMARY KEY,
    language    TEXT    NOT NULL,
    answer      TEXT    NOT NULL,
    phrasings   TEXT    NOT NULL,   -- JSON array of strings
    tags        TEXT    NOT NULL,   -- JSON array of strings
    updated_at  INTEGER NOT NULL
);

-- Per answer: how often it was given, accepted by the customer, and followed by a
-- hand-off to a human. Kept when the library changes, so a reworded answer can be
-- compared with its earlier self.
CREATE TABLE answer_stats (
    answer_id   TEXT    PRIMARY KEY,
    given       INTEGER NOT NULL DEFAULT 0,
    accepted    INTEGER NOT NULL DEFAULT 0,
    handed_off  INTEGER NOT NULL DEFAULT 0
);
