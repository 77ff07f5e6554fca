-- Lead time over several production environments without sorting every commit (issue 14): each
-- commit's first successful deployment into any environment declared `production: true`, and
-- its lead time counted per project, UTC day of that arrival and bucket
-- (`core::insights::lead_buckets`), as `commit_arrivals` and `lead_time_days` do per
-- environment. With one production environment those per-environment tables answer; with
-- several, a commit reaches production once however many production environments it reaches,
-- which only this table knows without reading every commit (~1 s over two years before it).
-- Kept in the transaction that writes the arrivals (`WriteTx::record_commit_arrivals`); rebuilt
-- from `commit_arrivals` in the transaction that changes which environments are production
-- (`WriteTx::put_environment`, `delete_environment`) and by this migration
-- (`production_arrivals::rebuild_production_arrivals`). It always equals `commit_arrivals`
-- reduced to each commit's earliest production row (by time, then deployment number).
CREATE TABLE production_arrivals (
  project TEXT NOT NULL,
  hash TEXT NOT NULL,
  environment TEXT NOT NULL,
  arrived_at TEXT NOT NULL,
  deployment_id BIGINT NOT NULL,
  authored_at TEXT NOT NULL,
  lead_seconds BIGINT NOT NULL,
  PRIMARY KEY (project, hash)
);
-- The commits of a period in the order of their arrival, with or without a project: the edge
-- days of a period's counts and the keyset pages of the commits' drill-down.
CREATE INDEX production_arrivals_period ON production_arrivals (arrived_at, project, hash);
CREATE INDEX production_arrivals_project_period ON production_arrivals (project, arrived_at, hash);
CREATE TABLE production_lead_days (
  project TEXT NOT NULL,
  day TEXT NOT NULL,
  bucket BIGINT NOT NULL,
  commits BIGINT NOT NULL,
  PRIMARY KEY (project, day, bucket)
);
-- The days of a period, for every project.
CREATE INDEX production_lead_days_period ON production_lead_days (day);
-- The commits' drill-down for one production environment: a period's first arrivals there in
-- keyset order (arrival, project, hash) without sorting the period.
CREATE INDEX commit_arrivals_keyset ON commit_arrivals (environment, arrived_at, project, hash);
-- The dashboard widgets over years without reading every deployment (issue 14): what ended per
-- day is `deployment_days` (migration 0048); beside it, how long the deployments took, counted
-- per project, environment, UTC day of their end and log-spaced bucket of seconds from creation
-- to end (`core::insights::widget_counts::duration_of`), moved in the transaction that writes a
-- deployment's outcome like `deployment_days`.
CREATE TABLE duration_days (
  project TEXT NOT NULL,
  environment TEXT NOT NULL,
  day TEXT NOT NULL,
  bucket BIGINT NOT NULL,
  deployments BIGINT NOT NULL,
  PRIMARY KEY (project, environment, day, bucket)
);
CREATE INDEX duration_days_period ON duration_days (day);
-- Each release's first successful deployment into each environment, written in the
-- transaction that records a deployment's success (an earlier arrival stays), and the stays it
-- makes (`core::insights::widget_counts::stays_of`): per project, pair of environments, UTC day
-- of the arrival in the second and bucket of seconds since the arrival in the first, moved from
-- what the release's arrivals made before to what they make now. Time in an environment reads
-- these counts for whole days, and the arrivals themselves for the parts of days at a period's
-- ends. The migration fills both from the deployments stored before it.
CREATE TABLE release_arrivals (
  project TEXT NOT NULL,
  release_version TEXT NOT NULL,
  environment TEXT NOT NULL,
  arrived_at TEXT NOT NULL,
  PRIMARY KEY (project, release_version, environment)
);
CREATE INDEX release_arrivals_period ON release_arrivals (environment, arrived_at);
CREATE TABLE stay_days (
  project TEXT NOT NULL,
  environment TEXT NOT NULL,
  next_environment TEXT NOT NULL,
  day TEXT NOT NULL,
  bucket BIGINT NOT NULL,
  releases BIGINT NOT NULL,
  PRIMARY KEY (project, environment, next_environment, day, bucket)
);
CREATE INDEX stay_days_period ON stay_days (day);
