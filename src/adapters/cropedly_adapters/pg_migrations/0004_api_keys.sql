-- API keys of servers, found by the SHA-256 of the secret.
CREATE TABLE api_keys (
    id text PRIMARY KEY,
    owner_id text NOT NULL,
    name text NOT NULL,
    prefix text NOT NULL,
    key_hash text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    last_used_at timestamptz
);
CREATE INDEX api_keys_owner ON api_keys (owner_id, created_at);
