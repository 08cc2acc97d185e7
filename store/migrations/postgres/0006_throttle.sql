-- The send gate: a survey's own fatigue windows, a trigger's override, and
-- the manual suppression list's listing order.
ALTER TABLE surveys ADD COLUMN fatigue JSONB NOT NULL DEFAULT '{}';
ALTER TABLE deliveries ADD COLUMN throttle_days INTEGER;
CREATE INDEX suppressions_created_idx ON suppressions (created_at);
