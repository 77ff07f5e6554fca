-- Each task remembers when it last changed within its deployment (issue 16): every insert or
-- update of a task gives it its deployment's next change number, so a follower of a deployment
-- reads only the tasks changed since the number it holds (`GET /deployments/{id}?tasks_after=N`)
-- instead of every task at every step. The numbers are taken under the writer lock, so they
-- commit in order. Tasks stored before this migration keep 0: a follower's first, whole read
-- covers them.
ALTER TABLE tasks ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX tasks_changes ON tasks (deployment_id, change_seq);
