-- Contact imports (POST /v1/contacts/import): one row per CSV file with its
-- running counts, and the first errors it met, at most 1000 per import
-- (errors_truncated says more were dropped; failed counts them all).
CREATE TABLE imports (
    id               TEXT PRIMARY KEY,
    status           TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
    filename         TEXT NOT NULL DEFAULT '',
    rows_read        BIGINT NOT NULL DEFAULT 0,
    imported         BIGINT NOT NULL DEFAULT 0,
    unchanged        BIGINT NOT NULL DEFAULT 0,
    failed           BIGINT NOT NULL DEFAULT 0,
    errors_kept      INTEGER NOT NULL DEFAULT 0,
    errors_truncated BOOLEAN NOT NULL DEFAULT FALSE,
    message          TEXT NOT NULL DEFAULT '',
    started_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    finished_at      TIMESTAMPTZ
);

-- seq is the error's position within its import, so errors read back in
-- the order they were met.
CREATE TABLE import_errors (
    import_id TEXT NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    row_num   BIGINT NOT NULL,
    field     TEXT NOT NULL DEFAULT '',
    reason    TEXT NOT NULL,
    PRIMARY KEY (import_id, seq)
);
