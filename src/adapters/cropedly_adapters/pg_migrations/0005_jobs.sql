-- Async enhance jobs; the purge walks them by expiry like results.
CREATE TABLE jobs (
    id text PRIMARY KEY,
    owner_id text NOT NULL,
    status text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    result_ids jsonb NOT NULL,
    problem jsonb,
    callback_url text
);
CREATE INDEX jobs_expires_at ON jobs (expires_at);
