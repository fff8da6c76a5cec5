-- Accounts. E-mails arrive normalised (NFKC, lower-cased) from the core; the unique
-- index on lower(email) is defence in depth, like SQLite's COLLATE NOCASE.
CREATE TABLE users (
    id text PRIMARY KEY,
    email text NOT NULL,
    name text NOT NULL,
    plan text NOT NULL,
    password_hash text,
    created_at timestamptz NOT NULL,
    token_version bigint NOT NULL DEFAULT 0,
    roles jsonb NOT NULL DEFAULT '["ROLE_USER"]'
);
CREATE UNIQUE INDEX users_email ON users (lower(email));
CREATE INDEX users_created ON users (created_at, id);

-- The browser origins an account registered: a row each, so finding the accounts
-- of an origin (every CORS preflight and embedded call) is an index lookup.
CREATE TABLE user_domains (
    user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    origin text NOT NULL,
    PRIMARY KEY (user_id, origin)
);
CREATE INDEX user_domains_origin ON user_domains (origin);
