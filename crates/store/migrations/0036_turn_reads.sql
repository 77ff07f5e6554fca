-- What the orchestrator reads on every turn, found by index rather than by reading every row:
-- the deployments still moving (`active_deployments`: a handful among 100 000 finished ones),
-- and the leases that ran out (`has_expired_leases`: a few leased tasks among every task run).
CREATE INDEX deployments_state ON deployments (state);
CREATE INDEX tasks_state_lease ON tasks (state, leased_until);
