-- OpenID Connect users re-checked at their provider while they hold sessions and API tokens:
-- the refresh token the provider gave at sign-in, sealed with the master key (never readable
-- from the database alone), and since when the provider has not answered their re-check (the
-- grace before their access ends). Bookkeeping outside the audit chain; every outcome of a
-- re-check is audited once by the server.
ALTER TABLE user_identities ADD COLUMN refresh_token TEXT;
ALTER TABLE user_identities ADD COLUMN unreachable_since TEXT;
