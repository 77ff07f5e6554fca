-- Deployments per application domain (issue 14, seed 002's tenth practice): per project,
-- environment, component and UTC day of the end (`finished_at`), the successful deployments
-- (kind `deploy`) that changed that component there: its artifact version differs from the one
-- of the release in force there before, or it is new there (`core::insights::component_changes`).
-- Kept in the transaction that writes a deployment's outcome, beside `deployment_days`
-- (`component_days::count_component_changes`); the migration fills it from the deployments
-- stored before it, each environment's history walked in order (`fill_component_days`).
CREATE TABLE component_days (
  project TEXT NOT NULL,
  environment TEXT NOT NULL,
  component TEXT NOT NULL,
  day TEXT NOT NULL,
  deployments BIGINT NOT NULL,
  PRIMARY KEY (project, environment, component, day)
);
-- The days of a period, for every project.
CREATE INDEX component_days_period ON component_days (day);
-- The release in force in an environment before a deployment: its successful deployments and
-- rollbacks newest first from that deployment's number, a step or two read, not the history
-- (`deployments_lane` orders by creation, not by number).
CREATE INDEX deployments_lane_successes ON deployments (project, environment, state, id);
