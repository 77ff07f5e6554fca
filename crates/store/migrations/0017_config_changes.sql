-- Configuration change requests: a change `apply` held back because it alters what binds the
-- people who deploy to a protected environment. `base` is the subject as it stood when the
-- request was made (JSON, NULL for none) and `desired` what it becomes; a request applies only
-- while the subject still equals `base`. Author and decider are both kept, never the same
-- person for an approval.
CREATE TABLE config_changes (
    id BIGINT PRIMARY KEY,
    subject TEXT NOT NULL,
    kind TEXT NOT NULL,
    base TEXT,
    desired TEXT NOT NULL,
    details TEXT NOT NULL,
    reasons TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at TEXT NOT NULL,
    state TEXT NOT NULL,
    decided_by TEXT,
    decided_at TEXT,
    comment TEXT
);
CREATE INDEX config_changes_state ON config_changes (state, subject);
-- Break-glass: a governed change an admin applied alone, with a reason, until `expires_at`;
-- then `base` is put back unless the subject changed since (`superseded`).
CREATE TABLE config_break_glass (
    id BIGINT PRIMARY KEY,
    subject TEXT NOT NULL,
    kind TEXT NOT NULL,
    base TEXT NOT NULL,
    applied TEXT NOT NULL,
    details TEXT NOT NULL,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    started_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    state TEXT NOT NULL,
    ended_at TEXT
);
CREATE INDEX config_break_glass_state ON config_break_glass (state, expires_at);
