-- Runs the agent did not start (issue 12): a `slipway batch run` asked, or a scheduled fire,
-- while the batch's previous run still went (overlap: false) or the agent ran its most runs at
-- once. Kept in the run history as a run that ended at once with no exit code and the reason, as
-- Rundeck shows a skipped execution; `NULL` for every run that started. Supervision never judges
-- them (they are not runs of the batch), and they never move the batch's last run.
ALTER TABLE batch_runs ADD COLUMN not_started TEXT;
-- The counts of the last 24 hours read these only.
CREATE INDEX batch_runs_not_started ON batch_runs (batch_id, started_at) WHERE not_started IS NOT NULL;
-- The run that answered a request (started, or not started and why): `slipway batch run --wait`
-- and `GET /api/v1/batches/{name}/run-requests/{id}` read it. NULL while nobody answered.
ALTER TABLE batch_run_requests ADD COLUMN run_id BIGINT;
