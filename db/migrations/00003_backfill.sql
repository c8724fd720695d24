-- The bookkeeping of `clerksync backfill` and `clerksync reconcile`. Neither
-- table holds personal data: ids and times only.

-- +goose Up

-- One row at most: where an interrupted backfill resumes. It is written
-- after each page is applied and removed when the backfill completes.
CREATE TABLE backfill_checkpoint (
    singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    -- The offset of the next page to request (order_by=+created_at).
    next_offset      bigint NOT NULL,
    -- The ids of the last page applied: the next page must start among them
    -- (or before them); if it does not, users were deleted in between and
    -- the offsets shifted, so the backfill backs up instead of skipping.
    page_ids         text[] NOT NULL,
    last_created_at  timestamptz,
    last_id          text COLLATE "C",
    applied          bigint NOT NULL DEFAULT 0,  -- users applied since started_at
    started_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- One row at most: the last reconcile, shared by every process so that each
-- worker's /metrics exports the same figures, and so that the scheduled
-- reconcile runs once per RECONCILE_EVERY across all workers.
CREATE TABLE reconcile_status (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    started_at          timestamptz,  -- the last run's start, successful or not
    succeeded_at        timestamptz,  -- the end of the last run that completed
    -- The end of the last completed run that repaired (--apply, or
    -- scheduled): what the schedule counts from, so that a report-only run
    -- does not put off the next repair.
    apply_succeeded_at  timestamptz,
    -- What the last completed run found (before repairing it, if it did).
    missing             integer NOT NULL DEFAULT 0,
    outdated            integer NOT NULL DEFAULT 0,
    extra               integer NOT NULL DEFAULT 0,
    applied             boolean NOT NULL DEFAULT false,  -- it ran with --apply
    unrepaired          integer NOT NULL DEFAULT 0       -- drift it left
);

-- +goose Down
DROP TABLE reconcile_status;
DROP TABLE backfill_checkpoint;
