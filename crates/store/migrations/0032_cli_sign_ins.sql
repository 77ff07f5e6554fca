-- `slipway login --sso`: the CLI asks for a sign-in request, the person signs in at the OpenID
-- provider in a browser, and the CLI collects an API token bound to that person, once. The
-- request lives ten minutes; only the hash of the CLI's poll secret is kept, and the token is
-- created (and audited) at collection, never stored here.
CREATE TABLE cli_sign_ins (
    id TEXT PRIMARY KEY,
    user_code TEXT NOT NULL,
    poll_hash TEXT NOT NULL,
    host TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    user_id TEXT REFERENCES users(id),
    approved_at TEXT,
    collected_at TEXT
);
CREATE INDEX cli_sign_ins_expiry ON cli_sign_ins (expires_at);
