-- Batch supervision (issue 12, items 3 and 7): why a batch raises no alert now (inside a
-- maintenance window, or held by a batch it needs; `core::supervision::hold::Hold` as JSON,
-- NULL when nothing holds it), written with its status by the supervision tick.
ALTER TABLE batches ADD COLUMN hold TEXT;
-- The weekly report of each project and environment: one row per week sent (the Monday of the
-- week, YYYY-MM-DD in the environment's report time zone), written with its audit event and its
-- channel messages, so it goes once per week whatever restarts or replicas do.
CREATE TABLE weekly_reports (
  project TEXT NOT NULL,
  environment TEXT NOT NULL,
  week TEXT NOT NULL,
  sent_at TEXT NOT NULL,
  PRIMARY KEY (project, environment, week)
);
-- Each channel's message of a weekly report, rendered when its week was recorded (subject and
-- text, the HTML part for mail; the chat payload as JSON in `body`), sent by the alert channel
-- sender with the same claim, retries and back-off as alert deliveries. Never a secret.
CREATE TABLE report_deliveries (
  id BIGINT PRIMARY KEY,
  project TEXT NOT NULL,
  environment TEXT NOT NULL,
  week TEXT NOT NULL,
  channel TEXT NOT NULL,
  subject TEXT NOT NULL,
  body TEXT NOT NULL,
  html TEXT,
  state TEXT NOT NULL,
  attempts BIGINT NOT NULL,
  next_attempt_at TEXT,
  last_error TEXT,
  created_at TEXT NOT NULL,
  finished_at TEXT
);
CREATE INDEX report_deliveries_due ON report_deliveries (state, next_attempt_at);
-- Jobs the agents found on their hosts that Slipway did not install (issue 12, item 1):
-- crontab lines and systemd timers, the whole list of a target replaced at each report (a
-- measurement, like telemetry: no audit event); adopting one writes a batch of the inventory,
-- audited.
CREATE TABLE discovered_jobs (
  target TEXT NOT NULL,
  job_key TEXT NOT NULL,
  name TEXT NOT NULL,
  source TEXT NOT NULL,
  schedule TEXT,
  time_zone TEXT,
  run_as TEXT,
  command TEXT NOT NULL,
  seen_at TEXT NOT NULL,
  PRIMARY KEY (target, job_key)
);
-- The discovered job a batch was adopted from (`target`'s `job_key`), so the job is no longer
-- listed as unmanaged; NULL for batches a deployment installed.
ALTER TABLE batches ADD COLUMN adopted_from TEXT;
