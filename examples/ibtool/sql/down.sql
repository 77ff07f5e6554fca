-- Undoes up.sql.
DROP TABLE IF EXISTS complaints;
