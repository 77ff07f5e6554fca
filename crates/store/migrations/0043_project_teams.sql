-- The team that owns a project (issue 14, DORA per team): the spec's `team:` also kept as a
-- column, so that the insights reads select a team's projects in SQL, in the same statement as
-- the rest of their filter. '' when the project names none, as every project stored before this
-- migration does (the field is new).
ALTER TABLE projects ADD COLUMN team TEXT NOT NULL DEFAULT '';
