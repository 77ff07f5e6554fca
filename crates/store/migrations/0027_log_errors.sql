-- Log-error alerts (issue 12, item 4): one row per grouping key (`log:ENV/SERVER/BATCH:RULE`,
-- and `/CUSTOMER` when the log's path names one), holding the group's first line and its count
-- while lines keep coming within the rule's period. The alert tick raises an alert per group
-- still within its period. Written without an audit event, like a heartbeat: the alert it
-- raises is audited.
CREATE TABLE log_groups (
  group_key TEXT PRIMARY KEY,
  batch_id BIGINT NOT NULL REFERENCES batches(id),
  rule TEXT NOT NULL,
  severity TEXT NOT NULL,
  customer TEXT,
  log_path TEXT NOT NULL,
  line TEXT NOT NULL,
  line_number BIGINT NOT NULL,
  line_at TEXT NOT NULL,
  lines BIGINT NOT NULL,
  period_secs BIGINT NOT NULL,
  first_seen TEXT NOT NULL,
  last_seen TEXT NOT NULL
);
CREATE INDEX log_groups_by_last_seen ON log_groups (last_seen);
-- Matching lines per batch, customer ('' for none) and hour (RFC 3339 of the hour's start), for
-- the 24-hour and 7-day error counts.
CREATE TABLE log_error_hours (
  batch_id BIGINT NOT NULL REFERENCES batches(id),
  customer TEXT NOT NULL,
  hour TEXT NOT NULL,
  lines BIGINT NOT NULL,
  PRIMARY KEY (batch_id, customer, hour)
);
-- Runs people ask for (`slipway batch run NAME --env E [--testmode]`), handed once to the agent
-- of the batch's target (`taken_at`), which then reports the run like any other.
CREATE TABLE batch_run_requests (
  id BIGINT PRIMARY KEY,
  batch_id BIGINT NOT NULL REFERENCES batches(id),
  testmode BIGINT NOT NULL,
  requested_by TEXT NOT NULL,
  requested_at TEXT NOT NULL,
  taken_at TEXT
);
CREATE INDEX batch_run_requests_open ON batch_run_requests (taken_at, batch_id);
