-- Flakiness at push time (issue 11): each test's last outcomes in its suite and environment
-- (`core::quality::OutcomeStrip`: `p12,f15,r19`, oldest first, at most 64), kept by the push
-- that adds a result in the same transaction, so a flakiness report reads one short row per
-- test instead of every result of the runs it covers. The migration fills it from the results
-- already stored (`test_strips::fill_test_strips`).
CREATE TABLE test_strips (
  project TEXT NOT NULL,
  environment TEXT NOT NULL,
  suite TEXT NOT NULL,
  junit_suite TEXT NOT NULL,
  test_key TEXT NOT NULL,
  outcomes TEXT NOT NULL,
  PRIMARY KEY (project, environment, suite, junit_suite, test_key)
);
-- A battery's output lines received so far: a log batch its agent sends again (its answer was
-- lost) starts below this number and is not added twice to the output's tail.
ALTER TABLE test_triggers ADD COLUMN output_lines BIGINT NOT NULL DEFAULT 0;
