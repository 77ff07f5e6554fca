-- Lead time for changes without reading every commit (issue 14): each commit's first successful
-- deployment into each environment, written in the transaction that records a deployment's
-- success (`WriteTx::record_commit_arrivals`) and kept as the earliest when a release holding
-- the commit arrives again. `lead_seconds` is arrived_at − authored_at (0 when the authored time
-- is later: a wrong clock), so that the spreads are computed by the database over one range of
-- an index. The migration fills it from the deployments already stored
-- (`insights::fill_commit_arrivals`).
CREATE TABLE commit_arrivals (
  project TEXT NOT NULL,
  hash TEXT NOT NULL,
  environment TEXT NOT NULL,
  arrived_at TEXT NOT NULL,
  deployment_id BIGINT NOT NULL,
  authored_at TEXT NOT NULL,
  lead_seconds BIGINT NOT NULL,
  PRIMARY KEY (project, hash, environment)
);
-- The arrivals of a period in the production environments, with or without a project.
CREATE INDEX commit_arrivals_period ON commit_arrivals (environment, arrived_at);
CREATE INDEX commit_arrivals_project_period ON commit_arrivals (project, environment, arrived_at);
