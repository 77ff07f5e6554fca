-- Test batteries on demand (issue 11, item 8): a battery `slipway tests trigger` asked for in an
-- environment, the release it holds then, the suite's declaration frozen as the `tests.run`
-- parameters (JSON), and who took it. One agent of the suite's role claims it (`running`, with
-- a lease its output renews); its JUnit files go into the release's run, `run_id`. `output`
-- keeps the last 16 KiB the battery printed.
CREATE TABLE test_triggers (
  id BIGINT PRIMARY KEY,
  project TEXT NOT NULL,
  environment TEXT NOT NULL,
  release TEXT NOT NULL,
  suite TEXT NOT NULL,
  role TEXT NOT NULL,
  battery TEXT NOT NULL,
  state TEXT NOT NULL,
  target TEXT,
  leased_until TEXT,
  run_id BIGINT,
  summary TEXT,
  output TEXT NOT NULL,
  requested_by TEXT NOT NULL,
  requested_at TEXT NOT NULL,
  started_at TEXT,
  finished_at TEXT
);
CREATE INDEX test_triggers_waiting ON test_triggers (environment, state, id);
-- Test reports as received are kept in the vault under their digest (issue 11, item 10): the
-- vault's garbage collection keeps a blob a run's file names, found by this index.
CREATE INDEX test_run_files_by_sha256 ON test_run_files (sha256);
