-- Pages deep in history read through an index (issue 16 point 0).
-- The Deployments page's flag changes: the state changes made within one page's stretch of
-- time (`Store::flag_state_events`), a range of times per verb instead of every newer change.
CREATE INDEX audit_events_verb_at ON audit_events (verb, at);
-- The pending configuration change requests, newest first, without reading the decided ones.
CREATE INDEX config_changes_state_id ON config_changes (state, id);
