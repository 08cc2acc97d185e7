-- Drip runs: deliveries of a run are counted per day they are due.
CREATE INDEX deliveries_run_idx ON deliveries (run_id, send_at);
