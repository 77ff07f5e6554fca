-- Deployments counted per day (issue 14): DORA over two years read 25 000 production
-- deployment rows; now a period reads these counts for its whole days, the rows of its two
-- edge days, and only the notable deployments as rows (`insights.rs`). Per project,
-- environment and UTC day of the end (`finished_at`) of every deployment that ended
-- (succeeded, failed or rolled back; dry runs left out): `deployments` counts those of kind
-- `deploy`, `successes` and `failures` (failed or rolled back while deploying) split them,
-- `rollbacks` counts the rollback deployments. Kept in the transaction that writes a
-- deployment's outcome (`WriteTx::update_deployment`, `insert_deployment`); the migration
-- fills it from the deployments stored before it (`deployment_days::fill_deployment_days`). It
-- always equals `deployments` grouped that way (`core::insights::DayCounts::of`).
CREATE TABLE deployment_days (
  project TEXT NOT NULL,
  environment TEXT NOT NULL,
  day TEXT NOT NULL,
  deployments BIGINT NOT NULL,
  successes BIGINT NOT NULL,
  failures BIGINT NOT NULL,
  rollbacks BIGINT NOT NULL,
  PRIMARY KEY (project, environment, day)
);
-- The days of a period, for every project.
CREATE INDEX deployment_days_period ON deployment_days (day);
-- The deployments that ended in the parts of days at a period's ends, the pages of the
-- drill-down behind a figure, and the notable ones created before a period that ended in it:
-- by environment and end (the creation in the index, so that the last need not read rows).
CREATE INDEX deployments_ended ON deployments (environment, finished_at, created_at);
-- The notable deployments of a period (`notable_deployments.rs`): those that did not succeed
-- and the rollbacks, sought by outcome instead of walking the period's deployments.
CREATE INDEX deployments_outcome ON deployments (state, kind, environment, created_at);
-- The flag changes on the deployment timeline (`Store::flag_state_events`) read the audit
-- trail's few `flag.*` events newest first instead of walking the whole trail.
CREATE INDEX audit_events_verb ON audit_events (verb, seq);
