-- Nothing grows with history: the indexes every paged list and every creation reads through.
-- A release's version core as numbers, so that the release before a new one is found through an
-- index instead of by reading every release (filled for existing rows right after this file, in
-- Rust, since version text cannot be parsed portably in SQL). Numbers past 2^63 - 1 are stored
-- as 2^63 - 1; the exact order among such releases is settled by reading them.
ALTER TABLE releases ADD COLUMN major BIGINT;
ALTER TABLE releases ADD COLUMN minor BIGINT;
ALTER TABLE releases ADD COLUMN patch BIGINT;
CREATE INDEX releases_core ON releases (project, major, minor, patch);
-- Releases list newest first, ties broken by version.
CREATE INDEX releases_newest ON releases (project, created_at, version);
-- Artifacts list newest first.
CREATE INDEX artifacts_newest ON artifacts (project, pushed_at, component, version);
-- A release's deployments (evidence, the release page, promotions' previous-phase gate).
CREATE INDEX deployments_release ON deployments (project, release_version, id);
-- A project's promotions, newest first.
CREATE INDEX promotions_project ON promotions (project, id);
