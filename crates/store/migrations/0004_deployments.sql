-- Deployments: a release into one environment, as runs (steps or undos) of batches of targets.
-- Tasks are a target's part of a run; a retry reuses the row with the next attempt number.
ALTER TABLE environments ADD COLUMN on_failure TEXT NOT NULL DEFAULT 'stop_and_ask';
CREATE TABLE deployments (
  id BIGINT PRIMARY KEY,
  project TEXT NOT NULL,
  release_version TEXT NOT NULL,
  environment TEXT NOT NULL,
  kind TEXT NOT NULL,
  rollback_of BIGINT,
  state TEXT NOT NULL,
  phase TEXT NOT NULL,
  runs TEXT NOT NULL,
  rollback_runs TEXT NOT NULL,
  requested_by TEXT NOT NULL,
  created_at TEXT NOT NULL,
  finished_at TEXT,
  failure TEXT
);
CREATE INDEX deployments_env ON deployments (project, environment, id);
CREATE TABLE tasks (
  id TEXT PRIMARY KEY,
  deployment_id BIGINT NOT NULL REFERENCES deployments(id),
  phase TEXT NOT NULL,
  run_index BIGINT NOT NULL,
  batch_index BIGINT NOT NULL,
  target TEXT NOT NULL,
  attempt BIGINT NOT NULL,
  state TEXT NOT NULL,
  leased_until TEXT,
  started_at TEXT,
  finished_at TEXT,
  exit_code BIGINT,
  summary TEXT,
  UNIQUE (deployment_id, phase, run_index, target)
);
CREATE INDEX tasks_target_state ON tasks (target, state);
CREATE INDEX tasks_deployment ON tasks (deployment_id);
CREATE TABLE task_logs (
  task_id TEXT NOT NULL REFERENCES tasks(id),
  attempt BIGINT NOT NULL,
  line_no BIGINT NOT NULL,
  at TEXT NOT NULL,
  line TEXT NOT NULL,
  PRIMARY KEY (task_id, attempt, line_no)
);
