-- The session an agent announced at its last start (`POST /api/v1/agent/start`): a lease asked
-- for under this session may hand again a task whose answer was lost on the wire; no other may.
ALTER TABLE targets ADD COLUMN agent_session TEXT;
