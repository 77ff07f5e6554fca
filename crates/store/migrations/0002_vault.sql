-- The release vault. Blob files live under <data>/vault/blobs/sha256/; a `blobs` row means its
-- file is in place. Artifacts and releases are never deleted: retention marks them purged or
-- pruned (the bytes go, the record of what existed stays).
CREATE TABLE blobs (
  digest TEXT PRIMARY KEY,
  size BIGINT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE artifacts (
  project TEXT NOT NULL,
  component TEXT NOT NULL,
  version TEXT NOT NULL,
  digest TEXT NOT NULL,
  size BIGINT NOT NULL,
  provenance TEXT NOT NULL,
  signature TEXT,
  signature_state TEXT NOT NULL,
  pushed_by TEXT NOT NULL,
  pushed_at TEXT NOT NULL,
  purged_at TEXT,
  PRIMARY KEY (project, component, version)
);
CREATE INDEX artifacts_digest ON artifacts (digest);
CREATE TABLE signing_keys (
  project TEXT NOT NULL,
  name TEXT NOT NULL,
  public_key TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at TEXT NOT NULL,
  revoked_at TEXT,
  PRIMARY KEY (project, name)
);
CREATE TABLE releases (
  project TEXT NOT NULL,
  version TEXT NOT NULL,
  channel TEXT NOT NULL,
  labels TEXT NOT NULL,
  lifecycle TEXT,
  snapshot TEXT NOT NULL,
  notes TEXT NOT NULL,
  eligible_for_protected BIGINT NOT NULL,
  created_by TEXT NOT NULL,
  created_at TEXT NOT NULL,
  pruned_at TEXT,
  PRIMARY KEY (project, version)
);
CREATE TABLE release_artifacts (
  project TEXT NOT NULL,
  release_version TEXT NOT NULL,
  component TEXT NOT NULL,
  artifact_version TEXT NOT NULL,
  digest TEXT NOT NULL,
  PRIMARY KEY (project, release_version, component),
  FOREIGN KEY (project, release_version) REFERENCES releases (project, version),
  FOREIGN KEY (project, component, artifact_version) REFERENCES artifacts (project, component, version)
);
CREATE INDEX release_artifacts_artifact ON release_artifacts (project, component, artifact_version);
CREATE TABLE retention_policies (
  project TEXT PRIMARY KEY,
  keep_per_channel BIGINT NOT NULL,
  keep_unreleased_days BIGINT NOT NULL
);
