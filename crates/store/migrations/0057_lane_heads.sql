-- What each project's environment (a lane) holds, kept as deployments move: the dashboard read
-- three correlated probes per cell (3 × 2 010 at 201 × 10), ~100 M of the 272 M instructions of
-- a page view at issue 16's size; now it reads these rows and the deployments they name by id.
-- `latest`: the newest deployment that is not a dry run and was not cancelled; `last_success`:
-- the newest `deploy` that succeeded; `held`: the newest succeeded `deploy` with a succeeded
-- forward step and no succeeded rollback of it (what parity names as held). NULL when the lane
-- has none. Kept by name, whatever projects and environments are declared (a project deleted
-- and declared again shows its lanes again, as the probes did); readers join the declared ones.
-- Rewritten from the deployments at the commit of every write that creates a deployment or
-- changes one's state (`lane_heads::refresh`), so it always equals the probes; filled for the
-- deployments stored before it by the migration's hook (`lane_heads::fill_lane_heads`).
CREATE TABLE lane_heads (
  project TEXT NOT NULL,
  environment TEXT NOT NULL,
  latest BIGINT,
  last_success BIGINT,
  held BIGINT,
  PRIMARY KEY (project, environment)
);
