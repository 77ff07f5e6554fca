-- A batch's log directory as its agent last saw it (issue 12, "a missing log directory is a
-- warning on the batch, never a crash"): why the agent cannot read it (`log directory … cannot
-- be read: …`), or NULL when it reads or was never reported. An observation written by the
-- agent's reports like telemetry, not a state change: no audit event.
ALTER TABLE batches ADD COLUMN log_problem TEXT;
