-- Electronic signatures (21 CFR Part 11): one per signed record, written in the transaction
-- that writes the record and its audit event. `record` is the record's canonical content as
-- signed, `record_hash` its SHA-256; `server_signature` is the evidence key's seal over the
-- signature's fields, so a copy onto another record, or any edit, fails verification offline.
-- A record signed again (a vote changed) replaces its signature; the audit chain keeps both.
CREATE TABLE signatures (
    record_kind TEXT NOT NULL,
    record_id TEXT NOT NULL,
    signer_id TEXT NOT NULL,
    signer TEXT NOT NULL,
    printed_name TEXT NOT NULL,
    meaning TEXT NOT NULL,
    signed_at TEXT NOT NULL,
    record TEXT NOT NULL,
    record_hash TEXT NOT NULL,
    server_key TEXT NOT NULL,
    server_signature TEXT NOT NULL,
    PRIMARY KEY (record_kind, record_id)
);
-- The name printed with a person's signatures (§11.50(a)(1)); the user name when unset.
ALTER TABLE users ADD COLUMN full_name TEXT;
