-- Lead time for changes over years without sorting every commit (issue 14): per project,
-- environment and UTC day of first arrival there (`commit_arrivals`), how many commits arrived
-- with a lead time in each log-spaced bucket (`core::insights::lead_buckets`). Kept in the
-- transaction that writes the arrivals (`WriteTx::record_commit_arrivals`): an arrival replaced
-- by an earlier one moves its count. The migration fills it from `commit_arrivals`
-- (`lead_time_days::fill_lead_time_days`); it always equals that table grouped by
-- (project, environment, day, bucket).
CREATE TABLE lead_time_days (
  project TEXT NOT NULL,
  environment TEXT NOT NULL,
  day TEXT NOT NULL,
  bucket BIGINT NOT NULL,
  commits BIGINT NOT NULL,
  PRIMARY KEY (project, environment, day, bucket)
);
-- The days of a period, for every project.
CREATE INDEX lead_time_days_period ON lead_time_days (day);
