-- Ties between snapshots. Two different snapshots of a user may carry the
-- same updated_at; the contract orders them by the envelope timestamp, then
-- by the delivery id, so that the final state never depends on the order of
-- delivery. The guard compares a new snapshot with the stored one, so the
-- stored row keeps the two values its snapshot was ordered by. Both are null
-- for rows from a backfill (API snapshots carry neither, and so lose every
-- tie to a webhook) or an import.

-- +goose Up
ALTER TABLE users
    -- The envelope timestamp of the event that carried the stored snapshot.
    ADD COLUMN event_timestamp timestamptz,
    -- The delivery (svix-id) that carried it; compared byte-wise.
    ADD COLUMN delivery_id text COLLATE "C";

-- +goose Down
ALTER TABLE users DROP COLUMN delivery_id, DROP COLUMN event_timestamp;
