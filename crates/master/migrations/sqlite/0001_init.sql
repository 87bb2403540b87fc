-- The master's store (DESIGN.md §5.5). Timestamps are INTEGER milliseconds since the epoch,
-- JSON is TEXT. Counters, never ratios: any window is the sum of its minutes or hours.

-- Registered clusters; only a hash of the agent token is kept.
CREATE TABLE clusters (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    token_hash  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

-- Every (cluster, seq) ever ingested: what makes ingest idempotent.
CREATE TABLE snapshot_seqs (
    cluster_id  TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    taken_at    INTEGER NOT NULL,
    PRIMARY KEY (cluster_id, seq)
) WITHOUT ROWID;

-- Per cluster: the snapshot with the highest seq, and delivery statistics kept up to date by
-- the same transaction that records a seq (received = rows in snapshot_seqs, min_seq = their
-- lowest, seq = their highest).
CREATE TABLE snapshot_latest (
    cluster_id         TEXT    NOT NULL PRIMARY KEY,
    seq                INTEGER NOT NULL,
    taken_at           INTEGER NOT NULL,
    dropped_snapshots  INTEGER NOT NULL,
    body               TEXT    NOT NULL,
    received           INTEGER NOT NULL,
    min_seq            INTEGER NOT NULL
);

-- SLO groups, the normalised key of the counter tables.
CREATE TABLE slo_groups (
    id                INTEGER NOT NULL PRIMARY KEY,
    cluster_id        TEXT    NOT NULL,
    type              TEXT    NOT NULL,
    source            TEXT    NOT NULL,
    source_namespace  TEXT    NOT NULL,
    target            TEXT    NOT NULL,
    namespace         TEXT    NOT NULL,
    UNIQUE (cluster_id, type, source, source_namespace, target, namespace)
);
-- A cluster's groups in id order: per-group sums need no sorting.
CREATE INDEX slo_groups_by_cluster ON slo_groups (cluster_id, id);

-- Counter increases per group and minute. buckets: JSON [[le, count], ...], le in ms, ascending.
CREATE TABLE slo_minutes (
    group_id      INTEGER NOT NULL REFERENCES slo_groups (id),
    minute_ms     INTEGER NOT NULL,
    total         REAL    NOT NULL,
    success       REAL    NOT NULL,
    failure       REAL    NOT NULL,
    observations  REAL    NOT NULL,
    buckets       TEXT    NOT NULL,
    PRIMARY KEY (group_id, minute_ms)
) WITHOUT ROWID;
CREATE INDEX slo_minutes_by_time ON slo_minutes (minute_ms);

-- The same per group and hour: rollups of deleted minutes.
CREATE TABLE slo_hours (
    group_id      INTEGER NOT NULL REFERENCES slo_groups (id),
    hour_ms       INTEGER NOT NULL,
    total         REAL    NOT NULL,
    success       REAL    NOT NULL,
    failure       REAL    NOT NULL,
    observations  REAL    NOT NULL,
    buckets       TEXT    NOT NULL,
    PRIMARY KEY (group_id, hour_ms)
) WITHOUT ROWID;
CREATE INDEX slo_hours_by_time ON slo_hours (hour_ms);

-- Two hour boundaries, raw_from_ms <= rolled_until_ms, moved forward only by retention:
-- * every hour before rolled_until_ms has its slo_hours rows (the sum of its minutes);
-- * minutes exist only from raw_from_ms on; before it, only hours.
-- Between the two, an hour is both an hourly row and its minutes, kept equal by ingest.
CREATE TABLE slo_rollup (
    id               INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    raw_from_ms      INTEGER NOT NULL,
    rolled_until_ms  INTEGER NOT NULL,
    CHECK (raw_from_ms <= rolled_until_ms)
);
INSERT INTO slo_rollup (id, raw_from_ms, rolled_until_ms)
VALUES (1, -9223372036854775807 - 1, -9223372036854775807 - 1);

-- SLO objectives. source/target NULL = the cluster default; the *_key columns make NULL a
-- value of its own for the uniqueness ('*' for NULL, '=' || value otherwise).
CREATE TABLE slo_targets (
    cluster_id      TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    source          TEXT,
    target          TEXT,
    availability    REAL    NOT NULL,
    latency_p95_ms  REAL,
    period_days     INTEGER NOT NULL,
    updated_by      TEXT    NOT NULL,
    updated_at      INTEGER NOT NULL,
    source_key      TEXT    NOT NULL GENERATED ALWAYS AS (COALESCE('=' || source, '*')) STORED,
    target_key      TEXT    NOT NULL GENERATED ALWAYS AS (COALESCE('=' || target, '*')) STORED,
    UNIQUE (cluster_id, kind, source_key, target_key)
);

CREATE TABLE users (
    username       TEXT    NOT NULL PRIMARY KEY,
    password_hash  TEXT    NOT NULL,
    role           TEXT    NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE TABLE audit_log (
    id           INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    actor        TEXT    NOT NULL,
    action       TEXT    NOT NULL,
    target       TEXT    NOT NULL,
    source_addr  TEXT    NOT NULL,
    result       TEXT    NOT NULL,
    detail       TEXT    NOT NULL
);
CREATE INDEX audit_log_by_time ON audit_log (at, id);

CREATE TABLE commands (
    id          TEXT    NOT NULL PRIMARY KEY,
    cluster_id  TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    created_by  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    result      TEXT
);
CREATE INDEX commands_by_status ON commands (cluster_id, status, created_at, id);
