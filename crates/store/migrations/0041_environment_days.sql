-- Every probe of an environment summed per UTC day (issue 13), kept in the same transaction as
-- `environment_minutes` (each probe report): a 30-day SLO budget sums about 30 day rows plus the
-- minutes of the two partial days at the window's ends, instead of 43 200 minute rows. `day` is
-- the day's first second since the Unix epoch (UTC), like `minute`.
CREATE TABLE environment_days (
  project TEXT NOT NULL,
  environment TEXT NOT NULL,
  day BIGINT NOT NULL,
  results BIGINT NOT NULL,
  failures BIGINT NOT NULL,
  latency_sum_ms BIGINT NOT NULL,
  latency_max_ms BIGINT NOT NULL,
  PRIMARY KEY (project, environment, day)
);
-- The minutes already stored, summed once.
INSERT INTO environment_days (project, environment, day, results, failures, latency_sum_ms, latency_max_ms)
  SELECT project, environment, minute - (minute % 86400), SUM(results), SUM(failures), SUM(latency_sum_ms), MAX(latency_max_ms)
  FROM environment_minutes GROUP BY project, environment, minute - (minute % 86400);
