-- Vulnerability findings: every scan pushed for a release (its file's digest and counts), one
-- finding per project, component, package and vulnerability living across the scans of
-- successive releases (first seen, last seen, fixed, reopened), and which scans saw it.
CREATE TABLE scans (
  id BIGINT PRIMARY KEY,
  project TEXT NOT NULL,
  release TEXT NOT NULL,
  -- '' when the scan is of the release as a whole.
  component TEXT NOT NULL,
  format TEXT NOT NULL,
  scanner TEXT NOT NULL,
  scanner_version TEXT,
  artifact TEXT,
  sha256 TEXT NOT NULL,
  size BIGINT NOT NULL,
  entries BIGINT NOT NULL,
  findings BIGINT NOT NULL,
  not_affected BIGINT NOT NULL,
  pushed_by TEXT NOT NULL,
  pushed_at TEXT NOT NULL
);
CREATE INDEX scans_release ON scans (project, release);
CREATE TABLE findings (
  id BIGINT PRIMARY KEY,
  project TEXT NOT NULL,
  component TEXT NOT NULL,
  package TEXT NOT NULL,
  vulnerability TEXT NOT NULL,
  -- JSON arrays: the other ids scanners gave, and the scanners that reported it.
  aliases TEXT NOT NULL,
  scanners TEXT NOT NULL,
  severity TEXT NOT NULL,
  fixed_in TEXT,
  known_exploited BIGINT NOT NULL,
  title TEXT,
  state TEXT NOT NULL,
  first_seen_at TEXT NOT NULL,
  first_release TEXT NOT NULL,
  last_seen_at TEXT NOT NULL,
  last_release TEXT NOT NULL,
  fixed_at TEXT,
  fixed_release TEXT,
  reopened_at TEXT,
  reopened BIGINT NOT NULL
);
CREATE INDEX findings_scope ON findings (project, component);
CREATE TABLE finding_sightings (
  finding_id BIGINT NOT NULL REFERENCES findings(id),
  scan_id BIGINT NOT NULL REFERENCES scans(id),
  project TEXT NOT NULL,
  release TEXT NOT NULL,
  PRIMARY KEY (finding_id, scan_id)
);
CREATE INDEX finding_sightings_release ON finding_sightings (project, release, finding_id);
-- Risk acceptances: a finding's risk accepted for a reason until an expiry, requested by one
-- person and approved by another holding the security role.
CREATE TABLE risk_acceptances (
  id BIGINT PRIMARY KEY,
  finding_id BIGINT NOT NULL REFERENCES findings(id),
  reason TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  requested_by TEXT NOT NULL,
  requested_at TEXT NOT NULL,
  approved_by TEXT,
  approved_at TEXT
);
CREATE INDEX risk_acceptances_finding ON risk_acceptances (finding_id);
