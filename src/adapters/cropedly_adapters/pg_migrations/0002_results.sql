-- Enhancement results; the purge walks them by expiry.
CREATE TABLE results (
    id text PRIMARY KEY,
    owner_id text NOT NULL,
    blob_key text NOT NULL,
    mime_type text NOT NULL,
    size bigint NOT NULL,
    width integer NOT NULL,
    height integer NOT NULL,
    original_name text NOT NULL,
    etag text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX results_expires_at ON results (expires_at);
