-- Flakiness and quarantine: a test put in quarantine for a project's suite (its identity as runs
-- store it), why, until when and by whom; it still runs and shows, but its failures fail no gate.
-- Lifting a quarantine deletes its row; the audit trail keeps its history.
CREATE TABLE test_quarantines (
  project TEXT NOT NULL,
  suite TEXT NOT NULL,
  test_key TEXT NOT NULL,
  reason TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (project, suite, test_key)
);
-- The flakiness report sums each test's outcomes over a suite's last runs in test order, and a
-- flaky test's history strip is read by its identity: this index covers both (status and
-- failed attempts included), so neither reads the table nor sorts 300 000 rows by test.
CREATE INDEX test_results_history ON test_results (junit_suite, test_key, run_id, status, failed_attempts);
-- Coverage: every report pushed for a release and a kind (unit, contract, e2e…), its file's
-- digest and its totals, and its counts per package. A release's coverage of a kind is its
-- latest report of that kind.
CREATE TABLE coverage_reports (
  id BIGINT PRIMARY KEY,
  project TEXT NOT NULL,
  release TEXT NOT NULL,
  kind TEXT NOT NULL,
  format TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  size BIGINT NOT NULL,
  lines_valid BIGINT NOT NULL,
  lines_covered BIGINT NOT NULL,
  branches_valid BIGINT NOT NULL,
  branches_covered BIGINT NOT NULL,
  pushed_by TEXT NOT NULL,
  pushed_at TEXT NOT NULL
);
CREATE INDEX coverage_reports_release ON coverage_reports (project, release, kind, id);
CREATE INDEX coverage_reports_kind ON coverage_reports (project, kind, id);
CREATE TABLE coverage_packages (
  report_id BIGINT NOT NULL REFERENCES coverage_reports(id),
  package TEXT NOT NULL,
  lines_valid BIGINT NOT NULL,
  lines_covered BIGINT NOT NULL,
  branches_valid BIGINT NOT NULL,
  branches_covered BIGINT NOT NULL,
  PRIMARY KEY (report_id, package)
);
-- Code-quality gates reported by outside tools (SonarQube's webhook): the verdict recorded
-- against the release the analysis names, with the payload as received.
CREATE TABLE quality_gates (
  id BIGINT PRIMARY KEY,
  project TEXT NOT NULL,
  release TEXT NOT NULL,
  source TEXT NOT NULL,
  status TEXT NOT NULL,
  gate_name TEXT,
  revision TEXT,
  analysed_at TEXT,
  task_id TEXT,
  sha256 TEXT NOT NULL,
  payload TEXT NOT NULL,
  received_at TEXT NOT NULL
);
CREATE INDEX quality_gates_release ON quality_gates (project, release, id);
