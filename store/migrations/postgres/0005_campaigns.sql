-- Relationship NPS: campaigns over an audience on a schedule, their runs,
-- and the link from each delivery to the campaign run that made it.
CREATE TABLE campaigns (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    survey_key    TEXT NOT NULL REFERENCES surveys (key),
    audience      TEXT NOT NULL DEFAULT '',
    per_account_role INTEGER NOT NULL DEFAULT 0,
    channels      JSONB NOT NULL DEFAULT '[]',
    schedule      JSONB NOT NULL DEFAULT '{}',
    send_window   JSONB NOT NULL DEFAULT '{}',
    sampling      INTEGER NOT NULL DEFAULT 1,
    status        TEXT NOT NULL,
    runs          INTEGER NOT NULL DEFAULT 0,
    next_run_at   TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX campaigns_due_idx ON campaigns (status, next_run_at);

CREATE TABLE campaign_runs (
    id            TEXT PRIMARY KEY,
    campaign_id   TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    number        INTEGER NOT NULL,
    scheduled_for TIMESTAMPTZ NOT NULL,
    status        TEXT NOT NULL,
    cursor        TEXT NOT NULL DEFAULT '',
    planned       INTEGER NOT NULL DEFAULT 0,
    started_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ,
    UNIQUE (campaign_id, number)
);

-- Per-run counts for "at most N contacts per account and role", written in
-- the same transaction as the page of deliveries they count.
CREATE TABLE campaign_run_caps (
    run_id  TEXT NOT NULL,
    account TEXT NOT NULL,
    role    TEXT NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (run_id, account, role)
);

ALTER TABLE deliveries ADD COLUMN campaign_id TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN run_id TEXT NOT NULL DEFAULT '';
CREATE INDEX deliveries_campaign_idx ON deliveries (campaign_id, status);
