-- Alerts: one row per alert, found by its grouping key while it is open (fired or
-- acknowledged); a repetition of its condition counts one more on the same row. `context` is the
-- JSON of what the source said (server, batch, customers, log path, masked line).
CREATE TABLE alerts (
  id BIGINT PRIMARY KEY,
  group_key TEXT NOT NULL,
  source TEXT NOT NULL,
  severity TEXT NOT NULL,
  status TEXT NOT NULL,
  summary TEXT NOT NULL,
  project TEXT,
  environment TEXT,
  target TEXT,
  context TEXT NOT NULL,
  occurrence TEXT NOT NULL,
  occurrences BIGINT NOT NULL,
  silenced BIGINT NOT NULL,
  first_seen TEXT NOT NULL,
  last_seen TEXT NOT NULL,
  last_notified TEXT,
  acknowledged_by TEXT,
  acknowledged_at TEXT,
  resolved_by TEXT,
  resolved_at TEXT
);
CREATE INDEX alerts_by_status ON alerts (status, group_key);
-- The outbox of channel deliveries (chat, mail), queued in the transaction of the alert's change
-- and its audit event. The message is rendered when sent, from the alert and the project's
-- channel, so no secret (webhook URL, SMTP password) is ever stored here.
CREATE TABLE alert_deliveries (
  id BIGINT PRIMARY KEY,
  alert_id BIGINT NOT NULL REFERENCES alerts(id),
  project TEXT NOT NULL,
  channel TEXT NOT NULL,
  notice TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts BIGINT NOT NULL,
  next_attempt_at TEXT,
  last_error TEXT,
  created_at TEXT NOT NULL,
  finished_at TEXT
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (state, next_attempt_at);
CREATE INDEX alert_deliveries_by_alert ON alert_deliveries (alert_id, id);
-- The ping API's per-batch random key (`/ping/KEY`), given at the batch's first install.
ALTER TABLE batches ADD COLUMN ping_key TEXT;
CREATE UNIQUE INDEX batches_by_ping_key ON batches (ping_key);
