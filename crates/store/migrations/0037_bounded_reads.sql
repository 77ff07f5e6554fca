-- Reads kept bounded (issues 12 and 13).
-- Every probe of an environment summed per minute, kept as each probe report is written (in the
-- same transaction as its `probe_minutes`): an environment's SLO budget and burn-rate windows read
-- one row per minute however many probes it has (a 6-hour burn window is 360 rows, not 360 per
-- probe). `last_error` is the latest failure reason written for the minute, of any probe.
CREATE TABLE environment_minutes (
  project TEXT NOT NULL,
  environment TEXT NOT NULL,
  minute BIGINT NOT NULL,
  results BIGINT NOT NULL,
  failures BIGINT NOT NULL,
  latency_sum_ms BIGINT NOT NULL,
  latency_max_ms BIGINT NOT NULL,
  last_error TEXT,
  PRIMARY KEY (project, environment, minute)
);
-- The minutes already stored, summed once.
INSERT INTO environment_minutes (project, environment, minute, results, failures, latency_sum_ms, latency_max_ms, last_error)
  SELECT project, environment, minute, SUM(results), SUM(failures), SUM(latency_sum_ms), MAX(latency_max_ms), MAX(last_error)
  FROM probe_minutes GROUP BY project, environment, minute;
-- The start of each batch's latest successful run: the supervision tick judges a batch from its
-- runs since then (a success ends any run of failures), so each second it reads a few runs per
-- batch by index instead of ranking every run ever reported.
ALTER TABLE batches ADD COLUMN last_success_started_at TEXT;
UPDATE batches SET last_success_started_at = (SELECT MAX(r.started_at) FROM batch_runs r WHERE r.batch_id = batches.id AND r.exit_code = 0);
