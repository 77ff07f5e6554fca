-- Insights (DORA metrics, docs/insights.md).
-- Which environments count as production is declared (`production: true`), never guessed.
ALTER TABLE environments ADD COLUMN production BIGINT NOT NULL DEFAULT 0;
-- The commits a release brings, with their authored time, for lead time for changes: written
-- at release creation from a commits file that carries times (`git log --format='%h %aI %s'`).
CREATE TABLE release_commits (
  project TEXT NOT NULL,
  release_version TEXT NOT NULL,
  hash TEXT NOT NULL,
  authored_at TEXT NOT NULL,
  PRIMARY KEY (project, release_version, hash),
  FOREIGN KEY (project, release_version) REFERENCES releases (project, version)
);
-- A commit's releases, to find the first deployment of each commit into each environment.
CREATE INDEX release_commits_hash ON release_commits (project, hash);
-- The deployments of a period into the production environments, with or without a project.
CREATE INDEX deployments_period ON deployments (environment, created_at);
CREATE INDEX deployments_project_period ON deployments (project, environment, created_at);
