-- More answers, no spam: reminders (deliveries that point at the survey
-- message they remind of, sharing its reply link), short links for SMS,
-- daily or weekly digests per survey, and drip-spread campaign runs.
ALTER TABLE deliveries ADD COLUMN reminder_of TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN reminder_n INTEGER NOT NULL DEFAULT 0;
CREATE INDEX deliveries_reminder_idx ON deliveries (reminder_of);
ALTER TABLE responses ADD COLUMN via INTEGER NOT NULL DEFAULT 0;
ALTER TABLE surveys ADD COLUMN reminders JSONB NOT NULL DEFAULT '[]';
ALTER TABLE surveys ADD COLUMN digest JSONB NOT NULL DEFAULT '{}';
ALTER TABLE surveys ADD COLUMN digest_next_at TIMESTAMPTZ;
ALTER TABLE surveys ADD COLUMN digest_last_at TIMESTAMPTZ;
ALTER TABLE campaigns ADD COLUMN drip JSONB NOT NULL DEFAULT '{}';

CREATE TABLE short_links (
    code       TEXT PRIMARY KEY,
    token      TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);
