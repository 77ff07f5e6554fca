-- Verified and progressive deployments.
-- Probe latencies counted per bucket (upper bounds in milliseconds, `core::health::LATENCY_BOUNDS_MS`)
-- so that a percentile can be read from any window of minutes; rows written before are in no
-- bucket and a percentile is read only from the results that are.
ALTER TABLE probe_minutes ADD COLUMN latency_le_5 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE probe_minutes ADD COLUMN latency_le_10 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE probe_minutes ADD COLUMN latency_le_25 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE probe_minutes ADD COLUMN latency_le_50 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE probe_minutes ADD COLUMN latency_le_100 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE probe_minutes ADD COLUMN latency_le_250 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE probe_minutes ADD COLUMN latency_le_500 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE probe_minutes ADD COLUMN latency_le_1000 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE probe_minutes ADD COLUMN latency_le_2500 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE probe_minutes ADD COLUMN latency_le_5000 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE probe_minutes ADD COLUMN latency_le_10000 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE probe_minutes ADD COLUMN latency_over_10000 BIGINT NOT NULL DEFAULT 0;
-- A verification step's baseline: its probes' results in the minutes before the deployment
-- started, measured once (when the step is first handed to an agent) and kept with the
-- deployment as evidence. A measurement, like the probe minutes: no audit event.
CREATE TABLE deployment_baselines (
  deployment_id BIGINT NOT NULL,
  step BIGINT NOT NULL,
  probes TEXT NOT NULL,
  window_from TEXT NOT NULL,
  window_to TEXT NOT NULL,
  results BIGINT NOT NULL,
  failures BIGINT NOT NULL,
  latency_sum_ms BIGINT NOT NULL,
  latency_max_ms BIGINT NOT NULL,
  latency_buckets TEXT NOT NULL,
  PRIMARY KEY (deployment_id, step)
);
