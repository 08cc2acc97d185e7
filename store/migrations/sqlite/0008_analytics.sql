-- Analytics: when a delivery's reply page was first opened, the "opened"
-- step of the funnel (sent → delivered → opened → answered).
ALTER TABLE deliveries ADD COLUMN opened_at TEXT;
-- Comments, worst first, of one survey.
CREATE INDEX responses_survey_score_idx ON responses (survey_key, score, created_at);
