-- Outbound webhooks: subscriptions (their HMAC secret sealed with the master key), and the
-- outbox of deliveries, queued in the transaction of the audit events that cause them.
CREATE TABLE webhooks (
  name TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  events TEXT NOT NULL,
  project TEXT,
  secret_sealed TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE webhook_deliveries (
  id BIGINT PRIMARY KEY,
  webhook TEXT NOT NULL,
  event TEXT NOT NULL,
  audit_seq BIGINT NOT NULL,
  payload TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts BIGINT NOT NULL,
  next_attempt_at TEXT,
  last_status BIGINT,
  last_error TEXT,
  created_at TEXT NOT NULL,
  finished_at TEXT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook, id);
CREATE TABLE webhook_attempts (
  delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries(id),
  attempt BIGINT NOT NULL,
  at TEXT NOT NULL,
  status BIGINT,
  error TEXT,
  duration_ms BIGINT NOT NULL,
  PRIMARY KEY (delivery_id, attempt)
);
