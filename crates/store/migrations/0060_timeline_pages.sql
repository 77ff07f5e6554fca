-- Pages deep in history read through an index (issue 16 point 0).
-- The Deployments page's flag changes: the state changes made within one page's stretch of
-- time (`Store::flag_state_events`), a range of times per verb instead of every newer change.
CREATE INDEX audit_events_verb_at ON audit_events (verb, at);
