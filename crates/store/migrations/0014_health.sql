-- Service health. Probe results are kept per probe and minute, not one row per result: thirty
-- days of a probe run every 10 s are 43 200 rows, and an SLO report sums them. `minute` is the
-- minute's first second since the Unix epoch (UTC), a number so the rows stay small and range
-- scans are plain integer comparisons.
CREATE TABLE probe_minutes (
  project TEXT NOT NULL,
  environment TEXT NOT NULL,
  probe TEXT NOT NULL,
  minute BIGINT NOT NULL,
  results BIGINT NOT NULL,
  failures BIGINT NOT NULL,
  latency_sum_ms BIGINT NOT NULL,
  latency_max_ms BIGINT NOT NULL,
  last_error TEXT,
  PRIMARY KEY (project, environment, probe, minute)
);
CREATE INDEX probe_minutes_by_environment ON probe_minutes (project, environment, minute);
-- Each probe's latest result, and its state (up or down) as last told in the audit log.
CREATE TABLE probe_status (
  project TEXT NOT NULL,
  environment TEXT NOT NULL,
  probe TEXT NOT NULL,
  state TEXT NOT NULL,
  state_changed_at TEXT,
  last_at TEXT NOT NULL,
  last_ok BIGINT NOT NULL,
  last_latency_ms BIGINT NOT NULL,
  last_error TEXT,
  reported_by TEXT NOT NULL,
  PRIMARY KEY (project, environment, probe)
);
-- Which burn-rate rules fire for an environment's SLO, so each start is told once.
CREATE TABLE slo_alerts (
  project TEXT NOT NULL,
  environment TEXT NOT NULL,
  severity TEXT NOT NULL,
  firing BIGINT NOT NULL,
  changed_at TEXT NOT NULL,
  PRIMARY KEY (project, environment, severity)
);
