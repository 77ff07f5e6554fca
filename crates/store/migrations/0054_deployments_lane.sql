-- A project's environment's deployments in order of creation, with what DORA's neighbour reads
-- test as they walk (`Store::neighbours`: the deployment before a hotfix, the first success
-- after a failure): id, kind and state are in the index, so the walk never reads the table's
-- rows (on SQLite `id BIGINT PRIMARY KEY` is not the rowid: each step of the old walk was a
-- second seek). It replaces 0015's (project, environment, created_at), its prefix.
DROP INDEX deployments_project_period;
CREATE INDEX deployments_lane ON deployments (project, environment, created_at, id, kind, state);
