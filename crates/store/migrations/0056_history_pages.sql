-- The history lists page by keyset (docs/api.md, "Lists and pagination"): each page is read
-- through an index in the list's order from the cursor on, so a page costs the same however
-- long the history is.
-- A project's complaints, newest received first, ties by id; it replaces 0020's
-- (project, received_at), its prefix.
DROP INDEX complaints_project;
CREATE INDEX complaints_newest ON complaints (project, received_at, id);
-- A release's test runs, newest first by id (test_runs_history leads with the environment).
CREATE INDEX test_runs_release ON test_runs (project, release, id);
-- A project's findings, the most severe first, then the oldest, then by id: the expression is
-- `SEVERITY_RANK` of crates/store/src/findings.rs, which must stay the same text.
CREATE INDEX findings_worst_first ON findings (project, (CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END), first_seen_at, id);
-- A batch's runs, newest started first, ties by id; it replaces 0013's (batch_id, started_at).
DROP INDEX batch_runs_by_batch;
CREATE INDEX batch_runs_newest ON batch_runs (batch_id, started_at, id);
