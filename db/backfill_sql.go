package db

// mirrorStatesSQL reads, for a page of ids, the stored row's Clerk
// updated_at and source and whether the id has a tombstone: one index probe
// per id into each table.
const mirrorStatesSQL = `
SELECT x.id, u.id IS NOT NULL AS live, u.updated_at, coalesce(u.source, '') AS source,
       d.id IS NOT NULL AS deleted
FROM unnest(CAST($1 AS text[])) AS x(id)
LEFT JOIN users AS u ON u.id = x.id
LEFT JOIN deleted_users AS d ON d.id = x.id
WHERE u.id IS NOT NULL OR d.id IS NOT NULL`

// localUserIDsSQL pages through the live users' ids in byte order (id is
// COLLATE "C", so the primary key serves the order and the range).
const localUserIDsSQL = `
SELECT id FROM users WHERE id > $1 ORDER BY id LIMIT $2`

const loadCheckpointSQL = `
SELECT next_offset, page_ids, last_created_at, coalesce(last_id, '') AS last_id, applied,
       started_at, updated_at
FROM backfill_checkpoint`

const saveCheckpointSQL = `
INSERT INTO backfill_checkpoint AS c
    (next_offset, page_ids, last_created_at, last_id, applied, started_at, updated_at)
VALUES ($1, CAST($2 AS text[]), $3, $4, $5, $6, now())
ON CONFLICT (singleton) DO UPDATE SET
    next_offset = excluded.next_offset, page_ids = excluded.page_ids,
    last_created_at = excluded.last_created_at, last_id = excluded.last_id,
    applied = excluded.applied, started_at = excluded.started_at, updated_at = now()`

const clearCheckpointSQL = `DELETE FROM backfill_checkpoint`

const reconcileStartedSQL = `
INSERT INTO reconcile_status AS r (started_at) VALUES ($1)
ON CONFLICT (singleton) DO UPDATE SET started_at = excluded.started_at`

const reconcileSucceededSQL = `
INSERT INTO reconcile_status AS r
    (started_at, succeeded_at, apply_succeeded_at, missing, outdated, extra, applied, unrepaired)
VALUES ($1, $2, CASE WHEN $6 THEN CAST($2 AS timestamptz) END, $3, $4, $5, $6, $7)
ON CONFLICT (singleton) DO UPDATE SET
    succeeded_at = excluded.succeeded_at,
    apply_succeeded_at = coalesce(excluded.apply_succeeded_at, r.apply_succeeded_at),
    missing = excluded.missing, outdated = excluded.outdated, extra = excluded.extra,
    applied = excluded.applied, unrepaired = excluded.unrepaired`

const lastReconcileSQL = `
SELECT started_at, succeeded_at, apply_succeeded_at, missing, outdated, extra, applied, unrepaired
FROM reconcile_status`

// reconcileLockID is the session advisory lock held for the whole of a
// scheduled reconcile, so that one runs at a time across every worker (the
// ASCII of "clksrecn").
const reconcileLockID = 0x636c6b737265636e
