-- How a key ended, for key show and the JSON: who revoked it (revoked_at and
-- revoke_reason are in 001), and who deleted it and why (deleted_at is in 001).
ALTER TABLE keys ADD COLUMN revoked_by TEXT;
ALTER TABLE keys ADD COLUMN deleted_by TEXT;
ALTER TABLE keys ADD COLUMN delete_reason TEXT;
