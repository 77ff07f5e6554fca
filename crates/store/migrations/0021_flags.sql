-- Feature flags per environment: the flag (its type sets when it goes stale), its state in each
-- environment (on/off, strategies, variants: `core::flags::FlagState` as JSON), the
-- environment-scoped tokens SDKs read them with (stored as SHA-256, like API tokens), and what
-- the SDKs report (clients registered, evaluations counted per flag), kept outside the audit
-- chain like other telemetry.
CREATE TABLE flags (
    project TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (project, name)
);
CREATE TABLE flag_states (
    project TEXT NOT NULL,
    flag TEXT NOT NULL,
    environment TEXT NOT NULL,
    state TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (project, flag, environment)
);
CREATE INDEX flag_states_environment ON flag_states (project, environment);
CREATE TABLE flag_tokens (
    id BIGINT PRIMARY KEY,
    project TEXT NOT NULL,
    environment TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE flag_usage (
    project TEXT NOT NULL,
    environment TEXT NOT NULL,
    flag TEXT NOT NULL,
    app_name TEXT NOT NULL,
    yes BIGINT NOT NULL,
    no BIGINT NOT NULL,
    last_seen TEXT NOT NULL,
    PRIMARY KEY (project, environment, flag, app_name)
);
CREATE TABLE flag_clients (
    project TEXT NOT NULL,
    environment TEXT NOT NULL,
    app_name TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    sdk_version TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    PRIMARY KEY (project, environment, app_name, instance_id)
);
