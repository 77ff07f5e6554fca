-- The rollbacks of a deployment, found by what they undo: the dashboard's held release per cell
-- (`Store::held_deployments`) asks, for each candidate, whether a rollback of it succeeded.
-- Without this index every candidate walked every succeeded deployment: 135 ms for 1 000
-- deployments on SQLite, and quadratic with history. Partial: only rollbacks carry the column.
CREATE INDEX deployments_rollback_of ON deployments (rollback_of) WHERE rollback_of IS NOT NULL;
