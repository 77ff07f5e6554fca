-- Single sign-on: which outside authority a user signs in through. A user with a row here was
-- created by (and is kept up to date from) an OpenID provider or an LDAP directory; the
-- provider's subject (`issuer|sub`, or the person's DN) is what ties them to that user, so a
-- name the provider hands out again can never take over a local account or another person's.
-- `fresh_auth_at` is when the person last signed in again at the provider to sign a record
-- (an electronic signature's fresh authentication); used once, within minutes.
CREATE TABLE user_identities (
    user_id TEXT PRIMARY KEY REFERENCES users(id),
    source TEXT NOT NULL,
    subject TEXT NOT NULL,
    created_at TEXT NOT NULL,
    fresh_auth_at TEXT,
    UNIQUE (source, subject)
);
