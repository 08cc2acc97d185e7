-- What a run's fan-out left out of its audience, by reason (opted_out,
-- no_address, account_cap), written in the same transaction as the page
-- that counted it, so that GET /v1/campaigns/{id} accounts for everyone.
CREATE TABLE campaign_run_skips (
    run_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (run_id, reason)
) STRICT;

-- A campaign used to be completed as soon as its last run was fanned out,
-- with deliveries still waiting for their send window; it is running
-- until they have gone (and can be paused or cancelled meanwhile).
UPDATE campaigns SET status = 'running'
WHERE status = 'completed'
  AND EXISTS (SELECT 1 FROM deliveries d
              WHERE d.campaign_id = campaigns.id AND d.status IN ('queued', 'deferred', 'sending')
                AND d.reminder_of = '');
