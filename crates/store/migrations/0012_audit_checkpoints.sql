-- Signed checkpoints of the audit log (size, RFC 6962 root, signed note). The notes that count
-- are the ones outside the database (checkpoints.log, witnesses): a row here is a record that a
-- checkpoint was signed, written with its audit event, never a proof on its own.
CREATE TABLE audit_checkpoints (
    size BIGINT PRIMARY KEY,
    root TEXT NOT NULL,
    signed_at TEXT NOT NULL,
    note TEXT NOT NULL
);
