-- Per-environment signature policy: 1 requires valid signatures, 0 does not, NULL follows
-- `protected` (the rule before this migration).
ALTER TABLE environments ADD COLUMN require_signatures BIGINT;
