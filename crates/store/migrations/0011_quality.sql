-- Test results: one run per project, release, environment, suite and launch (files pushed with
-- the same launch id merge into it), each test once per run (its JUnit suite and identity), and
-- every attempt of each test with its bounded output.
CREATE TABLE test_runs (
  id BIGINT PRIMARY KEY,
  project TEXT NOT NULL,
  release TEXT NOT NULL,
  environment TEXT NOT NULL,
  suite TEXT NOT NULL,
  launch TEXT NOT NULL,
  attributes TEXT NOT NULL,
  files BIGINT NOT NULL,
  tests BIGINT NOT NULL,
  passed BIGINT NOT NULL,
  failed BIGINT NOT NULL,
  errored BIGINT NOT NULL,
  skipped BIGINT NOT NULL,
  passed_after_retry BIGINT NOT NULL,
  attempts BIGINT NOT NULL,
  duration_ms BIGINT NOT NULL,
  created_by TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  UNIQUE (project, release, environment, suite, launch)
);
CREATE INDEX test_runs_history ON test_runs (project, environment, suite, id);
CREATE TABLE test_results (
  run_id BIGINT NOT NULL REFERENCES test_runs(id),
  junit_suite TEXT NOT NULL,
  test_key TEXT NOT NULL,
  classname TEXT,
  name TEXT NOT NULL,
  file TEXT,
  status TEXT NOT NULL,
  attempts BIGINT NOT NULL,
  failed_attempts BIGINT NOT NULL,
  duration_ms BIGINT,
  -- The push (file) that last added attempts, and whether it had already added one: an earlier
  -- occurrence in the same file that passed was retried (pytest-rerunfailures).
  file_seq BIGINT NOT NULL,
  repeated_in_file BIGINT NOT NULL,
  PRIMARY KEY (run_id, junit_suite, test_key)
);
CREATE TABLE test_attempts (
  run_id BIGINT NOT NULL,
  junit_suite TEXT NOT NULL,
  test_key TEXT NOT NULL,
  attempt BIGINT NOT NULL,
  status TEXT NOT NULL,
  message TEXT,
  failure_type TEXT,
  detail TEXT,
  system_out TEXT,
  system_err TEXT,
  duration_ms BIGINT,
  PRIMARY KEY (run_id, junit_suite, test_key, attempt),
  FOREIGN KEY (run_id, junit_suite, test_key) REFERENCES test_results(run_id, junit_suite, test_key)
);
-- The files of each push, as received (their digest and size), for the evidence trail.
CREATE TABLE test_run_files (
  run_id BIGINT NOT NULL REFERENCES test_runs(id),
  seq BIGINT NOT NULL,
  sha256 TEXT NOT NULL,
  size BIGINT NOT NULL,
  testcases BIGINT NOT NULL,
  skipped_testcases BIGINT NOT NULL,
  pushed_by TEXT NOT NULL,
  pushed_at TEXT NOT NULL,
  PRIMARY KEY (run_id, seq)
);
