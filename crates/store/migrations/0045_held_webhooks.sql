-- Governed webhooks (issue 15): a webhook whose scope reaches a protected environment is stored
-- held until a second admin approves its configuration change request. `held_by` is that
-- request's id; NULL means in force. A held webhook receives no delivery and answers no change
-- request. Every webhook stored before this migration is in force, as it was.
ALTER TABLE webhooks ADD COLUMN held_by BIGINT;
