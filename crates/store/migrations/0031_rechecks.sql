-- When a directory (LDAP) user's groups were last read: at sign-in, then again at most every
-- `ldap.recheck.minutes` while they use a session or an API token; their sessions and tokens
-- end once no mapped group remains. Bookkeeping outside the audit chain, like a session's end.
ALTER TABLE user_identities ADD COLUMN checked_at TEXT;
