-- Promotion governance: gates per environment, promotions and their go/no-go decision records,
-- approvals, evidence checks reported by CI, and change requests (RFCs).
ALTER TABLE environments ADD COLUMN gates TEXT NOT NULL DEFAULT '{}';
CREATE TABLE promotions (
  id BIGINT PRIMARY KEY,
  project TEXT NOT NULL,
  release_version TEXT NOT NULL,
  environment TEXT NOT NULL,
  -- An earlier wave of the same phase this one waits for.
  after_promotion BIGINT,
  state TEXT NOT NULL,
  requested_by TEXT NOT NULL,
  requested_at TEXT NOT NULL,
  scheduled_for TEXT,
  recheck_at TEXT,
  deployment_id BIGINT,
  updated_at TEXT NOT NULL
);
CREATE INDEX promotions_release ON promotions (project, release_version);
CREATE INDEX promotions_state ON promotions (state);
-- The latest vote of each person; every vote is also in the audit chain.
CREATE TABLE approvals (
  promotion_id BIGINT NOT NULL REFERENCES promotions(id),
  username TEXT NOT NULL,
  role TEXT NOT NULL,
  approve BIGINT NOT NULL,
  comment TEXT NOT NULL,
  at TEXT NOT NULL,
  PRIMARY KEY (promotion_id, username)
);
-- Immutable: rows are only ever inserted.
CREATE TABLE decision_records (
  id BIGINT PRIMARY KEY,
  promotion_id BIGINT NOT NULL REFERENCES promotions(id),
  decision TEXT NOT NULL,
  record TEXT NOT NULL,
  decided_at TEXT NOT NULL
);
CREATE INDEX decision_records_promotion ON decision_records (promotion_id, id);
CREATE TABLE check_results (
  id BIGINT PRIMARY KEY,
  project TEXT NOT NULL,
  release_version TEXT NOT NULL,
  name TEXT NOT NULL,
  status TEXT NOT NULL,
  url TEXT,
  details TEXT NOT NULL,
  reported_by TEXT NOT NULL,
  reported_at TEXT NOT NULL
);
CREATE INDEX check_results_release ON check_results (project, release_version, id);
CREATE TABLE change_requests (
  id BIGINT PRIMARY KEY,
  promotion_id BIGINT NOT NULL UNIQUE REFERENCES promotions(id),
  state TEXT NOT NULL,
  body TEXT NOT NULL,
  opened_at TEXT NOT NULL,
  decided_by TEXT,
  decided_at TEXT,
  comment TEXT
);
