-- Digests and reminders, second pass.
-- digest_last is what the last digest with answers reported (period,
-- kind, score), so the next one shows the change since it and not since
-- a fixed earlier period.
ALTER TABLE surveys ADD COLUMN digest_last TEXT NOT NULL DEFAULT '{}';

-- The targets each period's digest reached: a retry after a failure sends
-- only to the others. Rows up to a finished period are deleted with it.
CREATE TABLE digest_sends (
    survey_key TEXT NOT NULL,
    period_end TEXT NOT NULL,
    target_key TEXT NOT NULL,
    sent_at    TEXT NOT NULL,
    PRIMARY KEY (survey_key, period_end, target_key)
) STRICT;

-- Digests count what went out in their period: a drip run's deliveries
-- are all created on its first day and sent over the following ones.
CREATE INDEX deliveries_survey_sent_idx ON deliveries (survey_key, sent_at);

-- An opt-out cancels the contact's reminders that have not gone out.
CREATE INDEX deliveries_pending_reminders_idx ON deliveries (contact_id)
    WHERE reminder_of <> '' AND status IN ('queued', 'deferred');
