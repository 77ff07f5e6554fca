-- Each run's outcomes as one text (issue 11): `o1 <count>` then, per test, the 64-bit hash of
-- its JUnit suite and key in 16 hex digits and its outcome letter (p, r passed after a retry,
-- f, e, s), sorted by hash (`run_outcomes.rs`). A push merges the tests it gave into its run's
-- text, one row per run instead of one strip per test: the flakiness report decodes the texts of
-- the runs it covers. It replaces the strips of migration 0033, dropped here; the migration
-- fills the texts of the runs stored before it from their results
-- (`run_outcomes::fill_run_outcomes`), so every run has one.
CREATE TABLE test_run_outcomes (
  run_id BIGINT PRIMARY KEY REFERENCES test_runs(id),
  outcomes TEXT NOT NULL
);
DROP TABLE test_strips;
-- The index by test (0022) served the flakiness report's recount, which the texts replace:
-- every push paid for it with a second B-tree entry per test. A run's results are read by the
-- primary key (run, suite, test), a test's history too (one look-up per covered run).
DROP INDEX test_results_history;
