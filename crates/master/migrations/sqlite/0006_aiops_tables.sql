-- AIOps incidents in tables of their own, so their history is queryable, retained on its own
-- schedule and survives any change of the engine; the engine's learning state (graphs,
-- baselines, state machines, open incidents) per cluster with the version of its format.
-- `aiops_state` (one JSON document for every cluster) stays until the master has moved it
-- into these tables, then it is emptied.

CREATE TABLE aiops_incidents (
    id           TEXT    NOT NULL PRIMARY KEY,
    cluster_id   TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    severity     TEXT    NOT NULL,
    root_cause   TEXT    NOT NULL,
    peak_risk    REAL    NOT NULL,
    started_at   INTEGER NOT NULL,
    resolved_at  INTEGER,
    recurrence   INTEGER NOT NULL,
    entities     INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX aiops_incidents_by_start ON aiops_incidents (started_at, id);
CREATE INDEX aiops_incidents_by_cluster ON aiops_incidents (cluster_id, started_at, id);
CREATE INDEX aiops_incidents_open ON aiops_incidents (cluster_id) WHERE resolved_at IS NULL;

CREATE TABLE aiops_incident_entities (
    incident_id   TEXT    NOT NULL REFERENCES aiops_incidents (id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    entity        TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    r_local       REAL    NOT NULL,
    r_final       REAL    NOT NULL,
    peak_r_final  REAL    NOT NULL,
    state         TEXT    NOT NULL,
    joined_at     INTEGER NOT NULL,
    active        INTEGER NOT NULL,
    PRIMARY KEY (incident_id, position)
);
CREATE INDEX aiops_incident_entities_by_entity ON aiops_incident_entities (entity);

CREATE TABLE aiops_incident_timeline (
    incident_id  TEXT    NOT NULL REFERENCES aiops_incidents (id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    at           INTEGER NOT NULL,
    entity       TEXT    NOT NULL,
    event        TEXT    NOT NULL,
    PRIMARY KEY (incident_id, position)
);

CREATE TABLE aiops_engine_state (
    cluster_id  TEXT    NOT NULL PRIMARY KEY,
    version     INTEGER NOT NULL,
    saved_at    INTEGER NOT NULL,
    state       TEXT    NOT NULL
);
