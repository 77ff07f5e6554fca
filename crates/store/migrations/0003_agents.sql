-- Agents enrol as targets: a target with a credential is an enrolled agent.
ALTER TABLE targets ADD COLUMN credential_hash TEXT;
ALTER TABLE targets ADD COLUMN last_seen_at TEXT;
ALTER TABLE targets ADD COLUMN revoked_at TEXT;
CREATE UNIQUE INDEX targets_credential ON targets (credential_hash);
CREATE TABLE enrollment_tokens (
  id TEXT PRIMARY KEY,
  secret_hash TEXT NOT NULL UNIQUE,
  environment TEXT REFERENCES environments(name),
  roles TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  used_at TEXT,
  used_by TEXT
);
