-- Closing the loop: alert rules and the alerts they raised, and webhook
-- subscriptions with every event sent to them and every attempt.
ALTER TABLE surveys ADD COLUMN alert_targets TEXT NOT NULL DEFAULT '[]';

CREATE TABLE alert_rules (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL DEFAULT '',
    survey_key      TEXT NOT NULL DEFAULT '',
    categories      TEXT NOT NULL DEFAULT '[]',
    score_min       INTEGER NOT NULL DEFAULT -1,
    score_max       INTEGER NOT NULL DEFAULT -1,
    attributes      TEXT NOT NULL DEFAULT '{}',
    comment         TEXT NOT NULL DEFAULT '',
    priority        TEXT NOT NULL DEFAULT 'P2',
    targets         TEXT NOT NULL DEFAULT '[]',
    enabled         INTEGER NOT NULL DEFAULT 1,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
) STRICT;

-- One alert per response, rule and target: a later comment updates it
-- (sends a follow-up), never raises a second one.
CREATE TABLE alerts (
    id                  TEXT PRIMARY KEY,
    response_id         TEXT NOT NULL,
    rule_id             TEXT NOT NULL,
    target_channel      TEXT NOT NULL,
    target_address      TEXT NOT NULL,
    target_key          TEXT NOT NULL,
    priority            TEXT NOT NULL,
    status              TEXT NOT NULL,
    sends               INTEGER NOT NULL DEFAULT 0,
    sent_comment        TEXT NOT NULL DEFAULT '',
    provider_message_id TEXT NOT NULL DEFAULT '',
    reason              TEXT NOT NULL DEFAULT '',
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    UNIQUE (response_id, rule_id, target_key)
) STRICT;
CREATE INDEX alerts_target_status_idx ON alerts (target_key, status);

CREATE TABLE webhook_subscriptions (
    id          TEXT PRIMARY KEY,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    events      TEXT NOT NULL DEFAULT '[]',
    enabled     INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;

CREATE TABLE webhook_events (
    id                TEXT PRIMARY KEY,
    subscription_id   TEXT NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_id          TEXT NOT NULL,
    type              TEXT NOT NULL,
    payload           TEXT NOT NULL,
    status            TEXT NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    last_status       INTEGER NOT NULL DEFAULT 0,
    last_error        TEXT NOT NULL DEFAULT '',
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    UNIQUE (subscription_id, event_id)
) STRICT;
CREATE INDEX webhook_events_subscription_idx ON webhook_events (subscription_id, created_at);

CREATE TABLE webhook_attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    at          TEXT NOT NULL,
    status_code INTEGER NOT NULL DEFAULT 0,
    response    TEXT NOT NULL DEFAULT '',
    error       TEXT NOT NULL DEFAULT '',
    duration_ms INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX webhook_attempts_event_idx ON webhook_attempts (event_id, id);
