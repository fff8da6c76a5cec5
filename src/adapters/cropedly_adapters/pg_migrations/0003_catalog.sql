-- Reference images of Enterprise accounts; seq orders the listing and its cursors.
CREATE TABLE catalog_images (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text NOT NULL UNIQUE,
    owner_id text NOT NULL,
    blob_key text NOT NULL,
    mime_type text NOT NULL,
    size bigint NOT NULL,
    width integer NOT NULL,
    height integer NOT NULL,
    original_name text NOT NULL,
    etag text NOT NULL,
    created_at timestamptz NOT NULL,
    colour jsonb NOT NULL
);
CREATE INDEX catalog_owner_order ON catalog_images (owner_id, seq DESC);
