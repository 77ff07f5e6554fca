-- A deployment's output is read a page at a time in the order it arrived (issue 16: nothing
-- grows with history): each line now carries its task's deployment, and one index holds every
-- deployment's lines in reading order, so a page anywhere in a long log — the last of
-- 1 000 000 lines as the first — is a seek to the reader's cursor (the last line it holds) and
-- a scan of one page (`Store::log_page`), instead of a join to the tasks, a sort of every line
-- and an OFFSET that walked all the lines before the page. Lines stored before this migration
-- get their task's deployment here; new ones in the statement that stores them.
ALTER TABLE task_logs ADD COLUMN deployment_id BIGINT;
UPDATE task_logs SET deployment_id = (SELECT t.deployment_id FROM tasks t WHERE t.id = task_logs.task_id);
CREATE INDEX task_logs_reading_order ON task_logs (deployment_id, at, task_id, attempt, line_no);
