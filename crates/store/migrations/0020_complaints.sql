-- The complaints register: one row per complaint from the field, with the deployment (and so
-- the release) it was attributed to when it was recorded, and its life (status, resolution).
CREATE TABLE complaints (
  id BIGINT PRIMARY KEY,
  project TEXT NOT NULL,
  received_at TEXT NOT NULL,
  customer TEXT NOT NULL,
  site TEXT NOT NULL,
  -- NULL when the complaint does not say where it was seen.
  environment TEXT,
  reported_version TEXT,
  -- The deployment running in `environment` at `received_at` and its release (inferred).
  deployment_id BIGINT,
  inferred_version TEXT,
  -- The rollback that had put that deployment back in place, when one had.
  reinstated_by BIGINT,
  severity TEXT NOT NULL,
  category TEXT NOT NULL,
  description TEXT NOT NULL,
  -- JSON array of http(s) addresses.
  links TEXT NOT NULL,
  status TEXT NOT NULL,
  capa TEXT,
  fixed_by_release TEXT,
  resolved_at TEXT,
  closed_at TEXT,
  created_by TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX complaints_project ON complaints (project, received_at);
CREATE INDEX complaints_deployment ON complaints (deployment_id);
