-- Times are TEXT in UTC, fixed width (2006-01-02T15:04:05.000000Z), so that
-- text comparison is time comparison. JSON fields are TEXT; empty ones hold
-- {} or [], never null. STRICT makes SQLite refuse a value of the wrong type.

CREATE TABLE surveys (
    key             TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('nps', 'csat', 'ces')),
    product_name    TEXT NOT NULL DEFAULT '',
    texts           TEXT NOT NULL DEFAULT '{}',
    channels        TEXT NOT NULL DEFAULT '[]',
    templates       TEXT NOT NULL DEFAULT '{}',
    reply_window_ms INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
) STRICT;

CREATE TABLE contacts (
    external_id  TEXT PRIMARY KEY,
    name         TEXT NOT NULL DEFAULT '',
    email        TEXT NOT NULL DEFAULT '',
    phone        TEXT NOT NULL DEFAULT '',
    locale       TEXT NOT NULL DEFAULT '',
    time_zone    TEXT NOT NULL DEFAULT '',
    account      TEXT NOT NULL DEFAULT '',
    role         TEXT NOT NULL DEFAULT '',
    tags         TEXT NOT NULL DEFAULT '[]',
    attributes   TEXT NOT NULL DEFAULT '{}',
    opted_out_at TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
) STRICT;

-- address_lower is the key so that Foo@Example.com and foo@example.com are
-- one suppression; address keeps what was given.
CREATE TABLE suppressions (
    channel       TEXT NOT NULL,
    address_lower TEXT NOT NULL,
    address       TEXT NOT NULL,
    reason        TEXT NOT NULL,
    contact_id    TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    PRIMARY KEY (channel, address_lower)
) STRICT;

-- contact_id is deliberately not a foreign key: a delivery records who was
-- asked even if the contact is later erased.
CREATE TABLE deliveries (
    id                  TEXT PRIMARY KEY,
    survey_key          TEXT NOT NULL REFERENCES surveys (key),
    contact_id          TEXT NOT NULL,
    channel             TEXT NOT NULL,
    address             TEXT NOT NULL DEFAULT '',
    locale              TEXT NOT NULL DEFAULT '',
    token               TEXT NOT NULL UNIQUE,
    status              TEXT NOT NULL CHECK (status IN
        ('queued', 'sending', 'sent', 'delivered', 'responded', 'suppressed', 'deferred', 'failed')),
    reason              TEXT NOT NULL DEFAULT '',
    provider_message_id TEXT NOT NULL DEFAULT '',
    -- NULL when the caller gave none; NULLs never collide in a unique index.
    idempotency_key     TEXT UNIQUE,
    request_hash        TEXT NOT NULL DEFAULT '',
    source              TEXT NOT NULL DEFAULT '',
    metadata            TEXT NOT NULL DEFAULT '{}',
    send_at             TEXT NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    expires_at          TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    sent_at             TEXT,
    delivered_at        TEXT,
    responded_at        TEXT
) STRICT;
CREATE INDEX deliveries_survey_created_idx ON deliveries (survey_key, created_at);
CREATE INDEX deliveries_status_send_at_idx ON deliveries (status, send_at);

CREATE TABLE delivery_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    status      TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    at          TEXT NOT NULL
) STRICT;
CREATE INDEX delivery_events_delivery_idx ON delivery_events (delivery_id, at, id);

-- survey_key and contact_id are copied from the delivery so that analytics
-- read one table.
CREATE TABLE responses (
    id          TEXT PRIMARY KEY,
    delivery_id TEXT NOT NULL UNIQUE REFERENCES deliveries (id) ON DELETE CASCADE,
    survey_key  TEXT NOT NULL,
    contact_id  TEXT NOT NULL,
    channel     TEXT NOT NULL DEFAULT '',
    locale      TEXT NOT NULL DEFAULT '',
    score       INTEGER NOT NULL CHECK (score BETWEEN 0 AND 10),
    category    TEXT NOT NULL CHECK (category IN ('promoter', 'passive', 'detractor')),
    comment     TEXT NOT NULL DEFAULT '',
    may_contact INTEGER CHECK (may_contact IN (0, 1)),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;
CREATE INDEX responses_survey_created_idx ON responses (survey_key, created_at, id);
CREATE INDEX responses_created_idx ON responses (created_at, id);

-- delivery_id is not a foreign key: the outbox is a record of what was
-- rendered, kept even for deliveries made by tests or since removed.
CREATE TABLE outbox_messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT NOT NULL DEFAULT '',
    channel     TEXT NOT NULL,
    to_address  TEXT NOT NULL DEFAULT '',
    subject     TEXT NOT NULL DEFAULT '',
    body_text   TEXT NOT NULL DEFAULT '',
    body_html   TEXT NOT NULL DEFAULT '',
    reply_url   TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL
) STRICT;
CREATE INDEX outbox_messages_delivery_idx ON outbox_messages (delivery_id);
