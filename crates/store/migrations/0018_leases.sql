-- Leases that make one server of several (on one PostgreSQL database) the runner of a kind of
-- background work: the orchestrator, promotion judging, the schedules. `token` grows by one each
-- time a lease changes hands (a fencing token); `expires_at` is stored time text (UTC, six
-- fractional digits), so text order is time order.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    token BIGINT NOT NULL,
    expires_at TEXT NOT NULL
);
