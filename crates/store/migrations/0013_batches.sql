-- Batch supervision: the inventory (one row per batch, environment and target, kept by the
-- batch.* steps in the transaction of their result) and the runs reported for each batch.
CREATE TABLE batches (
  id BIGINT PRIMARY KEY,
  project TEXT NOT NULL,
  environment TEXT NOT NULL,
  target TEXT NOT NULL,
  name TEXT NOT NULL,
  category TEXT NOT NULL,
  schedule TEXT,
  time_zone TEXT,
  command TEXT,
  run_dir TEXT,
  log_dir TEXT,
  state TEXT NOT NULL,
  owner TEXT,
  customers TEXT NOT NULL,
  created_at TEXT NOT NULL,
  installed_at TEXT NOT NULL,
  installed_by TEXT NOT NULL,
  installed_by_deployment BIGINT,
  previous TEXT,
  last_run_at TEXT,
  last_exit_code BIGINT,
  next_expected_at TEXT,
  -- The supervision tick's last judgement (up, late, down, paused, running); NULL until judged.
  status TEXT,
  UNIQUE (environment, target, name)
);
CREATE INDEX batches_by_project ON batches (project, environment, name);
CREATE TABLE batch_runs (
  id BIGINT PRIMARY KEY,
  batch_id BIGINT NOT NULL REFERENCES batches(id),
  started_at TEXT NOT NULL,
  ended_at TEXT,
  exit_code BIGINT,
  duration_ms BIGINT,
  output_tail TEXT NOT NULL,
  reported_by TEXT NOT NULL
);
CREATE INDEX batch_runs_by_batch ON batch_runs (batch_id, started_at);
